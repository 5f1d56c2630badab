"""The camera model's public door: what code outside noisegen.isp (the trainer) may use of it.

    from noisegen.isp.api import CameraProfile, resolve_profile, sample_params, synthesize
    profile = resolve_profile("cbdnet")                  # a built-in name, a profile .json, or a CameraProfile
    params = sample_params(profile, np.random.default_rng([seed, i, 1]))   # a frozen SampleParams
    s = synthesize(clean_u8, params, seed=[seed, i, 2])  # .clean, .noisy uint8 H×W×3, .sigma_raw float32 H×W×3

Names:
    CameraProfile, BUILTIN_PROFILES, get_profile, load_profile, resolve_profile   the camera profiles
                        (CameraProfile.from_dict reads one recorded as a dict, e.g. in a dataset.json)
    SampleParams        one sample's parameters (exact JSON round trip)
    sample_params       drawing a sample's parameters from a profile with a numpy Generator
    Synthesis, synthesize   the whole camera on one uint8 image, seeded

The modules behind the door (noisegen.isp.profiles, .params, .sampling, .pipeline) may be reorganised;
these names stay. tests/test_import_rules.py checks that the trainer imports noisegen.isp only through
here. Importing this module imports the pipeline and so numba.
"""

from __future__ import annotations

from noisegen.isp.camera_profile import CameraProfile
from noisegen.isp.params import SampleParams
from noisegen.isp.pipeline import Synthesis, synthesize
from noisegen.isp.profiles import BUILTIN_PROFILES, get_profile, load_profile, resolve_profile
from noisegen.isp.sampling import sample_params

__all__ = ["CameraProfile", "BUILTIN_PROFILES", "get_profile", "load_profile", "resolve_profile", "SampleParams",
           "sample_params", "Synthesis", "synthesize"]

