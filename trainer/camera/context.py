"""What a row of the camera command works with: the run's folders, split, profiles and clean photos, and
the resumable steps rows are made of (generate a dataset, train SN, train on real pairs, evaluate).

Every step writes where the run folder says and is reused when complete: a dataset when `generate`
finds it complete (its own resume), a training run when its last.pt has reached the steps (else it
continues from last.pt, which gives the weights of an uninterrupted run on CPU), an evaluation when its
JSON names the checkpoint's sha256. So a killed command, run again, redoes only the step it was in.

Run folder layout (RUN = CameraConfig.out):

    pairs/calib, pairs/test, pairs/calib-k<K>   the split's real pairs (links, or lossless centre crops)
    profiles/<group>.json                      per camera-ISO group, with <group>.fit.json (fitted on what)
    data/<name>/                               generated datasets (`noisegen generate` folders)
    runs/<row>/                                training runs (`noisegen-train sn` / `tf` run folders)
    evals/<row>.json                           held-out evaluation of a row's checkpoint
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from noisegen.atomic import atomic_write_bytes
from noisegen.camera.api import CameraFolder, CameraSplit, baseline_profiles, make_dataset
from noisegen.command import cpu_count
from noisegen.dataset.reader import centre_crop, read_rgb8, write_png
from trainer.camera.config import CameraConfig, Scale
from trainer.engine.checkpoint import load_checkpoint, save_checkpoint
from trainer.infer.evaluate import EvalConfig, evaluate_checkpoint
from trainer.models.aindnet import AINDNet
from trainer.models.config import MODEL_CONFIGS
from trainer.stages.sn import train
from trainer.stages.sn_config import TrainConfig
from trainer.stages.tf import transfer
from trainer.stages.tf_config import TFConfig

__all__ = ["RunContext", "sha256_file", "made_from", "k_pairs", "link_pairs", "link_or_crop"]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def made_from(folder: Path, stamp: str, sha: str, *dependents: Path) -> None:
    """Keep ``folder`` when its file ``stamp`` records ``sha`` (what its contents were made from); else empty it,
    remove ``dependents`` (what was made from its contents) and record ``sha``."""
    if (folder / stamp).is_file() and (folder / stamp).read_text() == sha:
        return
    for old in (folder, *dependents):
        shutil.rmtree(old, ignore_errors=True)
    folder.mkdir(parents=True)
    atomic_write_bytes(folder / stamp, sha.encode())


def link_pairs(pairs: Sequence, folder: Path, crop: int | None = None) -> Path:
    """A pairs folder (noisy/, gt/) for ``pairs``, the source file names kept (so that names parse as in the
    source): symlinks, or with ``crop`` lossless PNG centre crops. Existing entries are kept."""
    for p in pairs:
        for role, src in (("noisy", Path(p.noisy)), ("gt", Path(p.clean))):
            link_or_crop(src, folder / role, crop)
    return folder


def link_or_crop(src: Path, folder: Path, crop: int | None = None) -> Path:
    """``src`` in ``folder``: a symlink with its name, or with ``crop`` its lossless PNG centre crop named
    <stem>.png; an existing entry is kept. Returns the entry's path."""
    dst = folder / (src.name if crop is None else src.stem + ".png")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not (dst.exists() or dst.is_symlink()):
        if crop is None:
            dst.symlink_to(src.resolve())
        else:
            write_png(dst, centre_crop(read_rgb8(src)[0], crop))
    return dst


def k_pairs(split: CameraSplit, k: int) -> list:
    """K calibration pairs spread over the groups: round robin, each group's pairs in id order."""
    lists, out = [list(g.calib) for g in split.groups], []
    while len(out) < k and any(lists):
        for lst in lists:
            if lst and len(out) < k:
                out.append(lst.pop(0))
    return out


@dataclass
class RunContext:
    """One camera run in progress (module docstring). ``shared``: where camera-independent data and runs
    go (the `cbdnet` dataset and row (b); default RUN); command: the command that started the run;
    ``checkpoints``: row key → checkpoint, in row order."""

    config: CameraConfig
    scale: Scale
    out: Path
    folder: CameraFolder
    split: CameraSplit
    clean_files: list[str]
    say: Callable[[str], None]
    shared: Path
    command: str = ""
    pairs: dict[str, Path] = field(default_factory=dict)
    profiles: list[tuple[str, Path]] = field(default_factory=list)
    checkpoints: dict[str, Path] = field(default_factory=dict)

    @property
    def has_pairs(self) -> bool:
        return bool(self.split.groups)

    @property
    def has_photos(self) -> bool:
        return bool(self.split.photos)

    @property
    def workers(self) -> int:
        """`generate` processes: CameraConfig.workers (None: 1), at most the CPU count. (The SN rows' loader
        workers are CameraConfig.workers as given: None lets the engine choose, 4 on CUDA, 1 on CPU.)"""
        return min(1 if self.config.workers is None else self.config.workers, cpu_count())

    def patches_per_image(self, share: int) -> int:
        """Patches per clean photo of a dataset that ``share`` datasets split (Scale.patches_per_image)."""
        total = max(self.scale.patches_per_image, math.ceil(self.scale.min_patches / len(self.clean_files)))
        return max(1, total // share)

    def dataset(self, name: str, profile: str | Path, clean_target: str, *, seed: int, share: int = 1,
                shared: bool = False) -> Path:
        """`generate` of ``profile`` on the clean photos into data/<name> (RUN, or the shared folder)."""
        out = (self.shared if shared else self.out) / "data" / name
        return make_dataset(out, profile, self.config.clean, clean_target=clean_target, patch=self.scale.gen_patch,
                            patches_per_image=self.patches_per_image(share), seed=seed,
                            max_images=self.scale.max_images, workers=max(1, self.workers),
                            progress=self.config.progress, echo=self.say)

    def group_datasets(self, clean_target: str, profiles: Sequence[tuple[str, Path]] | None = None,
                       tag: str | None = None) -> list[Path]:
        """One dataset per camera-ISO group's profile (seed + group index), the groups sharing the patches, in
        data/<tag or clean_target>/<group>. ``profiles``: (slug, file) per group; None: the calibrated ones."""
        profiles = self.profiles if profiles is None else profiles
        n = len(profiles)
        return [self.dataset(f"{tag or clean_target}/{slug}", path, clean_target, seed=self.config.seed + i, share=n)
                for i, (slug, path) in enumerate(profiles)]

    def baselines(self, kind: str) -> list[tuple[str, Path]]:
        """The baseline ``kind`` fitted per group on its calibration pairs (RUN/profiles/baselines/)."""
        return baseline_profiles(self.split.groups, kind, self.out / "profiles" / "baselines", echo=self.say)

    def done(self, run: Path, steps: int) -> bool:
        """Whether the training run folder ``run`` has a last.pt that has reached ``steps``."""
        return (run / "last.pt").exists() and load_checkpoint(run / "last.pt")["step"] >= steps

    def train_fields(self, run: Path, datasets: Sequence[Path], seed: int | None = None) -> dict:
        """TrainConfig's fields of an SN row at the run's scale on ``datasets`` into ``run``; ``seed``: the
        training seed (initial weights, batch order; None: CameraConfig.seed). Stages built on SN's
        configuration (the `da` stage's DAConfig) take the same fields, so their rows train at the same scale."""
        s = self.scale
        return dict(data=tuple(map(str, datasets)), out=str(run), model=s.model, steps=s.steps, batch=s.batch,
                    patch=s.patch, lr=s.lr, device=self.config.device, workers=self.config.workers,
                    threads=self.config.threads, seed=self.config.seed if seed is None else seed,
                    log_every=max(1, min(50, s.steps // 4)), ckpt_every=s.ckpt_every, progress=self.config.progress)

    def train_sn(self, name: str, datasets: Sequence[Path], *, shared: bool = False, seed: int | None = None) -> Path:
        """SN stage on ``datasets`` into runs/<name>; resumed from its last.pt. ``seed``: as train_fields."""
        run = (self.shared if shared else self.out) / "runs" / name
        s = self.scale
        if not self.done(run, s.steps):
            t = time.perf_counter()
            self.say(f"row {name}: SN, {s.steps} steps of batch {s.batch} at {s.patch}²")
            r = train(TrainConfig(**self.train_fields(run, datasets, seed)), resume=True, echo=lambda m: None)
            self.say(f"row {name}: {r.step} steps in {time.perf_counter() - t:.0f} s, final loss {r.loss:.4f}")
        return run / "last.pt"

    def train_real(self, name: str, init: Path, data: Path, mode: str, steps: int) -> Path:
        """The TF stage in ``mode`` (tf, r, ...) from ``init`` on the real pairs ``data`` into runs/<name>."""
        run = self.out / "runs" / name
        s = self.scale
        if not self.done(run, steps):
            t = time.perf_counter()
            self.say(f"row {name}: {mode}, {steps} steps on the real pairs of {data.name}")
            transfer(TFConfig(init=str(init), data=str(data), out=str(run), mode=mode, steps=steps, batch=s.batch,
                              patch=s.patch, lr=s.lr, device=self.config.device, threads=self.config.threads,
                              seed=self.config.seed, ckpt_every=s.ckpt_every, val_every=steps,
                              progress=self.config.progress), resume=True, echo=lambda m: None)
            self.say(f"row {name}: {steps} steps in {time.perf_counter() - t:.0f} s")
        return run / "last.pt"

    def fresh_init(self) -> Path:
        """A freshly initialised checkpoint of the scale's model: mode r takes its configuration and re-draws
        the weights from the seed."""
        path = self.out / "runs" / f"init-{self.scale.model}.pt"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.manual_seed(self.config.seed)
            model = AINDNet(MODEL_CONFIGS[self.scale.model]())
            opt = torch.optim.Adam(model.parameters())
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
            save_checkpoint(path, model=model, optimizer=opt, scheduler=sched, step=0,
                            train_config={"model": self.scale.model}, model_config=model.config.to_dict(), data=[])
        return path

    def evaluate(self, row: str, ckpt: Path) -> dict:
        """PSNR/SSIM of ``ckpt`` on the held-out pairs (evals/<row>.json, reused while it names the same
        checkpoint bytes): {"checkpoint_sha256", "overall", "images": [{id, psnr, psnr_noisy, ssim, ...}]}."""
        cache = self.out / "evals" / f"{row}.json"
        sha = sha256_file(ckpt)
        if cache.exists():
            saved = json.loads(cache.read_text())
            if saved.get("checkpoint_sha256") == sha:
                return saved
        s = self.scale
        r = evaluate_checkpoint(EvalConfig(checkpoint=str(ckpt), pairs=(str(self.pairs["test"]),), tile=s.eval_tile,
                                           tile_stats=s.eval_tile_stats, device=self.config.device,
                                           threads=self.config.threads, progress=self.config.progress),
                                echo=lambda m: None)
        keep = ("id", "psnr", "ssim", "psnr_noisy", "ssim_noisy")
        cache.parent.mkdir(parents=True, exist_ok=True)
        res = {"checkpoint_sha256": sha, "step": r["checkpoint"]["step"], "overall": r["overall"],
               "images": [{k: i[k] for k in keep} for i in r["images"]], "skipped": r["skipped"]}
        atomic_write_bytes(cache, (json.dumps(res, indent=1, sort_keys=True) + "\n").encode())
        return res
