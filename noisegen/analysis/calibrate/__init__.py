"""`noisegen calibrate`: a camera profile fitted to real noisy/clean pairs, per camera-ISO group.

Modules:
    fit        CalibrateConfig and calibrate(): the pairs, the search over curves and options, the profile
    camera_search  the camera model's search: curve, demosaicing, JPEG, noise reduction
    search     the simulation search: simulated statistics, the loss, σ fits with Aitken acceleration
    sigma_fit  σ_s, σ_c of the camera model fitted to a measured sRGB NLF, for one curve
    model_nlf  the sRGB NLF the camera model predicts exactly (rounding and clipping included)
    noisy_only the targets of calibrate --noisy-only: σ maps beside pseudo-pairs (a D-BSN's output)
    report     what calibrate found: candidates, per-group fits, the profile, the text and the figure
    candidates the model families calibrate chooses among, fitted on all crops and refitted on folds
    select     model selection: nested held-out AKLD by scene folds, the choice and why
    correlation_fit  the correlated-noise term fitted to target correlations

Importing this package file imports nothing.
"""
