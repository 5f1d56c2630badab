"""noisegen: realistic synthetic camera noise for denoising research.

Public API (DESIGN.md §8):

    import noisegen as ng
    prof = ng.get_profile("cbdnet")            # or ng.load_profile("my.json")
    params = ng.sample_params(prof, rng)       # rng: np.random.Generator
    s = ng.synthesize(clean_u8, params, seed=0)  # .clean, .noisy, .sigma_raw, .params
"""

__version__ = "0.1.0"

from noisegen.dataset import open_dataset
from noisegen.params import SampleParams
from noisegen.pipeline import Synthesis, synthesize
from noisegen.profiles import (
    BUILTIN_PROFILES,
    CameraProfile,
    fix,
    get_profile,
    load_profile,
    resolve_profile,
    save_profile,
)
from noisegen.sampling import sample_params

__all__ = [
    "__version__",
    "SampleParams",
    "CameraProfile",
    "BUILTIN_PROFILES",
    "Synthesis",
    "synthesize",
    "sample_params",
    "get_profile",
    "load_profile",
    "save_profile",
    "resolve_profile",
    "fix",
    "open_dataset",
]
