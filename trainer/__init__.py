"""AINDNet trainer: streams noisegen shards into PyTorch training, from one CPU to many GPUs.

Modules:
    models/  the networks: AINDNet and its configurations, FLOP counting
    stages/  what is trained: the SN stage, the TF stage and its modes (tf, rt, r, n2n), their losses
    engine/  how it is trained: the one training loop, checkpoints, run folders, validation, DDP
    data/    what it is fed: streamed shards (resumable), a few real pairs in memory
    infer/   using a trained model: whole-image and tiled inference, `eval`, `denoise`
    camera/  `noisegen-train camera`: a camera's photos → split, profiles, data, rows, held-out report
    cli/     the `noisegen-train` command (`python -m trainer`)

The trainer reads noisegen only through the dataset reader (noisegen.dataset.reader), the camera
model's public door (noisegen.isp.api) and the camera command's door (noisegen.camera.api);
tests/test_import_rules.py enforces it. Importing this
package imports nothing.
"""
