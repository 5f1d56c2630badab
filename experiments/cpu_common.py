"""Pieces shared by the CPU experiments: the data folder, a small synthetic training set from
CBSD68 and a tiny-model SN run (the settings of experiments/sn_cpu.py)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import noisegen as ng
from noisegen.dataset.generate import GenerateConfig, generate
from trainer.stages.sn import train
from trainer.stages.sn_config import TrainConfig

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def require_data(*names: str) -> bool:
    """True when every ``../shared/data/NAME`` folder exists; otherwise say which is missing (stderr)."""
    missing = [n for n in names if not (DATA / n).is_dir()]
    for n in missing:
        print(f"missing {DATA / n}: this experiment needs ../shared/data (docs/design.md §Data)", file=sys.stderr)
    return not missing


def cbsd68_dataset(out: Path, profile: str, *, say=print) -> Path:
    """``noisegen generate`` on CBSD68 with ``profile``: 24 random 80×80 patches per photo (1,632), seed 0.

    Reused when ``out/dataset.json`` exists."""
    if not (out / "dataset.json").exists():
        t = time.perf_counter()
        s = generate(GenerateConfig(out=str(out), images=(str(DATA / "CBSD68"),), profile=ng.get_profile(profile),
                                    patch=80, patches_per_image=24, samples_per_shard=64, seed=0),
                     progress=False, echo=lambda m: None)
        say(f"{profile}: {s.samples} training patches in {s.shards} shards, {time.perf_counter() - t:.0f} s")
    return out


def train_tiny_sn(dataset: Path, run: Path, *, steps: int, threads: int, say=print) -> Path:
    """SN stage of the tiny AINDNet on ``dataset``; returns the run's last.pt (resumes an interrupted run).

    Batch 8 of 64×64 random crops, Adam lr 1e-3 with cosine decay (a higher lr than the paper model's
    default suits this small network and short schedule), 1 loader worker; validation on 4 Kodak24
    crops with cbdnet noise every steps/5.
    """
    cfg = TrainConfig(data=(str(dataset),), out=str(run), model="tiny", steps=steps, batch=8, patch=64, lr=1e-3,
                      device="cpu", workers=1, threads=threads, seed=0, log_every=50,
                      val=(str(DATA / "Kodak24"),), val_profile="cbdnet", val_every=max(100, steps // 5),
                      val_max_images=4, val_crop=256, ckpt_every=steps, progress=False)
    t = time.perf_counter()
    r = train(cfg, resume=True, echo=lambda m: None)
    say(f"SN {run.name}: {r.step} steps in {time.perf_counter() - t:.0f} s, final loss {r.loss:.4f}")
    return run / "last.pt"
