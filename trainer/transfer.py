"""`noisegen-train tf`: adapt an SN-stage AINDNet to real noise with a few real pairs (Kim et al.,
CVPR 2020, §3.3 "transfer learning"), and the paper's comparison modes.

Modes:
- ``tf``: start from the SN weights; train only every AIN module, the noise estimator and the
  last conv (trainer.model.freeze_for_tf); everything else stays bit-identical.
- ``rt``: start from the SN weights and retrain every parameter.
- ``r``: the same architecture from a fresh initialisation (``seed``), trained on the real pairs only.
Loss: L1 only (trainer.losses.tf_loss). Optimiser: Adam on the trainable parameters, constant
learning rate. The paper does not publish the TF learning rate, batch or schedule; the defaults here
(lr 1e-4 as the SN stage's default, batch 8, 2,000 steps) are chosen for fine-tuning a few pairs
on CPU and recorded in every checkpoint (``train_config``).

Data: a `noisegen pack-pairs` dataset folder or a folder of pairs (trainer.evaluate.iter_pairs),
read once into memory (the TF protocol uses few pairs). ``pairs`` = K keeps the first K distinct
pairs in the source's order (Table 5 protocol: K real images): for a pack-pairs dataset that is its
stored order, whose scenes `pack-pairs` permuted with its seed, so K pairs span scenes and cameras
rather than the alphabetically first camera; for a folder, sorted file names. Every step draws ``batch`` random
``patch``×``patch`` crops with a random dihedral transform, from numpy's default_rng([seed, 1]).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from trainer.checkpoint import save_checkpoint, versions
from trainer.config import ModelConfig
from trainer.data import dihedral
from trainer.inference import load_model
from trainer.losses import tf_loss
from trainer.metrics import MetricsLog
from trainer.model import AIN, AINDNet, NoiseEstimator, count_parameters, freeze_for_tf

__all__ = ["TFConfig", "TF_MODES", "parameter_table", "resolve_init", "transfer"]

TF_MODES = ("tf", "rt", "r")


@dataclass(frozen=True)
class TFConfig:
    """Configuration of `noisegen-train tf` (module docstring).

    init: SN run folder (its best.pt, else last.pt) or checkpoint file; data: pack-pairs dataset or
    pairs folder; out: run folder (created; must not hold a last.pt); pairs: K real pairs (None:
    all); mode: "tf", "rt" or "r"; steps, batch, patch (a multiple of the model's size multiple),
    lr: Adam; seed: crops and, for mode r, the initial weights; log_every: metrics.jsonl period;
    device: "auto", "cpu" or "cuda"; progress: progress bar.
    """

    init: str
    data: str
    out: str
    pairs: int | None = None
    mode: str = "tf"
    steps: int = 2000
    batch: int = 8
    patch: int = 64
    lr: float = 1e-4
    seed: int = 0
    log_every: int = 50
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.mode not in TF_MODES:
            raise ValueError(f"tf: --mode must be one of {', '.join(TF_MODES)}, got {self.mode!r}")
        for name in ("steps", "batch", "patch", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"tf: --{name.replace('_', '-')} must be ≥ 1, got {getattr(self, name)}")
        if self.pairs is not None and self.pairs < 1:
            raise ValueError(f"tf: --pairs must be ≥ 1, got {self.pairs}")
        if not self.lr > 0:
            raise ValueError(f"tf: --lr must be > 0, got {self.lr}")


def resolve_init(init: str) -> Path:
    """The checkpoint of an SN run folder (best.pt, else last.pt) or the file itself."""
    p = Path(init)
    if p.is_dir():
        for name in ("best.pt", "last.pt"):
            if (p / name).exists():
                return p / name
        raise FileNotFoundError(f"--init {init}: the folder holds no best.pt or last.pt (an SN run folder expected)")
    if not p.exists():
        raise FileNotFoundError(f"--init {init}: no such checkpoint or run folder")
    return p


def _group_of(model: AINDNet) -> dict[str, str]:
    """Parameter name → "AIN modules" | "noise estimator" | "last conv" | "other (U-Net convs)"."""
    kind: dict[int, str] = {}
    for m in model.modules():
        if isinstance(m, AIN):
            kind.update({id(p): "AIN modules" for p in m.parameters()})
        elif isinstance(m, NoiseEstimator):
            kind.update({id(p): "noise estimator" for p in m.parameters()})
    kind.update({id(p): "last conv" for p in model.out_conv.parameters()})
    return {n: kind.get(id(p), "other (U-Net convs)") for n, p in model.named_parameters()}


def parameter_table(model: AINDNet) -> list[dict]:
    """Rows {group, trainable, frozen} of parameter counts, by the requires_grad flags now set."""
    groups = _group_of(model)
    rows: dict[str, dict] = {}
    for n, p in model.named_parameters():
        r = rows.setdefault(groups[n], {"group": groups[n], "trainable": 0, "frozen": 0})
        r["trainable" if p.requires_grad else "frozen"] += p.numel()
    out = [rows[g] for g in ("AIN modules", "noise estimator", "last conv", "other (U-Net convs)") if g in rows]
    out.append({"group": "total", "trainable": sum(r["trainable"] for r in out),
                "frozen": sum(r["frozen"] for r in out)})
    return out


def _load_pairs(data: str, k: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
    from trainer.evaluate import iter_pairs

    by_id: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for item in iter_pairs(data).items():
        if item.error is None:
            by_id.setdefault(item.id, []).append((item.noisy, item.clean))
    ids = list(by_id)  # insertion order = the source's order
    if k is not None:
        if k > len(ids):
            raise ValueError(f"--pairs {k}: {data} holds only {len(ids)} usable pairs")
        ids = ids[:k]
    return [s for i in ids for s in by_id[i]]


def transfer(config: TFConfig, *, echo=print) -> Path:
    """Run the TF / RT / R training; returns the path of OUT/last.pt.

    Writes OUT/config.json (configuration, parameter table, versions), OUT/metrics.jsonl (L1 every
    ``log_every`` steps) and OUT/last.pt (a trainer checkpoint that `eval` and `denoise` read).
    """
    from tqdm import tqdm

    out = Path(config.out)
    if (out / "last.pt").exists():
        raise FileExistsError(f"{out}/last.pt exists; choose a new --out folder")
    device = torch.device("cuda" if config.device == "auto" and torch.cuda.is_available() else
                          "cpu" if config.device == "auto" else config.device)
    init = resolve_init(config.init)
    model, state = load_model(init, device="cpu")
    if config.mode == "r":
        torch.manual_seed(config.seed)
        model = AINDNet(ModelConfig.from_dict(state["model_config"]))
    model = model.to(device).train()
    if config.mode == "tf":
        freeze_for_tf(model)
    table = parameter_table(model)
    echo(f"{'parameters':24s} {'trainable':>10s} {'frozen':>10s}")
    for r in table:
        echo(f"{r['group']:24s} {r['trainable']:10d} {r['frozen']:10d}")
    m = model.config.size_multiple
    samples = _load_pairs(config.data, config.pairs)
    if not samples:
        raise FileNotFoundError(f"--data {config.data}: no usable pairs")
    side = min([config.patch] + [min(n.shape[:2]) for n, _ in samples]) // m * m
    if side < m:
        raise ValueError(f"--data {config.data}: images smaller than the model's size multiple {m}")
    out.mkdir(parents=True, exist_ok=True)
    record = {"config": asdict(config), "init": str(init), "init_step": state.get("step"), "crop": side,
              "samples": len(samples), "parameters": table, "versions": versions()}
    (out / "config.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=config.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    rng = np.random.default_rng([config.seed, 1])
    log = MetricsLog(out / "metrics.jsonl")
    t0, run = time.perf_counter(), 0.0
    bar = tqdm(range(1, config.steps + 1), unit="step", disable=not config.progress, dynamic_ncols=True)
    for step in bar:
        noisy, clean = [], []
        for _ in range(config.batch):
            n, c = samples[int(rng.integers(len(samples)))]
            y, x = int(rng.integers(n.shape[0] - side + 1)), int(rng.integers(n.shape[1] - side + 1))
            t = int(rng.integers(8))
            noisy.append(dihedral(n[y:y + side, x:x + side], t))
            clean.append(dihedral(c[y:y + side, x:x + side], t))
        nb = torch.from_numpy(np.ascontiguousarray(np.stack(noisy))).to(device).permute(0, 3, 1, 2).float() / 255
        cb = torch.from_numpy(np.ascontiguousarray(np.stack(clean))).to(device).permute(0, 3, 1, 2).float() / 255
        denoised, _ = model(nb)
        loss, _ = tf_loss(denoised, cb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        run += float(loss.detach())
        if step % config.log_every == 0 or step == config.steps:
            k = config.log_every if step % config.log_every == 0 else step % config.log_every
            log.write({"step": step, "loss": run / k, "lr": config.lr, "seconds": time.perf_counter() - t0})
            bar.set_postfix(l1=f"{run / k:.4f}")
            run = 0.0
    bar.close()
    train_config = {**asdict(config), "stage": config.mode, "init_checkpoint": str(init), "crop": side,
                    "trainable_parameters": count_parameters(model, trainable_only=True)}
    return save_checkpoint(out / "last.pt", model=model, optimizer=opt, scheduler=sched, step=config.steps,
                           train_config=train_config, model_config=model.config.to_dict(), data=[],
                           metrics={"last_loss": float(loss.detach())})
