"""noisegen: realistic synthetic camera noise for denoising research.

Public API (docs/design.md §Public API):

    import noisegen as ng
    prof = ng.get_profile("cbdnet")            # or ng.load_profile("my.json")
    params = ng.sample_params(prof, rng)       # rng: np.random.Generator
    s = ng.synthesize(clean_u8, params, seed=0)  # .clean, .noisy, .sigma_raw, .params
    ds = ng.open_dataset("out/")               # decoded samples of a dataset
    DataLoader(ng.open_dataset("out/").compose(ng.to_torch), batch_size=8, num_workers=2)  # tensors
    wds.WebDataset(urls).decode(*ng.wds_decoders("rgb8"))  # plain webdataset, σ exact, in the images' layout

The names are resolved on first use (PEP 562), so ``import noisegen`` stays cheap and importing
one subpackage (e.g. the dataset reader, which must not pull in numba) does not import the others.

Modules:
    isp/           the camera model: parameters, profiles, each ISP step, the pipeline
    crf/           camera response curve banks
    kernels/       numba kernels (pure array functions, no I/O)
    dataset/       the dataset format, its writer and its only reader, generation
    analysis/      noise statistics, calibration against real pairs, realism scores
    camera/        the data half of `noisegen-train camera`: a camera's folder, split by shot, profiles, data
    cli/           the ``noisegen`` command
    atomic         atomic files (temporary name, fsync, rename)
    checks         up-front validation of images and parameters
    command        argparse value types and run_command (one-line errors, exit codes)
    dataclass_json frozen dataclass ↔ JSON-able dict, unknown keys as errors
    files          regular files only: FIFOs, devices, sockets and folders refused at once
    runlock        one live run per folder (flock), told from an interrupted one
    version        the package version
"""

from __future__ import annotations

import importlib
from typing import Any

from noisegen.version import __version__

# public name -> module that defines it
_API = {
    "SampleParams": "noisegen.isp.params",
    "Synthesis": "noisegen.isp.pipeline",
    "synthesize": "noisegen.isp.pipeline",
    "sample_params": "noisegen.isp.sampling",
    "BUILTIN_PROFILES": "noisegen.isp.profiles",
    "CameraProfile": "noisegen.isp.profiles",
    "fix": "noisegen.isp.profiles",
    "get_profile": "noisegen.isp.profiles",
    "load_profile": "noisegen.isp.profiles",
    "resolve_profile": "noisegen.isp.profiles",
    "save_profile": "noisegen.isp.profiles",
    "open_dataset": "noisegen.dataset.reader",
    "to_torch": "noisegen.dataset.reader",
    "wds_decoders": "noisegen.dataset.reader",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'noisegen' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
