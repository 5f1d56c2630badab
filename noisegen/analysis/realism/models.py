"""The noise models that `noisegen realism` scores: two baselines fitted to calibration pairs, camera
profiles as they are, and profiles fitted per camera-ISO group by a named fitting step.

Baselines (docs/realism.md §Baselines): AWGN and the sRGB Gaussian var = a·x + b per channel, fitted as
noisegen.analysis.realism.baselines describes (re-exported here).

Fitted profiles: a fit step maps (calibration pairs of one group, camera, ISO, seed) to a CameraProfile.
Built in: ``calibrate`` (noisegen calibrate with its defaults, noisegen.analysis.calibrate.fit: model selection
among families by nested held-out AKLD, issue 18), ``calibrate-fast`` (the single camera model, `calibrate --fast`,
the default before issue 18), and with the single camera model as issue 11 measured them:
``calibrate-render`` (with ``reference="render"``), ``calibrate-camera`` (with the camera-model
additions of issue 11.2: in-camera noise reduction searched with the texture statistic, JPEG settings read
from JPEG files or 4:2:0 and 4:4:4 searched), and each addition alone (``calibrate-nr``, ``calibrate-jpeg``);
any other step is named as
``module:function`` with that signature (FitFn), so a new camera model is scored by the same command.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable, Sequence

from noisegen.analysis.calibrate.fit import NR_GRID, CalibrateConfig, calibrate
from noisegen.analysis.realism.baselines import (
    Q_VAR,
    NoiseModel,
    awgn_params,
    baseline_profile,
    code_variances,
    fit_awgn,
    fit_srgb_linear,
)
from noisegen.dataset.pairs import Pair
from noisegen.isp.profiles import CameraProfile

FitFn = Callable[[Sequence[Pair], str | None, int | None, int], CameraProfile]

__all__ = ["Q_VAR", "NoiseModel", "code_variances", "awgn_params", "fit_awgn", "fit_srgb_linear", "baseline_profile",
           "FitFn", "FIT_STEPS", "calibrate_fit", "resolve_fit", "profile_model"]


def profile_model(profile: CameraProfile, key: str, kind: str = "profile",
                  fitted_on: Sequence[str] = ()) -> NoiseModel:
    """A NoiseModel that draws each simulation's parameters from ``profile``."""
    return NoiseModel(key, kind, profile.description or profile.name, profile=profile, fitted_on=tuple(fitted_on))


def calibrate_fit(pairs: Sequence[Pair], camera: str | None, iso: int | None, seed: int,
                  reference: str = "source", **options) -> CameraProfile:
    """The ``calibrate`` fit step: noisegen calibrate on exactly ``pairs`` (default options, or CalibrateConfig
    ``options``)."""
    roots = tuple(sorted({os.path.dirname(p.noisy) for p in pairs}))
    config = CalibrateConfig(pairs=roots, camera=camera, iso=() if iso is None else (iso,), seed=seed,
                             reference=reference, **options)
    return calibrate(config, pairs=pairs).profile


# The camera-model additions of issue 11.2, together and one at a time (measured by experiments/realism_table.py):
# in-camera noise reduction searched with the texture statistic (NR), JPEG quality and subsampling read from
# JPEG files and 4:4:4 searched beside 4:2:0 otherwise (JPEG).
CAMERA_NR = {"nr": NR_GRID, "texture_weight": 1.0}
CAMERA_JPEG = {"jpeg_from_files": True, "subsampling": ("4:2:0", "4:4:4")}

FIT_STEPS: dict[str, FitFn] = {
    "calibrate": calibrate_fit,
    "calibrate-fast": functools.partial(calibrate_fit, fast=True),
    "calibrate-render": functools.partial(calibrate_fit, reference="render", fast=True),
    "calibrate-camera": functools.partial(calibrate_fit, **CAMERA_NR, **CAMERA_JPEG, fast=True),
    "calibrate-nr": functools.partial(calibrate_fit, **CAMERA_NR, fast=True),
    "calibrate-jpeg": functools.partial(calibrate_fit, **CAMERA_JPEG, fast=True),
}


def resolve_fit(spec: str) -> FitFn:
    """A fit step by name (FIT_STEPS) or ``module:function`` (a FitFn). Raises ValueError naming the choices."""
    if spec in FIT_STEPS:
        return FIT_STEPS[spec]
    module, colon, name = spec.partition(":")
    if not colon or not module or not name:
        raise ValueError(f"--fit {spec!r}: expected one of {', '.join(FIT_STEPS)} or module:function "
                         "(a function (pairs, camera, iso, seed) -> CameraProfile)")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"--fit {spec!r}: cannot import it ({type(exc).__name__}: {exc})") from None
    if not callable(fn):
        raise ValueError(f"--fit {spec!r}: {name} is not callable")
    return fn
