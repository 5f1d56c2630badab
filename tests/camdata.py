"""Small camera folders for the camera command's tests: photo-like textures (every seed a different scene,
none of them among the embedded clean photos), as noisy/clean pairs named like PolyU100 or as noisy photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from noisegen.dataset.images import write_png


def texture(seed: int, h: int = 160, w: int = 160) -> np.ndarray:
    """A photo-like uint8 image: smoothed random texture (every seed a different scene)."""
    rng = np.random.default_rng(seed)
    img = rng.normal(0, 1, (h // 4 + 1, w // 4 + 1, 3)).repeat(4, 0).repeat(4, 1)[:h, :w]
    img = img + 0.3 * rng.normal(0, 1, (h, w, 3))
    return np.clip(128 + 40 * img, 0, 255).astype(np.uint8)


def noisy_of(clean: np.ndarray, seed, sigma: float = 6.0) -> np.ndarray:
    return np.clip(clean + np.random.default_rng(seed).normal(0, sigma, clean.shape), 0, 255).astype(np.uint8)


def pairs_folder(root: Path, scenes: dict[str, int], *, camera: str = "CamA", iso: int = 3200,
                 size: int = 160, seed: int = 0) -> Path:
    """noisy/ + gt/ pairs named CAMERA_5_160_ISO_SCENE_I_real / _mean (PolyU's rule): ``scenes`` name → pairs.
    A scene's pairs show the same content with new noise; returns ``root``."""
    for role in ("noisy", "gt"):
        (root / role).mkdir(parents=True, exist_ok=True)
    for k, (scene, n) in enumerate(sorted(scenes.items())):
        clean = texture(1000 * seed + k, size, size)
        for i in range(1, n + 1):
            stem = f"{camera}_5_160_{iso}_{scene}_{i}"
            write_png(root / "noisy" / f"{stem}_real.png", noisy_of(clean, [seed, k, i]))
            write_png(root / "gt" / f"{stem}_mean.png", clean)
    return root


def photos_folder(root: Path, n: int, *, name: str = "{i:02d}_noise.png", size: int = 160, seed: int = 50) -> Path:
    """``n`` noisy photos (each its own scene) directly in ``root``, named by ``name`` (format field i)."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_png(root / name.format(i=i + 1), noisy_of(texture(seed + i, size, size), [seed, i], 8.0))
    return root
