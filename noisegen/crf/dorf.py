"""Import the DoRF database of camera response curves into noisegen's CRF bank format.

DoRF (Database of Response Functions) holds 201 measured response curves of films, CCD sensors
and digital cameras, normalised to domain and range [0, 1] and sampled on 1024 irradiance
values. It comes in three forms, all read here:

- ``dorfCurves.txt`` (Columbia CAVE): 6 lines per curve: name, curve type, ``I =``, 1024
  irradiance values, ``B =``, 1024 brightness values.
- ``201_CRF_data.mat`` (CBDNet's copy): arrays ``I`` and ``B``, 201×1024, rows in DoRF's order but
  without names, so curves are named ``dorf-000`` … ``dorf-200``.
- ``dorfCurvesInv.mat`` (CBDNet's inverse tables): ``invB`` (brightness grid) and ``invI`` (the
  irradiance whose brightness is nearest). We invert them back into forward curves with
  ``noisegen.crf.bank.invert_curve`` (linear interpolation; a run of brightness values sharing one
  irradiance bin maps to the run's midpoint). Being nearest-bin tables they agree with the forward
  curves only to about one bin (1/1023).

Values stored as float32 multiples of 1/(K−1) (grids, nearest-bin tables) are snapped back to
k/(K−1) when every value is within 1e-6 of it.

References:
    M. D. Grossberg, S. K. Nayar, "What is the Space of Camera Response Functions?", CVPR 2003.
    M. D. Grossberg, S. K. Nayar, "Modeling the Space of Camera Response Functions", TPAMI 2004.
    S. Guo et al., "Toward Convolutional Blind Denoising of Real Photographs", CVPR 2019.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from noisegen.crf.bank import CRFBank, invert_curve
from noisegen.crf.io import load_bank

__all__ = ["read_dorf_txt", "read_cbdnet_crf_mat", "import_bank"]

_SNAP_TOL = 1e-6


def _uniform(k: int) -> np.ndarray:
    return np.arange(k) / (k - 1)


def _snap(v: np.ndarray, k: int) -> np.ndarray:
    """v snapped to the grid j/(k−1) when all of it lies within 1e-6 of that grid, else v."""
    r = np.round(v * (k - 1)) / (k - 1)
    return r if np.abs(v - r).max() <= _SNAP_TOL else v


def _common_grid(irr: np.ndarray, curves: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Put curves given on per-curve irradiance rows ``irr`` (N, K) on one grid.

    Returns (grid, curves, note): the shared row (snapped to uniform when it is) when all rows agree
    within 1e-6, else each curve resampled linearly onto the uniform K-point grid.
    """
    n, k = irr.shape
    for i, row in enumerate(irr):
        if not (np.isfinite(row).all() and np.all(np.diff(row) > 0)):
            raise ValueError(f"{where}: irradiance row {i} must be finite and strictly increasing")
        if abs(row[0]) > _SNAP_TOL or abs(row[-1] - 1.0) > _SNAP_TOL:
            raise ValueError(f"{where}: irradiance row {i} must run from 0 to 1, got {row[0]:.6g} .. {row[-1]:.6g}")
    if np.abs(irr - irr[0]).max() <= _SNAP_TOL:
        return _snap(irr[0], k), curves, ""
    grid = _uniform(k)
    return grid, np.array([np.interp(grid, irr[i], curves[i]) for i in range(n)]), "; resampled to a uniform grid"


def _make_bank(name: str, grid: np.ndarray, curves: np.ndarray, names: list[str], sources: list[str],
               where: str) -> CRFBank:
    try:
        return CRFBank(name, grid, curves, tuple(names), tuple(sources))
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


def _unique(names: list[str]) -> tuple[list[str], list[bool]]:
    seen: dict[str, int] = {}
    out, renamed = [], []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}-{seen[n]}")
        renamed.append(seen[n] > 1)
    return out, renamed


def read_dorf_txt(path: str | os.PathLike, name: str = "dorf") -> CRFBank:
    """Read DoRF's ``dorfCurves.txt`` into a bank named ``name``.

    Blank lines are ignored; every curve is 6 lines: name, curve type, ``I =``, K irradiance
    values, ``B =``, K brightness values (K = 1024 in DoRF), K the same for all curves.
    Repeated names get a suffix ("-2", …). Raises ValueError naming the file, line and problem.
    """
    path = Path(path)
    lines = [(i, ln.strip()) for i, ln in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
             if ln.strip()]
    if not lines or len(lines) % 6:
        raise ValueError(f"{path}: expected 6 non-empty lines per curve (name, type, 'I =', values, 'B =', "
                         f"values), got {len(lines)} lines")

    def values(lineno: int, text: str, label: str, curve: str) -> np.ndarray:
        try:
            v = np.array(text.split(), dtype=np.float64)
        except ValueError:
            raise ValueError(f"{path}:{lineno}: curve {curve!r}: the {label} values are not all numbers") from None
        if v.size < 2 or not np.isfinite(v).all():
            raise ValueError(f"{path}:{lineno}: curve {curve!r}: expected at least 2 finite {label} values")
        return v

    names, types, irr, bri = [], [], [], []
    for j in range(0, len(lines), 6):
        (_, cname), (_, ctype), (li, ilab), (ni, itext), (lb, blab), (nb, btext) = lines[j:j + 6]
        for lineno, lab, want in ((li, ilab, "I"), (lb, blab, "B")):
            if lab.replace(" ", "") != f"{want}=":
                raise ValueError(f"{path}:{lineno}: curve {cname!r}: expected the line '{want} =', got {lab[:40]!r}")
        i_v, b_v = values(ni, itext, "I", cname), values(nb, btext, "B", cname)
        if i_v.size != b_v.size or (irr and i_v.size != irr[0].size):
            raise ValueError(f"{path}:{nb}: curve {cname!r}: {i_v.size} I values and {b_v.size} B values; "
                             f"every curve needs the same count ({irr[0].size if irr else i_v.size})")
        names.append(cname)
        types.append(ctype)
        irr.append(i_v)
        bri.append(b_v)
    grid, curves, note = _common_grid(np.array(irr), np.array(bri), str(path))
    names, renamed = _unique(names)
    sources = [f"DoRF {path.name} curve {i} ({t}){note}" + ("; renamed from a repeated name" if r else "")
               for i, (t, r) in enumerate(zip(types, renamed))]
    return _make_bank(name, grid, curves, names, sources, str(path))


def _mat_array(data: dict, key: str, path: Path) -> np.ndarray:
    a = np.asarray(data[key])
    if a.dtype.kind not in "fiu" or a.ndim != 2 or a.shape[1] < 2:
        raise ValueError(f"{path}: key {key!r} must be a 2-D numeric array (curves × samples), "
                         f"got {a.dtype} {a.shape}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{path}: key {key!r} contains NaN or infinite values")
    return a


def read_cbdnet_crf_mat(path: str | os.PathLike, name: str = "dorf") -> CRFBank:
    """Read CBDNet's ``201_CRF_data.mat`` (keys I, B) or ``dorfCurvesInv.mat`` (keys invI, invB).

    Curves are named ``dorf-000`` … in row order (the files hold no names). Inverse tables are
    inverted back to forward curves on the uniform grid of the table's width (see module docs).
    Raises ValueError naming the file and the key for missing keys, wrong shapes or values.
    """
    from scipy.io import loadmat

    path = Path(path)
    try:
        data = loadmat(path)
    except NotImplementedError:
        raise ValueError(f"{path}: MATLAB v7.3 (HDF5) files are not supported; re-save with save(..., '-v7')") from None
    except (ValueError, TypeError, OSError) as err:
        raise ValueError(f"{path}: not a readable MATLAB .mat file ({err})") from None
    keys = sorted(k for k in data if not k.startswith("__"))
    if {"I", "B"} <= set(keys):
        kind, (a_key, b_key) = "forward", ("I", "B")
    elif {"invI", "invB"} <= set(keys):
        kind, (a_key, b_key) = "inverse", ("invI", "invB")
    else:
        raise ValueError(f"{path}: expected keys 'I' and 'B' (201_CRF_data.mat) or 'invI' and 'invB' "
                         f"(dorfCurvesInv.mat); found {', '.join(keys) or 'none'}")
    a, b = _mat_array(data, a_key, path), _mat_array(data, b_key, path)
    if a.shape != b.shape:
        raise ValueError(f"{path}: keys {a_key!r} {a.shape} and {b_key!r} {b.shape} must have the same shape")
    n, k = a.shape
    width = max(3, len(str(n - 1)))
    names = [f"dorf-{i:0{width}d}" for i in range(n)]
    if kind == "forward":
        grid, curves, note = _common_grid(a, b, f"{path}: key 'I'")
        sources = [f"DoRF curve {i}: {path.name} rows I[{i}], B[{i}]{note}" for i in range(n)]
        return _make_bank(name, grid, curves, names, sources, f"{path}: key 'B'")

    grid = _uniform(k)
    curves = np.empty_like(a)
    for i in range(n):
        y_nodes, l_nodes = _snap(b[i], k), _snap(a[i], k)
        if np.any(np.diff(y_nodes) <= 0):
            raise ValueError(f"{path}: key 'invB' row {i} must be strictly increasing (the brightness grid)")
        if np.diff(l_nodes).min() < 0:
            j = int(np.argmin(np.diff(l_nodes)))
            raise ValueError(f"{path}: key 'invI' row {i} is not non-decreasing (drops at index {j}); "
                             "an inverse CRF table must be monotone")
        curves[i] = invert_curve(y_nodes, l_nodes, grid)
    sources = [f"DoRF curve {i}: {path.name} nearest-bin inverse rows invI[{i}], invB[{i}], re-inverted by "
               "linear interpolation (about 1/1023 from the forward curve)" for i in range(n)]
    return _make_bank(name, grid, curves, names, sources, f"{path}: key 'invI'")


def import_bank(path: str | os.PathLike, name: str) -> CRFBank:
    """Read a DoRF text file, a CBDNet .mat table or a noisegen .npz bank as a bank named ``name``.

    The format is detected from the file's first bytes (MATLAB header, zip archive) and its
    suffix (.txt). Raises FileNotFoundError for a missing file, ValueError for unknown or
    malformed content (naming the file and the problem).
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file to import")
    with open(p, "rb") as fh:
        head = fh.read(128)
    if head.startswith(b"MATLAB"):
        return read_cbdnet_crf_mat(p, name)
    if head.startswith(b"PK\x03\x04"):
        bank = load_bank(p)
        return CRFBank(name, bank.grid, bank.curves, bank.names, bank.sources)
    if p.suffix.lower() == ".txt" or _looks_like_text(head):
        return read_dorf_txt(p, name)
    raise ValueError(f"{p}: unrecognised format; expected dorfCurves.txt, CBDNet's 201_CRF_data.mat or "
                     "dorfCurvesInv.mat, or a noisegen .npz bank")


def _looks_like_text(head: bytes) -> bool:
    return bool(head) and b"\x00" not in head
