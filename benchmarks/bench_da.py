"""Cost of a `da` training step against an SN step on the same model, batch and patch (issue 20: ≤ 2×).

    python benchmarks/bench_da.py                                   # CPU: small model, batch 8 of 64², 1 thread
    python benchmarks/bench_da.py --model paper --batch 16 --patch 256 --device cuda --amp bf16

Both stages are built as the engine builds them (trainer.stages.sn.SNStage, trainer.stages.da.DAStage)
on a dataset generated in a temporary folder (cbdnet profile, the bundled photos or --data) and a
folder of noisy "real" photos made from the same photos. A few batches are drawn first (for `da`,
at steps where α > 0, so that the diffusion branch runs); then each measured step is forward +
loss + backward + gradient clipping + Adam on those batches, as the engine's step, with a device
sync at the end. Rows: SN; DA with its defaults (da_batch = batch/2, contrastive term on); DA
without the contrastive term; DA with da_batch = batch (the released code's pairing of every
synthetic sample with a real one). The rows are measured in turns, --rounds times, so that load
from other work on a shared machine falls on every row alike; printed: the median over the rounds
of each row's mean ms/step and its ratio to SN's median, and the same for the fastest round (the
least disturbed figure on a busy machine).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from noisegen.dataset.generate import GenerateConfig, generate
from noisegen.dataset.reader import read_rgb8, write_png
from noisegen.dataset.samples import sample_photo_paths
from trainer.engine.stage import StageContext
from trainer.models.aindnet import count_parameters
from trainer.stages.da import DAStage
from trainer.stages.da_config import DAConfig
from trainer.stages.sn import SNStage
from trainer.stages.sn_config import TrainConfig


def _inputs(root: Path, patch: int, data: str | None) -> tuple[str, str]:
    """(dataset folder, folder of noisy photos) for the benchmark."""
    photos = [read_rgb8(p)[0] for p in sample_photo_paths()]
    real = root / "real"
    real.mkdir()
    rng = np.random.default_rng(0)
    for i, img in enumerate(photos):  # Gaussian noise σ = 15/255 stands in for a camera's photos
        write_png(real / f"real{i}.png", np.clip(img + rng.normal(0, 15, img.shape), 0, 255).astype(np.uint8))
    if data:
        return data, str(real)
    (root / "photos").mkdir()
    for i, img in enumerate(photos):
        write_png(root / "photos" / f"p{i}.png", img)
    generate(GenerateConfig(out=str(root / "ds"), images=(str(root / "photos"),), patch=patch, patches_per_image=8,
                            samples_per_shard=16, seed=0, workers=1), progress=False, echo=lambda m: None)
    return str(root / "ds"), str(real)


class _Row:
    """One stage ready to step on batches already on the device."""

    def __init__(self, name: str, stage, steps: list[int], device: torch.device, bf16: bool):
        self.name, self.stage, self.steps, self.device, self.bf16 = name, stage, steps, device, bf16
        self.batches = [stage.batch(s) for s in steps]
        self.aux = getattr(stage, "aux", None)
        self.params = stage.trainable()
        self.opt = torch.optim.Adam(self.params, lr=1e-4)
        self.times: list[float] = []

    def _forward(self, *args, **kwargs):
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            return self.stage.model(*args, **kwargs)

    def _aux(self, *args):
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            return self.aux(*args)

    def step(self, i: int) -> None:
        kw = {"aux": self._aux} if self.aux is not None else {}
        loss, _ = self.stage.loss(self._forward, self.batches[i % len(self.batches)], self.steps[i % len(self.steps)],
                                  **kw)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()

    def measure(self, n: int) -> None:
        _sync(self.device)
        t = time.perf_counter()
        for i in range(n):
            self.step(i)
        _sync(self.device)
        self.times.append((time.perf_counter() - t) / n * 1000)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
    ap.add_argument("--model", default="small", help="paper | small | tiny (default small, the camera loop's)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--amp", default="none", choices=("none", "bf16"))
    ap.add_argument("--threads", type=int, default=1, help="torch threads on CPU (default 1)")
    ap.add_argument("--steps", type=int, default=2, help="steps per measurement (default 2)")
    ap.add_argument("--rounds", type=int, default=10, help="measurements per row, in turns (default 10)")
    ap.add_argument("--diffusion-widths", type=int, nargs="+", default=None,
                    help="the diffusion U-Net's widths (default: DAConfig's)")
    ap.add_argument("--data", default=None, help="a noisegen dataset (default: generated, cbdnet, bundled photos)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    fmt = torch.channels_last
    with tempfile.TemporaryDirectory(prefix="bench_da_") as tmp:
        data, real = _inputs(Path(tmp), max(args.patch, 64), args.data)
        base = dict(data=(data,), out=os.path.join(tmp, "run"), model=args.model, steps=100, batch=args.batch,
                    patch=args.patch, device=args.device, workers=0, threads=args.threads, progress=False)
        widths = {} if args.diffusion_widths is None else {"diffusion_widths": tuple(args.diffusion_widths)}
        ctx = StageContext(0, 1, device, fmt, None, lambda m: None)
        variants = {"SN": None, "DA (defaults)": {}, "DA, no contrastive term": {"contrastive": False},
                    f"DA, da_batch {args.batch}": {"da_batch": args.batch}}
        rows = []
        for name, extra in variants.items():
            torch.manual_seed(0)
            if extra is None:
                stage = SNStage(TrainConfig(**base).resolved(args.device), ctx)
            else:
                stage = DAStage(DAConfig(**base, real=real, **widths, **extra).resolved(args.device), ctx)
            stage.model.to(device).to(memory_format=fmt)
            rows.append(_Row(name, stage, list(range(10, 14)), device, args.amp == "bf16"))
        for r in rows:  # warm-up (allocator, oneDNN / cuDNN kernel choice)
            r.step(0)
            r.step(1)
        for _ in range(args.rounds):
            for r in rows:
                r.measure(args.steps)
        for r in rows:
            r.stage.close()
    sn = statistics.median(rows[0].times)
    st = rows[1].stage
    print(f"model {args.model} ({count_parameters(st.model):,} parameters; diffusion U-Net "
          f"{count_parameters(st.aux):,}, widths {st.cfg.diffusion_widths}), batch {args.batch} of {args.patch}², "
          f"{args.device}" + (f", {torch.get_num_threads()} thread(s)" if device.type == "cpu" else "")
          + f", amp {args.amp}; median of {args.rounds} rounds × {args.steps} steps")
    if device.type == "cuda":
        print(f"device: {torch.cuda.get_device_name(device)}")
    sn_min = min(rows[0].times)
    print(f"{'row':28s} {'median ms/step':>15s} {'× SN':>6s} {'fastest ms/step':>16s} {'× SN':>6s}   slowest")
    for r in rows:
        med, low = statistics.median(r.times), min(r.times)
        print(f"{r.name:28s} {med:15.1f} {med / sn:6.2f} {low:16.1f} {low / sn_min:6.2f}   {max(r.times):.1f}")
    return 0 if math.isfinite(sn) else 1


if __name__ == "__main__":
    sys.exit(main())
