"""The embedded default photos: real colour photographs bundled inside installed packages.

scikit-image ships a few public-domain or CC0 photographs in its wheel (skimage/data); they let
`noisegen synth` (and the main job) run on a fresh machine with no download.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["SAMPLE_PHOTOS", "sample_photo_paths", "default_photo"]

# Natural colour photographs in skimage/data (README.txt there gives their provenance and licence).
SAMPLE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "motorcycle_right.png",
                 "rocket.jpg", "hubble_deep_field.jpg", "ihc.png")


def sample_photo_paths() -> list[Path]:
    """Paths of the bundled photos that are present (raises RuntimeError when none is)."""
    try:
        import skimage
    except ImportError as exc:  # pragma: no cover - scikit-image is a dependency
        raise RuntimeError("scikit-image is not installed; pass an image path instead") from exc
    root = Path(skimage.__file__).parent / "data"
    paths = [root / n for n in SAMPLE_PHOTOS if (root / n).is_file()]
    if not paths:
        raise RuntimeError(f"no bundled sample photos found in {root}; pass an image path instead")
    return paths


def default_photo() -> Path:
    """The photo used when a command is given none (scikit-image's astronaut.png, 512×512)."""
    return sample_photo_paths()[0]
