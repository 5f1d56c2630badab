"""The auxiliary diffusion model of Noise-DA: a DDPM noise schedule, forward noising and a small
conditional U-Net that predicts the noise (ε-prediction).

References:
- J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020: the forward
  process q(x_t | x_0) = N(√ᾱ_t·x_0, (1 − ᾱ_t)·I) with ᾱ_t = Π_{s≤t} (1 − β_s) (eq. 4), and the
  simplified ε-prediction objective ‖ε − ε_θ(√ᾱ_t·x_0 + √(1 − ᾱ_t)·ε, t)‖² (eq. 14).
- C. Saharia et al., "Image Super-Resolution via Iterative Refinement" (SR3), 2021: the network is
  conditioned on the continuous noise level γ = ᾱ, drawn uniformly between ᾱ_{t−1} and ᾱ_t for a
  uniformly drawn t, instead of on the integer t.
- K. Liao, Z. Yue, Z. Wang, C. C. Loy, "Denoising as Adaptation: Noise-Space Domain Adaptation for
  Image Restoration", ICLR 2025 (Noise-DA), and its released training configuration for denoising:
  a linear β schedule from 1e-6 to 1e-2 over T = 1000 steps (the defaults here), images on the
  [0, 1] scale, t drawn from {1, …, T − 1}, and 9 input channels: x_t and two 3-channel conditions.

The released model is a guided-diffusion U-Net (64 channels, 4 levels, attention at 16², dropout
0.2). Here the U-Net is deliberately small (``widths``, DAConfig's default 12/24/48, no attention, no
dropout) so that a training step of the `da` stage costs at most twice an SN step (benchmarks/bench_da.py);
it is discarded after training, so only its ability to tell restored images from clean ones matters.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["linear_betas", "cumulative_alphas", "draw_noise_levels", "q_sample", "level_embedding", "CondUNet"]

# Noise-DA's released denoising configuration (beta_schedule.train): linear, 1000 steps, 1e-6 → 1e-2.
DEFAULT_TIMESTEPS, DEFAULT_BETA_START, DEFAULT_BETA_END = 1000, 1e-6, 1e-2
# The noise level γ ∈ [0, 1] is scaled by this before the sinusoidal embedding, so that its
# frequencies (1 … 1e-4 cycles per unit) resolve the levels (the role of DDPM's integer t ∈ [0, 1000)).
LEVEL_SCALE = 1000.0


def linear_betas(timesteps: int = DEFAULT_TIMESTEPS, start: float = DEFAULT_BETA_START,
                 end: float = DEFAULT_BETA_END) -> np.ndarray:
    """β_1 … β_T, evenly spaced from ``start`` to ``end`` (DDPM's linear schedule).

    Args:
        timesteps: T ≥ 2. start, end: 0 < start ≤ end < 1.
    Returns:
        float64 array of shape (T,).
    """
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 2:
        raise ValueError(f"linear_betas: timesteps must be an integer ≥ 2, got {timesteps!r}")
    if not 0.0 < start <= end < 1.0:
        raise ValueError(f"linear_betas: expected 0 < start ≤ end < 1, got start {start!r}, end {end!r}")
    return np.linspace(start, end, timesteps, dtype=np.float64)


def cumulative_alphas(betas: np.ndarray) -> np.ndarray:
    """ᾱ_t = Π_{s≤t} (1 − β_s) for t = 1 … T (float64, decreasing from 1 − β_1 towards 0)."""
    betas = np.asarray(betas, dtype=np.float64)
    if betas.ndim != 1 or not np.all((betas > 0) & (betas < 1)):
        raise ValueError("cumulative_alphas: expected a 1-D array of betas in (0, 1)")
    return np.cumprod(1.0 - betas)


def draw_noise_levels(rng: np.random.Generator, alphas_bar: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """SR3's continuous noise levels for a batch: t ~ U{1, …, T − 1}, γ ~ U(ᾱ_t, ᾱ_{t−1}).

    ``alphas_bar`` holds ᾱ_1 … ᾱ_T at indices 0 … T − 1, as Noise-DA's code indexes them: index t
    draws between entries t − 1 and t, so γ never reaches 1 (a clean x_t) nor ᾱ_T.

    Args:
        rng: the only source of randomness (draws t, then the uniform fraction, in that order).
        alphas_bar: (T,) from ``cumulative_alphas``. n: batch size ≥ 1.
    Returns:
        (t, gamma): int64 (n,) in [1, T − 1] and float64 (n,) in (0, 1).
    """
    if n < 1:
        raise ValueError(f"draw_noise_levels: n must be ≥ 1, got {n}")
    t = rng.integers(1, len(alphas_bar), size=n)
    u = rng.random(n)
    hi, lo = alphas_bar[t - 1], alphas_bar[t]
    return t.astype(np.int64), lo + u * (hi - lo)


def q_sample(x0: Tensor, gamma: Tensor, noise: Tensor) -> Tensor:
    """x_t = √γ·x_0 + √(1 − γ)·ε, a draw of q(x_t | x_0) (DDPM eq. 4 with ᾱ_t = γ).

    Args:
        x0: N×C×H×W clean images ([0, 1] scale, as Noise-DA's denoising setting).
        gamma: (N,) noise levels in (0, 1], one per image.
        noise: ε, N×C×H×W standard normal draws.
    Returns:
        N×C×H×W tensor in x0's dtype.
    """
    if x0.shape != noise.shape or gamma.shape != x0.shape[:1]:
        raise ValueError(f"q_sample: expected x0 and noise of equal shape and gamma of shape (N,), got "
                         f"{tuple(x0.shape)}, {tuple(noise.shape)}, {tuple(gamma.shape)}")
    g = gamma.to(x0.dtype).view(-1, 1, 1, 1)
    return g.sqrt() * x0 + (1 - g).sqrt() * noise


def level_embedding(gamma: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """Sinusoidal embedding (Transformer / DDPM style) of LEVEL_SCALE·γ: (N,) → N×dim float32, dim even."""
    if dim % 2:
        raise ValueError(f"level_embedding: dim must be even, got {dim}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=gamma.device) / half)
    args = LEVEL_SCALE * gamma.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


def _norm(channels: int) -> nn.GroupNorm:
    # Per sample: no statistics are shared across the batch. Up to 8 groups that divide the width.
    return nn.GroupNorm(math.gcd(8, channels), channels)


class _ResBlock(nn.Module):
    """GroupNorm → SiLU → conv 3×3 → GroupNorm·(1 + scale) + shift (from the level embedding) → SiLU →
    conv 3×3, plus the input (1×1 conv when the width changes): guided-diffusion's block without dropout."""

    def __init__(self, c_in: int, c_out: int, emb: int):
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.film = nn.Linear(emb, 2 * c_out)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        y = self.conv1(F.silu(self.norm1(h)))
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
        y = self.conv2(F.silu(self.norm2(y) * (1 + scale) + shift))
        return self.skip(h) + y


class CondUNet(nn.Module):
    """ε_θ(x_t, c_1, c_2, γ): a small U-Net on the 9 channels [x_t, c_1, c_2] conditioned on γ.

    Levels: one residual block per level and width, 2×2 average pooling down, nearest ×2 up with the
    skip feature concatenated, one block per level on the way up; the last conv starts at zero (as
    guided diffusion's), so the untrained model predicts ε̂ = 0.

    Args:
        widths: channels per level (≥ 1 level); the input side must be a multiple of 2^(levels − 1).
        image_channels: C of x_t and of each condition (3). Weights come from torch's global RNG.
    """

    def __init__(self, widths: tuple[int, ...] = (12, 24, 48), image_channels: int = 3):
        super().__init__()
        if not widths or any(w < 1 for w in widths):
            raise ValueError(f"CondUNet: widths must be positive, got {widths!r}")
        self.widths, self.image_channels = tuple(widths), image_channels
        emb = 4 * widths[0]
        self.emb_dim = emb
        self.embed = nn.Sequential(nn.Linear(emb, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.conv_in = nn.Conv2d(3 * image_channels, widths[0], 3, padding=1)
        self.down = nn.ModuleList(_ResBlock(a, b, emb) for a, b in zip((widths[0], *widths[:-1]), widths))
        self.up = nn.ModuleList(_ResBlock(widths[i + 1] + widths[i], widths[i], emb) for i in range(len(widths) - 1))
        self.norm_out = _norm(widths[0])
        self.conv_out = nn.Conv2d(widths[0], image_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    @property
    def size_multiple(self) -> int:
        """What H and W must be multiples of (2 per pooling)."""
        return 2 ** (len(self.widths) - 1)

    def forward(self, x_t: Tensor, cond1: Tensor, cond2: Tensor, gamma: Tensor) -> Tensor:
        """Predict ε.

        Args:
            x_t: N×C×H×W noised clean image. cond1, cond2: N×C×H×W conditions (Noise-DA: the restored
                synthetic and real images, in an order shuffled per sample). gamma: (N,) noise levels.
            H, W: multiples of ``size_multiple``.
        Returns:
            ε̂, N×C×H×W in x_t's dtype.
        """
        h, w = x_t.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple:
            raise ValueError(f"CondUNet: H and W must be multiples of {self.size_multiple}, got {h}×{w}")
        emb = self.embed(level_embedding(gamma, self.emb_dim).to(x_t.dtype))
        feat = self.conv_in(torch.cat([x_t, cond1, cond2], dim=1))
        skips = []
        for i, block in enumerate(self.down):
            if i:
                feat = F.avg_pool2d(feat, 2)
            feat = block(feat, emb)
            skips.append(feat)
        for i in reversed(range(len(self.up))):
            feat = F.interpolate(feat, scale_factor=2, mode="nearest")
            feat = self.up[i](torch.cat([feat, skips[i]], dim=1), emb)
        return self.conv_out(F.silu(self.norm_out(feat)))
