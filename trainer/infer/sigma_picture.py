"""The picture of an estimated noise level map (`noisegen-train denoise --sigma-map`): readable on its own.

The map σ̂ (H×W×3, standard deviation per channel on the [0, 1] intensity scale) is drawn pixel for
pixel at the top, each channel in its own colour, black = 0 and white = the 99th percentile of σ̂
over all pixels and channels (``PERCENTILE``), so that the picture uses its range whatever the noise
level (a fixed scale left dark noise-free photos black and noisy ones white). One scale for the three
channels keeps their ratio visible: a reddish area has more noise in red. Below the map, a legend:
a grey ramp from 0 to that white level with its value, and what the picture shows. The white level
is also written into the PNG (tEXt ``noisegen:sigma-white``).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

__all__ = ["PERCENTILE", "WHITE_TEXT", "sigma_picture", "sigma_picture_png"]

PERCENTILE = 99.0
WHITE_TEXT = "noisegen:sigma-white"
_MARGIN, _RAMP, _LINE = 8, 12, 14  # legend layout, pixels
_MIN_WHITE = 1e-6  # a constant zero map still gets a valid scale


def _font() -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=11)
    except TypeError:  # pragma: no cover - Pillow < 10.1 has only the bitmap font
        return ImageFont.load_default()


def sigma_picture(sigma: np.ndarray, percentile: float = PERCENTILE) -> tuple[np.ndarray, float]:
    """The picture of a σ̂ map and its white level.

    Args:
        sigma: float H×W×3, σ̂ ≥ 0 on the [0, 1] intensity scale.
        percentile: σ̂ drawn white, as a percentile of all values (100: the maximum).
    Returns:
        (uint8 (H + legend)×max(W, legend width)×3 RGB picture: the map at the top left, the legend
        below; white level, the σ̂ value drawn white).
    """
    s = np.asarray(sigma, dtype=np.float32)
    if s.ndim != 3 or s.shape[2] != 3 or not s.size:
        raise ValueError(f"sigma_picture: expected an H×W×3 map, got shape {s.shape}")
    white = max(float(np.percentile(s, percentile)), _MIN_WHITE)
    top = np.clip(np.rint(s / white * 255.0), 0, 255).astype(np.uint8)
    font = _font()
    caption = [f"σ̂ per channel (R, G, B), [0, 1] intensity scale; white = {white:.3g}",
               f"(the {percentile:g}th percentile of this map; brighter = noisier)"]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    width = max(s.shape[1], *(int(probe.textlength(t, font=font)) + 2 * _MARGIN for t in caption))
    legend_h = _MARGIN + _RAMP + _LINE * (1 + len(caption)) + _MARGIN // 2
    canvas = Image.new("RGB", (width, s.shape[0] + legend_h), (255, 255, 255))
    canvas.paste(Image.fromarray(top), (0, 0))
    draw = ImageDraw.Draw(canvas)
    y = s.shape[0] + _MARGIN
    ramp = np.linspace(0, 255, width - 2 * _MARGIN).round().astype(np.uint8)
    canvas.paste(Image.fromarray(np.repeat(ramp[None, :, None], 3, axis=2).repeat(_RAMP, axis=0)), (_MARGIN, y))
    draw.rectangle((_MARGIN - 1, y - 1, width - _MARGIN, y + _RAMP), outline=(0, 0, 0))
    y += _RAMP + 2
    draw.text((_MARGIN, y), "0", fill=(0, 0, 0), font=font)
    label = f"{white:.3g}"
    draw.text((width - _MARGIN - draw.textlength(label, font=font), y), label, fill=(0, 0, 0), font=font)
    for line in caption:
        y += _LINE
        draw.text((_MARGIN, y), line, fill=(0, 0, 0), font=font)
    return np.asarray(canvas), white


def sigma_picture_png(sigma: np.ndarray, percentile: float = PERCENTILE) -> tuple[bytes, float]:
    """sigma_picture as PNG bytes with the white level in a tEXt chunk; returns (png, white level)."""
    picture, white = sigma_picture(sigma, percentile)
    info = PngImagePlugin.PngInfo()
    info.add_text(WHITE_TEXT, repr(white))
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format="PNG", pnginfo=info, compress_level=1)
    return buf.getvalue(), white
