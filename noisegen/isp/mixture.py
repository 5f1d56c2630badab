"""Profile mixtures: a profile that draws one member profile per image, and the built-in ``real-cameras``.

A mixture is a CameraProfile with ``members`` (noisegen.isp.camera_profile): sample_params draws the member
from its own named stream ("member" in noisegen.isp.sampling.STREAMS, uniform or by ``weights``), then that
member's parameters from the usual streams; the sample records the member's name as its ``camera``.

``real-cameras`` (package data ``real_cameras.json``, built by experiments/build_real_cameras.py) is the
profile for a user who cannot calibrate: one member per camera-ISO group of the real pairs of PolyU100 and
CC60, each fitted by `noisegen calibrate` on all of that group's pairs, with its provenance (source set,
camera, ISO, scene and pair counts, noisegen version, command) in the member's ``provenance``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources

import numpy as np

from noisegen.isp.camera_profile import CameraProfile

__all__ = ["REAL_CAMERAS", "REAL_CAMERAS_FILE", "mixture_profile", "draw_member", "load_real_cameras"]

REAL_CAMERAS = "real-cameras"
REAL_CAMERAS_FILE = "real_cameras.json"


def mixture_profile(name: str, members: Sequence[CameraProfile], weights: Sequence[float] = (),
                    description: str = "", provenance: dict | None = None) -> CameraProfile:
    """A mixture of ``members`` (each a non-mixture CameraProfile with a unique name)."""
    members = tuple(members)
    if not members:
        raise ValueError(f"mixture {name!r}: give at least one member profile")
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise ValueError(f"mixture {name!r}: member names must be unique (they are recorded as the sample's camera)")
    return CameraProfile(name=name, description=description or f"mixture of {len(members)} profiles",
                         members=members, weights=tuple(weights), provenance=provenance)


def draw_member(profile: CameraProfile, rng: np.random.Generator) -> CameraProfile:
    """One member of a mixture profile: uniform, or with probabilities ∝ ``profile.weights``."""
    if not profile.members:
        raise ValueError(f"profile {profile.name!r} is not a mixture (it has no members)")
    if profile.weights:
        w = np.asarray(profile.weights, dtype=np.float64)
        return profile.members[int(rng.choice(len(w), p=w / w.sum()))]
    return profile.members[int(rng.integers(len(profile.members)))]


def load_real_cameras() -> CameraProfile | None:
    """The built-in ``real-cameras`` mixture from the package data (None when the file is not shipped)."""
    path = resources.files("noisegen.isp") / REAL_CAMERAS_FILE
    if not path.is_file():
        return None
    return CameraProfile.from_dict(json.loads(path.read_text()), source=f"noisegen/isp/{REAL_CAMERAS_FILE}")
