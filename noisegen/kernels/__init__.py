"""numba kernels: private, contiguous-array functions behind the typed wrappers of noisegen.isp and
noisegen.analysis; no I/O, no policy, no hidden RNG.

Modules:
    lut       camera response curves as lookup tables
    bayer     mosaic and demosaic (bilinear, Malvar-He-Cutler 2004)
    gauss     ziggurat normal draws fused with the noise model
    correlate the correlated noise field (a 5×5 filter per channel and a colour mixing)
    render    the forward (rendering) half of the pipeline
    stats     noise statistics of noisy/clean pairs
    unfilter  PNG scanline unfiltering
"""
