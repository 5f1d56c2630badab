"""Noisy-only calibration: the targets of `noisegen calibrate --noisy-only`, from pseudo-pairs and σ maps.

Without clean images, a self-supervised denoiser provides the missing pieces (Wu et al., "Unpaired
Learning of Deep Image Denoising", ECCV 2020: D-BSN learns a clean estimate and a per-pixel noise model
from noisy photos alone; `noisegen-train dbsn` and `noisegen-train pseudo-pairs` in the trainer):

    PAIRS/noisy/NAME.ext   the real noisy photo
    PAIRS/gt/NAME.png      its pseudo-clean image (the D-BSN output)
    PAIRS/sigma/NAME.npy   the estimated noise std per pixel and channel, float32 H×W×3, [0, 1] units

Calibration then runs unchanged on (pseudo-clean, noisy) crops (noisegen.analysis.calibrate.fit: the same
search, the same simulation on the clean side, the same report). The NLF target has two sources
(CalibrateConfig.noisy_target, NOISY_TARGETS):

- ``auto`` (the default): ``residual`` when the D-BSN that wrote the pseudo-pairs was trained with pixel-shuffle
  down-sampling (PD > 1 in PAIRS/pseudo_pairs.json), ``sigma`` when it was trained without, ``residual`` when
  the folder does not say (``resolve_target``): the better of the two in the measurements below.
- ``residual``: noisy − pseudo-clean, as for real pairs. A biased noise sample: the pseudo-clean
  image keeps part of the noise (its variance is too low) or misses detail (too high). Measured against the
  real residuals (experiments/dbsn_sigma_check.py, docs/results.md), a PD-trained D-BSN's MAP output gives
  0.91-1.29× the real noise std, its σ maps 3.1-3.3× (the noise model absorbs what the small network cannot
  predict); without PD the blind spot sees noise correlated with the centre pixel, so the output keeps noise
  (residual 0.36-0.69×) and the σ maps are closer (0.64-0.79×).
- ``sigma``: the σ maps, for a noise model that can be trusted: the pooled within-code variance of a code k is
  set to the mean σ² of its pixels,

    within_k = Σ_{p: clean(p) = k} σ(p)² · (n_k − 1)/n_k      (so that Σ within_k / Σ (n_k − 1) = mean σ²),

everything else (clipping counts, the mean residual per code, the spatial and cross-channel correlations)
still from the residuals. The simulated side is untouched: noise simulated on the pseudo-clean crops,
measured as for real pairs. The σ maps must be the std of the observed 8-bit noise (D-BSN's noise model is
fitted to the 8-bit noisy image, rounding included), as the real residual's NLF is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from noisegen.analysis.nlf import LEVELS, NoiseStats, image_stats
from noisegen.dataset.pairs import Pair

__all__ = ["NOISY_TARGETS", "DEFAULT_NOISY_TARGET", "MANIFEST", "resolve_target", "SIGMA_DIR", "sigma_path",
           "load_sigma", "sigma_target_stats"]

NOISY_TARGETS = ("auto", "residual", "sigma")  # where the NLF target of pseudo-pairs comes from (CalibrateConfig)
DEFAULT_NOISY_TARGET = "auto"
MANIFEST = "pseudo_pairs.json"  # beside noisy/; trainer.infer.pseudo_pairs writes it (its MANIFEST)
SIGMA_DIR = "sigma"  # beside noisy/ and gt/; trainer.infer.pseudo_pairs writes it
_NOISY_DIR = "noisy"


def sigma_path(pair: Pair | str | os.PathLike[str]) -> Path:
    """Where the σ map of a pair (or of a noisy file) lies: the last ``noisy`` folder of its path replaced by
    ``sigma``, the name's extension by ``.npy`` (PAIRS/noisy/a/X_real.JPG → PAIRS/sigma/a/X_real.npy).

    Raises:
        ValueError: the noisy file is not under a folder named noisy (the pseudo-pairs layout).
    """
    p = Path(pair.noisy if isinstance(pair, Pair) else pair)
    parts = list(p.parts)
    hits = [i for i, part in enumerate(parts[:-1]) if part.lower() == _NOISY_DIR]
    if not hits:
        raise ValueError(f"{p}: --noisy-only needs pseudo-pairs (PAIRS/noisy/, PAIRS/gt/, PAIRS/sigma/, written by "
                         "`noisegen-train pseudo-pairs`); this noisy file is not under a folder named noisy")
    parts[hits[-1]] = SIGMA_DIR
    return Path(*parts).with_suffix(".npy")


def load_sigma(pair: Pair, shape: tuple[int, ...]) -> np.ndarray:
    """The σ map of a pseudo-pair as float64 H×W×3 (never unpickled).

    Args:
        pair: the pseudo-pair. shape: the shape of its images (H, W, 3).
    Raises:
        ValueError: missing, unreadable, of another shape, not finite or negative (naming the file).
    """
    path = sigma_path(pair)
    try:
        a = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ValueError(f"{path}: no σ map for {pair.id} (write pseudo-pairs with `noisegen-train pseudo-pairs`)") \
            from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable .npy σ map ({str(exc)[:120]})") from None
    if a.shape != tuple(shape) or a.dtype.kind != "f":
        raise ValueError(f"{path}: expected a float array of shape {tuple(shape)}, got {a.dtype} {a.shape}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all() or (a < 0).any():
        raise ValueError(f"{path}: σ must be finite and ≥ 0")
    return a


def sigma_target_stats(clean: np.ndarray, noisy: np.ndarray, sigma: np.ndarray) -> NoiseStats:
    """``image_stats(clean, noisy)`` with the per-code variance sums taken from the σ map (module docstring).

    Args:
        clean, noisy: uint8 H×W×3 (pseudo-clean, real noisy). sigma: float H×W×3 noise std, [0, 1] units.
    Returns:
        NoiseStats whose NLF (noisegen.analysis.nlf.nlf_from_stats) is the RMS σ per clean-code bin.
    """
    st = image_stats(clean, noisy)
    if sigma.shape != clean.shape:
        raise ValueError(f"sigma: expected shape {clean.shape}, got {sigma.shape}")
    s2 = np.zeros((3, LEVELS))
    for c in range(3):
        s2[c] = np.bincount(clean[:, :, c].ravel(), weights=np.square(sigma[:, :, c].ravel(), dtype=np.float64),
                            minlength=LEVELS)
    n = st.level_n.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        within = np.where(n > 0, s2 * (n - 1) / np.maximum(n, 1), 0.0)
        mean_sq = np.where(n > 0, st.level_sum**2 / np.maximum(n, 1), 0.0)
    st.level_sum2 = within + mean_sq
    return st


def _trained_pd(pair: Pair) -> int | None:
    """The PD stride the pseudo-pairs' D-BSN was trained with (PAIRS/pseudo_pairs.json), None when unknown."""
    try:
        manifest = json.loads((sigma_path(pair).parent.parent / MANIFEST).read_text())
        return int(manifest["checkpoint"]["model_config"]["pd_train"])
    except (ValueError, OSError, KeyError, TypeError):
        return None


def resolve_target(target: str, pairs: Sequence[Pair]) -> tuple[str, str]:
    """The NLF target of noisy-only calibration (``residual`` or ``sigma``) and a sentence that says why.

    ``auto`` (module docstring): ``residual`` when every pair's D-BSN was trained with PD, ``sigma`` when every
    one was trained without, else (no manifest, mixed folders) ``residual``. Another target is returned as given.
    """
    if target != "auto":
        return target, f"NLF target: {target} (--noisy-target {target})"
    pds = {_trained_pd(p) for p in pairs}
    if None not in pds and min(pds) > 1:
        pd = "/".join(map(str, sorted(pds)))
        return "residual", (f"NLF target: noisy - pseudo-clean (the D-BSN was trained with PD {pd}: its noise maps "
                            "read high, its output is close; --noisy-target sigma to use the maps)")
    if pds == {1}:
        return "sigma", ("NLF target: the D-BSN's noise-level maps (it was trained without PD: its output keeps part "
                         "of the correlated noise; --noisy-target residual to use noisy - pseudo-clean)")
    said = "were made by D-BSNs trained with and without PD" if None not in pds else \
        f"do not say how their D-BSN was trained (no readable {MANIFEST})"
    return "residual", f"NLF target: noisy - pseudo-clean (the pseudo-pairs {said}; --noisy-target to choose)"
