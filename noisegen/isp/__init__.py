"""The camera model (DESIGN.md §2): per-sample parameters, camera profiles and their sampling, and
each ISP step as a typed pure function (noise, colour, Bayer, JPEG), composed by ``pipeline``.

Modules:
    params          SampleParams: one sample's parameters, exact JSON round trip
    camera_profile  the CameraProfile dataclass
    profile_checks  checks of CameraProfile fields
    profiles        built-in profiles, loading and saving profile files
    mixture         profile mixtures and the built-in ``real-cameras``
    iso             per-ISO noise tables and their interpolation
    sampling        sample_params: drawing a sample's parameters from a profile
    noise           noise models in the irradiance domain and their σ maps
    color           transfer functions, tone curve, white balance, CCMs
    bayer           mosaic and demosaic
    nr              in-camera noise reduction
    correlation     spatially and cross-channel correlated noise: parameters and exact correlations
    correlated_noise  drawing the correlated noise field
    sharpen         unsharp mask of the noise after the tone curve
    jpeg            JPEG round trip (libjpeg-turbo through Pillow)
    pipeline        synthesize: the whole camera, step by step
    raw_sigma       σ_raw from a sample's clean source and parameters, numpy only (the reader's)

Import the module you need; this package file imports nothing, so ``noisegen.isp.profiles`` stays
free of numba.
"""
