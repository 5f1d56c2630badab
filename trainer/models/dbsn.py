"""D-BSN: the dilated blind-spot network, its Σ_μ head and its noise estimator (CNN_est).

Reference: X. Wu, M. Liu, Y. Cao, D. Ren, W. Zuo, "Unpaired Learning of Deep Image Denoising",
ECCV 2020, §3 (facts, widths and dilations from the paper and the authors' released code; written
here from those facts). Optional pixel-shuffle down-sampling and R³ from AP-BSN (Lee, Son, Lee,
CVPR 2022; trainer.models.pd). Architecture (trainer.models.dbsn_config.DBSNConfig):

    h  = ReLU(conv1×1(y))                                      3 → width
    b_k = Branch_k(h),  k ∈ kernels (3, 5):  MaskedConv k×k → ReLU → (conv1×1 → ReLU) ×2
                                             → blocks × DilatedBlock(dilation (k + 1)/2) → conv1×1
    f  = conv1×1(concat_k b_k)                                 the fused features
    μ  = conv1×1 → ReLU → conv1×1 → ReLU → conv1×1 (f)         3 channels (+ the 8-neighbour mean of y when
                                                               config.neighbour_skip: not in the paper)
    L_μ = chol(1×1 head(f)),  L_n = chol(1×1 estimator(μ, detached))   Cholesky factors of Σ_μ, Σ_n

Blind spot: the k×k head has its centre weight masked, so it reaches offsets a with 0 < |a|∞ ≤ (k−1)/2;
every later spatial conv is dilated by d = (k + 1)/2 and reaches only multiples of d; a + d·m = 0 needs
|a_i| = d·|m_i| with |a_i| < d, i.e. a = 0, which the mask excludes. So μ and Σ_μ at a pixel never depend
on the noisy value of that pixel (tests/training/models/test_dbsn.py checks the gradient). 1×1 convs
mix only channels of the same pixel; zero padding adds no path.

Noise estimator: 1×1 convs on μ, detached (the noise level of a pixel as a function of its clean
estimate: the sRGB noise level function, signal dependent per channel, with cross-channel covariance).
The released code feeds it μ for signal-dependent (Poisson-Gaussian) noise; detaching keeps the noise
model from pulling μ towards intensities where it predicts more noise.

Outputs: ``forward(y, heads=True)`` gives (μ, L_μ, L_n) for the training loss, computed on the PD
sub-images of stride ``pd_train`` and mapped back; ``forward(y)`` gives (x̂, σ): the denoised image (MAP
combination of μ and y, or μ; with R³ when configured) at PD stride ``pd_infer``, and σ = √diag Σ_n, the
per-channel noise level in the image's units: the same (denoised, sigma) contract as AINDNet, so `eval`,
`denoise` and the engine's validation use either network. Any H×W works (zero padding to the PD stride).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trainer.models.dbsn_config import DBSNConfig
from trainer.models.from_state import checked_model
from trainer.models.gaussian3 import diag_std, factor_from_raw, map_combine
from trainer.models.pd import pad_to, pd_down, pd_up, r3_masks

__all__ = ["DBSN", "MaskedConv2d", "DilatedBlock", "Branch", "HEAD_GAIN", "MU_FLOOR", "NOISE_FLOOR",
           "dbsn_from_state", "neighbour_mean"]

# Floors of the Cholesky diagonals (standard-deviation units of [0, 1] images). Σ_n: 1e-3, the released
# code's; below the std of 8-bit rounding (1/255/√12 ≈ 1.1e-3), so no real camera is cut off. Σ_μ: 1e-4,
# so that μ can be trusted almost fully in flat regions.
NOISE_FLOOR = 1e-3
MU_FLOOR = 1e-4
# The Σ heads' outputs are multiplied by HEAD_GAIN and their last 1×1 convs start at zero (so a fresh network
# starts from Σ_μ = Σ_n = 0.018²·I, trainer.models.gaussian3.SOFTPLUS_SHIFT). Adam moves each parameter by about
# lr per step whatever its gradient, and a Cholesky diagonal ≈ σ·exp(output): without a gain σ moved about
# 0.2% per step at lr 1e-3 (tiny model on PolyU100, 150 steps: the noise model lagged μ, the residual stayed
# at 2-4σ); with 8 it keeps pace.
HEAD_GAIN = 8.0


class MaskedConv2d(nn.Conv2d):
    """k×k convolution (k odd, 'same' zero padding) whose centre tap is always zero: blind to its own pixel."""

    def __init__(self, channels_in: int, channels_out: int, kernel: int):
        if kernel < 3 or kernel % 2 == 0:
            raise ValueError(f"MaskedConv2d: expected an odd kernel >= 3, got {kernel}")
        super().__init__(channels_in, channels_out, kernel, padding=kernel // 2)
        mask = torch.ones(1, 1, kernel, kernel)
        mask[..., kernel // 2, kernel // 2] = 0
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


def _conv1(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1)


class DilatedBlock(nn.Module):
    """Three paths on the input (1×1 → 5×5 dilated; 1×1 → 3×3 dilated; 1×1), each with ReLUs, fused by a
    1×1 conv + ReLU and added to the input, then two 1×1 conv + ReLU (the released code's block layout)."""

    def __init__(self, width: int, dilation: int):
        super().__init__()
        d = dilation
        self.wide = nn.Sequential(_conv1(width, width), nn.ReLU(), nn.Conv2d(width, width, 5, padding=2 * d,
                                                                             dilation=d), nn.ReLU())
        self.narrow = nn.Sequential(_conv1(width, width), nn.ReLU(), nn.Conv2d(width, width, 3, padding=d,
                                                                               dilation=d), nn.ReLU())
        self.point = nn.Sequential(_conv1(width, width), nn.ReLU())
        self.fuse = _conv1(3 * width, width)
        self.mix = nn.Sequential(_conv1(width, width), nn.ReLU(), _conv1(width, width), nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.fuse(torch.cat([self.wide(x), self.narrow(x), self.point(x)], dim=1)))
        return self.mix(h + x)


class Branch(nn.Module):
    """Centre-masked k×k conv → ReLU → two 1×1 conv + ReLU → ``blocks`` DilatedBlocks (dilation (k+1)/2) → 1×1."""

    def __init__(self, width: int, kernel: int, blocks: int):
        super().__init__()
        layers: list[nn.Module] = [MaskedConv2d(width, width, kernel), nn.ReLU(), _conv1(width, width), nn.ReLU(),
                                   _conv1(width, width), nn.ReLU()]
        layers += [DilatedBlock(width, (kernel + 1) // 2) for _ in range(blocks)]
        layers.append(_conv1(width, width))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


def _pointwise_net(cin: int, width: int, layers: int, cout: int) -> nn.Sequential:
    """``layers`` 1×1 convs: cin → width (ReLU) → … → cout (no activation)."""
    mods: list[nn.Module] = []
    for i in range(layers - 1):
        mods += [_conv1(cin if i == 0 else width, width), nn.ReLU()]
    return nn.Sequential(*mods, _conv1(cin if layers == 1 else width, cout))


def neighbour_mean(x: Tensor) -> Tensor:
    """The mean of each pixel's 8 neighbours (those inside the image at the borders), per channel: blind to the
    pixel itself. N×C×H×W → N×C×H×W."""
    c = x.shape[1]
    k = torch.ones(c, 1, 3, 3, dtype=x.dtype, device=x.device)
    k[:, :, 1, 1] = 0
    total = F.conv2d(x, k, padding=1, groups=c)
    count = F.conv2d(torch.ones_like(x[:, :1]), k[:1], padding=1)
    return total / count


class DBSN(nn.Module):
    """The D-BSN with its Σ_μ head and noise estimator (module docstring).

    Attributes: config (DBSNConfig; its ``to_dict()`` is a checkpoint's ``model_config``).
    """

    def __init__(self, config: DBSNConfig | None = None):
        super().__init__()
        self.config = c = config or DBSNConfig()
        self.head = nn.Sequential(_conv1(3, c.width), nn.ReLU())
        self.branches = nn.ModuleList(Branch(c.width, k, c.blocks) for k in c.kernels)
        self.fuse = _conv1(len(c.kernels) * c.width, c.width)
        self.tail = nn.Sequential(_conv1(c.width, c.width), nn.ReLU(), _conv1(c.width, c.width), nn.ReLU(),
                                  _conv1(c.width, 3))
        self.sigma_mu = _pointwise_net(c.width, c.sigma_mu_width, c.sigma_mu_layers, 6)
        self.estimator = _pointwise_net(3, c.sigma_n_width, c.sigma_n_layers, 6)
        for m in self.modules():  # He initialisation, as the released code (init_weights, kaiming): PyTorch's default
            # shrinks the signal by about 6× per conv + ReLU, and through this plain stack of ~20 convs μ
            # started as a constant and learnt slowly (tiny model, PolyU100: 25.7 dB after 1000 steps, against
            # 36.6 dB for the mean of the 8 neighbours)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        zero = [self.sigma_mu[-1], self.estimator[-1]]  # HEAD_GAIN: the Σ heads start at zero
        if c.neighbour_skip:
            zero.append(self.tail[-1])  # μ starts as the mean of the 8 neighbours
        for conv in zero:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def _bsn(self, m: Tensor) -> tuple[Tensor, Tensor]:
        """(μ, raw Σ_μ factor) of the blind-spot network on images (or PD sub-images), N×3 and N×6 × H×W."""
        h = self.head(m)
        f = self.fuse(torch.cat([b(h) for b in self.branches], dim=1))
        mu = self.tail(f)
        if self.config.neighbour_skip:
            mu = mu + neighbour_mean(m)
        return mu, self.sigma_mu(f) * HEAD_GAIN

    def heads(self, y: Tensor, stride: int) -> tuple[Tensor, Tensor, Tensor]:
        """(μ N×3×H×W, L_μ N×6×H×W, L_n N×6×H×W) of y (N×3×H×W, [0, 1]) with PD stride ``stride`` (1: none).

        μ, L_μ and L_n are float32 whatever the autocast dtype (the Gaussian algebra needs the bits).
        """
        if y.ndim != 4 or y.shape[1] != 3:
            raise ValueError(f"DBSN: expected an N×3×H×W image batch, got {tuple(y.shape)}")
        x, (h, w) = pad_to(y, stride)
        mu, raw = self._bsn(pd_down(x, stride))
        mu, raw = pd_up(mu, stride), pd_up(raw, stride)
        mu, raw = mu[..., :h, :w].float(), raw[..., :h, :w].float()
        L_mu = factor_from_raw(raw, MU_FLOOR)
        L_n = factor_from_raw(self.estimator(mu.detach().to(y.dtype)).float() * HEAD_GAIN, NOISE_FLOOR)
        return mu, L_mu, L_n

    def denoise(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """(x̂, σ), both N×3×H×W float32: the denoised image (config.output, R³ when configured) and √diag Σ_n."""
        c = self.config
        mu, L_mu, L_n = self.heads(y, c.pd_infer)
        x = map_combine(mu, y.float(), L_mu, L_n) if c.output == "map" else mu
        if c.r3_steps:
            x = self.refine(x, y)
        return x, diag_std(L_n)

    def refine(self, x: Tensor, y: Tensor) -> Tensor:
        """R³ (trainer.models.pd): the mean of μ over r3_steps passes without PD, each on x with a random
        fraction r3_prob of its elements replaced by y's (masks seeded by config.r3_seed)."""
        c = self.config
        masks = r3_masks(tuple(y.shape), c.r3_steps, c.r3_prob, c.r3_seed).to(y.device)
        acc = torch.zeros_like(x, dtype=torch.float32)
        for m in masks:
            mu, _ = self._bsn(torch.where(m, y.to(x.dtype), x).to(y.dtype))
            acc += mu.float()
        return acc / c.r3_steps

    def forward(self, y: Tensor, heads: bool = False) -> tuple[Tensor, ...]:
        """heads=True: (μ, L_μ, L_n) at stride config.pd_train (training); else (x̂, σ) (inference)."""
        if heads:
            return self.heads(y, self.config.pd_train)
        return self.denoise(y)


def dbsn_from_state(state: dict, where: str) -> DBSN:
    """A freshly initialised DBSN of a checkpoint's ``model_config``, checked against its stored weights first
    (built on the "meta" device: a damaged or hostile configuration fails before anything is allocated).

    Raises:
        ValueError: a damaged configuration, or one whose parameter names and shapes differ from the weights.
    """
    try:
        config = DBSNConfig.from_dict(state["model_config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: damaged D-BSN configuration ({str(exc)[:200]})") from None
    return checked_model(state, where, lambda: DBSN(config), config.blocks * len(config.kernels), "D-BSN")
