"""Noise statistics of synthetic datasets and real pairs, camera calibration, and realism scores.

Modules:
    nlf        noise statistics of noisy/clean pairs as additive sums: NLF, correlations, PSNR
    stats      `noisegen stats`: per-group statistics of a dataset or of real pairs
    table      the text/Markdown table of `noisegen stats`
    plot       the NLF figures of `noisegen stats`
    texture    noise std against the clean image's local texture (shows in-camera noise reduction)
    preview    `noisegen preview`: a contact sheet of dataset samples
    calibrate/ `noisegen calibrate`: fit a camera profile to real pairs of one camera
    realism/   `noisegen realism`: score noise models against held-out real pairs (AKLD and more)

Importing this package file imports nothing.
"""
