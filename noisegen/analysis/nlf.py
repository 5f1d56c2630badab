"""Noise statistics of noisy/clean pairs: noise level function, spatial and cross-channel correlation, PSNR.

Everything here is a pure function of arrays. ``image_stats`` reduces one pair to a ``NoiseStats``
of additive sums (a sufficient statistic), ``merge`` adds them up over images and groups, and
``summarize`` turns a total into the numbers we report. Sums make the statistics exact under any
grouping and any order, so a dataset can be streamed shard by shard, in parallel, and merged.

Noise level function (NLF), sRGB domain (Foi et al., "Practical Poissonian-Gaussian noise modeling
and fitting for single-image raw-data", IEEE TIP 2008, plot the same curve in the raw domain): the
standard deviation of the residual r = noisy − clean (both in [0, 1]) as a function of the clean
intensity x, per channel. The clean images are 8-bit, so we keep Σr, Σr² and a count for each of
the 256 clean codes and each channel, and a bin's std is the *pooled within-code* std:

    σ_bin² = Σ_k (Σr²_k − (Σr_k)²/n_k) / Σ_k (n_k − 1),   k over the codes of the bin.

Pooling within codes removes the spread of the residual's *mean* across a bin (clipping and a
curved response bias the mean of r differently at each code), which would otherwise inflate σ_bin.
Clipping: a noisy value at 0 or 255 is clipped; the fraction of such values is kept per code and a
bin is ``valid`` only when it has enough pixels and at most ``max_clip`` of them clipped (near 0 and
1 the clipped noise is not the camera's noise). Quantisation: the noisy image is rounded to 8 bits,
which adds Δ²/12 (Δ = 1/255) to the variance when σ spans a few codes (Sheppard's correction);
``std`` is what was measured, ``std_q`` removes Δ²/12. The exact model in noisegen.analysis.calibrate.model_nlf
includes rounding and clipping, so comparisons against it use ``std``.

Irradiance (raw) domain: where σ maps (σ_raw, docs/design.md §The σ map) are known, Σσ² and counts are kept per
bin of raw irradiance L, and the raw NLF is the RMS σ of each bin: the std of the noise that the
simulator added, sqrt(L·σ_s² + σ_c²) for fixed parameters.

Spatial autocorrelation at lags 1-2 (demosaicing spreads each raw sample over its neighbours; JPEG
removes high frequencies in 8×8 blocks, Malvar et al. 2004, Wallace 1992): ρ_d = Σ r(p)r(p+d) /
sqrt(Σ r(p)² Σ r(p+d)²) for d ∈ {h1 (0,1), v1 (1,0), h2 (0,2), v2 (2,0), d1 (1,1)} (row, column),
over pixel pairs that are both unclipped, after removing the mean residual of each clean code in
each image (the bias of clipping and of a curved response is smooth in x, so it would correlate
neighbours). Cross-channel correlation: the same at lag 0 between channels (RG, RB, GB).

PSNR: 10·log10(1/MSE) per image over all pixels and channels in [0, 1], as in the denoising
literature; groups report the mean over images.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from noisegen.kernels.stats import _centred, _cross_sums, _lag_sums, _level_sums

__all__ = [
    "CHANNELS", "LAGS", "PAIRS", "LEVELS", "RAW_BINS", "NoiseStats", "image_stats", "accumulate", "merge",
    "NLF", "nlf_from_stats", "raw_nlf_from_stats", "autocorrelation", "cross_correlation", "psnr", "summarize",
]

CHANNELS = ("R", "G", "B")
# (name, row offset, column offset)
LAGS = (("h1", 0, 1), ("v1", 1, 0), ("h2", 0, 2), ("v2", 2, 0), ("d1", 1, 1))
PAIRS = (("RG", 0, 1), ("RB", 0, 2), ("GB", 1, 2))
LEVELS = 256
RAW_BINS = 32
_Q_VAR = (1.0 / 255.0) ** 2 / 12.0  # variance of rounding to 8 bits (Sheppard's correction)
_LAG_ARRAY = np.array([[dy, dx] for _, dy, dx in LAGS], dtype=np.int64)
_PAIR_ARRAY = np.array([[i, j] for _, i, j in PAIRS], dtype=np.int64)


@dataclass
class NoiseStats:
    """Additive sufficient statistics of a set of noisy/clean pairs (see the module docstring).

    Shapes: C = 3 channels, K = 256 clean codes, D = len(LAGS), P = len(PAIRS), B = RAW_BINS.
    level_n, level_clip: int64 (C, K) pixels and clipped noisy values per clean code;
    level_sum, level_sum2: float64 (C, K) Σr and Σr² (r in [0, 1] units) per clean code;
    lag_xy, lag_xx, lag_yy: float64 (C, D) products of centred residuals at each lag;
    cross_xy, cross_xx, cross_yy: float64 (P,) the same between channel pairs at lag 0;
    raw_n: int64 (C, B), raw_sum2, raw_sumL: float64 (C, B) counts, Σσ² and ΣL of σ maps per
    irradiance bin (zeros when no σ map was given); psnr: per-image PSNR in dB (inf for identical
    images).
    """

    n_images: int = 0
    n_pixels: int = 0
    level_n: np.ndarray = field(default_factory=lambda: np.zeros((3, LEVELS), np.int64))
    level_clip: np.ndarray = field(default_factory=lambda: np.zeros((3, LEVELS), np.int64))
    level_sum: np.ndarray = field(default_factory=lambda: np.zeros((3, LEVELS)))
    level_sum2: np.ndarray = field(default_factory=lambda: np.zeros((3, LEVELS)))
    lag_xy: np.ndarray = field(default_factory=lambda: np.zeros((3, len(LAGS))))
    lag_xx: np.ndarray = field(default_factory=lambda: np.zeros((3, len(LAGS))))
    lag_yy: np.ndarray = field(default_factory=lambda: np.zeros((3, len(LAGS))))
    cross_xy: np.ndarray = field(default_factory=lambda: np.zeros(len(PAIRS)))
    cross_xx: np.ndarray = field(default_factory=lambda: np.zeros(len(PAIRS)))
    cross_yy: np.ndarray = field(default_factory=lambda: np.zeros(len(PAIRS)))
    raw_n: np.ndarray = field(default_factory=lambda: np.zeros((3, RAW_BINS), np.int64))
    raw_sum2: np.ndarray = field(default_factory=lambda: np.zeros((3, RAW_BINS)))
    raw_sumL: np.ndarray = field(default_factory=lambda: np.zeros((3, RAW_BINS)))
    psnr: list[float] = field(default_factory=list)


_ARRAYS = ("level_n", "level_clip", "level_sum", "level_sum2", "lag_xy", "lag_xx", "lag_yy", "cross_xy",
           "cross_xx", "cross_yy", "raw_n", "raw_sum2", "raw_sumL")


def accumulate(total: NoiseStats, part: NoiseStats) -> NoiseStats:
    """Add ``part`` into ``total`` in place (for streaming) and return ``total``."""
    total.n_images += part.n_images
    total.n_pixels += part.n_pixels
    for name in _ARRAYS:
        getattr(total, name).__iadd__(getattr(part, name))
    total.psnr.extend(part.psnr)
    return total


def merge(parts: Iterable[NoiseStats]) -> NoiseStats:
    """Sum of several NoiseStats as a new object (exact: every field is a sum or a list)."""
    out = NoiseStats()
    for s in parts:
        accumulate(out, s)
    return out


def _check_pair(clean: object, noisy: object) -> tuple[np.ndarray, np.ndarray]:
    for name, a in (("clean", clean), ("noisy", noisy)):
        if not isinstance(a, np.ndarray) or a.dtype != np.uint8:
            got = f"{a.dtype} array" if isinstance(a, np.ndarray) else type(a).__name__
            raise TypeError(f"{name}: expected a uint8 H×W×3 array, got {got}")
        if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 1 or a.shape[1] < 1:
            raise ValueError(f"{name}: expected shape (H, W, 3) with H, W ≥ 1, got {a.shape}")
    if clean.shape != noisy.shape:
        raise ValueError(f"clean and noisy differ in shape: {clean.shape} vs {noisy.shape}")
    return clean, noisy


def psnr(clean: np.ndarray, noisy: np.ndarray) -> float:
    """PSNR in dB of two uint8 H×W×3 images, peak 1 (= 255 in 8-bit); inf when they are identical."""
    clean, noisy = _check_pair(clean, noisy)
    mse = float(np.mean((noisy.astype(np.float64) - clean) ** 2)) / 255.0**2
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def image_stats(clean: np.ndarray, noisy: np.ndarray, sigma: np.ndarray | None = None,
                irradiance: np.ndarray | None = None) -> NoiseStats:
    """Sufficient statistics of one noisy/clean pair.

    Args:
        clean, noisy: uint8 H×W×3 RGB (same shape).
        sigma: optional float H×W×3 σ map (σ_raw, full-scale units) of the noise that was added.
        irradiance: the raw irradiance L (float H×W×3, nominally [0, 1]) at which ``sigma`` holds;
            required with ``sigma``. L ≥ 1 goes to the last bin, L < 0 to the first.
    Returns:
        NoiseStats of this one image.
    Raises:
        TypeError / ValueError: wrong dtypes or shapes, with the expected and received values.
    """
    clean, noisy = _check_pair(clean, noisy)
    clean, noisy = np.ascontiguousarray(clean), np.ascontiguousarray(noisy)
    h, w, _ = clean.shape
    st = NoiseStats(n_images=1, n_pixels=h * w)
    nv = np.zeros((3, LEVELS), np.int64)
    sv = np.zeros((3, LEVELS))
    _level_sums(clean, noisy, st.level_n, st.level_sum, st.level_sum2, st.level_clip, nv, sv)
    # centre on the mean of the *unclipped* residuals of each code: the correlations use only
    # those, and their mean is biased where clipping cuts one tail (dark and bright codes)
    mean = np.divide(sv, nv, out=np.zeros((3, LEVELS)), where=nv > 0)
    rc = np.empty((h, w, 3))
    valid = np.empty((h, w, 3), dtype=np.bool_)
    _centred(clean, noisy, mean, rc, valid)
    _lag_sums(rc, valid, _LAG_ARRAY, st.lag_xy, st.lag_xx, st.lag_yy)
    _cross_sums(rc, valid, _PAIR_ARRAY, st.cross_xy, st.cross_xx, st.cross_yy)
    mse = float(st.level_sum2.sum()) / (3 * h * w)
    st.psnr.append(math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse))
    if sigma is not None or irradiance is not None:
        if sigma is None or irradiance is None:
            raise ValueError("sigma and irradiance go together: the raw NLF bins σ by the irradiance L")
        for name, a in (("sigma", sigma), ("irradiance", irradiance)):
            if not isinstance(a, np.ndarray) or a.shape != clean.shape or a.dtype.kind != "f":
                got = f"{a.dtype} {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
                raise ValueError(f"{name}: expected a float array of shape {clean.shape}, got {got}")
        if not (np.isfinite(irradiance).all() and np.isfinite(sigma).all()):
            raise ValueError("sigma and irradiance must be finite")
        bins = np.clip((irradiance * RAW_BINS).astype(np.int64), 0, RAW_BINS - 1)
        s2 = np.square(sigma, dtype=np.float64)
        for c in range(3):
            b = bins[:, :, c].ravel()
            st.raw_n[c] += np.bincount(b, minlength=RAW_BINS)
            st.raw_sum2[c] += np.bincount(b, weights=s2[:, :, c].ravel(), minlength=RAW_BINS)
            st.raw_sumL[c] += np.bincount(b, weights=irradiance[:, :, c].ravel().astype(np.float64), minlength=RAW_BINS)
    return st


@dataclass(frozen=True)
class NLF:
    """A binned noise level function (sRGB: x = clean intensity; raw: x = irradiance L).

    edges: (B+1,) bin edges in [0, 1]; x: (C, B) mean abscissa of each bin's pixels (bin centre when
    empty); std: (C, B) noise std in full-scale units (NaN where undefined); std_q: std with the 8-bit
    rounding variance removed (sRGB only, else equal to std); count: (C, B) pixels; clip: (C, B)
    fraction of clipped noisy values; valid: (C, B) enough pixels and little clipping.
    """

    edges: np.ndarray
    x: np.ndarray
    std: np.ndarray
    std_q: np.ndarray
    count: np.ndarray
    clip: np.ndarray
    valid: np.ndarray

    def to_dict(self) -> dict:
        """JSON-able dict (NaN → None), full-scale units."""
        def clean(a):
            return [[None if not np.isfinite(v) else float(v) for v in row] for row in np.asarray(a, dtype=float)]
        return {"edges": [float(e) for e in self.edges], "x": clean(self.x), "std": clean(self.std),
                "std_q": clean(self.std_q), "count": self.count.astype(int).tolist(), "clip": clean(self.clip),
                "valid": self.valid.astype(bool).tolist()}

    def at(self, x: float) -> np.ndarray:
        """Per-channel std at intensity ``x`` by linear interpolation over valid bins (NaN outside them)."""
        out = np.full(3, np.nan)
        for c in range(3):
            v = self.valid[c]
            if v.sum() >= 1 and self.x[c][v].min() <= x <= self.x[c][v].max():
                out[c] = np.interp(x, self.x[c][v], self.std[c][v])
        return out


def _bin_of_code(bins: int) -> np.ndarray:
    return np.minimum((np.arange(LEVELS) * bins) // LEVELS, bins - 1)


def nlf_from_stats(st: NoiseStats, bins: int = 16, min_count: int = 1000, max_clip: float = 0.01) -> NLF:
    """sRGB-domain NLF from the per-code sums (pooled within-code std, see the module docstring).

    Args:
        st: NoiseStats (of one image or merged).
        bins: number of equal-width bins of clean intensity over [0, 1] (code k falls in bin
            floor(k·bins/256)); 16 bins = 16 codes each.
        min_count: fewest pixels for a bin to be valid.
        max_clip: largest fraction of clipped noisy values (0 or 255) for a bin to be valid.
    Returns:
        NLF with x = pixel-weighted mean clean intensity of each bin.
    """
    if not isinstance(bins, int) or not 1 <= bins <= LEVELS:
        raise ValueError(f"bins: expected an integer in 1..{LEVELS}, got {bins!r}")
    b = _bin_of_code(bins)
    codes = np.arange(LEVELS) / 255.0
    shape = (3, bins)
    n, dof, ss, xs, clip = (np.zeros(shape) for _ in range(5))
    within = st.level_sum2 - np.divide(st.level_sum**2, st.level_n, out=np.zeros_like(st.level_sum),
                                       where=st.level_n > 0)
    for c in range(3):
        n[c] = np.bincount(b, weights=st.level_n[c], minlength=bins)
        dof[c] = np.bincount(b, weights=np.maximum(st.level_n[c] - 1, 0), minlength=bins)
        ss[c] = np.bincount(b, weights=np.maximum(within[c], 0.0), minlength=bins)
        xs[c] = np.bincount(b, weights=st.level_n[c] * codes, minlength=bins)
        clip[c] = np.bincount(b, weights=st.level_clip[c], minlength=bins)
    edges = np.arange(bins + 1) * (LEVELS / bins) / 255.0
    edges[-1] = 1.0
    centre = np.broadcast_to(0.5 * (edges[:-1] + np.minimum(edges[1:], 1.0)), shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.where(dof > 0, ss / np.maximum(dof, 1), np.nan)
        x = np.where(n > 0, xs / np.maximum(n, 1), centre)
        clip_frac = np.where(n > 0, clip / np.maximum(n, 1), np.nan)
    std = np.sqrt(var)
    std_q = np.sqrt(np.maximum(var - _Q_VAR, 0.0))
    valid = (n >= min_count) & np.isfinite(std) & (clip_frac <= max_clip)
    return NLF(edges=edges, x=x, std=std, std_q=std_q, count=n.astype(np.int64), clip=clip_frac, valid=valid)


def raw_nlf_from_stats(st: NoiseStats, min_count: int = 100) -> NLF | None:
    """Irradiance-domain NLF from σ maps: RMS σ per bin of L (RAW_BINS bins over [0, 1]) at the bin's mean L
    (σ² is linear in L, so this equals sqrt(mean(L)·σ_s² + σ_c²) for fixed parameters); None without σ maps."""
    if st.raw_n.sum() == 0:
        return None
    edges = np.linspace(0.0, 1.0, RAW_BINS + 1)
    centre = np.broadcast_to(0.5 * (edges[:-1] + edges[1:]), st.raw_n.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        std = np.where(st.raw_n > 0, np.sqrt(st.raw_sum2 / np.maximum(st.raw_n, 1)), np.nan)
        x = np.where(st.raw_n > 0, st.raw_sumL / np.maximum(st.raw_n, 1), centre)
    return NLF(edges=edges, x=x, std=std, std_q=std, count=st.raw_n.copy(),
               clip=np.zeros(st.raw_n.shape), valid=st.raw_n >= min_count)


def autocorrelation(st: NoiseStats) -> np.ndarray:
    """Residual autocorrelation (C, len(LAGS)) at the lags of LAGS (NaN where nothing was measured)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return st.lag_xy / np.sqrt(st.lag_xx * st.lag_yy)


def cross_correlation(st: NoiseStats) -> np.ndarray:
    """Residual correlation between channel pairs (len(PAIRS),) at the same pixel."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return st.cross_xy / np.sqrt(st.cross_xx * st.cross_yy)


def _num(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def summarize(st: NoiseStats, bins: int = 16, min_count: int = 1000, max_clip: float = 0.01) -> dict:
    """The reported statistics of a NoiseStats as a JSON-able dict (full-scale units unless named _8bit).

    Keys: images, pixels, psnr_mean/min/max (dB, finite images), residual_std (per channel: pooled
    within-code std over all unclipped codes), residual_std_8bit, nlf (NLF.to_dict()), nlf_at
    (std at x = 0.25, 0.5, 0.75 per channel), raw_nlf (or None), autocorrelation ({lag: [R, G, B]}),
    lag1 / lag2 (mean over channels of h and v), cross_correlation ({pair: value}).
    """
    curve = nlf_from_stats(st, bins=bins, min_count=min_count, max_clip=max_clip)
    within = st.level_sum2 - np.divide(st.level_sum**2, st.level_n, out=np.zeros_like(st.level_sum),
                                       where=st.level_n > 0)
    ok = (st.level_clip <= max_clip * st.level_n) & (st.level_n > 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        res_std = np.sqrt(np.where(ok, within, 0).sum(1) / np.where(ok, st.level_n - 1, 0).sum(1))
    ac = autocorrelation(st)
    cc = cross_correlation(st)
    finite = [p for p in st.psnr if math.isfinite(p)]
    raw = raw_nlf_from_stats(st)
    names = [n for n, _, _ in LAGS]
    return {
        "images": st.n_images,
        "pixels": st.n_pixels,
        "psnr_mean": _num(np.mean(finite)) if finite else None,
        "psnr_min": _num(min(finite)) if finite else None,
        "psnr_max": _num(max(finite)) if finite else None,
        "residual_std": [_num(v) for v in res_std],
        "residual_std_8bit": [_num(v * 255) for v in res_std],
        "nlf": curve.to_dict(),
        "nlf_at": {f"{x:.2f}": [_num(v) for v in curve.at(x)] for x in (0.25, 0.5, 0.75)},
        "raw_nlf": None if raw is None else raw.to_dict(),
        "autocorrelation": {n: [_num(v) for v in ac[:, d]] for d, n in enumerate(names)},
        "lag1": _num(np.nanmean(ac[:, [names.index("h1"), names.index("v1")]])) if np.isfinite(ac).any() else None,
        "lag2": _num(np.nanmean(ac[:, [names.index("h2"), names.index("v2")]])) if np.isfinite(ac).any() else None,
        "cross_correlation": {n: _num(cc[p]) for p, (n, _, _) in enumerate(PAIRS)},
    }
