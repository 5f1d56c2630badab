"""Inference with a trained AINDNet: whole images of any size, tiled with blended overlaps, and the
geometric self-ensemble ×8.

Tiling: tiles of ``tile``×``tile`` start on a grid whose step is a multiple of the model's
padding multiple (``ModelConfig.size_multiple``, 4 for the paper), so that the estimator's
pooling cells fall where they fall in a whole-image run; neighbouring tiles overlap by
``tile − step ≥ overlap`` pixels and are blended with linear ramps across each overlap. The ramps
of two neighbours sum to one at every pixel (a partition of unity), so wherever the two tiles agree
the blend is exact, and a tile's border pixels, whose receptive field is cut, get the least weight.
The last tile of a row or column ends at the image border (it may be shorter than ``tile``; the
model pads it as it pads a whole image).

AIN normalises each feature channel over the whole input (instance normalisation), so a tile
alone would see the statistics of its own area, not of the image (measured: see
docs/results.md §Tiled denoising). By default every AIN therefore normalises with the
whole image's statistics, gathered tile by tile in one extra pass per AIN and handed to the model
as external AIN statistics (``_WholeImageStatistics``, trainer.models.ain: each statistics pass
halts at its AIN); what is left is the receptive field cut at tile borders, which the overlap and
the ramps absorb.
tests/training/infer/test_evaluate.py checks the ≤ 0.01 dB requirement of issue 6.

Those exact statistics passes cost about 13 forward passes of the paper model (28 AINs; the pass
for the k-th AIN runs the network up to it). Two cheaper estimates were measured and rejected
(docs/results.md §Tiled denoising): statistics from a regular subset of the tiles lose PSNR, and
estimating all AINs together by fixed-point passes (each pass normalising with the previous pass's
statistics) does not converge before as many passes as there are AINs. ``global_norm=False``
(`--tile-stats`) is the one fast alternative offered: one pass, each tile with its own statistics,
at a measured cost (benchmarks/bench_denoise.py --accuracy).

Self-ensemble (Timofte et al., "Seven ways to improve example-based single image super
resolution", CVPR 2016; used for AINDNet's tables): the 8 transforms of the dihedral group D4
(4 rotations by 90°, with and without a horizontal flip) are applied to the input, each is
denoised, the inverse transform is applied to each output and the 8 results are averaged.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from torch import Tensor

from trainer.engine.checkpoint import load_checkpoint
from trainer.engine.run_folder import resolve_checkpoint
from trainer.models.ain import AIN
from trainer.models.aindnet import AINDNet
from trainer.models.config import ModelConfig
from trainer.models.dbsn import dbsn_from_state
from trainer.models.dbsn_config import is_dbsn_config
from trainer.models.from_state import checked_model

__all__ = ["AUTO_TILE", "AUTO_TILE_PIXELS", "auto_tile", "check_tiling", "default_overlap",
           "load_model", "model_from_checkpoint",
           "tile_starts", "tile_calls", "ramp_weights", "predict_tiled", "predict",
           "dihedral_forward", "dihedral_inverse"]


# Images above this many pixels are tiled when no tile is given: ≈ 2 GiB of activations for the paper
# model on CPU at 1 MP (measured order of magnitude; the 256-channel stage dominates).
AUTO_TILE_PIXELS = 1024 * 1024
AUTO_TILE = 512


def auto_tile(h: int, w: int, tile: int | None) -> int | None:
    """The tile side for an h×w image: ``tile`` when given, else AUTO_TILE above AUTO_TILE_PIXELS, else None."""
    if tile is not None:
        return tile
    return AUTO_TILE if h * w > AUTO_TILE_PIXELS else None


def check_tiling(command: str, tile: int | None, overlap: int | None) -> None:
    """ValueError naming ``command``'s option unless tile ≥ 8 and 0 ≤ overlap < tile (None: defaults)."""
    if tile is not None and tile < 8:
        raise ValueError(f"{command}: --tile must be ≥ 8, got {tile}")
    if overlap is not None and (overlap < 0 or (tile is not None and overlap >= tile)):
        raise ValueError(f"{command}: --overlap must be ≥ 0 and smaller than --tile, got {overlap}")


def default_overlap(tile: int) -> int:
    """Overlap used when none is given: a quarter of the tile, at most 64 pixels (the fresh tiny model is
    within 0.005 dB of the whole image at 48/16 and 64/32, tests/training/infer/test_evaluate.py)."""
    return min(64, tile // 4)


def load_model(checkpoint: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> tuple[AINDNet, dict]:
    """AINDNet from a trainer checkpoint, in eval mode on ``device``; returns (model, checkpoint dict).

    ``checkpoint``: a .pt file, or a run folder (its best.pt, else last.pt: trainer.engine.run_folder).
    Reads checkpoints of every stage (SN, TF, RT, R, N2N), old ones without a "stage" too.
    Raises:
        FileNotFoundError: no such file or run folder. ValueError: not a trainer checkpoint, or
        weights that do not fit the recorded model configuration.
    """
    state = load_checkpoint(resolve_checkpoint(checkpoint), map_location="cpu")
    model = model_from_checkpoint(state, str(checkpoint))
    model.load_state_dict(state["model"])
    return model.to(device).eval(), state


def model_from_checkpoint(state: dict, where: str) -> AINDNet:
    """A freshly initialised AINDNet of the checkpoint's ``model_config``, checked against its weights first.

    The network is first built on PyTorch's "meta" device (shapes only, no memory), and its
    parameter names and shapes must equal the tensors stored in the checkpoint: a configuration
    that asks for a huge model (a hostile or damaged file) fails here, before anything is
    allocated, since real weights of that size would have to be in the file already.

    A checkpoint whose model_config says network "dbsn" gives a D-BSN (trainer.models.dbsn), with the same
    (denoised, sigma) output contract.

    Raises:
        ValueError: an unusable configuration, or one that does not fit the stored weights.
    """
    if is_dbsn_config(state.get("model_config")):
        return dbsn_from_state(state, where)
    try:
        config = ModelConfig.from_dict(state["model_config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: damaged model configuration ({str(exc)[:200]})") from None
    modules = len(config.widths) + sum(config.encoder_blocks) + sum(config.decoder_blocks)
    return checked_model(state, where, lambda: AINDNet(config), modules, "model")


def tile_starts(size: int, tile: int, overlap: int, multiple: int) -> tuple[list[int], int]:
    """Start offsets of the tiles along one axis, and the step between them.

    The step is ``tile − max(overlap, multiple)`` rounded down to a multiple of ``multiple`` (at
    least ``multiple``), so the actual overlap ``tile − step`` is ≥ ``overlap`` and ≥ ``multiple``
    (the last tile is then longer than the model's padding, which reflects as on the whole image).
    Tile i covers [start_i, min(start_i + tile, size)).
    """
    if overlap < 0:
        raise ValueError(f"overlap must be ≥ 0, got {overlap}")
    if overlap >= tile:
        raise ValueError(f"overlap ({overlap}) must be smaller than the tile ({tile})")
    if tile < 2 * multiple:
        raise ValueError(f"tile ({tile}) must be at least twice the model's size multiple ({multiple})")
    step = max(multiple, (tile - max(overlap, multiple)) // multiple * multiple)
    starts = [0]
    while starts[-1] + tile < size:
        starts.append(starts[-1] + step)
    return starts, step


def tile_calls(h: int, w: int, tile: int, overlap: int, multiple: int, n_ain: int, global_norm: bool = True) -> int:
    """How many times predict_tiled calls ``on_tile`` for an h×w image: once per tile and pass, with one
    statistics pass per AIN (``n_ain``) when ``global_norm``, plus the output pass."""
    tiles = len(tile_starts(h, tile, overlap, multiple)[0]) * len(tile_starts(w, tile, overlap, multiple)[0])
    return tiles * ((n_ain if global_norm else 0) + 1)


def _owned(starts: list[int], size: int, tile: int, multiple: int) -> list[tuple[int, int]]:
    """Disjoint pieces [c_i, c_{i+1}) of the padded axis [0, ⌈size/m⌉·m), one per tile, cut on the
    model grid near the middle of each overlap: where each tile's features count for the statistics."""
    padded = -(-size // multiple) * multiple
    cuts = [0]
    for k in range(1, len(starts)):
        prev_end = min(starts[k - 1] + tile, size)
        cuts.append((starts[k] + prev_end) // 2 // multiple * multiple)
    cuts.append(padded)
    return list(zip(cuts[:-1], cuts[1:]))


def ramp_weights(start: int, stop: int, ov: int, first: bool, last: bool) -> Tensor:
    """1-D blending weights of a tile covering [start, stop): linear ramps over the ``ov`` pixels shared
    with the previous tile (unless ``first``) and the next one (unless ``last``); 1 elsewhere.

    Across an overlap the falling ramp of one tile and the rising ramp of the next sum to 1.
    """
    i = torch.arange(stop - start, dtype=torch.float64) + 0.5
    w = torch.ones(stop - start, dtype=torch.float64)
    if ov > 0:
        if not first:
            w = torch.minimum(w, i / ov)
        if not last:
            w = torch.minimum(w, (stop - start - i) / ov)
    return w.float()


class _WholeImageStatistics:
    """AIN statistics of the whole image while the model sees one tile (a trainer.models.ain.AINStatistics).

    Pass by pass (in call order), the first AIN without statistics sums its input feature over the
    part of the image each tile owns (``_owned``; at the feature's scale) and halts the pass there;
    after the last tile ``finish_pass`` fixes its mean and (biased) variance over the whole padded
    image, as trainer.models.ain.instance_normalize computes them on a whole image. Once every AIN
    has its statistics (``complete``), passes run to the end: the output pass.
    """

    def __init__(self, model: AINDNet):
        self.count = sum(isinstance(m, AIN) for m in model.modules())
        self.fixed: dict[int, tuple[Tensor, Tensor]] = {}
        self.sums: list | None = None
        self.target: int | None = None
        self.region: tuple[int, int, int, int, int, int] = (0, 0, 0, 0, 1, 1)  # y0, y1, x0, x1, padded h, w
        self.halted = False

    @property
    def complete(self) -> bool:
        return len(self.fixed) == self.count

    def start_tile(self, region: tuple[int, int, int, int, int, int]) -> None:
        """Before the model sees a tile: the part it owns, relative to the tile (y0, y1, x0, x1, padded h, w)."""
        self.region, self.halted = region, False

    def __call__(self, ain: AIN, h: Tensor) -> tuple[Tensor, Tensor] | None:
        key = id(ain)
        if key in self.fixed:
            return self.fixed[key]
        if self.target is None:
            self.target = key
            self.sums = [torch.zeros(h.shape[1], dtype=torch.float64, device=h.device) for _ in range(2)] + [0]
        if key != self.target:
            raise RuntimeError("tiled inference: AINs were called in a different order on different tiles")
        y0, y1, x0, x1, ph, pw = self.region
        fy, fx = ph // h.shape[-2], pw // h.shape[-1]
        part = h[0, :, y0 // fy:y1 // fy, x0 // fx:x1 // fx].double()
        self.sums[0] += part.sum(dim=(1, 2))
        self.sums[1] += (part * part).sum(dim=(1, 2))
        self.sums[2] += part.shape[1] * part.shape[2]
        self.halted = True
        return None

    def finish_pass(self) -> None:
        """Fix the statistics gathered in this pass (every tile has been seen)."""
        s, sq, n = self.sums
        mean = s / n
        var = (sq / n - mean * mean).clamp_(min=0)
        self.fixed[self.target] = (mean.float()[None, :, None, None], var.float()[None, :, None, None])
        self.target, self.sums = None, None


@torch.no_grad()
def predict_tiled(model: AINDNet, x: Tensor, *, tile: int, overlap: int, global_norm: bool = True,
                  on_tile: Callable[[], None] | None = None) -> tuple[Tensor, Tensor]:
    """Denoise 1×3×H×W ``x`` tile by tile (module docstring); returns (denoised, sigma_hat), 1×3×H×W float32.

    global_norm: normalise every AIN with the whole image's statistics (one extra pass over the
    tiles per AIN, each stopping at that AIN: about (AINs / 2) forward passes more; close to the
    whole-image result); False: each tile normalises with its own statistics (one pass; tiles then
    differ from the whole image by how much their statistics differ).
    Memory: the model sees one tile at a time; the full-size accumulators are 7 floats per pixel.
    ``on_tile`` is called once per tile and pass: (AINs + 1) × tiles in all with global_norm.
    """
    _, _, h, w = x.shape
    m = model.config.size_multiple
    ys, sy = tile_starts(h, tile, overlap, m)
    xs, sx = tile_starts(w, tile, overlap, m)
    own_y, own_x = _owned(ys, h, tile, m), _owned(xs, w, tile, m)
    stats = _WholeImageStatistics(model) if global_norm else None
    if stats is not None and stats.complete:  # no AIN (a D-BSN): nothing to normalise, and no ``stats`` argument
        stats = None

    def tiles():
        """(row, column, y0, y1, x0, x1) of every tile, with the statistics told which part it owns."""
        for a, y0 in enumerate(ys):
            for b, x0 in enumerate(xs):
                y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
                if stats is not None:
                    (oy0, oy1), (ox0, ox1) = own_y[a], own_x[b]
                    stats.start_tile((oy0 - y0, oy1 - y0, ox0 - x0, ox1 - x0, -(-(y1 - y0) // m) * m,
                                      -(-(x1 - x0) // m) * m))
                yield a, b, y0, y1, x0, x1
                if on_tile is not None:
                    on_tile()

    while stats is not None and not stats.complete:  # one statistics pass per AIN, each halted at its AIN
        for _, _, y0, y1, x0, x1 in tiles():
            model(x[..., y0:y1, x0:x1], stats=stats)
        stats.finish_pass()
    out = torch.zeros((1, 3, h, w), dtype=torch.float32, device=x.device)
    sig = torch.zeros_like(out)
    wsum = torch.zeros((1, 1, h, w), dtype=torch.float32, device=x.device)
    for a, b, y0, y1, x0, x1 in tiles():
        d, s = model(x[..., y0:y1, x0:x1]) if stats is None else model(x[..., y0:y1, x0:x1], stats=stats)
        wy = ramp_weights(y0, y1, tile - sy, a == 0, a == len(ys) - 1).to(x.device)
        wx = ramp_weights(x0, x1, tile - sx, b == 0, b == len(xs) - 1).to(x.device)
        wgt = (wy[:, None] * wx[None, :])[None, None]
        out[..., y0:y1, x0:x1] += wgt * d.float()
        sig[..., y0:y1, x0:x1] += wgt * s.float()
        wsum[..., y0:y1, x0:x1] += wgt
    return out / wsum, sig / wsum


def dihedral_forward(x: Tensor, t: int) -> Tensor:
    """Transform t ∈ 0..7 of D4 on the last two axes: horizontal flip when t ≥ 4, then rot90 × (t mod 4)."""
    if t >= 4:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, t % 4, dims=(-2, -1))


def dihedral_inverse(x: Tensor, t: int) -> Tensor:
    """Inverse of dihedral_forward(·, t)."""
    x = torch.rot90(x, -(t % 4), dims=(-2, -1))
    if t >= 4:
        x = torch.flip(x, dims=(-1,))
    return x


@torch.no_grad()
def predict(model: AINDNet, x: Tensor, *, tile: int | None = None, overlap: int | None = None, ensemble: bool = False,
            global_norm: bool = True, on_tile: Callable[[], None] | None = None) -> tuple[Tensor, Tensor]:
    """Denoise 1×3×H×W float32 ``x`` in [0, 1]; returns (denoised, sigma_hat), 1×3×H×W float32, not clipped.

    Args:
        tile: tile side (None: the whole image at once). overlap: minimum overlap of tiles, pixels
            (None: default_overlap(tile)).
        ensemble: mean of the 8 inverse-transformed predictions of the D4 transforms of ``x``.
        global_norm: tiles normalise with whole-image AIN statistics (exact, slow); False: with their own.
    """
    if x.ndim != 4 or x.shape[0] != 1 or x.shape[1] != 3:
        raise ValueError(f"predict: expected one image of shape (1, 3, H, W), got {tuple(x.shape)}")

    def once(inp: Tensor) -> tuple[Tensor, Tensor]:
        if tile is None:
            d, s = model(inp)
            if on_tile is not None:
                on_tile()
            return d.float(), s.float()
        ov = default_overlap(tile) if overlap is None else overlap
        return predict_tiled(model, inp, tile=tile, overlap=ov, global_norm=global_norm, on_tile=on_tile)

    if not ensemble:
        return once(x)
    acc_d = torch.zeros_like(x, dtype=torch.float32)
    acc_s = torch.zeros_like(acc_d)
    for t in range(8):
        d, s = once(dihedral_forward(x, t))
        acc_d += dihedral_inverse(d, t)
        acc_s += dihedral_inverse(s, t)
    return acc_d / 8, acc_s / 8
