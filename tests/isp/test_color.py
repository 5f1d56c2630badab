"""Colour steps vs colour-science, round trips and the numba matrix kernel vs numpy."""

import colour
import numpy as np
import pytest

from noisegen.isp.color import (
    SRGB_TO_XYZ,
    XYZ_TO_CAMERA_BROOKS,
    apply_matrix,
    gamma_decode,
    gamma_encode,
    process_color,
    random_rgb_to_camera,
    smoothstep,
    smoothstep_inverse,
    srgb_decode,
    srgb_encode,
    unprocess_color,
)
from noisegen.isp.white_balance import safe_inverse_gains

X = np.linspace(0.0, 1.0, 10001)


def test_srgb_matches_colour_science():
    assert np.abs(srgb_encode(X) - colour.cctf_encoding(X, function="sRGB")).max() <= 1e-6
    assert np.abs(srgb_decode(X) - colour.cctf_decoding(X, function="sRGB")).max() <= 1e-6
    assert np.abs(srgb_decode(srgb_encode(X)) - X).max() <= 1e-9


def test_srgb_known_values():
    # IEC 61966-2-1: the two segments meet at 0.0031308 -> 0.04045; 0.5 linear -> 0.735357.
    assert srgb_encode(np.array(0.0031308)) == pytest.approx(0.04045, abs=1e-6)
    assert srgb_encode(np.array(0.5)) == pytest.approx(0.7353569830524495, abs=1e-9)
    assert srgb_encode(np.array(1.0)) == pytest.approx(1.0, abs=1e-12)


def test_gamma_matches_colour_science():
    x = X[1:]
    assert np.abs(gamma_encode(x, 2.2) - colour.gamma_function(x, 1 / 2.2)).max() <= 1e-6
    assert np.abs(gamma_decode(gamma_encode(x, 2.4), 2.4) - x).max() <= 1e-9
    with pytest.raises(ValueError, match="gamma"):
        gamma_encode(x, 0.0)


def test_smoothstep_known_values_and_inverse():
    assert smoothstep(np.array([0.0, 0.25, 0.5, 1.0])) == pytest.approx([0.0, 0.15625, 0.5, 1.0])
    assert np.abs(smoothstep(smoothstep_inverse(X)) - X).max() <= 1e-9
    assert np.all(np.diff(smoothstep(X)) >= 0)


def test_srgb_to_xyz_matches_colour_science():
    # The matrix Brooks et al. use: sRGB primaries with the D65 white XYZ = (0.95047, 1, 1.08883).
    cs = colour.RGB_COLOURSPACES["sRGB"]
    white = colour.XYZ_to_xy(np.array([0.95047, 1.0, 1.08883]))
    assert np.abs(SRGB_TO_XYZ - colour.normalised_primary_matrix(cs.primaries, white)).max() <= 1e-6
    assert np.abs(SRGB_TO_XYZ - cs.matrix_RGB_to_XYZ).max() <= 3e-4  # IEC's rounded 4-digit matrix


def test_random_rgb_to_camera_is_a_normalised_convex_mixture():
    m1 = random_rgb_to_camera(np.random.default_rng(3))
    m2 = random_rgb_to_camera(np.random.default_rng(3))
    assert m1.shape == (3, 3) and np.array_equal(m1, m2)
    assert np.allclose(m1.sum(axis=1), 1.0)
    # One-hot weights reproduce a single camera (row-normalised XYZ->cam @ sRGB->XYZ).
    single = random_rgb_to_camera(np.random.default_rng(0), XYZ_TO_CAMERA_BROOKS[:1])
    ref = XYZ_TO_CAMERA_BROOKS[0] @ SRGB_TO_XYZ
    assert np.allclose(single, ref / ref.sum(axis=1, keepdims=True))
    with pytest.raises(ValueError, match="K, 3, 3"):
        random_rgb_to_camera(np.random.default_rng(0), np.eye(3))


def test_apply_matrix_kernel_vs_numpy(rng):
    img = rng.random((37, 53, 3), dtype=np.float32)
    m = rng.normal(size=(3, 3))
    ref = np.einsum("ij,hwj->hwi", m, img.astype(np.float64))
    out = apply_matrix(img, m)
    assert out.dtype == np.float32 and out.shape == img.shape
    assert np.abs(out - ref).max() <= 1e-5


def test_apply_matrix_bad_input(rng):
    with pytest.raises(TypeError, match="float32 or float64"):
        apply_matrix(np.zeros((4, 4, 3), np.uint8), np.eye(3))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        apply_matrix(np.zeros((4, 4)), np.eye(3))
    with pytest.raises(ValueError, match="NaN"):
        apply_matrix(np.full((2, 2, 3), np.nan), np.eye(3))
    with pytest.raises(ValueError, match="3, 3"):
        apply_matrix(np.zeros((2, 2, 3)), np.eye(2))


def test_safe_inverse_gains_protects_highlights():
    gains = (2.0, 1.25, 1.6)
    dark = np.full((3, 5, 3), 0.3, np.float32)
    assert np.allclose(safe_inverse_gains(dark, gains), 1 / np.array(gains))
    white = np.ones((3, 5, 3), np.float32)
    assert np.allclose(safe_inverse_gains(white, gains), 1.0)  # saturated pixels stay saturated
    mid = np.full((1, 1, 3), 0.95, np.float32)  # half way between the inflection and 1
    mask = 0.25
    assert np.allclose(safe_inverse_gains(mid, gains)[0, 0], mask + (1 - mask) / np.array(gains))
    with pytest.raises(ValueError, match="positive"):
        safe_inverse_gains(dark, (1.0, 0.0, 1.0))


def test_unprocess_process_round_trip(rng):
    L = rng.random((37, 53, 3), dtype=np.float32)
    ccm = random_rgb_to_camera(rng)
    raw, gmap = unprocess_color(L, ccm, (2.1, 1.2, 1.7))
    assert raw.shape == L.shape and gmap.shape == L.shape
    back = process_color(raw, ccm, gmap)
    assert np.abs(back - L).max() <= 2e-6
    assert process_color(L, None, None) is L
