"""The networks and their configurations.

Modules:
    config   ModelConfig: the architecture (paper, small, tiny); no torch import
    ain      adaptive instance normalisation (AIN) and where its statistics come from
    aindnet  AINDNet (Kim et al., CVPR 2020): noise level estimator, AIN-ResBlocks, the U-Net
    flops    multiply-accumulates of a forward pass, FLOPs of a training step, MFU

Importing this package file imports nothing.
"""
