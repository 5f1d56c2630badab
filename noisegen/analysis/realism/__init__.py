"""`noisegen realism`: how close a noise model's residuals are to a real camera's, on held-out pairs.

Modules:
    protocol   RealismConfig and run_realism(): split, fit on calibration pairs, score test pairs
    split      camera-ISO groups, their calibration/test split, the held-out check
    models     the noise models scored: the baselines, profiles, fitted profiles (fit steps)
    baselines  the AWGN and sRGB a·x+b baselines, the NoiseModel type, baselines as profiles
    akld       AKLD (DANet, Yue et al. ECCV 2020): KL of local residual variances
    blocks     8×8 block statistics of a residual (JPEG traces)
    report     per-group and summary scores, Markdown tables, the JSON record
    plot       the figure: local variance maps and NLFs, real against simulated

Importing this package file imports nothing.
"""
