"""The camera model (DESIGN.md §2): per-sample parameters, camera profiles and their sampling, and
each ISP step as a typed pure function (noise, colour, Bayer, JPEG), composed by ``pipeline``.

Modules:
    api             the public door for code outside noisegen.isp (the trainer): profiles, sampling, synthesize
    params          SampleParams: one sample's parameters, exact JSON round trip
    camera_profile  the CameraProfile dataclass
    profile_checks  checks of CameraProfile fields
    profiles        built-in profiles, loading and saving profile files
    mixture         profile mixtures and the built-in ``real-cameras``
    iso             per-ISO noise tables and their interpolation
    sampling        sample_params: drawing a sample's parameters from a profile
    noise           noise models in the irradiance domain and their σ maps
    noise_level     σ_raw = sqrt(max(L, 0)·σ_s² + σ_c²): the numpy reference (the kernel is the pipeline's)
    color           transfer functions, tone curve, white balance, CCMs
    white_balance   highlight-safe inverse white-balance gains, numpy only
    bayer           mosaic and demosaic
    nr              in-camera noise reduction
    jpeg            JPEG round trip (libjpeg-turbo through Pillow)
    pipeline        synthesize: the whole camera, step by step
    raw_sigma       σ_raw from a sample's clean source and parameters, numpy only (the reader's)

The trainer imports the camera model through ``api`` only; inside noisegen, import the module you need.
This package file imports nothing, so ``noisegen.isp.profiles`` stays free of numba.
"""
