"""The σ member of a sample: σ_raw (float H×W×3, ≥ 0) as a planar 16-bit grayscale PNG, and back.

Value v ↦ σ = v·step; step = 2⁻¹⁴ unless σ reaches 4.0, then the smallest power of two that fits
(absolute error ≤ step/2 = 3.05e-5 at the default step; the contract is ≤ 1e-4). The R, G and B
planes are stacked vertically (3H×W), because PNG's row filters predict a value from its neighbours
in the same plane.

Format 2 names the member ``sigma.png16`` and writes the step into the PNG itself (a tEXt chunk
``noisegen:sigma-step``), so that the member decodes exactly on its own: webdataset's and Hugging
Face's image decoders claim ``.png`` members and convert them to 8 bits (83-2253 became 83-255),
but leave an unknown extension alone. Format 1 (``sigma.png``, step only in the sample's json) is
still read. ``wds_decoders(imagespec)`` gives webdataset users a handler that decodes the member
exactly, in the layout of the images they asked for (H×W×3 arrays, or 3×H×W tensors for "torch…").
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from noisegen.dataset.png import encode_png

__all__ = ["SIGMA", "SIGMA_V1", "SIGMA_MEMBERS", "SIGMA_ENCODING", "SIGMA_STEP", "SIGMA_MAX", "STEP_TEXT",
           "encode_sigma", "decode_sigma", "sigma_step_of", "check_step", "wds_decoders", "decode_wds_sigma"]

SIGMA = "sigma.png16"     # format 2: an extension no image decoder claims
SIGMA_V1 = "sigma.png"    # format 1
SIGMA_MEMBERS = (SIGMA, SIGMA_V1)
SIGMA_ENCODING = "png16-planar"
SIGMA_STEP = 2.0**-14
STEP_TEXT = "noisegen:sigma-step"
# The σ values the format carries: σ_raw is the standard deviation of noise on an irradiance in
# [0, 1]; SampleParams bounds σ_s and σ_c by 4 (noisegen.isp.params.SIGMA_PARAM_MAX), so
# σ_raw ≤ sqrt(4² + 4²) < 16 everywhere. encode_sigma picks steps from 2⁻¹⁴ (σ < 4) up to 2⁻¹²
# (σ < 16). A sample whose recorded step lies outside [2⁻²⁴, 2⁻⁸], or whose decoded σ exceeds
# SIGMA_MAX, is damaged.
SIGMA_MAX = 16.0
STEP_RANGE = (2.0**-24, 2.0**-8)


def encode_sigma(sigma_raw: np.ndarray) -> tuple[bytes, float]:
    """Encode a σ map (float H×W×3, ≥ 0) as a planar 16-bit PNG that records its step; returns (png, step)."""
    s = np.asarray(sigma_raw, dtype=np.float64)
    if s.ndim != 3 or s.shape[2] != 3:
        raise ValueError(f"sigma_raw: expected shape (H, W, 3), got {s.shape}")
    if not np.isfinite(s).all() or (s < 0).any():
        raise ValueError("sigma_raw: expected finite values >= 0")
    step = SIGMA_STEP
    top = float(s.max()) if s.size else 0.0
    if top / step > 65535.0:
        step = 2.0 ** math.ceil(math.log2(top / 65535.0))
    v = np.rint(s / step).astype(np.uint16)
    planes = np.ascontiguousarray(v.transpose(2, 0, 1)).reshape(3 * s.shape[0], s.shape[1])
    return encode_png(planes, text={STEP_TEXT: repr(step)}), step


def check_step(step, where: str = "sigma.step") -> float:
    """A σ step, checked: a finite number within the format's range [2⁻²⁴, 2⁻⁸] (ValueError otherwise)."""
    if isinstance(step, bool) or not isinstance(step, (int, float)):
        raise ValueError(f"{where} must be a number, got {step!r}")
    if not (math.isfinite(step) and STEP_RANGE[0] <= step <= STEP_RANGE[1]):
        raise ValueError(f"{where} {step!r} is outside the format's range [{STEP_RANGE[0]:g}, {STEP_RANGE[1]:g}]")
    return float(step)


def decode_sigma(data: bytes, step: float | None = None) -> np.ndarray:
    """Inverse of encode_sigma: float32 H×W×3 σ map.

    Args:
        data: the member's PNG bytes.
        step: the sample's recorded step (json ``sigma.step``); None: the step written in the PNG
            (format 2 only).
    """
    with Image.open(io.BytesIO(data)) as im:
        if im.format != "PNG" or im.mode not in ("I;16", "I;16B", "I"):
            raise ValueError(f"σ map: expected a 16-bit grayscale PNG, got {im.format} mode {im.mode!r}")
        if step is None:
            text = im.info.get(STEP_TEXT)
            if text is None:
                raise ValueError(f"σ map: the PNG records no step ({STEP_TEXT}); format-1 members need the "
                                 "sample's json (read them with noisegen.open_dataset)")
            try:
                step = float(text)
            except ValueError:
                raise ValueError(f"σ map: step {text[:40]!r} is not a number") from None
            check_step(step, f"σ map: {STEP_TEXT}")
        planes = np.asarray(im).astype(np.float32)
    if planes.ndim != 2 or planes.shape[0] % 3:
        raise ValueError(f"σ map: expected 3·H rows (R, G, B planes), got shape {planes.shape}")
    h = planes.shape[0] // 3
    return np.ascontiguousarray(planes.reshape(3, h, planes.shape[1]).transpose(1, 2, 0)) * np.float32(step)


def sigma_step_of(meta: dict) -> float:
    """The σ step recorded in a sample's json, checked: finite, in the format's range.

    Raises:
        ValueError: missing, not a number, NaN/inf, ≤ 0 or outside [2⁻²⁴, 2⁻⁸].
    """
    sigma = meta.get("sigma")
    return check_step(sigma.get("step") if isinstance(sigma, dict) else None, "json: sigma.step")


def decode_wds_sigma(key: str, data: bytes):
    """webdataset decoder handler: the ``sigma.png16`` member → float32 H×W×3 σ_raw (exact); None for others."""
    if not key.lower().endswith("png16"):
        return None
    return decode_sigma(data)


def _decode_wds_sigma_chw(key: str, data: bytes):
    """decode_wds_sigma as a float32 3×H×W torch tensor: the layout of webdataset's "torch…" images."""
    sigma = decode_wds_sigma(key, data)
    if sigma is None:
        return None
    import torch  # here: only a user who asked for torch images gets torch σ maps (noisegen imports no torch)

    return torch.from_numpy(np.ascontiguousarray(sigma.transpose(2, 0, 1)))


def wds_decoders(imagespec: str | None = None) -> list:
    """Handlers for webdataset's ``.decode()`` that decode the σ member exactly, in the images' layout.

        wds.WebDataset(urls, shardshuffle=False).decode(*noisegen.wds_decoders("torchrgb"))

    Args:
        imagespec: webdataset's image spec ("rgb8", "rgb", "torchrgb", "pil", ...; see
            webdataset.autodecode.imagespecs), or None. With a spec, the list ends with it, and σ_raw
            comes in the layout webdataset gives the images: a float32 3×H×W torch tensor for the
            "torch…" specs (their images are C×H×W tensors), else a float32 H×W×3 array (as "rgb8" and
            "rgb" images; PIL has no float RGB image, so "pil…" specs get the array too). None: the σ
            handler alone (H×W×3 arrays); place it before your own image spec.
    Raises:
        ValueError: ``imagespec`` is not one of webdataset's.
    """
    if imagespec is None:
        return [decode_wds_sigma]
    from webdataset.autodecode import imagespecs  # here: the reader imports no webdataset

    if imagespec not in imagespecs:
        raise ValueError(f"wds_decoders: unknown image spec {imagespec!r}; webdataset's are {', '.join(imagespecs)}")
    return [_decode_wds_sigma_chw if imagespec.startswith("torch") else decode_wds_sigma, imagespec]
