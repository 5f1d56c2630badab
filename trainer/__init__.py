"""AINDNet trainer: streams noisegen shards into PyTorch training, from one CPU to many GPUs.

Modules:
    config        ModelConfig (architecture; paper, tiny and small) — no torch import
    model         AINDNet: noise level estimator + U-Net of AIN-ResBlocks
    losses        SN loss (L1 + 0.05·multi-scale asymmetric σ loss) and TF loss (L1)
    n2n           Neighbor2Neighbor sub-sampler and loss (mode n2n of the TF stage)
    run_config    RunConfig: the engine's settings every run shares (steps, Adam, validation, execution)
    train_config  TrainConfig(RunConfig): the SN stage (data, model, schedule, loss weights)
    tf_config     TFConfig(RunConfig): the TF stage and its modes tf, rt, r, n2n
    run_folder    the files of a run folder; a run folder or .pt → its checkpoint
    engine        run(): the one training loop (setup, restore, step, log, validate, checkpoint; DDP)
    stage         the Stage interface between the engine and a stage; batch → device
    sn            SNStage and train(): the SN stage on streamed shards
    transfer      TFStage and transfer(): the TF stage and its modes
    tf_data       TF data in memory (pairs, noisy images), crops drawn from (seed, rank, step)
    global_state  global RNGs, threads, cuDNN/TF32 flags: set for a run, restored after
    data          streaming loader stages: shard lists, rank/worker splits, resampled rounds,
                  decode (no pickle), crop + flips/rotations, batching in the workers
    loader        TrainStream + DataLoader: one endless, exactly resumable stream per worker
    validate      validation sets (clean images + synthetic noise, real noisy/gt pairs, shards), PSNR
    checkpoint    atomic checkpoints, loaded with torch.load(weights_only=True) only
    distributed   torchrun process group (gloo on CPU, NCCL on CUDA)
    metrics       PSNR, metrics.jsonl, curves.png
    inference     whole-image and tiled prediction, self-ensemble, loading a model
    evaluate      `eval`: PSNR/SSIM on real pairs, per image, group and overall
    denoise       `denoise`: denoised PNGs of photos of any size
    cli           the `noisegen-train` command (`python -m trainer`): cli.train (sn, tf), cli.infer (eval, denoise)

Importing this package imports nothing; trainer.config, run_config, train_config, tf_config and
run_folder need no torch, the other modules do.
"""
