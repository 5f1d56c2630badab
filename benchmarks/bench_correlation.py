"""The correlated noise field (noisegen.isp.correlated_noise): the numba kernel against its plain-numpy form.

    python benchmarks/bench_correlation.py [--side 256] [--repeats 50]

Both draw the same white field from the same Generator (the ziggurat of noisegen.isp.noise, included in both
timings) and apply the 5×5 kernel per channel and the 3×3 colour mixing of noisegen.isp.correlation; one
thread, best of --repeats. Prints ms per side×side×3 field and the largest difference between the two.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from noisegen.isp.correlated_noise import correlated_normal, correlated_normal_numpy

CORR = [1.0, 0.6, 0.2, 0.5, 0.3, 0.1, 0.15, 0.05, 0.0] * 3
MIX = [1.0, 0.4, 0.1, 0.3, 1.0, 0.3, 0.1, 0.4, 1.0]


def best_ms(fn, side: int, repeats: int) -> float:
    fn(np.random.default_rng(0), (side, side), CORR, MIX)   # compile / warm up
    times = []
    for r in range(repeats):
        t = time.perf_counter()
        fn(np.random.default_rng(r), (side, side), CORR, MIX)
        times.append(time.perf_counter() - t)
    return 1000 * min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
    ap.add_argument("--side", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    numba_ms = best_ms(correlated_normal, args.side, args.repeats)
    numpy_ms = best_ms(correlated_normal_numpy, args.side, args.repeats)
    a = correlated_normal(np.random.default_rng(1), (args.side, args.side), CORR, MIX)
    b = correlated_normal_numpy(np.random.default_rng(1), (args.side, args.side), CORR, MIX)
    print(f"correlated noise field, {args.side}x{args.side}x3, 1 thread, best of {args.repeats}")
    print(f"  numba kernel : {numba_ms:8.2f} ms")
    print(f"  plain numpy  : {numpy_ms:8.2f} ms")
    print(f"  speed-up     : {numpy_ms / numba_ms:8.1f} x")
    print(f"  max |numba - numpy| = {np.abs(a - b).max():.2e}")


if __name__ == "__main__":
    main()
