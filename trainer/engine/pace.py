"""One early warning when a run cannot finish in reasonable time on its device, naming settings that can.

The paper's settings (SN: 13.8M parameters, 300k steps) take weeks on a CPU, and nothing said so
before: the progress bar's ETA is easy to miss, and it shows only once the bar has moved. ``PaceCheck``
times the steps after the first ``WARM_STEPS`` (which pay for start-up: loader workers, the first
decodes, the allocator) for at least ``MIN_SECONDS`` or ``MIN_STEPS`` steps, projects the steps
left at that pace and, when the projection passes the device's ``LIMIT_S``, says so once, with
options that fit (``pace_warning``). It is a warning: the run goes on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

__all__ = ["PaceCheck", "pace_warning", "LIMIT_S", "WARM_STEPS", "MIN_SECONDS", "MIN_STEPS", "CPU_PRESET"]

# Longer than this is absurd for the device: a CPU run should end within a day (people run them on a
# laptop or a shared server); a one-GPU run of the paper's 300k steps takes about a day, two weeks is not a plan.
LIMIT_S = {"cpu": 24 * 3600.0, "cuda": 14 * 24 * 3600.0}
WARM_STEPS = 2
MIN_SECONDS, MIN_STEPS = 10.0, 20
# The CPU settings of `noisegen-train sn --help` (minutes on a laptop, tiny model: benchmarks/bench_train.py).
CPU_PRESET = {"model": "tiny", "patch": 64, "batch": 8, "steps": 3000}


def _duration(seconds: float) -> str:
    hours = seconds / 3600.0
    if hours < 72:
        return f"{hours:.0f} h"
    return f"{hours:.0f} h ({hours / 24:.0f} days)"


def _round_down(n: float) -> int:
    """n rounded down to two significant digits (12345 → 12000), at least 1."""
    if n < 100:
        return max(1, int(n))
    scale = 10 ** (int(math.log10(n)) - 1)
    return int(n // scale * scale)


def pace_warning(*, rate: float, steps_left: int, device_type: str, settings: dict[str, Any]) -> str | None:
    """The warning line for a run going at ``rate`` steps/s with ``steps_left`` to go, or None when it fits.

    Args:
        rate: measured optimiser steps per second (> 0).
        steps_left: steps this invocation still has to run.
        device_type: "cpu" or "cuda" (``LIMIT_S``).
        settings: the resolved run configuration's fields (``model`` where the stage has one, ``patch``,
            ``batch``); the options suggested are those that differ from ``CPU_PRESET``.
    """
    seconds = steps_left / max(rate, 1e-12)
    limit = LIMIT_S.get(device_type, LIMIT_S["cuda"])
    if seconds <= limit:
        return None
    head = (f"warning: at {rate:.3g} steps/s on {device_type}, the {steps_left} steps left take about "
            f"{_duration(seconds)}")
    if device_type != "cpu":
        return head + f"; fewer --steps (about {_round_down(rate * limit)} fit in {_duration(limit)}) or more GPUs " \
                      "(torchrun) would finish sooner"
    options = [f"--{k} {CPU_PRESET[k]}" for k in ("model", "patch", "batch")
               if k in settings and settings[k] is not None and settings[k] != CPU_PRESET[k]
               and (k == "model" or settings[k] > CPU_PRESET[k])]
    if options:
        options.append(f"--steps {CPU_PRESET['steps']}")
        fits = "finishes in minutes on a laptop"
    else:
        options.append(f"--steps {_round_down(rate * 3600)}")
        fits = "takes about an hour at this pace"
    return head + f". On a CPU, {' '.join(options)} {fits}; or train on a GPU (--device cuda)"


class PaceCheck:
    """Times the first steps of a run and calls ``say`` once with pace_warning's line, if any.

    Args:
        start: the step the run starts from (a resumed run's checkpoint step).
        end: the step this invocation stops at.
        device_type: "cpu" or "cuda". settings: as pace_warning's.
        say: receives the warning. clock: seconds (time.perf_counter; replaceable in tests).
    """

    def __init__(self, start: int, end: int, device_type: str, settings: dict[str, Any],
                 say: Callable[[str], None], clock: Callable[[], float] = time.perf_counter):
        self.end, self.device_type, self.settings, self.say, self.clock = end, device_type, settings, say, clock
        self.first = start + WARM_STEPS
        self.mark: tuple[int, float] | None = None
        self.done = end <= self.first

    def after_step(self, step: int) -> None:
        """Call after each update, with the number of updates done."""
        if self.done or step < self.first:
            return
        now = self.clock()
        if self.mark is None:
            self.mark = (step, now)
            return
        steps, seconds = step - self.mark[0], now - self.mark[1]
        if seconds < MIN_SECONDS and steps < MIN_STEPS and step < self.end:
            return
        self.done = True
        if steps > 0 and seconds > 0:
            msg = pace_warning(rate=steps / seconds, steps_left=self.end - step, device_type=self.device_type,
                               settings=self.settings)
            if msg:
                self.say(msg)
