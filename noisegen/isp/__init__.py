"""The camera model (DESIGN.md §2): per-sample parameters, camera profiles and their sampling, and
each ISP step as a typed pure function (noise, colour, Bayer, JPEG), composed by ``pipeline``.

Modules: params (SampleParams), profiles (CameraProfile, built-ins), sampling (sample_params),
noise, color, bayer, jpeg, pipeline (synthesize). Import the module you need; this package file
imports nothing, so ``noisegen.isp.profiles`` stays free of numba.
"""
