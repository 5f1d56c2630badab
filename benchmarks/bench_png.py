"""Lossless encoders for the dataset's image members: time and size per 256×256 member, and decode time.

    python benchmarks/bench_png.py [--samples 32] [--patch 256]

Members of cbdnet samples cut from the photos bundled with scikit-image (clean, noisy and the 16-bit
planar σ map), one thread. Candidates, every one decoded exactly by Pillow:
  - noisegen.dataset.png with zlib (level 1, Z_RLE, filter Up): the format's encoder before zlib-ng;
  - the same with zlib-ng (what `encode_png` uses when zlib-ng is installed; same bytes);
  - the same filter with ISA-L's deflate (python-isal, level 1; other bytes, bigger files), if installed;
  - Pillow's PNG encoder at compress_level 1;
  - WebP lossless (Pillow, method 0, 8-bit members only), a different codec.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse
import io
import statistics
import time
import zlib

import numpy as np
from PIL import Image

import noisegen as ng
from noisegen.dataset.format import encode_sigma
from noisegen.dataset.images import read_rgb8
from noisegen.dataset.png import deflate, encode_png
from noisegen.dataset.samples import sample_photo_paths
from noisegen.dataset.sigma_codec import STEP_TEXT


def _members(n: int, patch: int) -> dict[str, list[np.ndarray]]:
    photos = [read_rgb8(p)[0] for p in sample_photo_paths()]
    rng = np.random.default_rng(0)
    prof = ng.get_profile("cbdnet")
    out: dict[str, list[np.ndarray]] = {"clean": [], "noisy": [], "sigma": []}
    for i in range(n):
        img = photos[i % len(photos)]
        y, x = rng.integers(img.shape[0] - patch + 1), rng.integers(img.shape[1] - patch + 1)
        crop = np.ascontiguousarray(img[y:y + patch, x:x + patch])
        s = ng.synthesize(crop, ng.sample_params(prof, np.random.default_rng([i, 1])), seed=[i, 2])
        member, step = encode_sigma(s.sigma_raw)
        v = np.rint(s.sigma_raw.astype(np.float64) / step).astype(np.uint16)
        out["clean"].append(s.clean)
        out["noisy"].append(s.noisy)
        out["sigma"].append(np.ascontiguousarray(v.transpose(2, 0, 1)).reshape(3 * patch, patch))
        # The format's σ member: these planes, with the step in a tEXt chunk (noisegen.dataset.sigma_codec).
        assert member == encode_png(out["sigma"][-1], text={STEP_TEXT: repr(step)}), "σ member differs"
    return out


def _png_with(backend):
    def enc(a: np.ndarray) -> bytes:
        import noisegen.dataset.png as png

        saved = png.deflate
        png.deflate = lambda data: deflate(data, backend=backend)
        try:
            return encode_png(a)
        finally:
            png.deflate = saved
    return enc


def _pillow_png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _webp(a: np.ndarray) -> bytes | None:
    if a.dtype != np.uint8:
        return None
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="WEBP", lossless=True, method=0, quality=0)
    return buf.getvalue()


def _time(fn, items) -> tuple[float, list]:
    outs = [fn(a) for a in items[:2]]  # warm up
    best = []
    for _ in range(3):
        t0 = time.perf_counter()
        outs = [fn(a) for a in items]
        best.append((time.perf_counter() - t0) / len(items))
    return min(best), outs


def _decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--patch", type=int, default=256)
    args = ap.parse_args(argv)
    members = _members(args.samples, args.patch)
    candidates = {"png + zlib": _png_with(zlib)}
    try:
        from zlib_ng import zlib_ng

        candidates["png + zlib-ng"] = _png_with(zlib_ng)
    except ImportError:
        print("zlib-ng not installed: skipped")
    try:
        from isal import isal_zlib

        candidates["png + isal l1"] = _png_with(type("isal1", (), {
            "compressobj": staticmethod(lambda *a: isal_zlib.compressobj(1)), "DEFLATED": 8, "Z_RLE": 0}))
    except ImportError:
        print("isal not installed (pip install isal): skipped")
    candidates["pillow png l1"] = _pillow_png
    candidates["webp lossless m0"] = _webp
    print(f"{args.samples} cbdnet samples of {args.patch}², 1 thread, best of 3 (ms per member, KB per member)")
    print(f"{'member':7s} {'encoder':18s} {'encode ms':>10s} {'KB':>8s} {'decode ms':>10s} exact")
    for name, items in members.items():
        for cand, fn in candidates.items():
            if fn(items[0]) is None:
                continue
            enc_s, outs = _time(fn, items)
            dec_s, decoded = _time(_decode, outs)
            exact = all(np.array_equal(d.reshape(a.shape), a) for d, a in zip(decoded, items))
            kb = statistics.mean(len(o) for o in outs) / 1e3
            print(f"{name:7s} {cand:18s} {enc_s * 1e3:10.2f} {kb:8.1f} {dec_s * 1e3:10.2f} {exact}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
