"""The networks and their configurations.

Modules:
    config       ModelConfig: the architecture (paper, small, tiny); no torch import
    ain          adaptive instance normalisation (AIN) and where its statistics come from
    aindnet      AINDNet (Kim et al., CVPR 2020): noise level estimator, AIN-ResBlocks, the U-Net
    from_state   a network from a checkpoint's configuration, checked against its stored weights first
    flops        multiply-accumulates of a forward pass, FLOPs of a training step, MFU
    diffusion    DDPM schedule, forward noising and the small conditional U-Net of Noise-DA
    dbsn_config  DBSNConfig: the D-BSN, how it is applied (PD, R³, MAP); no torch import
    dbsn         D-BSN (Wu et al., ECCV 2020): blind-spot network, Σ_μ head, noise estimator
    gaussian3    per-pixel 3×3 Gaussians in Cholesky form; the MAP combination
    pd           pixel-shuffle down-sampling and R³ masks (AP-BSN, Lee et al., CVPR 2022)

Importing this package file imports nothing.
"""
