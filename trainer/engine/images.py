"""uint8 images ↔ the model's tensors: the one conversion of validation, `eval` and `denoise`.

Images at the edges are uint8 H×W×3 sRGB arrays (noisegen's convention); AINDNet takes and returns
float 1×3×H×W tensors on the [0, 1] scale. Outputs become images as they would be saved: clipped to
[0, 1], scaled by 255 and rounded half to even (torch.round), so that a PSNR computed on them
(trainer.engine.metrics.psnr_u8) is the PSNR of the written PNG.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["image_to_tensor", "tensor_to_u8"]


def image_to_tensor(img: np.ndarray, device: str | torch.device = "cpu",
                    memory_format: torch.memory_format | None = None) -> Tensor:
    """uint8 H×W×3 array → float32 1×3×H×W tensor in [0, 1] on ``device`` (a copy; ``img`` is not kept).

    memory_format: the layout asked for; None keeps the array's pixel-interleaved order (NHWC strides,
    which PyTorch treats as channels_last).
    """
    a = torch.from_numpy(np.array(img, dtype=np.uint8, copy=True))
    x = a.to(device).permute(2, 0, 1)[None].float().div_(255.0)
    return x if memory_format is None else x.contiguous(memory_format=memory_format)


def tensor_to_u8(x: Tensor) -> np.ndarray:
    """1×3×H×W (or 3×H×W) float tensor in [0, 1] → uint8 H×W×3 numpy array, clipped and rounded."""
    if x.ndim == 4:
        x = x[0]
    return (x.float().clamp(0, 1) * 255.0).round_().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
