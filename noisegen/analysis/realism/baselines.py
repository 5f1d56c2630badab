"""The two baselines of `noisegen realism` (docs/realism.md §Baselines) and the NoiseModel type they share with
fitted profiles, fitted to calibration statistics; both sRGB Gaussians added to the clean image and rounded to 8
bits, expressed as noisegen SampleParams with the identity curve and no mosaic, so that noisegen.isp.pipeline
simulates them like any other camera (variance L·σ_s² + σ_c² with L = x, the clean intensity in [0, 1]):

- ``awgn``: one std for all intensities and channels: σ² = the pooled within-code residual variance
  of the calibration pairs over all unclipped codes and channels (the NLF's pooling,
  noisegen.analysis.nlf), minus the 8-bit rounding variance Δ²/12 that the simulation adds back.
- ``srgb_ax_b``: per channel var(x) = a·x + b: non-negative least squares over the clean codes, each
  code's within-code variance weighted by its degrees of freedom n − 1 (the pooling of the AWGN fit;
  codes with ≥ ``min_count`` pixels and at most ``max_clip`` of them clipped), then b − Δ²/12 (not
  below 0). σ_s = √a, σ_c = √b.

``baseline_profile`` turns either into a CameraProfile (for `noisegen generate`). Kept apart from
noisegen.analysis.realism.models so that calibrate's model selection (noisegen.analysis.calibrate.candidates), which
uses them as candidates, does not import the fit steps that call calibrate.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

from noisegen.analysis.nlf import NoiseStats
from noisegen.isp.params import SampleParams
from noisegen.isp.profiles import CameraProfile
from noisegen.isp.sampling import sample_params

__all__ = ["Q_VAR", "NoiseModel", "code_variances", "awgn_params", "fit_awgn", "fit_srgb_linear", "baseline_profile"]

Q_VAR = (1.0 / 255.0) ** 2 / 12.0   # variance of rounding to 8 bits (Sheppard's correction), [0, 1]² units


@dataclass(frozen=True)
class NoiseModel:
    """One scored noise model.

    key: unique short name (table column); kind: "baseline", "profile" (scored as given) or "fitted"
    (fitted by the command on the calibration split); description: one line for humans; exactly one of
    ``params`` (fixed SampleParams, the baselines) and ``profile`` (a CameraProfile drawn from per
    draw); fitted_on: ids of the pairs it was fitted on (() for built-in profiles); fit: the fitted
    numbers (JSON-able) of baselines.
    """

    key: str
    kind: str
    description: str
    params: SampleParams | None = None
    profile: CameraProfile | None = None
    fitted_on: tuple[str, ...] = ()
    fit: dict = dataclasses.field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if (self.params is None) == (self.profile is None):
            raise ValueError(f"noise model {self.key!r}: give exactly one of params and profile")

    def draw(self, rng: np.random.Generator) -> SampleParams:
        """The SampleParams of one simulated draw (fixed for baselines; drawn from the profile otherwise)."""
        return self.params if self.params is not None else sample_params(self.profile, rng)

    def to_dict(self) -> dict:
        return {"key": self.key, "kind": self.kind, "description": self.description, "fit": self.fit,
                "params": None if self.params is None else self.params.to_dict(),
                "profile": None if self.profile is None else self.profile.to_dict(),
                "fitted_on": list(self.fitted_on)}


def code_variances(st: NoiseStats, min_count: int = 2, max_clip: float = 0.01) -> tuple[np.ndarray, ...]:
    """Per channel and clean code: (x = code/255, within-code residual variance, pixel count, usable mask).

    All (3, 256), variances in [0, 1]² units; usable = at least ``min_count`` pixels (≥ 2), at most
    ``max_clip`` of them clipped, and not the codes 0 and 255.
    """
    n = st.level_n.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        within = st.level_sum2 - np.where(n > 0, st.level_sum**2 / np.maximum(n, 1), 0.0)
        var = np.where(n > 1, np.maximum(within, 0.0) / np.maximum(n - 1, 1), np.nan)
    codes = np.broadcast_to(np.arange(256) / 255.0, n.shape)
    ok = (n >= max(min_count, 2)) & (st.level_clip <= max_clip * n) & (codes > 0) & (codes < 1)
    return codes, var, n, ok


def awgn_params(sigma: float) -> SampleParams:
    """AWGN of std ``sigma`` ([0, 1] units) on the sRGB image, rounded to 8 bits and clipped."""
    return SampleParams(camera="awgn", crf="linear", sigma_s=(0.0,) * 3, sigma_c=(sigma,) * 3, pattern=None)


def fit_awgn(st: NoiseStats, max_clip: float = 0.01) -> NoiseModel:
    """The AWGN baseline fitted to calibration statistics (see the module docstring)."""
    _, var, n, ok = code_variances(st, 2, max_clip)
    dof = np.where(ok, n - 1, 0).sum()
    if dof <= 0:
        raise ValueError("AWGN fit: no unclipped clean code with 2 or more pixels in the calibration pairs")
    v = float(np.where(ok, var * (n - 1), 0).sum() / dof)
    sigma = math.sqrt(max(v - Q_VAR, 0.0))
    return NoiseModel("AWGN", "baseline", f"AWGN σ = {sigma * 255:.2f}/255, one std for all channels",
                      params=awgn_params(sigma), fit={"sigma": sigma, "sigma_8bit": sigma * 255})


def fit_srgb_linear(st: NoiseStats, min_count: int = 2, max_clip: float = 0.01) -> NoiseModel:
    """The heteroscedastic sRGB Gaussian baseline var = a·x + b per channel (see the module docstring)."""
    x, var, n, ok = code_variances(st, min_count, max_clip)
    a, b = np.zeros(3), np.zeros(3)
    for c in range(3):
        m = ok[c]
        if m.sum() < 2:
            raise ValueError(f"sRGB a·x+b fit: channel {'RGB'[c]} has fewer than 2 usable clean codes "
                             f"(≥ {min_count} pixels, ≤ {max_clip:.0%} clipped) in the calibration pairs")
        w = np.sqrt(n[c][m] - 1)
        (a[c], b[c]), _ = nnls(np.stack([x[c][m], np.ones(m.sum())], axis=1) * w[:, None], var[c][m] * w)
    b = np.maximum(b - Q_VAR, 0.0)
    params = SampleParams(camera="srgb_ax_b", crf="linear", sigma_s=tuple(np.sqrt(a)), sigma_c=tuple(np.sqrt(b)),
                          pattern=None)
    desc = "sRGB Gaussian var = a·x + b per channel, 8-bit levels² at x = 0.5: " + "/".join(
        f"{(a[c] * 0.5 + b[c]) * 255**2:.1f}" for c in range(3))
    return NoiseModel("sRGB a·x+b", "baseline", desc, params=params,
                      fit={"a": a.tolist(), "b": b.tolist(), "units": "[0,1]² per unit intensity (a), [0,1]² (b)"})


def baseline_profile(model: NoiseModel, name: str | None = None) -> CameraProfile:
    """A CameraProfile whose every sample has a baseline's parameters (linear curve, no mosaic, no JPEG, the
    fitted per-channel σ_s and σ_c), for `noisegen generate` (e.g. the camera loop's rows (b1) and (b2)).

    σ_s of channel c is max σ_s × channel_scale_c and σ_c is max σ_c × read_scale_c (equal to the fit up to
    float rounding; a channel without shot noise keeps a factor of 1e-9 because channel_scale must be > 0).
    """
    p = model.params
    if p is None or p.crf != "linear" or p.pattern is not None or p.jpeg_quality is not None:
        raise ValueError(f"baseline_profile: {model.key!r} is not an sRGB Gaussian baseline with fixed parameters")
    top_s, top_c = max(p.sigma_s), max(p.sigma_c)
    scale = tuple(max(v / top_s, 1e-9) for v in p.sigma_s) if top_s > 0 else (1.0, 1.0, 1.0)
    read = tuple(v / top_c for v in p.sigma_c) if top_c > 0 else (1.0, 1.0, 1.0)
    return CameraProfile(name=name or p.camera, description=model.description, crf_curves=("linear",),
                         patterns=(None,), per_channel=False, sigma_s=(top_s, top_s), sigma_c=(top_c, top_c),
                         channel_scale=scale, read_scale=read)
