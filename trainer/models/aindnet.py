"""AINDNet: noise level estimator + U-Net of AIN-ResBlocks with a global residual.

Reference: Y. Kim, J. W. Soh, G. Y. Park, N. I. Cho, "Transfer Learning from Synthetic to
Real-Noise Denoising with Adaptive Instance Normalization", CVPR 2020 (the proposed method). The
architecture (DESIGN.md §5):

    σ̂, σ̂_coarse = NoiseEstimator(y)                  σ̂ ≥ 0, 3 channels, full size and 1/k size
    x̂ = y + UNet(y, σ̂)                                every AIN in the U-Net is conditioned on σ̂

- ``AIN`` (trainer.models.ain): h ↦ IN(h)·(1 + γ(σ̂)) + β(σ̂), IN a per-sample, per-channel
  normalisation over H×W without learned affine (ε = 1e-5), γ and β 3×3 convs on a shared 5×5 conv
  + ReLU of σ̂ resized bilinearly to the feature size. ``forward(..., stats=...)`` gives every AIN
  external statistics (tiled inference: the whole image's), passed down through every block.
- ``AINResBlock``: AIN → LeakyReLU(0.02) → conv 3×3 → AIN → LeakyReLU(0.02) → conv 3×3, + input.
- U-Net: widths 64/128/256 with 2, 2, 5 blocks down and 3, 2 up; down-sampling is a 2×2 average
  pool and a 3×3 conv (+ ReLU) to the new width; up-sampling a 2×2 stride-2 transposed conv
  without bias added to the skip feature, which first passes a plain residual block
  (conv-ReLU-conv + identity); the output is a 1×1 conv to 3 channels, added to the input.
  The first level starts with a 3×3 conv (+ ReLU) from the image to 64 channels.

Arbitrary sizes: the U-Net needs H, W divisible by 2**(levels - 1) (4) and the estimator by its
coarse factor k (4), so ``AINDNet.forward`` pads the image at the bottom and right to a multiple
of ``config.size_multiple`` (the lcm of both; 4 for the paper) with reflect padding (replicate
for images too small to reflect), runs, and crops back. Bottom/right padding keeps the pooling
cells anchored at (0, 0), so the coarse map's cell (i, j) covers input rows k·i..k·i+k-1 and
columns k·j..k·j+k-1, as ``trainer.stages.losses.downscale_sigma`` assumes. Reflect rather than zero
padding because a zero border looks like a flat dark region with no noise and would bias σ̂ there.

Works with NCHW float32 and channels_last, and under bf16 autocast: the instance normalisation
runs in float32 and the outputs are returned in the input's dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from trainer.models.ain import AIN, AINStatistics, halted, resize_to
from trainer.models.config import ModelConfig

__all__ = [
    "AINDNet",
    "AINResBlock",
    "AINUNet",
    "NoiseEstimator",
    "ParameterGroups",
    "ResBlock",
    "count_parameters",
    "freeze_for_tf",
    "pad_to_multiple",
    "trainable_groups",
]

# Initialisation of the convs inside AIN-ResBlocks (AIN convs included): normal with variance
# 0.02/fan_in, i.e. the variance-scaling factor 0.02 of the released model, so that every residual
# branch and every (γ, β) starts near zero: the network starts close to identity + plain instance
# normalisation, which keeps 14 stacked residual blocks stable early in training.
_BLOCK_INIT_SCALE = 0.02
# Transposed convs: normal, std 0.02 (released model).
_UP_INIT_STD = 0.02
# The estimator's outputs end in a ReLU (σ ≥ 0). With default initialisation about a third of its
# output channels are ≤ 0 for every input (measured: 20-29 of 60 over 20 seeds), i.e. dead with zero
# gradient from the start. So the last coarse conv starts with small weights and this bias, σ̂ ≈ 0.05
# on the [0, 1] scale (inside the range of the cbdnet profile's σ maps), and the two refine convs
# start as identities (fine = up(coarse)); no channel is dead at initialisation.
_SIGMA_INIT = 0.05


def _conv3(c_in: int, c_out: int) -> nn.Conv2d:
    """3×3 conv with zero 'same' padding (TF 'SAME', as the reference)."""
    return nn.Conv2d(c_in, c_out, 3, padding=1)


def _init_small_(conv: nn.Conv2d, scale: float = _BLOCK_INIT_SCALE) -> None:
    fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
    nn.init.normal_(conv.weight, std=math.sqrt(scale / fan_in))
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


def pad_to_multiple(x: Tensor, multiple: int) -> Tensor:
    """Pad an N×C×H×W tensor at the bottom and right so that H and W are multiples of ``multiple``.

    Reflect padding (the padded row H + j repeats row H - 2 - j); replicate padding when the image
    is too small to reflect (H or W not larger than its pad). Returns ``x`` itself when no padding
    is needed. Crop back with ``[..., :H, :W]``.
    """
    if multiple < 1:
        raise ValueError(f"pad_to_multiple: multiple must be >= 1, got {multiple}")
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


class AINResBlock(nn.Module):
    """AIN → LeakyReLU → conv 3×3 → AIN → LeakyReLU → conv 3×3, plus the input (Kim et al. 2020)."""

    def __init__(self, channels: int, config: ModelConfig):
        super().__init__()
        ain = dict(sigma_channels=config.in_channels, hidden=config.ain_hidden, kernel=config.ain_kernel,
                   eps=config.norm_eps)
        self.slope = config.leaky_slope
        self.ain1 = AIN(channels, **ain)
        self.conv1 = _conv3(channels, channels)
        self.ain2 = AIN(channels, **ain)
        self.conv2 = _conv3(channels, channels)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                _init_small_(m)

    def forward(self, h: Tensor, sigma: Tensor, stats: AINStatistics | None = None) -> Tensor:
        y = self.ain1(h, sigma, stats)
        if halted(stats):
            return h
        y = self.ain2(self.conv1(F.leaky_relu(y, self.slope)), sigma, stats)
        if halted(stats):
            return h
        return h + self.conv2(F.leaky_relu(y, self.slope))


class ResBlock(nn.Module):
    """Plain residual block conv 3×3 → ReLU → conv 3×3, plus the input (on the U-Net's skip path)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = _conv3(channels, channels)
        self.conv2 = _conv3(channels, channels)

    def forward(self, h: Tensor) -> Tensor:
        return h + self.conv2(F.relu(self.conv1(h)))


class AINStage(nn.Module):
    """A sequence of AIN-ResBlocks at one resolution sharing one resized σ̂."""

    def __init__(self, channels: int, n_blocks: int, config: ModelConfig):
        super().__init__()
        self.blocks = nn.ModuleList(AINResBlock(channels, config) for _ in range(n_blocks))

    def forward(self, h: Tensor, sigma: Tensor, stats: AINStatistics | None = None) -> Tensor:
        s = resize_to(sigma, h.shape[-2:])  # once per resolution, not once per AIN
        for block in self.blocks:
            h = block(h, s, stats)
            if halted(stats):
                break
        return h


class NoiseEstimator(nn.Module):
    """Noise level estimator (Kim et al. 2020): σ̂ = w·up(coarse) + (1 - w)·fine.

    features: conv 3→C, ReLU, conv C→C, ReLU (full resolution);
    coarse:   avg-pool p₀, conv C→C, ReLU, conv C→C, ReLU, [avg-pool p₁ ...], conv C→3, ReLU
              (1/k resolution, k = p₀·p₁·…);
    fine:     bilinear up-sampling of coarse to full size, conv 3→3, ReLU, conv 3→3, ReLU.
    The ReLUs keep both maps ≥ 0 (a standard deviation). Initialisation keeps every output
    channel alive: the last coarse conv starts near a constant 0.05, the refine convs as identities.

    Args:
        in_channels: image channels (3).
        channels: C (paper: 32).
        pools: average-pooling factors (paper: (4,); released code: (4, 2)).
        coarse_weight: w (paper: 0.8).
    """

    def __init__(
        self, in_channels: int = 3, channels: int = 32, pools: tuple[int, ...] = (4,), coarse_weight: float = 0.8
    ):
        super().__init__()
        self.coarse_factor = math.prod(pools)
        self.coarse_weight = coarse_weight
        self.features = nn.Sequential(_conv3(in_channels, channels), nn.ReLU(), _conv3(channels, channels), nn.ReLU())
        layers: list[nn.Module] = [nn.AvgPool2d(pools[0])]
        layers += [_conv3(channels, channels), nn.ReLU(), _conv3(channels, channels), nn.ReLU()]
        layers += [nn.AvgPool2d(p) for p in pools[1:]]
        layers += [_conv3(channels, in_channels), nn.ReLU()]
        self.coarse = nn.Sequential(*layers)
        self.refine = nn.Sequential(
            _conv3(in_channels, in_channels), nn.ReLU(), _conv3(in_channels, in_channels), nn.ReLU()
        )
        last = self.coarse[-2]
        _init_small_(last)
        nn.init.constant_(last.bias, _SIGMA_INIT)
        for conv in (self.refine[0], self.refine[2]):
            nn.init.dirac_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """y: N×3×H×W with H, W multiples of ``coarse_factor``.

        Returns (σ̂, σ̂_coarse): N×3×H×W and N×3×(H/k)×(W/k), both ≥ 0, in the units of the
        training target (σ of the noise on the [0, 1] scale).
        """
        k = self.coarse_factor
        if y.shape[-2] % k or y.shape[-1] % k:
            raise ValueError(
                f"NoiseEstimator: H and W must be multiples of the coarse factor {k}, got {tuple(y.shape[-2:])}; "
                "pad with trainer.models.aindnet.pad_to_multiple (AINDNet.forward does)"
            )
        coarse = self.coarse(self.features(y))
        up = resize_to(coarse, y.shape[-2:])
        sigma = self.coarse_weight * up + (1.0 - self.coarse_weight) * self.refine(up)
        return sigma, coarse


class AINUNet(nn.Module):
    """Reconstruction U-Net of AIN-ResBlocks; returns the residual (before the global skip).

    Modules are indexed by level (0 = full resolution): ``entries[i]`` (level 0: conv 3→w₀ + ReLU;
    others: 2×2 avg pool, conv w_{i-1}→w_i + ReLU), ``encoder[i]``, and for i < levels - 1
    ``ups[i]`` (transposed conv w_{i+1}→w_i), ``skips[i]`` (ResBlock) and ``decoder[i]``;
    ``out_conv`` is the final 1×1 conv w₀→3.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        w, n = config.widths, len(config.widths)
        self.entries = nn.ModuleList(
            [nn.Sequential(_conv3(config.in_channels, w[0]), nn.ReLU())]
            + [nn.Sequential(nn.AvgPool2d(2), _conv3(w[i - 1], w[i]), nn.ReLU()) for i in range(1, n)]
        )
        self.encoder = nn.ModuleList(AINStage(w[i], config.encoder_blocks[i], config) for i in range(n))
        self.ups = nn.ModuleList(nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2, bias=False) for i in range(n - 1))
        self.skips = nn.ModuleList(ResBlock(w[i]) for i in range(n - 1))
        # decoder_blocks is listed coarsest first; level i is up-sampling step n - 2 - i.
        self.decoder = nn.ModuleList(AINStage(w[i], config.decoder_blocks[n - 2 - i], config) for i in range(n - 1))
        self.out_conv = nn.Conv2d(w[0], config.in_channels, 1)
        if config.out_init == "zero":  # the residual starts at 0: the untrained network is the identity
            nn.init.zeros_(self.out_conv.weight)
            nn.init.zeros_(self.out_conv.bias)
        for up in self.ups:
            nn.init.normal_(up.weight, std=_UP_INIT_STD)

    def forward(self, y: Tensor, sigma: Tensor, stats: AINStatistics | None = None) -> Tensor | None:
        """y: N×3×H×W (H, W multiples of 2**(levels-1)); sigma: N×3×H×W. Returns N×3×H×W, or None when
        ``stats`` halted the pass (trainer.models.ain)."""
        feats: list[Tensor] = []
        h = y
        for entry, stage in zip(self.entries, self.encoder):
            h = stage(entry(h), sigma, stats)
            if halted(stats):
                return None
            feats.append(h)
        h = feats.pop()
        for i in reversed(range(len(self.ups))):
            h = self.decoder[i](self.ups[i](h) + self.skips[i](feats[i]), sigma, stats)
            if halted(stats):
                return None
        return self.out_conv(h)


class AINDNet(nn.Module):
    """AIN denoiser: ``forward(noisy) -> (denoised, sigma_hat)``.

    Args:
        config: architecture (``ModelConfig.paper()`` when None).

    Weights are initialised from torch's global RNG (seed it with ``torch.manual_seed``).
    """

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = config if config is not None else ModelConfig.paper()
        c = self.config
        self.estimator = NoiseEstimator(c.in_channels, c.estimator_channels, c.estimator_pools, c.coarse_weight)
        self.unet = AINUNet(c)

    @property
    def coarse_factor(self) -> int:
        """Down-scaling of the coarse σ̂ map returned with ``return_coarse=True`` (4 for the paper)."""
        return self.config.coarse_factor

    @property
    def out_conv(self) -> nn.Conv2d:
        """The last conv (1×1, to 3 channels) before the global residual."""
        return self.unet.out_conv

    def forward(self, noisy: Tensor, *, return_coarse: bool = False,
                stats: AINStatistics | None = None) -> tuple[Tensor, ...]:
        """Denoise a batch.

        Args:
            noisy: N×3×H×W floating tensor, sRGB in [0, 1] (not checked: values are not clipped),
                any H, W ≥ 1, contiguous or channels_last.
            return_coarse: also return the estimator's coarse map (for the multi-scale loss).
            stats: normalisation statistics for every AIN instead of each feature's own
                (trainer.models.ain; tiled inference); None: instance normalisation, as trained.

        Returns:
            (denoised, sigma_hat), or (denoised, sigma_hat, sigma_coarse) with return_coarse:
            denoised N×3×H×W (not clipped); sigma_hat N×3×H×W ≥ 0, the map that conditions every
            AIN; sigma_coarse N×3×⌈H/k⌉×⌈W/k⌉ ≥ 0, k = ``coarse_factor``, computed on the padded
            image (its last row/column covers reflect-padded pixels when H or W is not a
            multiple of k). All in ``noisy``'s dtype, also under autocast. An empty tuple when
            ``stats`` halted the pass (a statistics pass of tiled inference wants no output).
        """
        if not isinstance(noisy, Tensor):
            raise TypeError(f"AINDNet: expected a torch.Tensor of shape (N, 3, H, W), got {type(noisy).__name__}")
        if noisy.ndim != 4 or noisy.shape[1] != self.config.in_channels:
            raise ValueError(
                f"AINDNet: expected shape (N, {self.config.in_channels}, H, W), got {tuple(noisy.shape)}; "
                "images are NCHW (permute HWC arrays with .permute(2, 0, 1) and add a batch dimension)"
            )
        if not noisy.is_floating_point():
            raise TypeError(f"AINDNet: expected a floating tensor in [0, 1], got {noisy.dtype}; divide uint8 by 255")
        h, w = noisy.shape[-2:]
        y = pad_to_multiple(noisy, self.config.size_multiple)
        sigma, coarse = self.estimator(y)
        residual = self.unet(y, sigma, stats)
        if residual is None:
            return ()
        denoised = y + residual  # global residual
        out = (denoised[..., :h, :w].to(noisy.dtype), sigma[..., :h, :w].to(noisy.dtype))
        if not return_coarse:
            return out
        k = self.coarse_factor
        return (*out, coarse[..., : -(-h // k), : -(-w // k)].to(noisy.dtype))


@dataclass(frozen=True)
class ParameterGroups:
    """Parameter names (as in ``model.named_parameters()``) split for the TF stage."""

    trainable: tuple[str, ...]
    frozen: tuple[str, ...]


def trainable_groups(model: nn.Module) -> ParameterGroups:
    """Split parameters into the TF stage's trainable subset and the frozen rest (Kim et al. 2020).

    Trainable: every AIN module (wherever it sits), the noise estimator, and the last conv of
    every AINDNet inside ``model``; frozen: everything else (the U-Net's convs, transposed convs
    and skip ResBlocks). ``model`` may be an AINDNet or any wrapper around one (DDP,
    torch.compile): names are those of ``model.named_parameters()``.
    """
    chosen: set[int] = set()
    for m in model.modules():
        if isinstance(m, (AIN, NoiseEstimator)):
            chosen.update(id(p) for p in m.parameters())
        elif isinstance(m, AINDNet):
            chosen.update(id(p) for p in m.out_conv.parameters())
    if not chosen:
        raise ValueError(f"trainable_groups: no AIN, NoiseEstimator or AINDNet found in {type(model).__name__}")
    names = list(model.named_parameters())
    return ParameterGroups(
        trainable=tuple(n for n, p in names if id(p) in chosen),
        frozen=tuple(n for n, p in names if id(p) not in chosen),
    )


def freeze_for_tf(model: nn.Module) -> ParameterGroups:
    """Set ``requires_grad`` for the TF stage (trainable subset on, the rest off); return the groups."""
    groups = trainable_groups(model)
    trainable = set(groups.trainable)
    for name, p in model.named_parameters():
        p.requires_grad_(name in trainable)
    return groups


def count_parameters(module: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of scalar parameters (only those with requires_grad when trainable_only)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
