"""The door of the camera command into noisegen: everything `noisegen-train camera` (trainer.camera) uses
from noisegen's calibration, generation and realism steps, and nothing else (tests/test_import_rules.py).

The trainer reads datasets and images through noisegen.dataset.reader and the camera model through its own
door; what it needs to turn a camera's photos into profiles and training data is here, so that those
packages can change behind it.
"""

from noisegen.analysis.realism.split import GroupSplit
from noisegen.camera.folder import MIN_IMAGES, CameraFolder, Photo, exif_camera_iso, scan_camera_folder
from noisegen.camera.scenes import THRESHOLD, check_content, overlap, thumbnail
from noisegen.camera.split import CameraSplit, shot, split_camera, split_from_dict
from noisegen.camera.steps import (
    BASELINE_FITS,
    QUICK_FIT,
    baseline_profiles,
    clean_photo_files,
    files_digest,
    fit_noisy_profiles,
    fit_profiles,
    fit_step,
    make_dataset,
    noise_levels,
    noisy_fit_step,
    pseudo_pairs_of,
    quick_fit,
    realism_scores,
    slug,
)

__all__ = ["GroupSplit", "MIN_IMAGES", "CameraFolder", "Photo", "exif_camera_iso", "scan_camera_folder", "THRESHOLD",
           "check_content", "overlap", "thumbnail", "CameraSplit", "shot", "split_camera", "split_from_dict",
           "BASELINE_FITS", "baseline_profiles", "QUICK_FIT", "clean_photo_files", "files_digest", "fit_profiles",
           "fit_noisy_profiles", "fit_step", "make_dataset", "noise_levels", "noisy_fit_step", "pseudo_pairs_of",
           "quick_fit", "realism_scores", "slug"]
