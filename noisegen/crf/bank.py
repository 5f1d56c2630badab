"""Camera response curve (CRF) banks: the bank type, a curve's lookup tables, and applying a curve.

A camera response curve f maps irradiance L ∈ [0, 1] to brightness y = f(L) ∈ [0, 1]; it is
monotone non-decreasing with f(0) = 0 and f(1) = 1 (Grossberg & Nayar's normalisation). A bank is
a named set of such curves sampled on one common grid (DoRF: 1024 uniform points); between grid
points a curve is linear (docs/design.md §Camera response curves: we interpolate where CBDNet took the nearest bin).
Every bank holds the identity curve "linear".

The inverse f⁻¹ is the pseudo-inverse of the piecewise-linear curve (``invert_curve``): exact
between nodes; a flat run of f (a range of L with one brightness v) sends v to the run's midpoint,
or to the end of the domain when the run touches it, so that f⁻¹(0) = 0 and f⁻¹(1) = 1 when f is
flat at black or white. Tabulating that inverse on a uniform grid of n points keeps the round trip
|f(f⁻¹(y)) − y| ≤ 1/(n − 1) for every y, flat runs included.

Bank files (``.npz``), their lookup by name and ``load_bank``/``save_bank`` live in
``noisegen.crf.io`` (which imports this module, never the other way round); ``noisegen.crf``
exports both.

References:
    M. D. Grossberg, S. K. Nayar, "What is the Space of Camera Response Functions?", CVPR 2003.
    M. D. Grossberg, S. K. Nayar, "Modeling the Space of Camera Response Functions",
    IEEE TPAMI 26(10), 2004 (DoRF: 201 measured curves on 1024 points).
    S. Guo, Z. Yan, K. Zhang, W. Zuo, L. Zhang, "Toward Convolutional Blind Denoising of Real
    Photographs" (CBDNet), CVPR 2019 (the inverse CRF → noise → CRF model).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import numpy as np

from noisegen.checks import check_image_u8

__all__ = ["LINEAR", "CRFBank", "CRF", "UnknownCurveError", "invert_curve", "crf_forward", "crf_inverse",
           "crf_inverse_u8"]

LINEAR = "linear"
_END_TOL = 1e-6          # |f(0)|, |f(1) - 1| and the grid's ends (brief of the bank format)
_MONO_TOL = 1e-9         # a drop this small between neighbours is float noise, not a defect
_UNIFORM_TOL = 1e-7      # grid this close to k/(K-1) is used as the forward table directly
FORWARD_MIN_SAMPLES = 4096
INVERSE_SAMPLES = 8192   # round-trip bound 1/8191 ≈ 1.2e-4


def invert_curve(grid: np.ndarray, curve: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pseudo-inverse of the piecewise-linear non-decreasing curve through (grid[k], curve[k]).

    Args:
        grid: (K,) strictly increasing abscissae (irradiance).
        curve: (K,) non-decreasing ordinates (brightness); tiny float drops are smoothed away.
        y: any shape, the brightness values to invert.
    Returns:
        float64 array shaped like ``y``: for y strictly between two node values the linear inverse;
        for y equal to the value of a flat run the run's midpoint (its first abscissa when the run
        starts at grid[0], its last when it ends at grid[-1]); grid[0] below the curve's range and
        grid[-1] above it.
    """
    x = np.asarray(grid, dtype=np.float64)
    f = np.maximum.accumulate(np.asarray(curve, dtype=np.float64))
    yq = np.asarray(y, dtype=np.float64)
    n = x.shape[0]
    lo = np.searchsorted(f, yq, side="left")    # first node with f >= y
    hi = np.searchsorted(f, yq, side="right")   # first node with f > y
    out = np.empty(yq.shape, dtype=np.float64)

    hit = lo < hi                                # y equals f on nodes lo..hi-1 (a run, maybe of one)
    a, b = lo[hit], hi[hit] - 1
    rep = 0.5 * (x[a] + x[b])
    rep = np.where(b == n - 1, x[n - 1], rep)
    out[hit] = np.where(a == 0, x[0], rep)

    k = lo[~hit]                                 # f[k-1] < y < f[k]
    kk = np.clip(k, 1, n - 1)
    f0, f1, x0, x1 = f[kk - 1], f[kk], x[kk - 1], x[kk]
    with np.errstate(invalid="ignore", divide="ignore"):
        lin = x0 + (yq[~hit] - f0) / (f1 - f0) * (x1 - x0)
    out[~hit] = np.where(k == 0, x[0], np.where(k == n, x[n - 1], lin))
    return out


class UnknownCurveError(KeyError):
    """A curve name that is not in the bank; the message lists close matches."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


@dataclass(frozen=True, eq=False)
class CRFBank:
    """A named set of CRFs on a common grid.

    Attributes:
        name: bank name (e.g. "default", "dorf").
        grid: (K,) float64, strictly increasing from 0 to 1 (irradiance L), K ≥ 2.
        curves: (N, K) float64, each row non-decreasing with f(0) = 0 and f(1) = 1 (±1e-6).
        names: N unique curve names; the identity "linear" is appended when missing.
        sources: N short provenance strings.
    Arrays are stored read-only. Raises ValueError naming the bank, the curve and the problem.
    """

    name: str
    grid: np.ndarray
    curves: np.ndarray
    names: tuple[str, ...]
    sources: tuple[str, ...]
    _crfs: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"CRF bank name must be a non-empty string, got {self.name!r}")
        where = f"CRF bank {self.name!r}"
        try:
            grid = np.array(self.grid, dtype=np.float64)
            curves = np.array(self.curves, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: grid and curves must be real arrays ({err})") from None
        names, sources = tuple(self.names), tuple(self.sources)
        _validate_grid(grid, where)
        if curves.ndim != 2 or curves.shape[1] != grid.shape[0] or curves.shape[0] == 0:
            raise ValueError(f"{where}: curves must have shape (N, {grid.shape[0]}) with N >= 1 to match "
                             f"the grid, got {curves.shape}")
        if len(names) != curves.shape[0] or len(sources) != curves.shape[0]:
            raise ValueError(f"{where}: {curves.shape[0]} curves but {len(names)} names and "
                             f"{len(sources)} sources; give one name and one source per curve")
        _validate_names(names, sources, where)
        _validate_curves(curves, grid, names, where)
        if LINEAR in names:
            i = names.index(LINEAR)
            if np.abs(curves[i] - grid).max() > _END_TOL:
                raise ValueError(f"{where}: curve {i} {LINEAR!r} must be the identity f(L) = L "
                                 "(the name is reserved); rename that curve")
        else:
            curves = np.vstack([curves, grid[None, :]])
            names += (LINEAR,)
            sources += ("identity f(L) = L (added by noisegen)",)
        grid.setflags(write=False)
        curves.setflags(write=False)
        object.__setattr__(self, "grid", grid)
        object.__setattr__(self, "curves", curves)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "sources", sources)

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CRFBank):
            return NotImplemented
        return (self.name, self.names, self.sources) == (other.name, other.names, other.sources) and \
            np.array_equal(self.grid, other.grid) and np.array_equal(self.curves, other.curves)

    def __hash__(self) -> int:
        return hash((self.name, self.names))

    def __repr__(self) -> str:
        return f"CRFBank(name={self.name!r}, curves={len(self)}, grid={self.grid.shape[0]} points)"

    def index(self, name: str) -> int:
        """Row of curve ``name`` in ``curves``. Raises UnknownCurveError (a KeyError) with close matches."""
        try:
            return self.names.index(name)
        except ValueError:
            close = difflib.get_close_matches(str(name), self.names, n=5, cutoff=0.5)
            hint = f"close matches: {', '.join(close)}" if close else "no close match"
            raise UnknownCurveError(
                f"unknown curve {name!r} in CRF bank {self.name!r} ({len(self)} curves); {hint}; "
                f"list them with `noisegen crf list --bank {self.name}` or bank.names") from None

    def get(self, name: str) -> "CRF":
        """The curve ``name`` with its forward and inverse lookup tables (built once, then cached)."""
        i = self.index(name)
        crf = self._crfs.get(i)
        if crf is None:
            crf = CRF.from_samples(name, self.grid, self.curves[i], bank=self.name, source=self.sources[i])
            self._crfs[i] = crf
        return crf


def _validate_grid(grid: np.ndarray, where: str) -> None:
    if grid.ndim != 1 or grid.shape[0] < 2:
        raise ValueError(f"{where}: grid must be 1-D with at least 2 points, got shape {grid.shape}")
    if not np.isfinite(grid).all():
        raise ValueError(f"{where}: grid contains NaN or infinite values")
    if np.any(np.diff(grid) <= 0):
        k = int(np.argmin(np.diff(grid)))
        raise ValueError(f"{where}: grid must be strictly increasing; grid[{k + 1}] = {grid[k + 1]:.6g} "
                         f"<= grid[{k}] = {grid[k]:.6g}")
    if abs(grid[0]) > _END_TOL or abs(grid[-1] - 1.0) > _END_TOL:
        raise ValueError(f"{where}: grid must run from 0 to 1, got {grid[0]:.6g} .. {grid[-1]:.6g}")


def _validate_names(names: tuple, sources: tuple, where: str) -> None:
    for i, (n, s) in enumerate(zip(names, sources)):
        if not isinstance(n, str) or not n.strip():
            raise ValueError(f"{where}: curve {i} has an invalid name {n!r}; names must be non-empty strings")
        if not isinstance(s, str):
            raise ValueError(f"{where}: curve {i} {n!r} has a non-string source {s!r}")
    if len(set(names)) != len(names):
        dups = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"{where}: curve names must be unique; repeated: {', '.join(map(repr, dups))}")


def _validate_curves(curves: np.ndarray, grid: np.ndarray, names: tuple, where: str) -> None:
    for i, c in enumerate(curves):
        what = f"{where}: curve {i} {names[i]!r}"
        if not np.isfinite(c).all():
            k = int(np.flatnonzero(~np.isfinite(c))[0])
            raise ValueError(f"{what}: value {c[k]} at grid index {k} is not finite")
        if abs(c[0]) > _END_TOL:
            raise ValueError(f"{what}: f(0) = {c[0]:.6g}, expected 0 (tolerance {_END_TOL:g}); "
                             "subtract f(0) and rescale")
        if abs(c[-1] - 1.0) > _END_TOL:
            raise ValueError(f"{what}: f(1) = {c[-1]:.6g}, expected 1 (tolerance {_END_TOL:g}); "
                             "normalise by f(1)")
        d = np.diff(c)
        if d.min() < -_MONO_TOL:
            k = int(np.argmin(d))
            raise ValueError(f"{what}: not non-decreasing; f drops by {-d[k]:.3g} between L = {grid[k]:.6g} "
                             f"and L = {grid[k + 1]:.6g} (grid index {k})")


@dataclass(frozen=True, eq=False)
class CRF:
    """One camera response curve with precomputed float32 lookup tables on uniform grids over [0, 1].

    Attributes:
        name, bank, source: the curve's name, its bank's name and its provenance string.
        forward_lut: (M,) f(k/(M-1)); the native samples when the bank grid is uniform, else M ≥ 4096.
        inverse_lut: (8192,) f⁻¹(j/8191) (see ``invert_curve``).
        inverse_u8: (256,) f⁻¹(k/255), for 8-bit sRGB-encoded input.
    Equality and hash are by (bank, name).
    """

    name: str
    bank: str
    source: str
    forward_lut: np.ndarray
    inverse_lut: np.ndarray
    inverse_u8: np.ndarray

    @classmethod
    def from_samples(cls, name: str, grid: np.ndarray, curve: np.ndarray, *, bank: str = "",
                     source: str = "") -> "CRF":
        """Build the tables from a curve sampled at ``grid`` (both (K,), validated as in CRFBank)."""
        grid = np.asarray(grid, dtype=np.float64)
        curve = np.clip(np.maximum.accumulate(np.asarray(curve, dtype=np.float64)), 0.0, 1.0)
        k = grid.shape[0]
        if np.abs(grid - np.arange(k) / (k - 1)).max() > _UNIFORM_TOL:
            # resample to a uniform table; the inverse then inverts exactly what crf_forward applies
            m = max(FORWARD_MIN_SAMPLES, 4 * k)
            uniform = np.arange(m) / (m - 1)
            grid, curve = uniform, np.interp(uniform, grid, curve)
        fwd = curve
        inv = invert_curve(grid, curve, np.arange(INVERSE_SAMPLES) / (INVERSE_SAMPLES - 1))
        inv8 = invert_curve(grid, curve, np.arange(256) / 255.0)
        tables = [np.ascontiguousarray(np.clip(t, 0.0, 1.0), dtype=np.float32) for t in (fwd, inv, inv8)]
        for t in tables:
            t.setflags(write=False)
        return cls(name, bank, source, *tables)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CRF):
            return NotImplemented
        return (self.bank, self.name) == (other.bank, other.name)

    def __hash__(self) -> int:
        return hash((self.bank, self.name))

    def __repr__(self) -> str:
        return f"CRF(name={self.name!r}, bank={self.bank!r})"


def _check_crf(crf: object) -> CRF:
    if not isinstance(crf, CRF):
        raise TypeError(f"crf: expected a noisegen.crf.bank.CRF (e.g. load_bank().get('sRGB')), "
                        f"got {type(crf).__name__}")
    return crf


def _check_float_any(x: object, name: str) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a numpy float array, got {type(x).__name__}")
    if x.dtype.kind != "f":
        hint = "; for 8-bit images use crf_inverse_u8 or divide by 255" if x.dtype == np.uint8 else ""
        raise TypeError(f"{name}: expected a float32 or float64 array in [0, 1], got dtype {x.dtype}{hint}")
    if np.isnan(x).any():
        raise ValueError(f"{name}: contains {int(np.isnan(x).sum())} NaN values (shape {x.shape})")
    return np.asarray(x, dtype=np.float32, order="C")  # keeps 0-d arrays 0-d


def _apply_lut(x: np.ndarray, lut: np.ndarray) -> np.ndarray:
    # The kernels are imported here, not at the top: the bank types and tables are numpy only, so that
    # the dataset reader can read curves (derived σ maps) without importing numba.
    from noisegen.kernels.lut import _lut_interp

    out = np.empty(x.shape, dtype=np.float32)
    if x.size:
        _lut_interp(x.reshape(-1), lut, out.reshape(-1))
    return out


def crf_forward(L: np.ndarray, crf: CRF) -> np.ndarray:
    """Brightness y = f(L): apply the camera response curve to irradiance.

    Args:
        L: float32/float64 array of any shape (images H×W×3), irradiance; clamped to [0, 1].
        crf: the curve (``bank.get(name)``).
    Returns:
        float32 array shaped like ``L``, in [0, 1] (linear interpolation of the curve's samples).
    Raises:
        TypeError: ``L`` is not a float array or ``crf`` is not a CRF. ValueError: NaN in ``L``.
    """
    return _apply_lut(_check_float_any(L, "L"), _check_crf(crf).forward_lut)


def crf_inverse(y: np.ndarray, crf: CRF) -> np.ndarray:
    """Irradiance L = f⁻¹(y): undo the camera response curve.

    Args:
        y: float32/float64 array of any shape, brightness; clamped to [0, 1].
        crf: the curve.
    Returns:
        float32 array shaped like ``y``, in [0, 1]; f(f⁻¹(y)) = y within 1/8191 (flat runs of f
        map to their midpoint, see ``invert_curve``).
    Raises:
        TypeError: ``y`` is not a float array or ``crf`` is not a CRF. ValueError: NaN in ``y``.
    """
    return _apply_lut(_check_float_any(y, "y"), _check_crf(crf).inverse_lut)


def crf_inverse_u8(img_u8: np.ndarray, crf: CRF) -> np.ndarray:
    """Irradiance f⁻¹(img / 255) of an 8-bit image, exact at the 256 code values.

    Args:
        img_u8: uint8 (H, W, 3) RGB.
        crf: the curve.
    Returns:
        float32 (H, W, 3) in [0, 1].
    Raises:
        TypeError: not a uint8 array or ``crf`` is not a CRF. ValueError: not H×W×3 or empty.
    """
    from noisegen.kernels.lut import _lut_gather_u8  # see _apply_lut

    img = check_image_u8(img_u8, "img_u8")
    table = _check_crf(crf).inverse_u8
    out = np.empty(img.shape, dtype=np.float32)
    _lut_gather_u8(img.reshape(-1), table, out.reshape(-1))
    return out
