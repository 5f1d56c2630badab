"""D-BSN configuration: one frozen dataclass for the network and how it is applied; no torch import.

Architecture facts from Wu, Liu, Cao, Ren, Zuo, "Unpaired Learning of Deep Image Denoising", ECCV
2020 (D-BSN, §3.2-3.3) and the authors' released code (XHWXD/DBSN, ``dbsn_color``), read, not copied:
a 1×1 head to ``width`` channels; two branches, one starting with a centre-masked 3×3 convolution and
one with a centre-masked 5×5, each followed by dilated blocks whose dilation is (k + 1)/2 (2 and 3)
so that no path ever reaches the centre; the branches are fused by 1×1 convolutions to μ. Released
widths: 96 channels, 8 blocks per branch; the Σ_μ head has 3 1×1 layers of 32 channels on the fused
features, the noise estimator (CNN_est) 5 1×1 layers of 32 channels.

Application (recorded in every checkpoint, so `eval` and `denoise` apply the network as trained):
pixel-shuffle down-sampling with stride ``pd_train`` while training and ``pd_infer`` at inference
(Lee, Son, Lee, "AP-BSN: Self-Supervised Denoising for Real-World Images via Asymmetric PD and
Blind-Spot Network", CVPR 2022: 5 and 2; 1 = no PD, the D-BSN paper; the sub-images are run as a batch,
trainer.models.pd), its random-replacing refinement R³ (``r3_steps`` T = 8 passes, replacement
probability ``r3_prob`` p = 0.16; 0 passes = off), and the output: the MAP combination of μ and the
noisy input ("map", the D-BSN paper's Bayes step) or μ alone ("mu").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from noisegen.dataclass_json import dataclass_from_dict, dataclass_to_dict

__all__ = ["DBSNConfig", "DBSN_CONFIGS", "DBSN_NETWORK", "DBSN_OUTPUTS", "is_dbsn_config"]

DBSN_NETWORK = "dbsn"  # the value of DBSNConfig.network: what a checkpoint's model_config says it holds
DBSN_OUTPUTS = ("map", "mu")


def is_dbsn_config(d: Any) -> bool:
    """True when a checkpoint's ``model_config`` dict describes a D-BSN (AINDNet configs have no "network")."""
    return isinstance(d, dict) and d.get("network") == DBSN_NETWORK


def _int(owner: str, name: str, value: Any, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ValueError(f"{owner}.{name}: expected an integer >= {lo}, got {value!r}")
    return value


@dataclass(frozen=True)
class DBSNConfig:
    """The D-BSN, its Σ_μ head and noise estimator, and how the network is applied (module docstring).

    Attributes:
        network: always "dbsn" (tells a D-BSN checkpoint from an AINDNet one).
        width: feature channels of the blind-spot network. Released code: 96.
        blocks: dilated blocks per branch. Released: 8.
        kernels: the centre-masked head kernel of each branch (odd, ≥ 3); the branch's dilation is
            (k + 1)/2. Paper: (3, 5).
        sigma_mu_width, sigma_mu_layers: the 1×1 Σ_μ head on the fused features. Released: 32, 3.
        sigma_n_width, sigma_n_layers: the 1×1 noise estimator on μ. Released: 32, 5.
        pd_train, pd_infer: pixel-shuffle down-sampling stride while training and at inference (1: none).
        r3_steps, r3_prob, r3_seed: R³ passes T (0: off; only with pd_infer > 1), replacement
            probability p, and the seed of its masks (the same input gives the same output).
        output: "map" (MAP combination of μ and y) or "mu".
        neighbour_skip: μ = the mean of the 8 neighbours + the network's correction, the correction's last conv
            starting at zero (trainer.models.dbsn.neighbour_mean; blind to the centre like the network). Not in
            the paper (the released architecture: False, ``paper()``); on for the CPU-sized configurations, which
            otherwise start from an arbitrary μ and take hundreds of steps to reach what that mean gives at once.
    """

    network: str = DBSN_NETWORK
    width: int = 96
    blocks: int = 8
    kernels: tuple[int, ...] = (3, 5)
    sigma_mu_width: int = 32
    sigma_mu_layers: int = 3
    sigma_n_width: int = 32
    sigma_n_layers: int = 5
    pd_train: int = 1
    pd_infer: int = 1
    r3_steps: int = 0
    r3_prob: float = 0.16
    r3_seed: int = 0
    output: str = "map"
    neighbour_skip: bool = True

    def __post_init__(self) -> None:
        put, owner = object.__setattr__, "DBSNConfig"
        if self.network != DBSN_NETWORK:
            raise ValueError(f"{owner}.network: expected {DBSN_NETWORK!r}, got {self.network!r}")
        for name, lo in (("width", 1), ("blocks", 0), ("sigma_mu_width", 1), ("sigma_mu_layers", 1),
                         ("sigma_n_width", 1), ("sigma_n_layers", 1), ("pd_train", 1), ("pd_infer", 1),
                         ("r3_steps", 0), ("r3_seed", 0)):
            _int(owner, name, getattr(self, name), lo)
        try:
            kernels = tuple(self.kernels)
        except TypeError:
            raise ValueError(f"{owner}.kernels: expected a sequence of odd ints >= 3, got {self.kernels!r}") from None
        if not kernels or any(isinstance(k, bool) or not isinstance(k, int) or k < 3 or k % 2 == 0 for k in kernels):
            raise ValueError(f"{owner}.kernels: expected odd ints >= 3 (centre-masked heads), got {self.kernels!r}")
        put(self, "kernels", kernels)
        p = self.r3_prob
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p) or not 0 < p < 1:
            raise ValueError(f"{owner}.r3_prob: expected a number in (0, 1), got {p!r}")
        put(self, "r3_prob", float(p))
        if not isinstance(self.neighbour_skip, bool):
            raise ValueError(f"{owner}.neighbour_skip: expected True or False, got {self.neighbour_skip!r}")
        if self.output not in DBSN_OUTPUTS:
            raise ValueError(f"{owner}.output: expected one of {DBSN_OUTPUTS}, got {self.output!r}")
        if self.r3_steps and self.pd_infer == 1:
            raise ValueError(f"{owner}: R³ (r3_steps {self.r3_steps}) refines a PD output; it needs pd_infer > 1")

    @property
    def size_multiple(self) -> int:
        """Tiles of trainer.infer.inference start on multiples of this: the inference PD stride (the
        network pads any size itself)."""
        return self.pd_infer

    def dilations(self) -> tuple[int, ...]:
        """The dilation of each branch's blocks: (k + 1)/2 for head kernel k, the smallest that skips the centre."""
        return tuple((k + 1) // 2 for k in self.kernels)

    @classmethod
    def paper(cls) -> DBSNConfig:
        """The released configuration (module docstring), without the neighbour skip."""
        return cls(neighbour_skip=False)

    @classmethod
    def small(cls) -> DBSNConfig:
        """CPU-sized: 32 channels, 3 blocks per branch, 16-channel heads (same code path); 307,103 parameters,
        about 3 s per step of 8 crops of 80² on one loaded CPU core."""
        return cls(width=32, blocks=3, sigma_mu_width=16, sigma_n_width=16)

    @classmethod
    def tiny(cls) -> DBSNConfig:
        """For CPU experiments: 16 channels, 2 blocks per branch, 16-channel heads; 56,703 parameters, about
        1 s per step of 8 crops of 80² on one loaded CPU core (measured with torch 2.13, load average 7 on 2 cores)."""
        return cls(width=16, blocks=2, sigma_mu_width=16, sigma_n_width=16)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (tuples → lists); stored as a checkpoint's ``model_config``."""
        return dataclass_to_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DBSNConfig:
        """Inverse of to_dict; unknown keys are an error."""
        return dataclass_from_dict(cls, d)


# Named constructors (the CLI's --model paper|small|tiny of `noisegen-train dbsn`).
DBSN_CONFIGS: dict[str, Callable[[], DBSNConfig]] = {
    "paper": DBSNConfig.paper,
    "small": DBSNConfig.small,
    "tiny": DBSNConfig.tiny,
}
