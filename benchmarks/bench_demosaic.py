"""Time demosaicing of a 256×256 Bayer mosaic: noisegen (numba) vs colour-demosaicing.

Single thread (NUMBA_NUM_THREADS=1 is set before numba is imported), after warm-up, median of N
runs per implementation, the two timed in alternating blocks. Prints ms per demosaic (public
`noisegen.isp.bayer.demosaic`, input checks and output allocation included; float64 input for
colour-demosaicing, its native type) and the speedup of ours.

    python benchmarks/bench_demosaic.py [--size 256] [--runs 200] [--pattern RGGB]
"""

from __future__ import annotations

import os

os.environ["NUMBA_NUM_THREADS"] = "1"
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402


def _median_ms(ours, theirs, runs: int, block: int = 10) -> tuple[float, float]:
    """Median ms per call of two functions, timed in alternating blocks of `block` calls so that
    drift in the machine's speed (shared VMs) affects both alike, while each block still runs
    warm (calling them strictly in turn would make every one of our calls allocate its output
    into pages the other just returned to the OS, and time page faults)."""
    for _ in range(max(runs // 10, 3)):  # warm-up: numba compile or cache load, CPU clocks
        ours()
        theirs()
    times: tuple[list[float], list[float]] = ([], [])
    for start in range(0, runs, block):
        for fn, acc in zip((ours, theirs), times):
            for _ in range(min(block, runs - start)):
                t0 = time.perf_counter()
                fn()
                acc.append(time.perf_counter() - t0)
    return statistics.median(times[0]) * 1e3, statistics.median(times[1]) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--size", type=int, default=256, help="mosaic height and width in pixels")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per implementation")
    parser.add_argument("--pattern", default="RGGB", help="Bayer pattern")
    args = parser.parse_args()

    import colour_demosaicing as cd

    # Run from a checkout without `pip install -e .`: make the repository root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    from noisegen.isp.bayer import demosaic, mosaic

    rng = np.random.default_rng(0)
    img = rng.random((args.size, args.size, 3), dtype=np.float32)
    m32 = mosaic(img, args.pattern)
    m64 = m32.astype(np.float64)
    theirs = {
        "malvar": cd.demosaicing_CFA_Bayer_Malvar2004,
        "bilinear": cd.demosaicing_CFA_Bayer_bilinear,
    }
    print(f"{args.size}x{args.size} {args.pattern}, 1 thread, median of {args.runs} runs")
    print(f"{'method':<10}{'noisegen ms':>14}{'colour-demosaicing ms':>24}{'speedup':>10}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # scipy deprecations in colour-demosaicing
        for method, ref in theirs.items():
            ours_ms, ref_ms = _median_ms(
                lambda: demosaic(m32, args.pattern, method), lambda: ref(m64, args.pattern), args.runs
            )
            print(f"{method:<10}{ours_ms:>14.3f}{ref_ms:>24.3f}{ref_ms / ours_ms:>9.1f}x")


if __name__ == "__main__":
    main()
