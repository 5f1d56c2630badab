"""The arithmetic of a model: multiply-accumulates of its convolutions, and FLOPs of a training step.

Counted from the layers a forward pass really runs (forward hooks on every Conv2d and
ConvTranspose2d), so the count follows the architecture as built, not a formula kept beside it:

    Conv2d           MACs = output elements × (in_channels / groups) × kH × kW
    ConvTranspose2d  MACs = input elements  × (out_channels / groups) × kH × kW

Convolutions are all but a fraction of a percent of AINDNet's arithmetic (normalisation,
activations and bilinear resizing are elementwise). A training step costs about 3 forward passes
(forward, and a backward pass that computes gradients for activations and for weights, each about
as costly as the forward), and one MAC is 2 FLOPs: training FLOPs ≈ 6 × forward MACs. MFU (model
FLOPs utilisation, Chowdhery et al., PaLM, 2022) = achieved training FLOP/s ÷ the device's peak.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["forward_macs", "training_flops", "mfu", "PEAK_BF16_TFLOPS", "peak_tflops"]

# Dense bf16 tensor-core peaks (no sparsity) from NVIDIA's data sheets, TFLOP/s; the first entry
# whose words all occur in torch.cuda.get_device_name() wins (an H100 without PCIe/NVL is the SXM part).
PEAK_BF16_TFLOPS = (("H100 PCIE", 756.0), ("H100 NVL", 835.0), ("H100", 989.0), ("H200", 989.0),
                    ("A100", 312.0), ("L40S", 362.0), ("A10", 125.0))


def forward_macs(model: nn.Module, height: int, width: int, *, channels: int = 3) -> int:
    """Multiply-accumulates of the convolutions in one forward pass of a 1×C×H×W input (module docstring)."""
    total = 0

    def count(mod: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1]
        if isinstance(mod, nn.ConvTranspose2d):
            total += inputs[0].numel() * (mod.out_channels // mod.groups) * k
        else:
            total += output.numel() * (mod.in_channels // mod.groups) * k

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    was_training = model.training
    try:
        model.eval()
        param = next(model.parameters())
        with torch.no_grad():
            model(torch.zeros(1, channels, height, width, device=param.device, dtype=param.dtype))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total


def training_flops(model: nn.Module, height: int, width: int) -> int:
    """FLOPs of one training sample of H×W: 6 × forward MACs (module docstring)."""
    return 6 * forward_macs(model, height, width)


def peak_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of a GPU from its name (torch.cuda.get_device_name), or None when unknown."""
    name = device_name.upper()
    return next((peak for key, peak in PEAK_BF16_TFLOPS if all(w in name for w in key.split())), None)


def mfu(samples_per_s: float, flops_per_sample: float, peak: float | None) -> float | None:
    """Model FLOPs utilisation in [0, 1] (None without a known peak, in TFLOP/s)."""
    if not peak:
        return None
    return samples_per_s * flops_per_sample / (peak * 1e12)
