"""Tests for noisegen.crf.bank (bank format, lookup tables, wrappers), noisegen.crf.plot and the `crf` CLI.

Oracles: colour-science's transfer functions (recomputed here with the bank's documented
normalisation), np.interp for the lookup kernels, and exact pseudo-inverse properties.
"""

from __future__ import annotations

import argparse
import os
import warnings

import colour
import numpy as np
import pytest

from noisegen.cli.crf import add_crf_commands
from noisegen.crf.bank import (
    CRF,
    INVERSE_SAMPLES,
    LINEAR,
    CRFBank,
    crf_forward,
    crf_inverse,
    crf_inverse_u8,
    invert_curve,
)
from noisegen.crf.io import list_banks, load_bank, save_bank, shipped_bank_dir, user_bank_dir
from noisegen.crf.plot import bank_figure, describe_bank, highlights, plot_bank
from noisegen.kernels.lut import _lut_gather_u8, _lut_interp

ROUND_TRIP_BOUND = 1.0 / (INVERSE_SAMPLES - 1) + 1e-6   # LUT step of the inverse table, float32 slack


@pytest.fixture(scope="module")
def bank() -> CRFBank:
    return load_bank(shipped_bank_dir() / "default.npz")


@pytest.fixture(autouse=True)
def _private_user_dir(tmp_path, monkeypatch):
    """Never read or write the developer's own bank directory."""
    monkeypatch.setenv("NOISEGEN_CRF_DIR", str(tmp_path / "user-banks"))


# ---------------------------------------------------------------------------------------------
# Default bank against colour-science


def _oetf(key, **kw):
    return (lambda x: colour.oetf(x, key, **kw)), (lambda: colour.oetf_inverse(1.0, key, **kw))


def _cctf(key):
    return (lambda x: colour.cctf_encoding(x, key)), (lambda: colour.cctf_decoding(1.0, key))


def _log(key, **kw):
    return (lambda x: colour.log_encoding(x, key, **kw)), (lambda: colour.log_decoding(1.0, key, **kw))


ORACLES = {
    "sRGB": _cctf("sRGB"),
    "BT.709": _oetf("ITU-R BT.709"),
    "SMPTE-240M": ((lambda x: colour.oetf(x, "SMPTE 240M")), lambda: 1.0),
    "BT.2100-HLG": _oetf("ITU-R BT.2100 HLG"),
    "BT.2100-PQ": _oetf("ITU-R BT.2100 PQ"),
    "SMPTE-ST-2084-PQ": ((lambda x: colour.eotf_inverse(x, "ST 2084")), lambda: colour.eotf(1.0, "ST 2084")),
    "ProPhoto-RGB": _cctf("ProPhoto RGB"),
    "RIMM-RGB": _cctf("RIMM RGB"),
    "H.273-Log": _oetf("ITU-T H.273 Log"),
    "H.273-Log-Sqrt": _oetf("ITU-T H.273 Log Sqrt"),
    "Blackmagic-Film-Gen5": _oetf("Blackmagic Film Generation 5"),
    "DaVinci-Intermediate": _oetf("DaVinci Intermediate"),
    "ACEScc": _log("ACEScc"), "ACEScct": _log("ACEScct"),
    "ARRI-LogC3-EI200": _log("ARRI LogC3", EI=200), "ARRI-LogC3-EI800": _log("ARRI LogC3", EI=800),
    "ARRI-LogC3-EI1600": _log("ARRI LogC3", EI=1600), "ARRI-LogC4": _log("ARRI LogC4"),
    "Apple-Log": _log("Apple Log Profile"), "Canon-Log": _log("Canon Log"), "Canon-Log2": _log("Canon Log 2"),
    "Canon-Log3": _log("Canon Log 3"), "Kodak-Cineon": _log("Cineon"), "Kodak-ERIMM-RGB": _log("ERIMM RGB"),
    "DJI-D-Log": _log("D-Log"), "Fujifilm-F-Log": _log("F-Log"), "Fujifilm-F-Log2": _log("F-Log2"),
    "FiLMiC-Pro-6": _log("Filmic Pro 6"), "FilmLight-T-Log": _log("T-Log"), "GoPro-Protune": _log("Protune"),
    "Leica-L-Log": _log("L-Log"), "Nikon-N-Log": _log("N-Log"), "Log2-OCIO": _log("Log2"),
    "Panasonic-V-Log": _log("V-Log"), "Panavision-Panalog": _log("Panalog"), "Pivoted-Log": _log("PLog"),
    "RED-Log3G10": _log("Log3G10"), "RED-Log3G12": _log("Log3G12"), "RED-REDLog": _log("REDLog"),
    "Sony-S-Log": _log("S-Log"), "Sony-S-Log3": _log("S-Log3"), "Thomson-ViperLog": _log("ViperLog"),
    "Xiaomi-Mi-Log": _log("Mi-Log"),
}


def _parametric(name: str, L: np.ndarray) -> np.ndarray | None:
    if name == LINEAR:
        return L
    if name.startswith("gamma-"):
        return L ** (1.0 / float(name[len("gamma-"):]))
    if name == "brooks-smoothstep-gamma2.2":
        t = L ** (1 / 2.2)
        return 3 * t**2 - 2 * t**3
    return None


def _normalised(encode, e_max_of, L: np.ndarray) -> np.ndarray:
    """The bank's documented rule: f = (max(y, c0) − c0)/(y(E_max) − c0), c0 = y(0), or 0 when y(0) = −∞."""
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # colour warns on log(0) (FiLMiC Pro 6, also inside its decoder)
        e_max = float(e_max_of())
        y = np.asarray(encode(L * e_max), dtype=np.float64)
        c0 = float(encode(0.0))
        top = float(encode(e_max))
    if not np.isfinite(c0):
        c0 = 0.0
        y = np.where(np.isfinite(y), y, 0.0)
    return (np.maximum(y, c0) - c0) / (top - c0)


def test_default_bank_content(bank):
    assert bank.name == "default"
    assert len(bank) >= 31 and LINEAR in bank
    assert bank.grid.shape == (1024,) and np.allclose(bank.grid, np.linspace(0, 1, 1024), atol=1e-15)
    for required in ("sRGB", "BT.709", "ARRI-LogC3-EI800", "Sony-S-Log3", "Canon-Log3", "Panasonic-V-Log",
                     "gamma-2.2", "brooks-smoothstep-gamma2.2"):
        assert required in bank
    assert all(len(s) > 10 for s in bank.sources)
    assert (shipped_bank_dir() / "default.npz").stat().st_size < 1_000_000


def test_default_bank_matches_colour_science(bank):
    L = bank.grid
    for i, name in enumerate(bank.names):
        expected = _parametric(name, L)
        if expected is None:
            assert name in ORACLES, f"curve {name!r} has no oracle in this test; add one"
            encode, e_max = ORACLES[name]
            expected = _normalised(encode, e_max, L)
        np.testing.assert_allclose(bank.curves[i], expected, atol=1e-6, rtol=0, err_msg=name)


def test_srgb_curve_is_colour_srgb_encoding(bank):
    np.testing.assert_allclose(bank.curves[bank.index("sRGB")], colour.cctf_encoding(bank.grid, "sRGB"), atol=1e-6)


def test_default_bank_curves_are_valid_crfs(bank):
    c = bank.curves
    assert np.all(np.diff(c, axis=1) >= 0)
    assert np.all(c[:, 0] == 0) and np.allclose(c[:, -1], 1, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Kernels and wrappers against numpy


def test_lut_interp_kernel_matches_np_interp_odd_shape():
    rng = np.random.default_rng(0)
    lut = np.sort(rng.random(1001)).astype(np.float32)
    x = rng.uniform(-0.2, 1.2, size=(37, 53, 3)).astype(np.float32)
    out = np.empty(x.size, np.float32)
    _lut_interp(x.ravel(), lut, out)
    ref = np.interp(x.ravel().astype(np.float64), np.linspace(0, 1, lut.size), lut.astype(np.float64))
    np.testing.assert_allclose(out, ref, atol=1e-6, rtol=0)
    assert out[x.ravel() <= 0].tolist() == [lut[0]] * int((x <= 0).sum())


def test_lut_gather_kernel_matches_numpy_indexing():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    table = rng.random(256).astype(np.float32)
    out = np.empty(codes.size, np.float32)
    _lut_gather_u8(codes.ravel(), table, out)
    np.testing.assert_array_equal(out, table[codes.ravel()])


def test_crf_forward_equals_np_interp_on_native_grid(bank):
    rng = np.random.default_rng(2)
    x = rng.uniform(-0.1, 1.1, size=(37, 53, 3)).astype(np.float32)
    for i, name in enumerate(bank.names):
        y = crf_forward(x, bank.get(name))
        assert y.shape == x.shape and y.dtype == np.float32
        ref = np.interp(x.astype(np.float64), bank.grid, bank.curves[i])
        np.testing.assert_allclose(y, ref, atol=1e-6, rtol=0, err_msg=name)


def test_crf_forward_accepts_float64_and_any_shape(bank):
    crf = bank.get("sRGB")
    for shape in [(), (7,), (5, 9), (3, 4, 5, 2)]:
        x = np.full(shape, 0.25)
        y = crf_forward(x, crf)
        assert y.shape == shape and y.dtype == np.float32
        np.testing.assert_allclose(y, colour.cctf_encoding(0.25, "sRGB"), atol=2e-5)
    assert crf_forward(np.empty((0, 3), np.float32), crf).shape == (0, 3)


def test_round_trip_forward_of_inverse_every_default_curve(bank):
    y = np.linspace(0, 1, 100_001).astype(np.float32)
    for name in bank.names:
        crf = bank.get(name)
        err = np.abs(crf_forward(crf_inverse(y, crf), crf) - y).max()
        assert err <= ROUND_TRIP_BOUND, (name, err)


def test_srgb_inverse_close_to_colour_decoding(bank):
    crf = bank.get("sRGB")
    y = np.linspace(0, 1, 4097).astype(np.float32)
    # piecewise-linear on 1024 points: the inverse deviates from the analytic decoding by < 1e-4
    np.testing.assert_allclose(crf_inverse(y, crf), colour.cctf_decoding(y.astype(np.float64), "sRGB"), atol=1e-4)
    codes = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    L = crf_inverse_u8(codes, crf)
    assert L.shape == (16, 16, 3) and L.dtype == np.float32
    exact = invert_curve(bank.grid, bank.curves[bank.index("sRGB")], codes / 255.0)
    np.testing.assert_allclose(L, exact, atol=1e-7)
    np.testing.assert_allclose(L, colour.cctf_decoding(codes / 255.0, "sRGB"), atol=1e-4)


def test_inverse_u8_matches_float_inverse_odd_image(bank):
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    for name in ("Sony-S-Log3", "H.273-Log", "brooks-smoothstep-gamma2.2"):
        crf = bank.get(name)
        a = crf_inverse_u8(img, crf)
        b = invert_curve(bank.grid, bank.curves[bank.index(name)], img / 255.0)
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_linear_curve_is_identity(bank):
    x = np.random.default_rng(4).random((37, 53, 3)).astype(np.float32)
    crf = bank.get(LINEAR)
    np.testing.assert_allclose(crf_forward(x, crf), x, atol=1e-7)
    np.testing.assert_allclose(crf_inverse(x, crf), x, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# Flat runs and non-uniform grids


FLAT_GRID = np.linspace(0, 1, 11)
FLAT_CURVE = np.array([0, 0, 0, 0.2, 0.5, 0.5, 0.5, 0.8, 1, 1, 1.0])


def test_invert_curve_flat_runs_exact_values():
    got = invert_curve(FLAT_GRID, FLAT_CURVE, np.array([0.0, 0.1, 0.35, 0.5, 0.65, 1.0]))
    # black run [0, 0.2] -> 0; 0.1 lies on 0.2..0.3; 0.35 midway 0.3..0.4; run [0.4, 0.6] -> 0.5;
    # 0.65 midway 0.6..0.7; white run [0.8, 1] -> 1
    np.testing.assert_allclose(got, [0.0, 0.25, 0.35, 0.5, 0.65, 1.0], atol=1e-12)


def test_flat_run_curve_inverts_without_nan_and_round_trips():
    bank = CRFBank("flat", FLAT_GRID, FLAT_CURVE[None, :], ("flat",), ("test",))
    crf = bank.get("flat")
    assert np.isfinite(crf.inverse_lut).all() and np.isfinite(crf.inverse_u8).all()
    assert np.all(np.diff(crf.inverse_lut) >= 0)
    y = np.linspace(0, 1, 50_001).astype(np.float32)
    err = np.abs(crf_forward(crf_inverse(y, crf), crf) - y).max()
    assert err <= ROUND_TRIP_BOUND
    assert crf_inverse(np.float32([0.0, 1.0]), crf).tolist() == [0.0, 1.0]


def test_non_uniform_grid_bank():
    grid = np.array([0.0, 0.01, 0.05, 0.2, 0.5, 1.0])
    curve = np.array([0.0, 0.1, 0.3, 0.6, 0.85, 1.0])
    crf = CRFBank("nu", grid, curve[None], ("nu",), ("test",)).get("nu")
    assert crf.forward_lut.size >= 4096
    x = np.random.default_rng(5).random(10_000).astype(np.float32)
    # resampled to a uniform table: differs from the native interpolant only next to a native node
    np.testing.assert_allclose(crf_forward(x, crf), np.interp(x, grid, curve), atol=10 / 4095)
    y = np.linspace(0, 1, 20_001).astype(np.float32)
    assert np.abs(crf_forward(crf_inverse(y, crf), crf) - y).max() <= ROUND_TRIP_BOUND


# ---------------------------------------------------------------------------------------------
# Bad input


def test_wrapper_rejects_bad_input(bank):
    crf = bank.get("sRGB")
    with pytest.raises(ValueError, match="NaN"):
        crf_forward(np.array([0.1, np.nan], np.float32), crf)
    with pytest.raises(ValueError, match="NaN"):
        crf_inverse(np.full((2, 2, 3), np.nan), crf)
    with pytest.raises(TypeError, match="crf_inverse_u8"):
        crf_inverse(np.zeros((4, 4, 3), np.uint8), crf)
    with pytest.raises(TypeError, match="float32 or float64"):
        crf_forward(np.zeros(3, np.int32), crf)
    with pytest.raises(TypeError, match="numpy"):
        crf_forward([0.1, 0.2], crf)
    with pytest.raises(TypeError, match="uint8"):
        crf_inverse_u8(np.zeros((4, 4, 3), np.float32), crf)
    with pytest.raises(ValueError, match="H, W, 3"):
        crf_inverse_u8(np.zeros((4, 4), np.uint8), crf)
    with pytest.raises(TypeError, match="CRF"):
        crf_forward(np.zeros(3, np.float32), "sRGB")


def test_unknown_curve_lists_close_matches(bank):
    with pytest.raises(KeyError) as ei:
        bank.get("Sony-SLog3")
    msg = str(ei.value)
    assert "Sony-S-Log3" in msg and "noisegen crf list" in msg and "'default'" in msg
    assert "Sony-SLog3" not in bank and "sRGB" in bank


def _arrays(**over):
    grid = np.linspace(0, 1, 5)
    a = {"format": np.array("noisegen-crf-bank/1"), "bank_name": np.array("t"), "grid": grid,
         "curves": np.stack([grid**0.5, grid**0.8]), "names": np.array(["a", "b"]),
         "sources": np.array(["s1", "s2"])}
    a.update(over)
    return {k: v for k, v in a.items() if v is not None}


@pytest.mark.parametrize("over, pattern", [
    ({"sources": None}, "missing key.*sources"),
    ({"format": np.array("other/2")}, "format"),
    ({"curves": np.stack([np.linspace(0, 1, 5), [0, 0.5, 0.4, 0.9, 1.0]])}, r"curve 1 'b'.*non-decreasing"),
    ({"curves": np.stack([np.linspace(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.9]])}, r"curve 1 'b'.*f\(1\) = 0.9"),
    ({"curves": np.stack([np.linspace(0, 1, 5), [0.1, 0.2, 0.4, 0.6, 1]])}, r"f\(0\) = 0.1"),
    ({"curves": np.ones((2, 4))}, r"shape \(N, 5\)"),
    ({"names": np.array(["a", "a"])}, "unique"),
    ({"names": np.array(["a", "b", "c"])}, "3 names"),
    ({"grid": np.array([0, 0.5, 0.4, 0.9, 1.0])}, "strictly increasing"),
    ({"curves": np.stack([np.linspace(0, 1, 5), [0, np.nan, 0.4, 0.6, 1]])}, "not finite"),
    ({"names": np.array(["linear", "b"])}, "reserved"),
])
def test_malformed_npz_is_rejected_with_file_and_reason(tmp_path, over, pattern):
    p = tmp_path / "bad.npz"
    np.savez(p, **_arrays(**over))
    with pytest.raises(ValueError, match=pattern) as ei:
        load_bank(p)
    assert str(p) in str(ei.value) and "available banks" in str(ei.value)


def test_non_npz_and_pickled_files_are_rejected(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="junk.npz"):
        load_bank(junk)
    obj = tmp_path / "obj.npz"
    np.savez(obj, **_arrays(names=np.array(["a", "b"], dtype=object)))
    with pytest.raises(ValueError, match="obj.npz"):
        load_bank(obj)


def test_unknown_bank_and_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"unknown CRF bank 'defualt'.*did you mean default.*available banks"):
        load_bank("defualt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_bank(tmp_path / "nope.npz")


def test_bank_constructor_adds_linear_and_is_read_only():
    b = CRFBank("x", np.linspace(0, 1, 3), [[0, 0.7, 1]], ("c",), ("s",))
    assert b.names == ("c", LINEAR) and len(b) == 2
    np.testing.assert_array_equal(b.curves[1], b.grid)
    with pytest.raises(ValueError):
        b.curves[0, 1] = 0.5
    with pytest.raises(ValueError, match="name"):
        CRFBank("", np.linspace(0, 1, 3), [[0, 0.7, 1]], ("c",), ("s",))


# ---------------------------------------------------------------------------------------------
# Files, lookup and cache


def test_crf_package_exports_the_bank_types_and_the_file_functions():
    import noisegen.crf
    import noisegen.crf.bank
    import noisegen.crf.io

    for module in (noisegen.crf.io, noisegen.crf.bank):
        for name in module.__all__:
            if name in noisegen.crf.__all__:
                assert getattr(noisegen.crf, name) is getattr(module, name), name
    for name in ("CRFBank", "CRF", "load_bank", "save_bank", "list_banks"):
        assert name in noisegen.crf.__all__, name


def test_bank_types_do_not_import_the_file_functions():
    # noisegen.crf.io imports noisegen.crf.bank, never the other way round (no import loop)
    import ast
    import inspect

    import noisegen.crf.bank

    tree = ast.parse(inspect.getsource(noisegen.crf.bank))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "noisegen.crf.io" not in imported and "noisegen.crf" not in imported


def test_save_load_round_trip_is_exact_and_reproducible(tmp_path, bank):
    p1 = save_bank(bank, tmp_path / "a" / "copy.npz")
    again = load_bank(p1)
    assert again == bank and again.names == bank.names and again.sources == bank.sources
    p2 = save_bank(bank, tmp_path / "b.npz")
    assert p1.read_bytes() == p2.read_bytes()
    assert sorted(os.listdir(p1.parent)) == ["copy.npz"]  # no temporary files left behind
    with pytest.raises(ValueError, match=".npz"):
        save_bank(bank, tmp_path / "x.bin")


def test_load_bank_cache_follows_file_changes(tmp_path):
    b1 = CRFBank("c", np.linspace(0, 1, 3), [[0, 0.7, 1]], ("c",), ("s",))
    p = save_bank(b1, tmp_path / "c.npz")
    assert load_bank(p) is load_bank(p)
    b2 = CRFBank("c", np.linspace(0, 1, 3), [[0, 0.6, 1]], ("c",), ("s",))
    save_bank(b2, p)
    os.utime(p, ns=(1, 1))  # make sure mtime differs even on coarse clocks
    assert load_bank(p) == b2


def test_load_bank_by_name_picks_up_resaves_shadowing_and_removal(bank):
    user = user_bank_dir()  # private per test (autouse fixture)
    b1 = CRFBank("c", np.linspace(0, 1, 3), [[0, 0.7, 1]], ("c",), ("s",))
    b2 = CRFBank("c", np.linspace(0, 1, 3), [[0, 0.6, 1]], ("c",), ("s",))
    save_bank(b1, user / "c.npz")
    assert load_bank("c") == b1 and load_bank("c") is load_bank("c")
    save_bank(b2, user / "c.npz")  # same name, same size, possibly the same mtime tick: no os.utime here
    assert load_bank("c") == b2
    assert load_bank("default") == bank
    save_bank(b1, user / "default.npz")  # a new user bank shadows the shipped one at once
    assert load_bank("default") == b1
    (user / "default.npz").unlink()
    assert load_bank("default") == bank
    (user / "c.npz").unlink()
    with pytest.raises(FileNotFoundError, match="unknown CRF bank 'c'"):
        load_bank("c")


def test_user_dir_resolution_and_shadowing(tmp_path, monkeypatch, bank):
    monkeypatch.delenv("NOISEGEN_CRF_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert user_bank_dir() == tmp_path / "xdg" / "noisegen" / "crf"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_bank_dir() == tmp_path / "home" / ".local" / "share" / "noisegen" / "crf"
    monkeypatch.setenv("NOISEGEN_CRF_DIR", str(tmp_path / "mine"))
    assert "default" in list_banks() and load_bank() == bank
    mine = CRFBank("mine", np.linspace(0, 1, 3), [[0, 0.7, 1]], ("c",), ("s",))
    save_bank(mine, tmp_path / "mine" / "mine.npz")
    save_bank(mine, tmp_path / "mine" / "default.npz")  # a user bank shadows the shipped one
    assert list_banks()["mine"] == tmp_path / "mine" / "mine.npz"
    assert load_bank("mine") == mine and load_bank("default") == mine


def test_crf_objects_are_cached_and_compare_by_bank_and_name(bank):
    a, b = bank.get("sRGB"), bank.get("sRGB")
    assert a is b and a == CRF.from_samples("sRGB", bank.grid, bank.curves[bank.index("sRGB")], bank="default")
    assert a != bank.get("BT.709") and len({a, b, bank.get("BT.709")}) == 2
    assert a.forward_lut.dtype == np.float32 and a.forward_lut.shape == (1024,)
    assert a.inverse_lut.shape == (INVERSE_SAMPLES,) and a.inverse_u8.shape == (256,)
    assert "sRGB" in repr(a) and "default" in repr(bank)


def test_bank_and_crf_pickle_for_worker_processes(bank):
    import pickle

    b = pickle.loads(pickle.dumps(bank))
    assert b == bank
    crf = pickle.loads(pickle.dumps(bank.get("Sony-S-Log3")))
    x = np.linspace(0, 1, 101, dtype=np.float32)
    np.testing.assert_array_equal(crf_forward(x, crf), crf_forward(x, bank.get("Sony-S-Log3")))


# ---------------------------------------------------------------------------------------------
# Plot, table and CLI


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="noisegen")
    add_crf_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_describe_bank_lists_every_curve(bank):
    text = describe_bank(bank)
    assert f"{len(bank)} curves" in text and "Sony-S-Log3" in text
    assert len(text.splitlines()) == len(bank) + 2


def test_plot_bank_writes_png(tmp_path, bank):
    p = plot_bank(bank, tmp_path / "all.png")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
    with pytest.raises(KeyError, match="sRGB"):
        plot_bank(bank, tmp_path / "x.png", curves=["sRGBB"])


def _legend(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_a_plot_of_few_curves_names_each_and_of_many_names_a_readable_few(bank):
    few = ["linear", "sRGB", "Sony-S-Log3", "gamma-2.2"]
    assert _legend(bank_figure(bank, few)) == few
    labels = _legend(bank_figure(bank))  # the whole bank: more curves than colours can tell apart
    at = {n: float(np.interp(0.18, bank.grid, bank.curves[bank.index(n)])) for n in bank.names}
    brightest = max(at, key=at.get)
    assert len(labels) <= 8 and labels[0] == f"the other {len(bank) - len(labels) + 1} curves"
    assert "linear: reference" in labels and "sRGB: reference" in labels
    assert f"{brightest}: brightest at L = 0.18 (f = {at[brightest]:.2f})" in labels
    assert [r for r, _ in highlights(bank, [bank.index(n) for n in few])][:2] == [bank.index("linear"),
                                                                                   bank.index("sRGB")]


def test_cli_list(capsys):
    assert run_cli(["crf", "list"]) == 0
    out = capsys.readouterr().out
    assert "default" in out and "curves" in out and "default.npz" in out
    assert run_cli(["crf", "list", "--bank", "default"]) == 0
    out = capsys.readouterr().out
    assert "Sony-S-Log3" in out and "log_encoding_SLog3" in out


def test_cli_plot(tmp_path, capsys):
    out = tmp_path / "curves.png"
    assert run_cli(["crf", "plot", "--out", str(out), "--curves", "sRGB, gamma-2.2,Sony-S-Log3"]) == 0
    assert out.stat().st_size > 1000 and out.read_bytes()[:4] == b"\x89PNG"
    assert "3 curves" in capsys.readouterr().out


def test_cli_help_documents_every_option(capsys):
    for sub in ("list", "import", "plot"):
        with pytest.raises(SystemExit):
            run_cli(["crf", sub, "--help"])
        text = capsys.readouterr().out
        assert "--" in text
    parser = argparse.ArgumentParser()
    add_crf_commands(parser.add_subparsers())
    crf_parser = parser._subparsers._group_actions[0].choices["crf"]
    for sub in crf_parser._subparsers._group_actions[0].choices.values():
        for action in sub._actions:
            assert action.help, f"option {action.option_strings or action.dest} has no help"
