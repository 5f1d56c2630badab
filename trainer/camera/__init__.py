"""`noisegen-train camera`: from one camera's photos to a denoiser and an honest held-out report, as one
resumable command (calibrate → generate → SN → TF → evaluate), on the training engine.

Modules:
    config     CameraConfig and the scale presets (quick, cpu, gpu)
    context    the run folder, split and profiles a row works with; resumable generate/train/evaluate steps
    rows       the report's rows (a), (b), (b1), (b2), (c)–(f), what each trains, and which one is the denoiser
    rows_da    the Noise-DA rows (j), (k) and their ablations over training seeds (the `da` stage)
    rows_dbsn  rows (g)–(i) from the noisy images alone: D-BSN, SN on its noisy-only profile, distillation
    outputs    before/after crops, and the noise level of noisy-only photos against the denoiser
    report     report.md and report.png from the report's dict
    run        run_camera: the steps in order, resumable

It reaches noisegen through noisegen.camera.api (and the dataset reader); tests/test_import_rules.py
checks it.
"""
