"""CRF bank files: the ``.npz`` format, finding banks by name, loading (cached) and saving.

Files (``save_bank``/``load_bank``) are ``.npz`` archives read with ``allow_pickle=False``:
``format`` ("noisegen-crf-bank/1"), ``bank_name``, ``grid`` (K,), ``curves`` (N, K), ``names`` (N,)
and ``sources`` (N,) as unicode arrays. Banks are looked up by name in the user directory
(``$NOISEGEN_CRF_DIR``, else ``$XDG_DATA_HOME/noisegen/crf``, else ``~/.local/share/noisegen/crf``)
and then among the banks shipped with the package (``crf_data/``, see ``shipped_bank_dir``). The
bank itself (validation of the curves, the lookup tables) is ``noisegen.crf.bank.CRFBank``.
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import os
import stat
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from noisegen.crf.bank import CRFBank

__all__ = ["BANK_FORMAT", "user_bank_dir", "shipped_bank_dir", "list_banks", "load_bank", "save_bank"]

BANK_FORMAT = "noisegen-crf-bank/1"
SHIPPED_PACKAGE = "noisegen.crf.shipped"  # package data: the crf_data/ folder (see shipped_bank_dir)
_KEYS = ("format", "bank_name", "grid", "curves", "names", "sources")


def user_bank_dir() -> Path:
    """Directory of the user's banks: $NOISEGEN_CRF_DIR, else $XDG_DATA_HOME/noisegen/crf, else
    ~/.local/share/noisegen/crf (it need not exist)."""
    env = os.environ.get("NOISEGEN_CRF_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "noisegen" / "crf"


def shipped_bank_dir() -> Path:
    """Directory of the banks shipped with the package: the package data ``noisegen.crf.shipped``.

    pyproject.toml maps that package name onto the project's top-level ``crf_data/`` folder (which
    holds the ``.npz`` banks and the script that builds them), so a wheel installs the banks under
    ``noisegen/crf/shipped/`` and an editable install reads them from ``crf_data/`` in place. This is
    the one lookup of shipped banks.
    """
    return Path(str(importlib.resources.files(SHIPPED_PACKAGE)))


def list_banks() -> dict[str, Path]:
    """Available banks by name → file; a user bank shadows a shipped bank of the same name."""
    found: dict[str, Path] = {}
    for d in (shipped_bank_dir(), user_bank_dir()):
        if d.is_dir():
            found.update({p.stem: p for p in sorted(d.glob("*.npz")) if p.is_file()})
    return dict(sorted(found.items()))


def _available() -> str:
    banks = list_banks()
    listed = ", ".join(f"{n} ({p})" for n, p in banks.items()) or "none"
    return f"available banks: {listed}"


def _is_path(name_or_path: str | os.PathLike, s: str) -> bool:
    return isinstance(name_or_path, os.PathLike) or s.endswith(".npz") or "/" in s or os.sep in s


def _resolve(name_or_path: str | os.PathLike) -> Path:
    s = os.fspath(name_or_path)
    if _is_path(name_or_path, s):
        p = Path(s).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"CRF bank file {p} does not exist; {_available()}")
        return p
    banks = list_banks()
    if s in banks:
        return banks[s]
    close = difflib.get_close_matches(s, list(banks), n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise FileNotFoundError(
        f"unknown CRF bank {s!r}{hint}; {_available()}; searched {user_bank_dir()} and "
        f"{shipped_bank_dir()}; import one with `noisegen crf import FILE --name NAME` or pass a path to an .npz")


# How load_bank resolved each name or path: (candidates, their stamps then, resolved file), keyed by
# the input and the environment that chooses the user directory (the shipped one is fixed per
# process). synthesize() and sample_params() call load_bank per sample; listing the bank
# directories and realpath on every call took a median 158 µs per call inside the loop of
# benchmarks/bench_pipeline.py (≈1.5-2.5 ms per sample, 2 shared cores), checking the memo (a stat
# per candidate) 35-47 µs there and ≈10 µs in a tight loop.
_Stamp = tuple[int, int, int, int] | None
_RESOLVED: dict[tuple, tuple[tuple[str, ...], tuple[_Stamp, ...], str]] = {}
_RESOLVED_MAX = 256


def _candidates(name_or_path: str | os.PathLike, s: str) -> tuple[str, ...]:
    """The files whose presence and identity decide what _resolve returns, in lookup order."""
    if _is_path(name_or_path, s):
        return (os.path.expanduser(s),)
    return os.path.join(user_bank_dir(), s + ".npz"), os.path.join(shipped_bank_dir(), s + ".npz")


def _stamp(path: str) -> _Stamp:
    """(device, inode, mtime_ns, size) of a regular file (following links), else None.

    save_bank writes a new file and renames it over the old one, so a re-saved bank gets a new inode
    even when its mtime and size look unchanged (mtime has the kernel's clock-tick resolution).
    """
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size) if stat.S_ISREG(st.st_mode) else None


def _first(stamps: tuple[_Stamp, ...]) -> _Stamp:
    return next((st for st in stamps if st is not None), None)


def load_bank(name_or_path: str | os.PathLike = "default") -> CRFBank:
    """Load a bank by name (user directory first, then the shipped banks) or from an .npz path.

    Returns a cached CRFBank while the file is unchanged (same inode, mtime and size) and the name
    still resolves to it: every call stats the candidate files (user and shipped ``NAME.npz``, or
    the path), so a bank re-saved, added or removed, by this process or another, is seen by the
    next call.
    Raises:
        FileNotFoundError: no such bank or file (the message lists the available banks).
        ValueError: the file is not a valid bank (the message names the file, key and problem).
    """
    s = os.fspath(name_or_path)
    env = os.environ
    key = (s, isinstance(name_or_path, os.PathLike), env.get("NOISEGEN_CRF_DIR"), env.get("XDG_DATA_HOME"),
           env.get("HOME"))
    memo = _RESOLVED.get(key)
    if memo is not None:
        candidates, then, path = memo
        found = _first(then)
        if tuple(_stamp(c) for c in candidates) == then:
            return _load_cached(path, found[1], found[2], found[3])
    candidates = _candidates(name_or_path, s)
    stamps = tuple(_stamp(c) for c in candidates)  # before resolving: a change racing it shows next call
    found = _first(stamps)
    p = _resolve(name_or_path).resolve()
    st = p.stat()
    if found is not None and (st.st_dev, st.st_ino) == found[:2]:  # remember only a consistent view
        if len(_RESOLVED) >= _RESOLVED_MAX:
            _RESOLVED.clear()
        _RESOLVED[key] = (candidates, stamps, str(p))
    return _load_cached(str(p), st.st_ino, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=32)
def _load_cached(path: str, ino: int, mtime_ns: int, size: int) -> CRFBank:

    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in _KEYS if k not in z.files]
            if missing:
                raise ValueError(f"missing key(s) {', '.join(missing)} (found: {', '.join(z.files) or 'none'})")
            a = {k: z[k] for k in _KEYS}
    except (OSError, EOFError, zipfile.BadZipFile, ValueError) as err:
        raise ValueError(f"{path}: not a valid CRF bank .npz: {err}; {_available()}") from None
    try:
        for key in ("format", "bank_name"):
            if a[key].shape != () or a[key].dtype.kind != "U":
                raise ValueError(f"key {key!r} must be a scalar string, got {a[key].dtype} {a[key].shape}")
        if str(a["format"]) != BANK_FORMAT:
            raise ValueError(f"key 'format' is {str(a['format'])!r}, expected {BANK_FORMAT!r}")
        for key in ("names", "sources"):
            if a[key].ndim != 1 or a[key].dtype.kind != "U":
                raise ValueError(f"key {key!r} must be a 1-D unicode array, got {a[key].dtype} {a[key].shape}")
        for key in ("grid", "curves"):
            if a[key].dtype.kind not in "fiu":
                raise ValueError(f"key {key!r} must be a real array, got dtype {a[key].dtype}")
        return CRFBank(str(a["bank_name"]), a["grid"], a["curves"], tuple(a["names"].tolist()),
                       tuple(a["sources"].tolist()))
    except ValueError as err:
        raise ValueError(f"{path}: {err}; {_available()}") from None


def save_bank(bank: CRFBank, path: str | os.PathLike) -> Path:
    """Write ``bank`` to ``path`` (.npz) atomically: a temporary file in the same directory, then
    os.replace. The archive is byte-reproducible (fixed member timestamps). Returns the path."""

    if not isinstance(bank, CRFBank):
        raise TypeError(f"bank: expected a CRFBank, got {type(bank).__name__}")
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"{path}: a CRF bank file must end in .npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        "format": np.array(BANK_FORMAT), "bank_name": np.array(bank.name), "grid": bank.grid,
        "curves": bank.curves, "names": np.array(bank.names, dtype=str),
        "sources": np.array(bank.sources, dtype=str),
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
            for key, arr in arrays.items():
                info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                with zf.open(info, "w") as member:
                    np.lib.format.write_array(member, np.asarray(arr), allow_pickle=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
