"""The picture of an estimated noise level map (`noisegen-train denoise --sigma-map`): readable on its own.

The map σ̂ (H×W×3, standard deviation per channel on the [0, 1] intensity scale) is averaged over
the channels and drawn pixel for pixel at the top in the perceptually uniform "magma" colour map,
from its 1st percentile (black) to its 99th percentile (light yellow) (``PERCENTILES``): an
estimated noise level varies little across a photo, so a scale from 0, or a fixed one, drew nearly
uniform pictures. Below the map, a legend: the colour bar between the two levels with their values,
what the picture shows, and the mean σ̂ of each channel (their differences are a colour cast of the
noise that a per-channel picture would show as false colours). The two levels are also written into
the PNG (tEXt ``noisegen:sigma-low`` and ``noisegen:sigma-high``).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

__all__ = ["PERCENTILES", "LEVEL_TEXT", "sigma_picture", "sigma_picture_png"]

PERCENTILES = (1.0, 99.0)
LEVEL_TEXT = ("noisegen:sigma-low", "noisegen:sigma-high")
_MARGIN, _RAMP, _LINE = 8, 12, 14  # legend layout, pixels
_MIN_RANGE = 1e-6  # a constant map is drawn from 0 to its value


def _font() -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=11)
    except TypeError:  # pragma: no cover - Pillow < 10.1 has only the bitmap font
        return ImageFont.load_default()


def _colours(values: np.ndarray) -> np.ndarray:
    """uint8 RGB of values in [0, 1] through matplotlib's "magma" map (256 entries)."""
    from matplotlib import colormaps

    lut = (colormaps["magma"](np.linspace(0.0, 1.0, 256))[:, :3] * 255.0).round().astype(np.uint8)
    return lut[np.clip(np.rint(values * 255.0), 0, 255).astype(np.intp)]


def sigma_picture(sigma: np.ndarray, percentiles: tuple[float, float] = PERCENTILES
                  ) -> tuple[np.ndarray, tuple[float, float]]:
    """The picture of a σ̂ map and its two levels.

    Args:
        sigma: float H×W×3, σ̂ ≥ 0 on the [0, 1] intensity scale.
        percentiles: the mean σ̂ drawn at the two ends of the colour map, as percentiles of the map
            averaged over channels ((0, 100): its minimum and maximum).
    Returns:
        (uint8 (H + legend)×max(W, legend width)×3 RGB picture: the map at the top left, the legend
        below; (low, high): the σ̂ values at the dark and the light end).
    """
    s = np.asarray(sigma, dtype=np.float32)
    if s.ndim != 3 or s.shape[2] != 3 or not s.size:
        raise ValueError(f"sigma_picture: expected an H×W×3 map, got shape {s.shape}")
    mean = s.mean(axis=2)
    low, high = (float(v) for v in np.percentile(mean, percentiles))
    if high - low < _MIN_RANGE:  # (nearly) constant: from 0, so that the level still shows
        low, high = 0.0, max(high, _MIN_RANGE)
    font = _font()
    channels = ", ".join(f"{c} {v:.3g}" for c, v in zip("RGB", s.reshape(-1, 3).mean(axis=0)))
    caption = ["estimated noise std, mean of R, G, B, on the [0, 1] intensity scale (times 255: 8-bit levels);",
               f"colours from the {percentiles[0]:g}st to the {percentiles[1]:g}th percentile of this map; "
               f"mean per channel: {channels}"]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    width = max(s.shape[1], *(int(probe.textlength(t, font=font)) + 2 * _MARGIN for t in caption))
    legend_h = _MARGIN + _RAMP + _LINE * (1 + len(caption)) + _MARGIN // 2
    canvas = Image.new("RGB", (width, s.shape[0] + legend_h), (255, 255, 255))
    canvas.paste(Image.fromarray(_colours((mean - low) / (high - low))), (0, 0))
    draw = ImageDraw.Draw(canvas)
    y = s.shape[0] + _MARGIN
    ramp = _colours(np.linspace(0.0, 1.0, width - 2 * _MARGIN))
    canvas.paste(Image.fromarray(np.ascontiguousarray(np.repeat(ramp[None], _RAMP, axis=0))), (_MARGIN, y))
    draw.rectangle((_MARGIN - 1, y - 1, width - _MARGIN, y + _RAMP), outline=(0, 0, 0))
    y += _RAMP + 2
    draw.text((_MARGIN, y), f"{low:.3g}", fill=(0, 0, 0), font=font)
    label = f"{high:.3g}"
    draw.text((width - _MARGIN - draw.textlength(label, font=font), y), label, fill=(0, 0, 0), font=font)
    for line in caption:
        y += _LINE
        draw.text((_MARGIN, y), line, fill=(0, 0, 0), font=font)
    return np.asarray(canvas), (low, high)


def sigma_picture_png(sigma: np.ndarray, percentiles: tuple[float, float] = PERCENTILES
                      ) -> tuple[bytes, tuple[float, float]]:
    """sigma_picture as PNG bytes with its two levels in tEXt chunks; returns (png, (low, high))."""
    picture, levels = sigma_picture(sigma, percentiles)
    info = PngImagePlugin.PngInfo()
    for key, value in zip(LEVEL_TEXT, levels):
        info.add_text(key, repr(value))
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format="PNG", pnginfo=info, compress_level=1)
    return buf.getvalue(), levels
