"""numba kernels for Bayer mosaicing and demosaicing (bilinear and Malvar-He-Cutler 2004).

Private kernels behind :mod:`noisegen.isp.bayer`, which validates inputs and owns the documentation.
Every kernel takes C-contiguous arrays and writes into a caller-allocated ``out``.

CFA convention: ``cfa`` is a (2, 2) int64 array giving the channel index (0 = R, 1 = G, 2 = B)
of the top-left 2×2 block; pixel (i, j) carries channel ``cfa[i % 2, j % 2]``. The demosaic
kernels assume a Bayer layout: each row of ``cfa`` holds one green and one non-green site, and
the two rows hold different non-green channels.

Demosaic filters:
- bilinear: G = [0 1 0; 1 4 1; 0 1 0]/4 on the green-masked plane, R and B =
  [1 2 1; 2 4 2; 1 2 1]/4 on the red- and blue-masked planes.
- Malvar, He & Cutler, "High-quality linear interpolation for demosaicing of Bayer-patterned
  color images", ICASSP 2004: bilinear plus a gradient correction (gains α = 1/2 for G at R/B,
  β = 5/8 for R/B at G, γ = 3/4 for R at B and B at R) folded into the paper's 5×5 filters,
  coefficients /8, applied to the unmasked mosaic.

Borders mirror the mosaic about the edge pixel (scipy.ndimage mode="mirror", numpy's "reflect":
d c b | a b c d). The period of that reflection is even, so it keeps the CFA phase: the tap
beyond the edge has the colour the offset implies, a flat colour field stays flat up to the
border and sampled values pass through. (colour-demosaicing uses scipy's half-sample "reflect",
which swaps the CFA phase at the edge: a flat field's red channel becomes ×2.25 at a bilinear
corner. We agree with it exactly away from the border; see the tests.) Both demosaics make one
pass over the image and evaluate at each site only the filters it needs:
- Malvar filters the unmasked mosaic, so the mirror is applied once, while padding each source
  row into a 5-row ring buffer; the compute loop then treats border and interior alike.
- bilinear keeps a fast interior path; the 1-pixel border ring is computed tap by tap on
  mirrored indices, classifying each tap by the colour of the pixel it lands on.
Outputs are not clipped. The demosaic kernels need H, W >= 2.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Filter weights as float32 constants so that the arithmetic stays in float32.
_F0_5 = np.float32(0.5)
_F1_5 = np.float32(1.5)
_F2 = np.float32(2.0)
_F4 = np.float32(4.0)
_F5 = np.float32(5.0)
_F6 = np.float32(6.0)
_QUARTER = np.float32(0.25)
_EIGHTH = np.float32(0.125)


@njit(cache=True, nogil=True)
def _mosaic(img, cfa, out):
    """out[i, j] = img[i, j, cfa[i % 2, j % 2]]; img (H, W, 3) float32, out (H, W) float32."""
    h, w = out.shape
    for i in range(h):
        c0 = cfa[i % 2, 0]
        c1 = cfa[i % 2, 1]
        for j in range(0, w - 1, 2):
            out[i, j] = img[i, j, c0]
            out[i, j + 1] = img[i, j + 1, c1]
        if w % 2 == 1:
            out[i, w - 1] = img[i, w - 1, c0]


@njit(cache=True, nogil=True)
def _mirror_index(n, pad):
    """idx[k] = source index of position k - pad along an axis of length n >= 2, k in [0, n + 2·pad).

    Mirror about the edge pixel (scipy mode="mirror"): the axis repeats with the even period
    2n - 2 as (a b c d | c b), so index parity, hence the CFA colour, is preserved.
    """
    idx = np.empty(n + 2 * pad, dtype=np.int64)
    period = 2 * n - 2
    for k in range(n + 2 * pad):
        t = (k - pad) % period  # numba keeps Python's sign rule: t >= 0
        idx[k] = t if t < n else period - t
    return idx


@njit(cache=True, nogil=True)
def _row_layout(cfa, r):
    """(non-green channel, column parity of the green sites) of CFA row r."""
    if cfa[r, 0] == 1:
        return cfa[r, 1], 0
    return cfa[r, 0], 1


# --- Malvar-He-Cutler 2004 ----------------------------------------------------------------------
# The paper's 5×5 kernels (coefficients /8) written out tap by tap at column j of the
# centre row r2, with r0, r1 the rows above and r3, r4 the rows below. The kernels are symmetric,
# so convolution equals correlation.


@njit(cache=True, nogil=True, inline="always")
def _mhc_at_green(r0, r1, r2, r3, r4, j):
    """(horizontal, vertical) estimates at a G site.

    horizontal: the channel sampled left/right of the site (R in an R row, B in a B row),
        [0 0 1/2 0 0; 0 -1 0 -1 0; -1 4 5 4 -1; 0 -1 0 -1 0; 0 0 1/2 0 0] / 8;
    vertical: the channel sampled above/below, the transpose of that kernel.
    """
    c5 = _F5 * r2[j]
    diag = r1[j - 1] + r1[j + 1] + r3[j - 1] + r3[j + 1]
    ends_h = r2[j - 2] + r2[j + 2]
    ends_v = r0[j] + r4[j]
    horizontal = (c5 + _F4 * (r2[j - 1] + r2[j + 1]) - ends_h - diag + _F0_5 * ends_v) * _EIGHTH
    vertical = (c5 + _F4 * (r1[j] + r3[j]) - ends_v - diag + _F0_5 * ends_h) * _EIGHTH
    return horizontal, vertical


@njit(cache=True, nogil=True, inline="always")
def _mhc_at_colour(r0, r1, r2, r3, r4, j):
    """(green, diagonal) estimates at an R or B site.

    green: [0 0 -1 0 0; 0 0 2 0 0; -1 2 4 2 -1; 0 0 2 0 0; 0 0 -1 0 0] / 8;
    diagonal: B at an R site or R at a B site,
        [0 0 -3/2 0 0; 0 2 0 2 0; -3/2 0 6 0 -3/2; 0 2 0 2 0; 0 0 -3/2 0 0] / 8.
    """
    c = r2[j]
    ends = r0[j] + r4[j] + r2[j - 2] + r2[j + 2]
    cross = r1[j] + r3[j] + r2[j - 1] + r2[j + 1]
    diag = r1[j - 1] + r1[j + 1] + r3[j - 1] + r3[j + 1]
    green = (_F4 * c + _F2 * cross - ends) * _EIGHTH
    diagonal = (_F6 * c + _F2 * diag - _F1_5 * ends) * _EIGHTH
    return green, diagonal


@njit(cache=True, nogil=True)
def _pad_row(src, cols, dst):
    """dst = src mirror-padded by 2 on each side; cols from _mirror_index(len(src), 2)."""
    w = src.shape[0]
    dst[2 : w + 2] = src
    dst[0] = src[cols[0]]
    dst[1] = src[cols[1]]
    dst[w + 2] = src[cols[w + 2]]
    dst[w + 3] = src[cols[w + 3]]


@njit(cache=True, nogil=True)
def _demosaic_malvar(m, cfa, out):
    """Malvar-He-Cutler 2004 demosaic; m (H, W) float32, out (H, W, 3) float32, H, W >= 2.

    The filters apply to the unmasked mosaic, so the mirror border equals filtering a
    mirror-padded copy. Each source row is padded once, into a ring of 5 rows (slot = row % 5:
    output row i reads source rows within [i - 2, i + 2], reflection included), so the compute
    loop below has no bounds logic and no image-sized temporary is needed.
    """
    h, w = m.shape
    rows = _mirror_index(h, 2)
    cols = _mirror_index(w, 2)
    ring = np.empty((5, w + 4), dtype=np.float32)
    n_padded = 0
    for i in range(h):
        while n_padded <= min(i + 2, h - 1):
            _pad_row(m[n_padded], cols, ring[n_padded % 5])
            n_padded += 1
        r0 = ring[rows[i] % 5]
        r1 = ring[rows[i + 1] % 5]
        r2 = ring[rows[i + 2] % 5]  # row i itself; column j of the image is r2[j + 2]
        r3 = ring[rows[i + 3] % 5]
        r4 = ring[rows[i + 4] % 5]
        own, g_col = _row_layout(cfa, i & 1)
        o = out[i]
        # One loop per kind of site, with the row kind hoisted out so that channels are constants.
        if own == 0:  # R row: R left/right of the G sites, B above/below them
            for j in range(g_col, w, 2):
                horizontal, vertical = _mhc_at_green(r0, r1, r2, r3, r4, j + 2)
                o[j, 0] = horizontal
                o[j, 1] = r2[j + 2]
                o[j, 2] = vertical
            for j in range(1 - g_col, w, 2):
                green, diagonal = _mhc_at_colour(r0, r1, r2, r3, r4, j + 2)
                o[j, 0] = r2[j + 2]
                o[j, 1] = green
                o[j, 2] = diagonal
        else:  # B row: B left/right of the G sites, R above/below them
            for j in range(g_col, w, 2):
                horizontal, vertical = _mhc_at_green(r0, r1, r2, r3, r4, j + 2)
                o[j, 0] = vertical
                o[j, 1] = r2[j + 2]
                o[j, 2] = horizontal
            for j in range(1 - g_col, w, 2):
                green, diagonal = _mhc_at_colour(r0, r1, r2, r3, r4, j + 2)
                o[j, 0] = diagonal
                o[j, 1] = green
                o[j, 2] = r2[j + 2]


# --- Bilinear -----------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _bilinear_border_site(m, cfa, rows, cols, i, j, out):
    """Bilinear at one border site: the masked 3×3 convolutions on mirrored indices, each tap
    classified by the colour of the pixel it lands on. rows, cols from _mirror_index(n, 1)."""
    acc0 = np.float32(0.0)
    acc1 = np.float32(0.0)
    acc2 = np.float32(0.0)
    for di in range(3):
        ri = rows[i + di]
        for dj in range(3):
            rj = cols[j + dj]
            v = m[ri, rj]
            c = cfa[ri & 1, rj & 1]
            # Weights ×4 by distance from the centre: G kernel 4, 1, 0; R/B kernel 4, 2, 1.
            dist = abs(di - 1) + abs(dj - 1)
            if c == 1:
                if dist == 0:
                    acc1 += _F4 * v
                elif dist == 1:
                    acc1 += v
            else:
                if dist == 0:
                    v = _F4 * v
                elif dist == 1:
                    v = _F2 * v
                if c == 0:
                    acc0 += v
                else:
                    acc2 += v
    out[i, j, 0] = acc0 * _QUARTER
    out[i, j, 1] = acc1 * _QUARTER
    out[i, j, 2] = acc2 * _QUARTER


@njit(cache=True, nogil=True)
def _demosaic_bilinear(m, cfa, out):
    """Bilinear demosaic (masked-plane convolutions); m (H, W) float32, out (H, W, 3) float32, H, W >= 2."""
    h, w = m.shape
    rows = _mirror_index(h, 1)
    cols = _mirror_index(w, 1)
    for i in range(h):
        if i == 0 or i == h - 1:
            for j in range(w):
                _bilinear_border_site(m, cfa, rows, cols, i, j, out)
            continue
        _bilinear_border_site(m, cfa, rows, cols, i, 0, out)
        _bilinear_border_site(m, cfa, rows, cols, i, w - 1, out)
        # Interior fast path. In a row whose non-green channel is `own`, that channel lies
        # left/right of the green sites and the `other` channel above/below them.
        own, g_col = _row_layout(cfa, i & 1)
        other = 2 - own
        r0, r1, r2 = m[i - 1], m[i], m[i + 1]
        o = out[i]
        for j in range(2 - g_col, w - 1, 2):  # green sites
            o[j, 1] = r1[j]
            o[j, own] = (r1[j - 1] + r1[j + 1]) * _F0_5
            o[j, other] = (r0[j] + r2[j]) * _F0_5
        for j in range(1 + g_col, w - 1, 2):  # R or B sites
            o[j, own] = r1[j]
            o[j, 1] = (r0[j] + r2[j] + r1[j - 1] + r1[j + 1]) * _QUARTER
            o[j, other] = (r0[j - 1] + r0[j + 1] + r2[j - 1] + r2[j + 1]) * _QUARTER
