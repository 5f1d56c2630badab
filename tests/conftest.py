"""Shared fixtures: paths to ../shared/data and small deterministic images."""

from __future__ import annotations

import numpy as np
import pytest
from datagen import SHARED_DATA
from httpserver import Server


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def photo_u8() -> np.ndarray:
    """A real photo crop (Kodak kodim23 when available) or a smooth synthetic scene, non-square odd size."""
    p = SHARED_DATA / "Kodak24" / "kodim23.png"
    if p.exists():
        from PIL import Image

        return np.asarray(Image.open(p).convert("RGB"))[101:138, 201:254].copy()  # 37×53
    yy, xx = np.mgrid[0:37, 0:53]
    img = np.stack([xx * 4.8, yy * 6.9, (xx + yy) * 2.8], axis=-1)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def server():
    """A local HTTP server (127.0.0.1) of in-memory files (tests/httpserver.py)."""
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()
