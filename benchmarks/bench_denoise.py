"""Denoising large photos on a CPU: time and peak memory of `noisegen-train denoise`, and what
normalising each tile with its own AIN statistics (--tile-stats) costs in PSNR.

    python benchmarks/bench_denoise.py --megapixels 24              # 6000×4000, paper model, exact statistics
    python benchmarks/bench_denoise.py --megapixels 24 --tile-stats # one pass, per-tile statistics
    python benchmarks/bench_denoise.py --accuracy experiments/out/table5/sn/last.pt

Default part (time and memory): writes a W×H photo (3:2, --megapixels) made of Kodak24 photos
upsampled ×2 (Pillow bicubic) and tiled, with Gaussian noise σ = 10/255, and runs
``python -m trainer denoise CKPT photo.png --device cpu --tile T --overlap O [--tile-stats]`` as a
child process: wall time, the child's peak resident memory (getrusage ru_maxrss), tiles and tile
passes. CKPT is --checkpoint, or a freshly initialised model of --model (paper by default;
time and memory do not depend on the weights' values). Threads: --threads (default every core, as
the published figures were measured; the command's own default leaves one core free).

--accuracy CKPT part: PSNR (dB, 8-bit) of CKPT on --images Kodak24 photos upsampled ×2 (1536×1024,
1.6 MP) with cbdnet-profile noise (seed 0): the whole image at once, then tiled (--tile/--overlap)
with the exact whole-image statistics and with per-tile statistics. The table gives the PSNR of
each and the change from the whole image.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import noisegen as ng
from noisegen.dataset.images import read_rgb8, write_png
from trainer.engine.checkpoint import save_checkpoint
from trainer.engine.images import image_to_tensor, tensor_to_u8
from trainer.engine.metrics import psnr_u8
from trainer.infer.inference import load_model, predict, tile_calls, tile_starts
from trainer.models.ain import AIN
from trainer.models.aindnet import AINDNet
from trainer.models.config import MODEL_CONFIGS

KODAK = Path(__file__).resolve().parents[2] / "shared" / "data" / "Kodak24"


def _kodak(n: int) -> list[Path]:
    files = sorted(KODAK.glob("*.png"))[:n]
    if not files:
        sys.exit(f"missing {KODAK}: this benchmark needs ../shared/data/Kodak24")
    return files


def _upsampled(path: Path, factor: int = 2) -> np.ndarray:
    img = Image.fromarray(read_rgb8(path)[0])
    return np.asarray(img.resize((img.width * factor, img.height * factor), Image.BICUBIC))


def large_photo(megapixels: float, seed: int = 0) -> np.ndarray:
    """uint8 H×W×3, W:H = 3:2, about ``megapixels``·10⁶ pixels: upsampled Kodak24 photos side by side + noise."""
    h = int(round((megapixels * 1e6 / 1.5) ** 0.5))
    w = int(round(h * 1.5))
    out = np.empty((h, w, 3), np.uint8)
    parts = [_upsampled(p) for p in _kodak(24)]
    y = x = k = 0
    while y < h:
        part = parts[k % len(parts)]
        ph, pw = min(part.shape[0], h - y), min(part.shape[1], w - x)
        out[y:y + ph, x:x + pw] = part[:ph, :pw]
        x, k = x + pw, k + 1
        if x >= w:
            x, y = 0, y + part.shape[0]
    noise = np.random.default_rng(seed).normal(0.0, 10.0, out.shape)
    return np.clip(out + noise, 0, 255).round().astype(np.uint8)


def fresh_checkpoint(path: Path, model: str) -> Path:
    torch.manual_seed(0)
    net = AINDNet(MODEL_CONFIGS[model]())
    opt = torch.optim.Adam(net.parameters())
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    return save_checkpoint(path, model=net, optimizer=opt, scheduler=sched, step=0, train_config={"model": model},
                           model_config=net.config.to_dict(), data=[])


def time_and_memory(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = Path(args.checkpoint) if args.checkpoint else fresh_checkpoint(tmp / "model.pt", args.model)
        model, _ = load_model(ckpt)
        n_ain, m = sum(isinstance(mod, AIN) for mod in model.modules()), model.config.size_multiple
        del model
        t = time.perf_counter()
        photo = large_photo(args.megapixels)
        write_png(tmp / "photo.png", photo)
        h, w = photo.shape[:2]
        del photo
        print(f"photo {w}×{h} ({w * h / 1e6:.1f} MP) written in {time.perf_counter() - t:.0f} s")
        rows = len(tile_starts(h, args.tile, args.overlap, m)[0])
        cols = len(tile_starts(w, args.tile, args.overlap, m)[0])
        calls = tile_calls(h, w, args.tile, args.overlap, m, n_ain, not args.tile_stats)
        print(f"tiles {args.tile}/{args.overlap}: {rows}×{cols} = {rows * cols}; "
              + ("per-tile statistics: 1 pass" if args.tile_stats else
                 f"whole-image statistics: {n_ain} partial passes + the output pass, {calls} tile calls"))
        cmd = [sys.executable, "-m", "trainer", "denoise", str(ckpt), str(tmp / "photo.png"), "--out", str(tmp / "out"),
               "--device", "cpu", "--tile", str(args.tile), "--overlap", str(args.overlap), "--no-progress",
               "--threads", str(args.threads)]
        cmd += ["--tile-stats"] if args.tile_stats else []
        t = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB → GiB
        print(f"\n{args.model if not args.checkpoint else ckpt} model, {w * h / 1e6:.1f} MP, "
              f"{'per-tile' if args.tile_stats else 'whole-image'} statistics, {os.cpu_count()} cores, "
              f"torch {torch.__version__} ({args.threads} threads)")
        print(f"wall {wall:.0f} s ({wall / (w * h / 1e6):.1f} s/MP), peak RSS {peak:.2f} GiB")


def accuracy(args: argparse.Namespace) -> None:
    if not Path(args.accuracy).exists():
        print(f"{args.accuracy} not found: run `python experiments/table5_cpu.py` first (it trains "
              "experiments/out/table5/sn/last.pt), or give another checkpoint or run folder", file=sys.stderr)
        raise SystemExit(2)
    model, _ = load_model(args.accuracy)
    prof = ng.get_profile("cbdnet")
    rows = []
    for i, path in enumerate(_kodak(args.images)):
        clean = _upsampled(path)
        noisy = ng.synthesize(clean, ng.sample_params(prof, np.random.default_rng([0, i, 1])), seed=[0, i, 2]).noisy
        x = image_to_tensor(noisy)
        row = [psnr_u8(clean, noisy), psnr_u8(clean, tensor_to_u8(predict(model, x)[0]))]
        for global_norm in (True, False):
            out = predict(model, x, tile=args.tile, overlap=args.overlap, global_norm=global_norm)[0]
            row.append(psnr_u8(clean, tensor_to_u8(out)))
        rows.append(row)
        print(f"{path.stem}: " + " ".join(f"{v:.3f}" for v in row), flush=True)
    mean = np.mean(rows, axis=0)
    diffs = np.array(rows)[:, 2:] - np.array(rows)[:, 1:2]
    print(f"\n{len(rows)} Kodak24 photos ×2 ({clean.shape[1]}×{clean.shape[0]}), cbdnet noise, tiles "
          f"{args.tile}/{args.overlap}; PSNR dB (change from the whole image: mean, largest |change|)")
    print("| noisy | whole image | tiled, whole-image statistics | tiled, per-tile statistics (--tile-stats) |")
    print("|---:|---:|---:|---:|")
    print(f"| {mean[0]:.2f} | {mean[1]:.2f} | " + " | ".join(
        f"{mean[2 + j]:.2f} ({diffs[:, j].mean():+.3f}, {np.abs(diffs[:, j]).max():.3f})" for j in range(2)) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
    ap.add_argument("--megapixels", type=float, default=24.0, help="size of the test photo (default 24)")
    ap.add_argument("--model", choices=sorted(MODEL_CONFIGS), default="paper", help="fresh model (default paper)")
    ap.add_argument("--checkpoint", help="use this checkpoint instead of a fresh model")
    ap.add_argument("--tile", type=int, default=512, help="tile side (default 512, denoise's own default)")
    ap.add_argument("--overlap", type=int, default=64, help="tile overlap (default 64)")
    ap.add_argument("--tile-stats", action="store_true", help="per-tile AIN statistics (one pass)")
    ap.add_argument("--accuracy", metavar="CKPT", help="measure the PSNR change of tiling with CKPT instead")
    ap.add_argument("--images", type=int, default=8, help="Kodak24 photos for --accuracy (default 8)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="torch threads of the denoise child process (default: every core)")
    args = ap.parse_args()
    if args.accuracy:
        accuracy(args)
    else:
        time_and_memory(args)


if __name__ == "__main__":
    main()
