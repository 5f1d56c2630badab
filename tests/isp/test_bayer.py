"""Tests for noisegen.isp.bayer: Bayer mosaic and demosaic (bilinear, Malvar-He-Cutler 2004).

Oracle: colour-demosaicing (mosaicing_CFA_Bayer, demosaicing_CFA_Bayer_bilinear,
demosaicing_CFA_Bayer_Malvar2004). It convolves with scipy's half-sample "reflect" border, which
swaps the Bayer phase at the edge; ours mirrors about the edge pixel, which keeps it. So we compare
(a) with the oracle directly, away from the border, and (b) over the whole image with the oracle
applied to the mosaic mirror-padded by 2 pixels (an even pad keeps the pattern) and cropped back.
"""

from __future__ import annotations

import numpy as np
import pytest

from noisegen.isp.bayer import DEMOSAIC_METHODS, BayerPattern, demosaic, mosaic, parse_pattern

cd = pytest.importorskip("colour_demosaicing")

PATTERNS = [p.value for p in BayerPattern]
ORACLE = {
    "malvar": cd.demosaicing_CFA_Bayer_Malvar2004,
    "bilinear": cd.demosaicing_CFA_Bayer_bilinear,
}
# Non-square, odd sizes, and tiny images where every pixel is on the border.
SIZES = [(37, 54), (41, 29)]
TINY_SIZES = [(2, 2), (2, 3), (3, 2), (3, 3), (2, 7), (7, 2), (4, 5), (5, 4), (6, 6)]


def _rand_img(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng([seed, h, w]).random((h, w, 3), dtype=np.float32)


def _mosaic_reference(img: np.ndarray, cfa: np.ndarray) -> np.ndarray:
    """Plain-numpy mosaic: each of the four 2×2 positions takes its channel."""
    out = np.empty(img.shape[:2], dtype=np.float32)
    for py in range(2):
        for px in range(2):
            out[py::2, px::2] = img[py::2, px::2, cfa[py, px]]
    return out


# --- patterns ---------------------------------------------------------------------------------


def test_pattern_cfa_known_values():
    np.testing.assert_array_equal(BayerPattern.RGGB.cfa, [[0, 1], [1, 2]])
    np.testing.assert_array_equal(BayerPattern.BGGR.cfa, [[2, 1], [1, 0]])
    np.testing.assert_array_equal(BayerPattern.GRBG.cfa, [[1, 0], [2, 1]])
    np.testing.assert_array_equal(BayerPattern.GBRG.cfa, [[1, 2], [0, 1]])
    for p in BayerPattern:
        assert p.cfa.dtype == np.int64 and p.cfa.shape == (2, 2)
        assert str(p) == p.value == p  # str mixin: serialises as its name


@pytest.mark.parametrize("value", [None, "none", "None", "NONE"])
def test_parse_pattern_none(value):
    assert parse_pattern(value) is None


@pytest.mark.parametrize("value", ["RGGB", "rggb", "Bggr", " GRBG ", BayerPattern.GBRG])
def test_parse_pattern_names(value):
    p = parse_pattern(value)
    assert isinstance(p, BayerPattern)
    assert p.value == str(value).strip().upper()


@pytest.mark.parametrize("value", ["RGBG", "", "XTrans", 3, ["RGGB"]])
def test_parse_pattern_rejects_unknown(value):
    with pytest.raises(ValueError, match="RGGB, BGGR, GRBG, GBRG"):
        parse_pattern(value)


# --- mosaic -----------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("shape", SIZES)
def test_mosaic_matches_oracle_exactly(pattern, shape):
    img = _rand_img(*shape)
    ours = mosaic(img, pattern)
    assert ours.dtype == np.float32 and ours.shape == shape
    np.testing.assert_array_equal(ours, cd.mosaicing_CFA_Bayer(img, pattern))


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("shape", SIZES + TINY_SIZES + [(1, 1), (1, 6), (5, 1)])
def test_mosaic_matches_numpy_reference(pattern, shape):
    img = _rand_img(*shape, seed=1)
    p = BayerPattern(pattern)
    np.testing.assert_array_equal(mosaic(img, p), _mosaic_reference(img, p.cfa))


def test_mosaic_float64_and_noncontiguous_input():
    img = _rand_img(20, 31).astype(np.float64)
    view = img[::-1, 1::2]  # negative and non-unit strides
    np.testing.assert_array_equal(
        mosaic(view, "GRBG"), _mosaic_reference(view.astype(np.float32), BayerPattern.GRBG.cfa)
    )


# --- demosaic vs the oracle ---------------------------------------------------------------------


@pytest.mark.parametrize("method", DEMOSAIC_METHODS)
@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("shape", SIZES + TINY_SIZES)
def test_demosaic_matches_oracle_whole_image(method, pattern, shape):
    m = mosaic(_rand_img(*shape), pattern)
    ours = demosaic(m, pattern, method)
    assert ours.dtype == np.float32 and ours.shape == shape + (3,)
    np.testing.assert_allclose(ours, _mirror_oracle(method, m, pattern), rtol=0, atol=1e-5)
    ref = ORACLE[method](m.astype(np.float64), pattern)
    np.testing.assert_allclose(ours[2:-2, 2:-2], ref[2:-2, 2:-2], rtol=0, atol=1e-5)


def _mirror_oracle(method, m, pattern):
    """colour-demosaicing on the mosaic mirror-padded by 2 (numpy "reflect" = edge-pixel mirror).

    Mirroring a length-2 axis by 2 needs numpy's periodic extension, which np.pad gives by
    repeated reflection."""
    padded = np.pad(m.astype(np.float64), 2, mode="reflect")
    return ORACLE[method](padded, pattern)[2:-2, 2:-2]


@pytest.mark.parametrize("method", DEMOSAIC_METHODS)
def test_demosaic_matches_oracle_outside_unit_range(method):
    # Noisy mosaics leave [0, 1]; nothing is clipped, on either side.
    m = (np.random.default_rng(5).standard_normal((33, 26)) * 0.7 + 0.5).astype(np.float32)
    ours = demosaic(m, "BGGR", method)
    np.testing.assert_allclose(ours, _mirror_oracle(method, m, "BGGR"), rtol=0, atol=1e-5)
    assert ours.min() < 0 and ours.max() > 1


# --- demosaic properties ------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", PATTERNS)
def test_malvar_constant_image_is_constant_everywhere(pattern):
    m = np.full((23, 18), 0.37, dtype=np.float32)
    np.testing.assert_allclose(demosaic(m, pattern, "malvar"), 0.37, rtol=0, atol=1e-6)


@pytest.mark.parametrize("method", DEMOSAIC_METHODS)
@pytest.mark.parametrize("pattern", PATTERNS)
def test_flat_colour_field_is_flat_everywhere(method, pattern):
    # The phase-keeping mirror border: a flat colour stays flat up to the edge (the half-sample
    # reflect of scipy/colour-demosaicing would tint the border ring).
    colour_ = np.array([0.8, 0.45, 0.2], np.float32)
    img = np.broadcast_to(colour_, (23, 18, 3)).copy()
    out = demosaic(mosaic(img, pattern), pattern, method)
    np.testing.assert_allclose(out, img, rtol=0, atol=1e-6)


@pytest.mark.parametrize("method", DEMOSAIC_METHODS)
@pytest.mark.parametrize("pattern", PATTERNS)
def test_linear_ramp_reproduced_in_interior(method, pattern):
    # Per-channel linear ramps: all filters sum to 1 and are symmetric, so bilinear and Malvar's
    # gradient correction (the Laplacian of a ramp is 0) reproduce them exactly away from borders.
    h, w = 31, 44
    ii, jj = np.mgrid[0:h, 0:w].astype(np.float64)
    slopes = [(0.010, 0.004, 0.05), (-0.006, 0.011, 0.6), (0.003, -0.009, 0.7)]
    img = np.stack([a * ii + b * jj + c for a, b, c in slopes], axis=-1).astype(np.float32)
    out = demosaic(mosaic(img, pattern), pattern, method)
    r = 2 if method == "malvar" else 1
    np.testing.assert_allclose(out[r:-r, r:-r], img[r:-r, r:-r], rtol=0, atol=1e-5)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_malvar_keeps_sampled_values(pattern):
    # Re-mosaicing the demosaiced image gives the mosaic back bit for bit, borders included.
    m = mosaic(_rand_img(19, 24, seed=3), pattern)
    np.testing.assert_array_equal(mosaic(demosaic(m, pattern, "malvar"), pattern), m)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_bilinear_keeps_sampled_values(pattern):
    m = mosaic(_rand_img(19, 24, seed=4), pattern)
    np.testing.assert_array_equal(mosaic(demosaic(m, pattern, "bilinear"), pattern), m)


def test_demosaic_accepts_enum_case_and_float64_noncontiguous():
    m = mosaic(_rand_img(16, 22, seed=6), "GBRG")
    base = demosaic(m, BayerPattern.GBRG)  # default method: malvar
    np.testing.assert_array_equal(base, demosaic(m, "gbrg", "MALVAR"))
    np.testing.assert_array_equal(base, demosaic(m.astype(np.float64), "GBRG", "malvar"))
    wide = np.zeros((16, 44), dtype=np.float32)
    wide[:, ::2] = m
    np.testing.assert_array_equal(base, demosaic(wide[:, ::2], "GBRG"))


# --- bad inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "img, exc, match",
    [
        (np.zeros((4, 4), np.float32), ValueError, r"img: expected shape \(H, W, 3\)"),
        (np.zeros((4, 4, 4), np.float32), ValueError, r"img: expected shape \(H, W, 3\)"),
        (np.zeros((4, 4, 3), np.uint8), TypeError, "img: expected dtype float32 or float64"),
        (np.full((4, 4, 3), np.nan, np.float32), ValueError, "img: contains 48 NaN"),
        (np.zeros((0, 4, 3), np.float32), ValueError, "img: empty"),
        ([[[0.0, 0.0, 0.0]]], TypeError, "img: expected a numpy float array"),
    ],
)
def test_mosaic_bad_inputs(img, exc, match):
    with pytest.raises(exc, match=match):
        mosaic(img, "RGGB")


@pytest.mark.parametrize("pattern", ["RGB", "xyz", None, "none", 0])
def test_mosaic_bad_pattern(pattern):
    with pytest.raises(ValueError, match="pattern"):
        mosaic(_rand_img(4, 4), pattern)


@pytest.mark.parametrize(
    "m, exc, match",
    [
        (np.zeros((4, 4, 3), np.float32), ValueError, r"mosaic: expected shape \(H, W\)"),
        (np.zeros(16, np.float32), ValueError, r"mosaic: expected shape \(H, W\)"),
        (np.zeros((4, 4), np.uint8), TypeError, "mosaic: expected dtype float32 or float64"),
        (np.array([[0.1, np.nan], [0.2, 0.3]]), ValueError, "mosaic: contains 1 NaN"),
        (np.array([[0.1, np.inf], [0.2, 0.3]]), ValueError, "mosaic: contains 1 NaN or infinite"),
        (np.zeros((0, 0), np.float32), ValueError, "mosaic: empty"),
        (np.zeros((1, 8), np.float32), ValueError, "at least 2×2"),
        (np.zeros((8, 1), np.float32), ValueError, "at least 2×2"),
    ],
)
def test_demosaic_bad_inputs(m, exc, match):
    with pytest.raises(exc, match=match):
        demosaic(m, "RGGB")


@pytest.mark.parametrize("pattern", ["RGBG", None, "none"])
def test_demosaic_bad_pattern(pattern):
    with pytest.raises(ValueError, match="pattern"):
        demosaic(np.zeros((4, 4), np.float32), pattern)


@pytest.mark.parametrize("method", ["menon", "", None, "nearest"])
def test_demosaic_unknown_method(method):
    with pytest.raises(ValueError, match="method: expected one of malvar, bilinear"):
        demosaic(np.zeros((4, 4), np.float32), "RGGB", method)
