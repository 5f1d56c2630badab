"""numba kernels: standard normal draws by the ziggurat method, fused with the noise model.

Normal deviates come from pre-drawn 64-bit words of the caller's numpy Generator
(``rng.bit_generator.random_raw``), so kernels hold no RNG state and the result is a pure
function of the Generator. Drawing the words costs ~2 ns each; numpy's own standard_normal costs
~9 ns per float32 value on our machines, which made it the largest single cost of a sample.

Ziggurat: Marsaglia & Tsang, "The Ziggurat Method for Generating Random Variables", J. Stat.
Software 5(8), 2000, with 256 layers (r = 3.6541528853610088, layer area v = 0.00492867323399).
Each word supplies the layer (8 bits), the sign (1 bit) and a 53-bit uniform, so the three are
independent (Marsaglia & Tsang's original reuses bits for index and value; Doornik 2005 showed the
resulting correlation). About 99% of draws take one word; wedge and tail draws take a few more
words from the same stream.

Words are consumed in order; _standard_normal returns the number of words used, or -1 when the
buffer ran out (the wrapper then retries with a longer buffer drawn from the same Generator).
The noise kernels take the deviates ``z`` as an array: keeping the ziggurat's fast path inline in
one tight loop is what makes it fast in numba (a tuple-returning helper per draw was 20× slower).
"""

from __future__ import annotations

import numpy as np
from numba import njit

ZIGGURAT_LAYERS = 256
_R = 3.6541528853610088
_V = 0.00492867323399


def _tables() -> tuple[np.ndarray, np.ndarray]:
    """Layer edges x[0..256] (x[0] = v/f(r) is the base strip's virtual width, x[256] = 0) and f(x)."""
    f = lambda t: np.exp(-0.5 * t * t)  # noqa: E731
    x = np.zeros(ZIGGURAT_LAYERS + 1)
    x[0] = _V / f(_R)
    x[1] = _R
    for i in range(2, ZIGGURAT_LAYERS):
        x[i] = np.sqrt(-2.0 * np.log(_V / x[i - 1] + f(x[i - 1])))
    return x, f(x)


ZIG_X, ZIG_F = _tables()
_TWO_M53 = 2.0**-53


@njit(cache=True, nogil=True)
def _open_uniform(w):
    """Uniform in (0, 1) from the top 53 bits of a word (never 0, so log is safe)."""
    return (np.float64(w >> np.uint64(11)) + 0.5) * _TWO_M53


@njit(cache=True, nogil=True)
def _ziggurat_slow(words, pos, w, xt, ft):
    """The rare path, for a word ``w`` that missed the fast test: wedge or tail, then retries.

    Returns (z, next pos), or (0, -1) if the words ran out."""
    n = words.shape[0]
    while True:
        i = np.intp(w & np.uint64(0xFF))
        neg = ((w >> np.uint64(8)) & np.uint64(1)) != 0
        z = np.float64(w >> np.uint64(11)) * _TWO_M53 * xt[i]
        if z < xt[i + 1]:
            return (-z if neg else z), pos
        if i == 0:  # base strip beyond r: Marsaglia's exact tail
            while pos + 1 < n:
                a = -np.log(_open_uniform(words[pos])) / xt[1]
                b = -np.log(_open_uniform(words[pos + 1]))
                pos += 2
                if b + b >= a * a:
                    z = xt[1] + a
                    return (-z if neg else z), pos
            return 0.0, -1
        if pos >= n:
            return 0.0, -1
        y = ft[i] + _open_uniform(words[pos]) * (ft[i + 1] - ft[i])  # wedge test
        pos += 1
        if y < np.exp(-0.5 * z * z):
            return (-z if neg else z), pos
        if pos >= n:
            return 0.0, -1
        w = words[pos]  # rejected: start over with a fresh word
        pos += 1


@njit(cache=True, nogil=True)
def _standard_normal(words, xt, ft, out):
    """Fill out (float32 or float64, 1-D) with N(0, 1) deviates; returns words used or -1."""
    pos = 0
    n = words.shape[0]
    for k in range(out.shape[0]):
        if pos >= n:
            return -1
        w = words[pos]
        pos += 1
        i = np.intp(w & np.uint64(0xFF))
        z = np.float64(w >> np.uint64(11)) * _TWO_M53 * xt[i]
        if z < xt[i + 1]:  # inside the rectangle fully under the curve (~99% of draws)
            out[k] = -z if (w >> np.uint64(8)) & np.uint64(1) else z
        else:
            z, pos = _ziggurat_slow(words, pos, w, xt, ft)
            if pos < 0:
                return -1
            out[k] = z
    return pos


@njit(cache=True, nogil=True)
def _sigma_raw_kernel(L, var_s, var_c, sigma):
    """sigma[i,j,c] = sqrt(max(L[i,j,c], 0)·var_s[c] + var_c[c]); L, sigma float32 (H,W,3).

    The numba kernel of the σ formula (the pipeline's); its numpy reference is
    noisegen.isp.noise_level.sigma_raw_reference (the reader's).
    """
    H, W, _ = L.shape
    for i in range(H):
        for j in range(W):
            for c in range(3):
                v = L[i, j, c]
                vp = v if v > 0.0 else 0.0
                sigma[i, j, c] = np.sqrt(vp * var_s[c] + var_c[c])


@njit(cache=True, nogil=True)
def _gauss_rgb(L, z, var_s, var_c, noisy, sigma):
    """noisy = L + σ(L)·z on every channel and the σ map; L, z, noisy, sigma float32 (H,W,3).

    σ(L) = sqrt(max(L, 0)·var_s[c] + var_c[c]), rounded to float32 before use (as stored).
    """
    _sigma_raw_kernel(L, var_s, var_c, sigma)
    H, W, _ = L.shape
    for i in range(H):
        for j in range(W):
            for c in range(3):
                noisy[i, j, c] = L[i, j, c] + sigma[i, j, c] * z[i, j, c]


@njit(cache=True, nogil=True)
def _gauss_cfa(L, z, cfa, var_s, var_c, noisy_mosaic, sigma):
    """Mosaic and noise in one pass: one draw per pixel, for the channel the CFA samples there.

    L, sigma float32 (H,W,3); z, noisy_mosaic float32 (H,W); cfa int64 (2,2). The σ map is
    filled for all three channels.
    """
    _sigma_raw_kernel(L, var_s, var_c, sigma)
    H, W, _ = L.shape
    for i in range(H):
        for j in range(W):
            k = cfa[i & 1, j & 1]
            noisy_mosaic[i, j] = L[i, j, k] + sigma[i, j, k] * z[i, j]


@njit(cache=True, nogil=True)
def _gauss_cfa_u8(img, lin, sig_tab, z, cfa, noisy_mosaic, sigma):
    """Fast path from 8-bit codes: inverse CRF, σ map, mosaic and noise in one pass.

    img uint8 (H,W,3); lin float32 (256,) = f⁻¹(k/255); sig_tab float32 (3,256) = σ(lin[k]) per
    channel; z float32 (H,W). Same output as _gauss_cfa on L = lin[img], without a sqrt per pixel.
    """
    H, W, _ = img.shape
    for i in range(H):
        for j in range(W):
            k = cfa[i & 1, j & 1]
            sigma[i, j, 0] = sig_tab[0, img[i, j, 0]]
            sigma[i, j, 1] = sig_tab[1, img[i, j, 1]]
            sigma[i, j, 2] = sig_tab[2, img[i, j, 2]]
            code = img[i, j, k]
            noisy_mosaic[i, j] = lin[code] + sig_tab[k, code] * z[i, j]


@njit(cache=True, nogil=True)
def _gauss_rgb_u8(img, lin, sig_tab, z, noisy, sigma):
    """Fast path from 8-bit codes without a mosaic: noise on all three channels; z float32 (H,W,3)."""
    H, W, _ = img.shape
    for i in range(H):
        for j in range(W):
            for c in range(3):
                code = img[i, j, c]
                s = sig_tab[c, code]
                sigma[i, j, c] = s
                noisy[i, j, c] = lin[code] + s * z[i, j, c]
