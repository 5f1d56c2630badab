"""AINDNet trainer: streams noisegen shards into PyTorch training, from one CPU to many GPUs.

Modules:
    config        ModelConfig (architecture; paper and tiny) — no torch import
    model         AINDNet: noise level estimator + U-Net of AIN-ResBlocks
    losses        SN loss (L1 + 0.05·multi-scale asymmetric σ loss) and TF loss (L1)
    train_config  TrainConfig: one training run, documented defaults (Adam, lr, schedule, ...)
    data          streaming loader stages: shard lists, rank/worker splits, resampled rounds,
                  decode (no pickle), crop + flips/rotations, batching in the workers
    loader        TrainStream + DataLoader: one endless, exactly resumable stream per worker
    validate      validation sets (clean images + synthetic noise, real noisy/gt pairs, shards), PSNR
    loop          train(): the SN-stage loop (DDP, bf16, channels_last, checkpoints, exact resume)
    checkpoint    atomic checkpoints, loaded with torch.load(weights_only=True) only
    distributed   torchrun process group (gloo on CPU, NCCL on CUDA)
    metrics       PSNR, metrics.jsonl, curves.png
    cli           the `noisegen-train` command (`python -m trainer`)

Importing this package imports nothing; trainer.config and trainer.train_config need no torch,
the other modules do.
"""
