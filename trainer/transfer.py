"""`noisegen-train tf`: adapt an SN-stage AINDNet to real noise with a few real pairs (Kim et al.,
CVPR 2020, §3.3 "transfer learning"), the paper's comparison modes, and self-supervised adaptation
on noisy images only (Neighbor2Neighbor).

Modes:
- ``tf``: start from the SN weights; train only every AIN module, the noise estimator and the
  last conv (trainer.model.freeze_for_tf); everything else stays bit-identical.
- ``rt``: start from the SN weights and retrain every parameter.
- ``r``: the same architecture from a fresh initialisation (``seed``), trained on the real pairs only.
- ``n2n``: the parameters of ``tf`` (same freezing), trained on noisy images alone with the
  Neighbor2Neighbor loss (Huang et al., "Neighbor2Neighbor: Self-Supervised Denoising from Single
  Noisy Images", CVPR 2021; trainer.n2n): no clean image is used. Its regulariser weight ramps as
  γ_t = ``n2n_ratio``·t/T (official default 2 for sRGB).
Loss: L1 only (trainer.losses.tf_loss) in modes tf, rt, r. Optimiser: Adam on the trainable
parameters, constant learning rate. The paper does not publish the TF learning rate, batch or
schedule; the defaults here (lr 1e-4 as the SN stage's default, batch 8, 2,000 steps) are chosen
for fine-tuning a few pairs on CPU and recorded in every checkpoint (``train_config``).

Data: a `noisegen pack-pairs` dataset folder or a folder of pairs (trainer.evaluate.iter_pairs),
read once into memory (the TF protocol uses few pairs). ``pairs`` = K keeps the first K distinct
pairs in the source's order (Table 5 protocol: K real images): for a pack-pairs dataset that is its
stored order, whose scenes `pack-pairs` permuted with its seed, so K pairs span scenes and cameras
rather than the alphabetically first camera; for a folder, sorted file names. Every step draws ``batch`` random
``patch``×``patch`` crops with a random dihedral transform, from numpy's default_rng([seed, 1]).
Mode n2n reads only noisy images: from a pack-pairs dataset or a folder where
noisegen.dataset.pairs finds pairs, their noisy side (``pairs`` = K as above); otherwise the images
directly in the folder (not its subfolders), in sorted name order, ``pairs`` = K keeping the
first K (e.g. ../shared/data/RNI15, DND_patches). Its crop must be a multiple of twice the
model's size multiple (8 for AINDNet), so that the P/2×P/2 sub-images need no padding; the
sub-sampler's masks come from default_rng([seed, 2]).
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
from trainer.inference import load_model, resolve_device
from trainer.losses import tf_loss
from trainer.metrics import MetricsLog
from trainer.model import AIN, AINDNet, NoiseEstimator, count_parameters, freeze_for_tf
from trainer.n2n import GAMMA_RATIO, gamma_at, n2n_objective, sample_neighbors

__all__ = ["TFConfig", "TF_MODES", "parameter_table", "resolve_init", "transfer"]

TF_MODES = ("tf", "rt", "r", "n2n")


@dataclass(frozen=True)
class TFConfig:
    """Configuration of `noisegen-train tf` (module docstring).

    init: SN run folder (its best.pt, else last.pt) or checkpoint file; data: pack-pairs dataset or
    pairs folder (mode n2n: also a folder of noisy images); out: run folder (created; must not
    hold a last.pt); pairs: K real pairs or, for n2n, K noisy images (None: all); mode: "tf",
    "rt", "r" or "n2n"; steps, batch, patch (rounded down to a multiple of the model's size
    multiple; n2n: must be a multiple of twice it), lr: Adam; seed: crops, n2n masks and, for mode
    r, the initial weights; log_every: metrics.jsonl period; device: "auto", "cpu" or "cuda";
    progress: progress bar; n2n_ratio: γ_T of mode n2n's regulariser ramp (≥ 0).
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
    n2n_ratio: float = GAMMA_RATIO

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
        if not 0 <= self.n2n_ratio < float("inf"):
            raise ValueError(f"tf: --n2n-ratio must be a finite number ≥ 0, got {self.n2n_ratio}")


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


def _load_noisy(data: str, k: int | None) -> tuple[list[tuple[np.ndarray]], str, list[str]]:
    """Mode n2n's training images as 1-tuples (uint8 H×W×3), the source's kind and the unreadable files.

    A pack-pairs dataset, or a folder where noisegen.dataset.pairs finds at least one pair, gives its pairs'
    noisy side (kind "pairs", first K pairs as ``_load_pairs``); any other folder gives the images
    directly in it, sorted by name, the first K readable ones (kind "images").
    """
    from noisegen.dataset.reader import IMAGE_EXTENSIONS, ImageReadError, read_rgb8, scan_pairs

    p = Path(data)
    if not p.is_dir():
        raise FileNotFoundError(f"--data {data}: not a folder (mode n2n reads a folder of noisy images, a folder of "
                                "pairs or a `noisegen pack-pairs` dataset)")
    if (p / "dataset.json").exists() or scan_pairs([p], probe=False).pairs:
        return [(noisy,) for noisy, _ in _load_pairs(data, k)], "pairs", []
    images: list[tuple[np.ndarray]] = []
    skipped: list[str] = []
    for f in sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS):
        if k is not None and len(images) == k:
            break
        try:
            images.append((read_rgb8(f)[0],))
        except ImageReadError as exc:
            skipped.append(str(exc))
    if k is not None and len(images) < k:
        raise ValueError(f"--pairs {k}: {data} holds only {len(images)} readable images")
    return images, "images", skipped


def _crops(samples: list[tuple[np.ndarray, ...]], rng: np.random.Generator, batch: int, side: int,
           device: torch.device) -> list[torch.Tensor]:
    """``batch`` random side×side crops, each with a random dihedral transform shared by the images of its sample.

    Args:
        samples: tuples of aligned uint8 H×W×3 images (noisy, clean) or (noisy,).
        rng: per crop, draws the sample, the row, the column and the transform (in that order).

    Returns:
        One float32 batch×3×side×side tensor in [0, 1] per position in the samples' tuples.
    """
    picked = []
    for _ in range(batch):
        s = samples[int(rng.integers(len(samples)))]
        y, x = int(rng.integers(s[0].shape[0] - side + 1)), int(rng.integers(s[0].shape[1] - side + 1))
        t = int(rng.integers(8))
        picked.append([dihedral(a[y:y + side, x:x + side], t) for a in s])
    return [torch.from_numpy(np.ascontiguousarray(np.stack(crops))).to(device).permute(0, 3, 1, 2).float() / 255
            for crops in zip(*picked)]


def transfer(config: TFConfig, *, echo=print) -> Path:
    """Run the TF / RT / R / N2N training; returns the path of OUT/last.pt.

    Writes OUT/config.json (configuration, parameter table, versions), OUT/metrics.jsonl (the mean
    loss every ``log_every`` steps: L1, or for n2n the N2N loss, its two terms "rec" and "reg" and
    the step's γ_t "gamma") and OUT/last.pt (a trainer checkpoint that `eval` and `denoise` read).
    """
    from tqdm import tqdm

    out = Path(config.out)
    if (out / "last.pt").exists():
        raise FileExistsError(f"{out}/last.pt exists; choose a new --out folder")
    device = resolve_device(config.device)
    init = resolve_init(config.init)
    model, state = load_model(init, device="cpu")
    if config.mode == "r":
        torch.manual_seed(config.seed)
        model = AINDNet(ModelConfig.from_dict(state["model_config"]))
    model = model.to(device).train()
    if config.mode in ("tf", "n2n"):
        freeze_for_tf(model)
    table = parameter_table(model)
    echo(f"{'parameters':24s} {'trainable':>10s} {'frozen':>10s}")
    for r in table:
        echo(f"{r['group']:24s} {r['trainable']:10d} {r['frozen']:10d}")
    m = model.config.size_multiple
    n2n = config.mode == "n2n"
    if n2n:
        m *= 2  # the crop's P/2×P/2 sub-images must be multiples of the size multiple themselves
        if config.patch % m:
            raise ValueError(f"tf --mode n2n: --patch must be a multiple of {m} (twice the model's size multiple, so "
                             f"that the {config.patch // 2}×{config.patch // 2} sub-images need no padding), got "
                             f"{config.patch}; try {max(m, config.patch // m * m)}")
        samples, kind, skipped = _load_noisy(config.data, config.pairs)
        for msg in skipped:
            echo(f"skipped {msg}")
        if not samples:
            raise FileNotFoundError(f"--data {config.data}: no readable noisy images")
        echo(f"n2n: {len(samples)} noisy images from {'the noisy side of pairs' if kind == 'pairs' else 'a folder'}")
    else:
        samples = _load_pairs(config.data, config.pairs)
    if not samples:
        raise FileNotFoundError(f"--data {config.data}: no usable pairs")
    side = min([config.patch] + [min(s[0].shape[:2]) for s in samples]) // m * m
    if side < m:
        raise ValueError(f"--data {config.data}: images smaller than the model's size multiple {m}"
                         + (" (doubled in mode n2n)" if n2n else ""))
    out.mkdir(parents=True, exist_ok=True)
    record = {"config": asdict(config), "init": str(init), "init_step": state.get("step"), "crop": side,
              "samples": len(samples), "parameters": table, "versions": versions()}
    if n2n:
        record.update(source=kind, skipped=skipped)
    (out / "config.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=config.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    rng = np.random.default_rng([config.seed, 1])
    mask_rng = np.random.default_rng([config.seed, 2])
    log = MetricsLog(out / "metrics.jsonl")
    t0, run, terms = time.perf_counter(), 0.0, {"rec": 0.0, "reg": 0.0}
    bar = tqdm(range(1, config.steps + 1), unit="step", disable=not config.progress, dynamic_ncols=True)
    for step in bar:
        if n2n:
            (nb,) = _crops(samples, rng, config.batch, side, device)
            gamma = gamma_at(step, config.steps, config.n2n_ratio)
            idx1, idx2 = (torch.from_numpy(i).to(device) for i in sample_neighbors(mask_rng, config.batch, side, side))
            loss, parts = n2n_objective(lambda t: model(t)[0], nb, idx1, idx2, gamma)
            for name in terms:
                terms[name] += float(parts[name])
        else:
            nb, cb = _crops(samples, rng, config.batch, side, device)
            denoised, _ = model(nb)
            loss, _ = tf_loss(denoised, cb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        run += float(loss.detach())
        if step % config.log_every == 0 or step == config.steps:
            k = config.log_every if step % config.log_every == 0 else step % config.log_every
            row = {"step": step, "loss": run / k, "lr": config.lr, "seconds": time.perf_counter() - t0}
            if n2n:
                row.update({name: v / k for name, v in terms.items()}, gamma=gamma)
                terms = dict.fromkeys(terms, 0.0)
            log.write(row)
            bar.set_postfix(**{"loss" if n2n else "l1": f"{run / k:.4f}"})
            run = 0.0
    bar.close()
    train_config = {**asdict(config), "stage": config.mode, "init_checkpoint": str(init), "crop": side,
                    "trainable_parameters": count_parameters(model, trainable_only=True)}
    return save_checkpoint(out / "last.pt", model=model, optimizer=opt, scheduler=sched, step=config.steps,
                           train_config=train_config, model_config=model.config.to_dict(), data=[],
                           metrics={"last_loss": float(loss.detach())})
