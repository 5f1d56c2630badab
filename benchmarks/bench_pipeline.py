"""Patches/s of the full `cbdnet` chain on one core: noisegen vs a plain-numpy chain.

    python benchmarks/bench_pipeline.py [--patches 200] [--size 256]

Both chains get the same 256×256 crops of real photos (Kodak24 from ../shared/data when present,
else the photos bundled with scikit-image) and the same per-patch parameters drawn from the cbdnet
profile (CRF uniform over the default bank, per-channel σ, 4 Bayer patterns + none, Malvar,
JPEG half of the time). Threads are pinned to 1 before numpy/numba load. The numba compile time
is measured separately in fresh processes: cold (empty cache) and warm (cache hit).
"""

from __future__ import annotations

import os

for _v in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from numpy_chain import numpy_synthesize  # noqa: E402

import noisegen as ng  # noqa: E402
from noisegen.dataset.images import read_rgb8  # noqa: E402
from noisegen.dataset.samples import sample_photo_paths  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "Kodak24"

_COMPILE_SNIPPET = """
import time, numpy as np
t0 = time.perf_counter()
import noisegen as ng
t1 = time.perf_counter()
img = np.zeros((64, 64, 3), np.uint8)
for pat, q in ((None, None), ("RGGB", 90)):
    for dm in ("malvar", "bilinear"):
        p = ng.SampleParams(crf="sRGB", sigma_s=(0.1,) * 3, sigma_c=(0.01,) * 3, pattern=pat, demosaic=dm,
                            jpeg_quality=q)
        ng.synthesize(img, p, seed=0)
t2 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t1:.3f}")
"""


def _compile_times() -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        run = lambda: subprocess.run([sys.executable, "-c", _COMPILE_SNIPPET], env=env, capture_output=True,  # noqa: E731
                                     text=True, check=True).stdout.split()
        imp, cold = (float(v) for v in run())
        _, warm = (float(v) for v in run())
    return imp, cold, warm


def _crops(n: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    paths = sorted(SHARED.glob("*.png")) if SHARED.exists() else sample_photo_paths()
    imgs = [read_rgb8(p)[0] for p in paths]
    imgs = [im for im in imgs if im.shape[0] >= size and im.shape[1] >= size]
    out = []
    for i in range(n):
        im = imgs[i % len(imgs)]
        y = int(rng.integers(0, im.shape[0] - size + 1))
        x = int(rng.integers(0, im.shape[1] - size + 1))
        out.append(np.ascontiguousarray(im[y:y + size, x:x + size]))
    return out


def _rate(fn, crops, params) -> float:
    t0 = time.perf_counter()
    for i, (c, p) in enumerate(zip(crops, params)):
        fn(c, p, [0, i])
    return len(crops) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
    ap.add_argument("--patches", type=int, default=200, help="patches per chain (default 200)")
    ap.add_argument("--size", type=int, default=256, help="patch side (default 256)")
    ap.add_argument("--numpy-patches", type=int, default=60, help="patches for the slower numpy chain (default 60)")
    args = ap.parse_args()

    imp, cold, warm = _compile_times()
    rng = np.random.default_rng(0)
    crops = _crops(args.patches, args.size, rng)
    prof = ng.get_profile("cbdnet")
    params = [ng.sample_params(prof, np.random.default_rng([1, i])) for i in range(args.patches)]
    ours = lambda c, p, s: ng.synthesize(c, p, seed=s)  # noqa: E731
    ours(crops[0], params[0], [0, 0])  # warm-up (JIT cache load)
    numpy_synthesize(crops[0], params[0], [0, 0])
    r_ours = max(_rate(ours, crops, params) for _ in range(3))
    n = args.numpy_patches
    r_np = max(_rate(numpy_synthesize, crops[:n], params[:n]) for _ in range(2))
    src = "Kodak24" if SHARED.exists() else "scikit-image sample photos"
    print(f"cbdnet chain, {args.size}x{args.size} patches from {src}, 1 thread, best of runs")
    print(f"  noisegen (numba)      : {r_ours:8.1f} patches/s  ({1000 / r_ours:.2f} ms/patch)")
    print(f"  plain numpy chain     : {r_np:8.1f} patches/s  ({1000 / r_np:.2f} ms/patch)")
    print(f"  speed-up              : {r_ours / r_np:8.1f} x")
    print(f"  import noisegen       : {imp:8.2f} s")
    print(f"  numba compile (cold)  : {cold:8.2f} s   (first calls, empty cache)")
    print(f"  numba compile (cached): {warm:8.2f} s   (first calls, cache hit)")


if __name__ == "__main__":
    main()
