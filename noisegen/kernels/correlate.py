"""numba kernel: the correlated noise field of noisegen.isp.correlation, one pass per pixel.

z(p) = M̃ · y(p),  y_c(p) = Σ_{dy,dx} w_c(p + (dy, dx))·k̃_c(dy, dx)   (a 'valid' 5×5 correlation of the white
field w, drawn with a 2-pixel margin). The numpy form of the same sum (25 shifted slices) is
noisegen.isp.correlated_noise.correlated_normal_numpy; benchmarks/bench_correlation.py compares them.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def _correlated_field(white, kernels, mix, out):
    """out[i, j, :] = mix @ (Σ_{dy,dx} white[i + dy, j + dx, c]·kernels[c, dy, dx])_c.

    white: float64 (H + K − 1, W + K − 1, 3); kernels: float64 (3, K, K); mix: float64 (3, 3);
    out: float32 (H, W, 3). Sums in float64.
    """
    h, w = out.shape[0], out.shape[1]
    k = kernels.shape[1]
    for i in range(h):
        for j in range(w):
            y0 = 0.0
            y1 = 0.0
            y2 = 0.0
            for dy in range(k):
                for dx in range(k):
                    y0 += white[i + dy, j + dx, 0] * kernels[0, dy, dx]
                    y1 += white[i + dy, j + dx, 1] * kernels[1, dy, dx]
                    y2 += white[i + dy, j + dx, 2] * kernels[2, dy, dx]
            out[i, j, 0] = mix[0, 0] * y0 + mix[0, 1] * y1 + mix[0, 2] * y2
            out[i, j, 1] = mix[1, 0] * y0 + mix[1, 1] * y1 + mix[1, 2] * y2
            out[i, j, 2] = mix[2, 0] * y0 + mix[2, 1] * y1 + mix[2, 2] * y2
