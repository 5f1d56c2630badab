"""What is trained: each stage gives the engine a model, its trainable parameters, batches and a loss.

Modules:
    sn           the SN stage: the whole network on streamed synthetic-noise shards
    sn_config    TrainConfig: the SN stage's settings (data, model, schedule, loss weights); no torch
    tf           the TF stage and its modes tf, rt, r, n2n on a few real pairs or noisy images
    tf_config    TFConfig: the TF stage's settings; no torch
    losses       SN loss (L1 + λ·multi-scale asymmetric σ loss) and TF loss (L1)
    n2n          Neighbor2Neighbor's sub-sampler and loss (mode n2n)
    da           the DA stage: SN plus Noise-DA's diffusion loss on a camera's noisy photos
    da_config    DAConfig: TrainConfig plus the Noise-DA settings; no torch
    noise_da     Noise-DA's losses: the α ramp, channel shuffling, the residual-swapping contrastive term
    dbsn         D-BSN and its noise model on noisy photos alone (`noisegen-train dbsn`)
    dbsn_config  DBSNTrainConfig: the dbsn stage's settings; no torch
    dbsn_loss    the D-BSN negative log-likelihood (paper and marginal forms) and its warm-up
    distill      AINDNet on synthetic shards and D-BSN pseudo-pairs together (`noisegen-train distill`)

Importing this package file imports nothing.
"""
