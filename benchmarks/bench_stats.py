"""Time the noise statistics: image_stats (numba) vs a plain-numpy version, the exact NLF model vs its
table, `stats --pairs` on PolyU100 + CC60, and `calibrate` on a hidden synthetic camera.

Single thread for the kernels (NUMBA_NUM_THREADS=1 is set before numba is imported), after warm-up,
median of N runs. The calibration part writes 40 pairs of 128² (gamma-2.0, GRBG + Malvar, JPEG 87,
σ_s = 0.055, σ_c = 0.013) from the photos bundled with scikit-image and prints the recovered values.

    python benchmarks/bench_stats.py [--runs 30] [--skip-calibrate] [--skip-pairs]
"""

from __future__ import annotations

import os

os.environ["NUMBA_NUM_THREADS"] = "1"
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def _median_ms(fn, runs: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def bench_kernels(runs: int) -> None:
    from numpy_nlf import image_stats_numpy

    from noisegen.analysis.calibrate.model_nlf import code_moments, code_variance, code_variance_table
    from noisegen.analysis.nlf import image_stats
    from noisegen.crf.io import load_bank

    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    noisy = np.clip(clean + rng.normal(0, 5, clean.shape), 0, 255).astype(np.uint8)
    ours = _median_ms(lambda: image_stats(clean, noisy), runs)
    ref = _median_ms(lambda: image_stats_numpy(clean, noisy), max(runs // 3, 3))
    print(f"image_stats 512×512×3: numba {ours:.1f} ms, numpy {ref:.1f} ms ({ref / ours:.1f}×)")
    crf = load_bank().get("sRGB")
    t0 = time.perf_counter()
    code_variance_table(crf)
    table = time.perf_counter() - t0
    exact = _median_ms(lambda: code_moments(crf, 0.06, 0.015), runs)
    fast = _median_ms(lambda: code_variance(crf, 0.06, 0.015), runs)
    print(f"NLF model, 256 codes × 3 channels: exact {exact:.2f} ms, table {fast:.3f} ms ({exact / fast:.0f}×); "
          f"table built once per curve in {table * 1e3:.0f} ms")


def bench_pairs() -> None:
    from noisegen.analysis.stats import StatsConfig, pairs_stats

    roots = [DATA / "PolyU100", DATA / "CC60"]
    if not all(r.is_dir() for r in roots):
        print(f"stats --pairs: skipped ({roots[0]} or {roots[1]} absent)")
        return
    t0 = time.perf_counter()
    rep = pairs_stats(StatsConfig(pairs=tuple(map(str, roots)), progress=False))
    dt = time.perf_counter() - t0
    n = sum(g.summary["images"] for g in rep.groups)
    print(f"stats --pairs PolyU100 CC60: {n} pairs, {len(rep.groups)} groups in {dt:.1f} s ({n / dt:.0f} pairs/s, "
          "decoding included)")


def bench_calibrate() -> None:
    from PIL import Image

    import noisegen as ng
    from noisegen.analysis.calibrate.fit import CalibrateConfig, calibrate
    from noisegen.dataset.images import read_rgb8
    from noisegen.dataset.samples import sample_photo_paths

    hidden = ng.SampleParams(crf="gamma-2.0", sigma_s=(0.055,) * 3, sigma_c=(0.013,) * 3, pattern="GRBG",
                             demosaic="malvar", jpeg_quality=87)
    crops = []
    for path in sample_photo_paths():
        img, _ = read_rgb8(path)
        crops += [np.ascontiguousarray(img[y:y + 128, x:x + 128]) for y in range(0, img.shape[0] - 127, 128)
                  for x in range(0, img.shape[1] - 127, 128)]
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        for k, i in enumerate(np.random.default_rng(5).permutation(len(crops))[:40]):
            for folder, im, tag in (("gt", crops[i], "mean"),
                                    ("noisy", ng.synthesize(crops[i], hidden, seed=[42, k]).noisy, "real")):
                (root / folder).mkdir(exist_ok=True)
                Image.fromarray(im).save(root / folder / f"Hidden_4_100_800_s{k % 7}_{k}_{tag}.png", compress_level=1)
        t0 = time.perf_counter()
        cal = calibrate(CalibrateConfig(pairs=(str(root),), search_pixels=160_000))
        dt = time.perf_counter() - t0
    g = cal.groups[0]
    print(f"calibrate, hidden camera (0.66 Mpx): {dt:.1f} s, {len(cal.candidates)} candidates; CRF {cal.crf}, "
          f"demosaic {cal.demosaic}, JPEG {cal.jpeg}; σ_s {g.sigma_s:.4f} ({100 * (g.sigma_s / 0.055 - 1):+.1f}%), "
          f"σ_c {g.sigma_c:.4f} ({100 * (g.sigma_c / 0.013 - 1):+.1f}%), "
          f"NLF error {100 * g.errors['nlf_rel_mean']:.1f}%")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--skip-calibrate", action="store_true")
    ap.add_argument("--skip-pairs", action="store_true")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))  # numpy_nlf, as bench_pipeline.py finds numpy_chain
    bench_kernels(args.runs)
    if not args.skip_pairs:
        bench_pairs()
    if not args.skip_calibrate:
        bench_calibrate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
