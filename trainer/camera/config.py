"""Configuration of `noisegen-train camera`: the scale presets and the command's frozen dataclass.

Presets (``--scale``), one network, one number of steps and the same held-out images for every row:

- ``quick``: toy scale for CI and a first look (seconds on a small folder): the ``small`` AINDNet, 8 steps
  of batch 2 at 32², 64² generated patches from 3 photos, the quick calibration (noisegen.camera.steps.quick_fit),
  128² centre crops of the real pairs, the first group and 2 images per part of it, 1 realism draw on 64².
- ``cpu``: the camera loop's measured setting (benchmarks/RESULTS.md, issue 11.3): ``small`` AINDNet
  (290K parameters), 500 steps of batch 8 at 64² for every trained row, Adam lr 1e-3, 80² patches (16 per
  photo, shared among the camera-ISO groups; at least 1,472 in all), `noisegen calibrate` per group, K = 4
  TF pairs, held-out pairs scored on their 256² centre crops in 64² tiles with each tile's own AIN
  statistics (the nets learnt their statistics on 64² crops), 2 realism draws. 500 steps take 4-5 min per
  row with 1 thread on 2 shared cores.
- ``gpu``: the paper's scale (Kim et al., CVPR 2020; docs/design.md §Scale): the ``paper`` AINDNet (13.7M), 256²
  patches of batch 16, Adam lr 1e-4 with the SN stage's cosine schedule, 300k SN steps (TrainConfig's
  default), TF 2000 steps (TFConfig's default), whole held-out images with whole-image statistics,
  8 realism draws on 512² centre crops (`noisegen realism` draws 8; whole 24-megapixel images would cost
  minutes per draw on the CPU).

``steps``, ``test_crop`` and ``k`` replace the preset's values. Content fields (everything but the
execution fields ``out``, ``device``, ``threads``, ``workers``, ``progress``) decide the results; a run
folder remembers them (RUN/camera.json) and refuses to continue with others.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from trainer.engine.run_config import DEVICES, check_int, model_multiple

__all__ = ["Scale", "SCALES", "SCALE_NAMES", "CameraConfig", "EXECUTION_FIELDS"]


@dataclass(frozen=True)
class Scale:
    """Sizes of one preset (module docstring).

    model: trainer.models.config name. steps: SN rows and row (e); tf_steps: row (f). batch, patch, lr: of
    every trained row. gen_patch: generated patch side; patches_per_image: per clean photo and dataset,
    shared among the camera-ISO groups; min_patches: at least this many per dataset (more patches per
    photo when there are few photos); max_images: clean photos used (None: all). crop: centre crops of
    the real pairs the rows train on (None: whole images); test_crop: of the held-out images (None: whole).
    eval_tile: tile side of the evaluation (None: whole images); eval_tile_stats: each tile its own AIN
    statistics. k: real pairs of row (f). max_groups, max_items: first groups, first images per part of a
    group. draws: realism draws per test pair; realism_crop: centre crop scored (None: whole). fit: the
    profile fit step. ckpt_every: checkpoint period (what a kill can lose). crop_side: before/after crops.
    """

    name: str
    model: str
    steps: int
    tf_steps: int
    batch: int
    patch: int
    lr: float
    gen_patch: int
    patches_per_image: int
    min_patches: int
    max_images: int | None
    crop: int | None
    test_crop: int | None
    eval_tile: int | None
    eval_tile_stats: bool
    k: int
    max_groups: int | None
    max_items: int | None
    draws: int
    realism_crop: int | None
    fit: str
    ckpt_every: int
    crop_side: int


SCALES: dict[str, Scale] = {
    "quick": Scale("quick", "small", steps=8, tf_steps=8, batch=2, patch=32, lr=1e-3, gen_patch=64, patches_per_image=2,
                   min_patches=6, max_images=3, crop=128, test_crop=128, eval_tile=64, eval_tile_stats=True, k=1,
                   max_groups=1, max_items=2, draws=1, realism_crop=64, fit="quick", ckpt_every=4, crop_side=64),
    "cpu": Scale("cpu", "small", steps=500, tf_steps=500, batch=8, patch=64, lr=1e-3, gen_patch=80,
                 patches_per_image=16, min_patches=1472, max_images=None, crop=None, test_crop=256, eval_tile=64,
                 eval_tile_stats=True, k=4, max_groups=None, max_items=None, draws=2, realism_crop=256,
                 fit="calibrate", ckpt_every=100, crop_side=128),
    "gpu": Scale("gpu", "paper", steps=300_000, tf_steps=2000, batch=16, patch=256, lr=1e-4, gen_patch=256,
                 patches_per_image=16, min_patches=20_000, max_images=None, crop=None, test_crop=None,
                 eval_tile=None, eval_tile_stats=False, k=4, max_groups=None, max_items=None, draws=8,
                 realism_crop=512, fit="calibrate", ckpt_every=5000, crop_side=256),
}
SCALE_NAMES = ("auto", *SCALES)
EXECUTION_FIELDS = ("out", "device", "threads", "workers", "progress")


@dataclass(frozen=True)
class CameraConfig:
    """One run of `noisegen-train camera`.

    folder: the camera's photos: real pairs (the layouts `eval` reads), noisy-only photos, or both.
    out: the run folder. scale: "quick", "cpu", "gpu" or "auto" (gpu when CUDA is available, else cpu).
    test: folders of pairs tested whole, calibrated on the folder's pairs of the same camera and ISO
    (empty: hold out half the scenes of each camera-ISO group). clean: clean photos for generate (empty:
    the embedded photos). camera: keep this camera's images (substring); images whose EXIF and name carry
    no camera are taken to be its. iso: the ISO of images whose EXIF and name carry none. group_regex: naming
    rule (noisegen.dataset.pairs). fit: profile fit step (None: the scale's). steps, test_crop (0: whole
    images), k: replace the scale's. seed: split, data and weights. dbsn: add the D-BSN rows (g), (h), (i)
    (trainer.camera.rows_dbsn: learnt from the noisy images alone; recorded in camera.json only when on, so
    that runs made before the option continue).
    Execution: device ("auto", "cpu", "cuda"), threads (torch threads; None: the engine's default), workers
    (loader and generate processes; None: 1), progress (bars and step lines).
    """

    folder: str
    out: str
    scale: str = "auto"
    test: tuple[str, ...] = ()
    clean: tuple[str, ...] = ()
    camera: str | None = None
    iso: int | None = None
    group_regex: str | None = None
    fit: str | None = None
    steps: int | None = None
    test_crop: int | None = None
    k: int | None = None
    seed: int = 0
    dbsn: bool = False
    device: str = "auto"
    threads: int | None = None
    workers: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        put = object.__setattr__
        for name in ("test", "clean"):
            v = getattr(self, name)
            put(self, name, (str(v),) if isinstance(v, str) else tuple(str(x) for x in v))
        if self.scale not in SCALE_NAMES:
            raise ValueError(f"scale: expected one of {', '.join(SCALE_NAMES)}, got {self.scale!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device: expected one of {', '.join(DEVICES)}, got {self.device!r}")
        check_int("CameraConfig", "seed", self.seed, 0)
        if not isinstance(self.dbsn, bool):
            raise ValueError(f"dbsn: expected True or False, got {self.dbsn!r}")
        for name, lo in (("steps", 1), ("k", 1), ("threads", 1), ("workers", 0), ("iso", 1), ("test_crop", 0)):
            check_int("CameraConfig", name, getattr(self, name), lo, optional=True)
        if self.test_crop is not None and 0 < self.test_crop < 16:
            raise ValueError(f"test_crop: expected 0 (whole images) or at least 16 pixels, got {self.test_crop}")

    def resolved_scale(self, cuda: bool) -> Scale:
        """The preset with this config's replacements (``cuda``: whether CUDA is available, for "auto")."""
        name = self.scale if self.scale != "auto" else ("gpu" if cuda else "cpu")
        s = SCALES[name]
        crop = s.test_crop if self.test_crop is None else (self.test_crop or None)
        s = dataclasses.replace(s, steps=self.steps or s.steps, tf_steps=self.steps or s.tf_steps, k=self.k or s.k,
                                test_crop=crop, realism_crop=s.realism_crop if self.test_crop is None else crop,
                                fit=self.fit or s.fit)
        if s.patch % model_multiple(s.model):
            raise ValueError(f"scale {name}: patch {s.patch} is not a multiple of the {s.model} model's")
        return s

    def content(self, scale: Scale) -> dict:
        """What decides the results (recorded in RUN/camera.json): the content fields and the resolved scale."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in EXECUTION_FIELDS}
        d["folder"] = os.path.abspath(self.folder)
        d["test"], d["clean"] = [os.path.abspath(p) for p in self.test], [os.path.abspath(p) for p in self.clean]
        if not self.dbsn:
            del d["dbsn"]  # runs made before the option had no such field
        return {**d, "scale": dataclasses.asdict(scale)}
