"""Tests for noisegen.crf.dorf: DoRF text files and CBDNet's .mat tables, and `crf import`.

Real DoRF tables (CBDNet's copies) are read from ../shared/data/crf (see SOURCE.md there); the
dorfCurves.txt reader is checked on a small synthetic file in the same format.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio

from noisegen.cli.crf import add_crf_commands
from noisegen.crf.bank import INVERSE_SAMPLES, LINEAR, crf_forward, crf_inverse, crf_inverse_u8
from noisegen.crf.dorf import import_bank, read_cbdnet_crf_mat, read_dorf_txt
from noisegen.crf.io import load_bank, save_bank, user_bank_dir

CRF_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "crf"
ROUND_TRIP_BOUND = 1.0 / (INVERSE_SAMPLES - 1) + 1e-6


def _dorf_file(name: str) -> Path:
    p = CRF_DATA / name
    if not p.is_file():
        pytest.skip(f"DoRF table {p} is absent (expected ../shared/data/crf/{name}, see SOURCE.md there)")
    return p


@pytest.fixture(autouse=True)
def _private_user_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NOISEGEN_CRF_DIR", str(tmp_path / "user-banks"))


@pytest.fixture(scope="module")
def mat201() -> dict:
    return sio.loadmat(_dorf_file("201_CRF_data.mat"))


@pytest.fixture(scope="module")
def dorf_bank():
    return import_bank(_dorf_file("201_CRF_data.mat"), "dorf")


def write_dorf_txt(path: Path, curves: dict[str, np.ndarray], *, irr: np.ndarray | None = None,
                   ctype: str = "graph-log-log-neg") -> Path:
    """Write curves in dorfCurves.txt's layout: name, type, 'I =', values, 'B =', values."""
    lines = []
    for name, b in curves.items():
        i = np.linspace(0, 1, b.size) if irr is None else irr
        lines += [name, ctype, "I =", " ".join(f"{v:.8g}" for v in i), "B =", " ".join(f"{v:.8g}" for v in b), ""]
    path.write_text("\n".join(lines))
    return path


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="noisegen")
    add_crf_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


# ---------------------------------------------------------------------------------------------
# dorfCurves.txt


def _synthetic_curves(k: int = 1024) -> dict[str, np.ndarray]:
    L = np.linspace(0, 1, k)
    return {
        "agfacolor-futura-100CDRed": L ** (1 / 2.2),
        "kodak-flat-toe": np.clip((L - 0.1) / 0.8, 0, 1),  # flat runs at both ends
        "fuji-s-curve": 3 * L**2 - 2 * L**3,
    }


def test_read_dorf_txt(tmp_path):
    curves = _synthetic_curves()
    bank = read_dorf_txt(write_dorf_txt(tmp_path / "dorfCurves.txt", curves), "mydorf")
    assert bank.name == "mydorf" and bank.names == (*curves, LINEAR)
    assert bank.grid.shape == (1024,) and np.array_equal(bank.grid, np.arange(1024) / 1023)
    for name, c in curves.items():
        np.testing.assert_allclose(bank.curves[bank.index(name)], c, atol=1e-8)
    assert "graph-log-log-neg" in bank.sources[0] and "dorfCurves.txt" in bank.sources[0]
    crf = bank.get("kodak-flat-toe")
    y = np.linspace(0, 1, 10_001).astype(np.float32)
    assert np.abs(crf_forward(crf_inverse(y, crf), crf) - y).max() <= ROUND_TRIP_BOUND


def test_read_dorf_txt_renames_repeated_names_and_resamples_differing_grids(tmp_path):
    L = np.linspace(0, 1, 64)
    p = tmp_path / "d.txt"
    text = write_dorf_txt(tmp_path / "a.txt", {"cam": L**0.5}).read_text()
    warped = L**1.5  # a second curve on a different irradiance sampling
    text += write_dorf_txt(tmp_path / "b.txt", {"cam": warped}, irr=warped).read_text()
    p.write_text(text)
    bank = read_dorf_txt(p)
    assert bank.names == ("cam", "cam-2", LINEAR) and "repeated" in bank.sources[1]
    assert "resampled" in bank.sources[0]
    np.testing.assert_allclose(bank.curves[1], L, atol=1e-7)  # B = I on its own grid -> identity


@pytest.mark.parametrize("mutate, pattern", [
    (lambda ls: ls[:-1], "6 non-empty lines"),
    (lambda ls: ls[:2] + ["X ="] + ls[3:], r":3: curve 'agfacolor-futura-100CDRed': expected the line 'I ='"),
    (lambda ls: ls[:3] + [ls[3].replace("0.5", "abc", 1)] + ls[4:], r":4: .*not all numbers"),
    (lambda ls: ls[:5] + [" ".join(ls[5].split()[:-1])] + ls[6:], "I values and"),
    (lambda ls: ls[:5] + [ls[5].replace(ls[5].split()[1], "0.9", 1)] + ls[6:], "non-decreasing"),
])
def test_read_dorf_txt_malformed(tmp_path, mutate, pattern):
    p = write_dorf_txt(tmp_path / "dorfCurves.txt", _synthetic_curves(16))
    lines = [ln for ln in p.read_text().splitlines() if ln.strip()]
    p.write_text("\n".join(mutate(lines)))
    with pytest.raises(ValueError, match=pattern) as ei:
        read_dorf_txt(p)
    assert str(p) in str(ei.value)


# ---------------------------------------------------------------------------------------------
# CBDNet's 201_CRF_data.mat and dorfCurvesInv.mat (real DoRF data)


def test_201_mat_curves_equal_b_rows(dorf_bank, mat201):
    B = mat201["B"].astype(np.float64)
    assert len(dorf_bank) == 202 and dorf_bank.names[:3] == ("dorf-000", "dorf-001", "dorf-002")
    assert dorf_bank.names[200] == "dorf-200" and dorf_bank.names[-1] == LINEAR
    np.testing.assert_array_equal(dorf_bank.curves[:201], B)
    np.testing.assert_array_equal(dorf_bank.grid, np.arange(1024) / 1023)
    np.testing.assert_allclose(dorf_bank.grid, mat201["I"][0], atol=1e-7)
    # row 0 is DoRF's agfacolor-futura-100CDRed (SOURCE.md)
    np.testing.assert_allclose(dorf_bank.curves[0, :4], [0, 0.01874143, 0.03302222, 0.04495423], atol=1e-7)


def test_round_trip_every_dorf_curve(dorf_bank):
    y = np.linspace(0, 1, 20_001).astype(np.float32)
    worst = 0.0
    for name in dorf_bank.names:
        crf = dorf_bank.get(name)
        L = crf_inverse(y, crf)
        assert np.isfinite(L).all()
        worst = max(worst, float(np.abs(crf_forward(L, crf) - y).max()))
    assert worst <= 2e-3  # the project's requirement
    assert worst <= ROUND_TRIP_BOUND  # what an 8192-point inverse table guarantees


def test_dorf_inverse_u8_is_monotone_and_spans_0_1(dorf_bank):
    img = np.arange(256, dtype=np.uint8)[None, :, None].repeat(3, axis=2)
    for name in dorf_bank.names[::20]:
        L = crf_inverse_u8(img, dorf_bank.get(name))[0, :, 0]
        assert L[0] == 0 and L[-1] == 1 and np.all(np.diff(L) >= 0)


def test_inverse_tables_agree_with_forward_curves(dorf_bank):
    inv = import_bank(_dorf_file("dorfCurvesInv.mat"), "dorf-inv")
    assert inv.names == dorf_bank.names
    g, bin_ = dorf_bank.grid, 1 / 1023
    for i in range(201):
        f_true, f_inv = dorf_bank.curves[i], inv.curves[i]
        # nearest-bin tables: within one irradiance bin horizontally, and 1e-3 vertically
        lo = np.interp(np.clip(g - bin_, 0, 1), g, f_true) - 1e-3
        hi = np.interp(np.clip(g + bin_, 0, 1), g, f_true) + 1e-3
        assert np.all((f_inv >= lo) & (f_inv <= hi)), i
    assert np.median(np.abs(inv.curves[:201] - dorf_bank.curves[:201])) < 1e-3


@pytest.mark.parametrize("arrays, pattern", [
    ({"X": np.zeros((2, 4))}, r"expected keys 'I' and 'B'.*found X"),
    ({"I": np.tile(np.linspace(0, 1, 5), (2, 1)), "B": np.zeros((2, 4))}, r"'I' \(2, 5\) and 'B' \(2, 4\)"),
    ({"I": np.tile(np.linspace(0, 1, 5), (2, 1)), "B": np.array([[0, .5, .4, .9, 1], [0, .2, .4, .6, 1]])},
     r"key 'B'.*curve 0 'dorf-000'.*non-decreasing"),
    ({"I": np.tile(np.linspace(0, 1, 5), (2, 1)), "B": np.array([[0, .5, .6, .9, .95], [0, .2, .4, .6, 1]])},
     r"f\(1\)"),
    ({"I": np.tile(np.linspace(0, 1, 5), (2, 1)), "B": np.full((2, 5), np.nan)}, r"key 'B'.*NaN"),
    ({"I": np.array([[0, .5, .4, .9, 1.0]]), "B": np.array([[0, .2, .4, .6, 1.0]])}, r"key 'I'.*strictly increasing"),
    ({"invI": np.array([[0, .5, .4, .9, 1.0]]), "invB": np.array([np.linspace(0, 1, 5)])},
     r"key 'invI' row 0 is not non-decreasing"),
    ({"I": np.linspace(0, 1, 5), "B": np.linspace(0, 1, 5)}, r"key 'I' must be a 2-D"),
])
def test_malformed_mat_files(tmp_path, arrays, pattern):
    p = tmp_path / "bad.mat"
    sio.savemat(p, arrays)
    if arrays.get("I") is not None and np.ndim(arrays["I"]) == 1:
        # savemat stores 1-D arrays as 1×n rows; store a 3-D array to exercise the shape check
        sio.savemat(p, {"I": np.zeros((2, 2, 2)), "B": np.zeros((2, 2, 2))})
    with pytest.raises(ValueError, match=pattern) as ei:
        read_cbdnet_crf_mat(p)
    assert str(p) in str(ei.value)


def test_import_bank_detects_format(tmp_path):
    curves = {"a": np.linspace(0, 1, 8) ** 0.5}
    txt = write_dorf_txt(tmp_path / "curves.dat", curves)  # unknown suffix, text content
    assert import_bank(txt, "t").names == ("a", LINEAR)
    mat = tmp_path / "m.mat"
    sio.savemat(mat, {"I": np.linspace(0, 1, 8)[None], "B": curves["a"][None]})
    assert import_bank(mat, "m").names == ("dorf-000", LINEAR)
    npz = save_bank(import_bank(mat, "m"), tmp_path / "m.npz")
    assert import_bank(npz, "renamed").name == "renamed"
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(ValueError, match="unrecognised format"):
        import_bank(junk, "j")
    with pytest.raises(FileNotFoundError, match="no such file"):
        import_bank(tmp_path / "missing.txt", "x")


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli_import_into_user_dir(tmp_path, capsys):
    src = write_dorf_txt(tmp_path / "dorfCurves.txt", _synthetic_curves(32))
    assert run_cli(["crf", "import", str(src), "--name", "mine"]) == 0
    out = capsys.readouterr().out
    target = user_bank_dir() / "mine.npz"
    assert str(target) in out and "4 curves" in out and target.is_file()
    assert load_bank("mine").names[:3] == tuple(_synthetic_curves(32))

    assert run_cli(["crf", "import", str(src), "--name", "mine"]) == 1  # refuses to overwrite
    assert "--force" in capsys.readouterr().err
    assert run_cli(["crf", "import", str(src), "--name", "default"]) == 1  # would shadow the shipped bank
    assert run_cli(["crf", "import", str(src), "--name", "mine", "--force"]) == 0

    other = tmp_path / "out" / "x.npz"
    assert run_cli(["crf", "import", str(src), "--name", "x", "--out", str(other)]) == 0
    assert load_bank(other).name == "x"
    with pytest.raises(SystemExit):
        run_cli(["crf", "import", str(src), "--name", "../evil"])
    assert run_cli(["crf", "list"]) == 0
    assert "mine" in capsys.readouterr().out


def test_cli_import_dorf_mat(tmp_path, capsys):
    src = _dorf_file("201_CRF_data.mat")
    assert run_cli(["crf", "import", str(src), "--name", "dorf"]) == 0
    assert "202 curves" in capsys.readouterr().out
    assert len(load_bank("dorf")) == 202
