"""Interval means of the logged values of a training loop, kept on the device (no host sync per step),
and the check that stops a run whose loss or gradient became NaN or infinite (NonFiniteLossError)."""

from __future__ import annotations

import time
from typing import Any

import torch

from trainer.engine.distributed import all_mean, all_sum
from trainer.engine.run_folder import LAST

__all__ = ["Meter", "NonFiniteLossError"]


class NonFiniteLossError(ValueError):
    """The loss or the gradient norm became NaN or infinite; the run stopped before writing anything of it."""


class Meter:
    """Sums of the logged values over a log interval, and a count of steps whose loss or gradient norm
    was not finite, kept on the device (no host sync per step)."""

    def __init__(self, n: int, device: torch.device, step: int):
        self.sums = torch.zeros(n, dtype=torch.float32, device=device)
        self.bad = torch.zeros(1, dtype=torch.float32, device=device)
        self.count, self.step, self.start = 0, step, time.perf_counter()
        self.mark = self.start
        self.checked = step  # the last step known to be finite

    def add(self, values: torch.Tensor) -> None:
        self.sums += values
        self.bad += (~torch.isfinite(values)).any()
        self.count += 1

    def check(self, r: Any) -> None:
        """Raise NonFiniteLossError if any rank saw a non-finite step since the last check (a host sync)."""
        if all_sum(self.bad, r.dist.world).item() > 0:
            if r.dist.is_main:
                r.log.write({"step": r.step, "event": "non-finite", "since": self.checked})
            raise NonFiniteLossError(
                f"the loss or the gradient became NaN or infinite between steps {self.checked} and {r.step}; "
                f"stopped without writing a checkpoint of it ({r.out / LAST} holds the last good weights, if any). "
                f"Lower --lr (now {r.cfg.lr:g}) or check the data (noisegen inspect DATASET --verify), then "
                "--resume")
        self.checked = r.step

    def flush(self, step: int, world: int) -> tuple[list[float], float]:
        """(means over the interval and the ranks, steps per second) and a new interval."""
        means = all_mean(self.sums / max(1, self.count), world).tolist()  # the only host sync per interval
        now = time.perf_counter()
        rate = (step - self.step) / max(now - self.mark, 1e-9)
        self.sums.zero_()
        self.count, self.step, self.mark = 0, step, now
        return means, rate
