"""Stopping a run cleanly on Ctrl-C (SIGINT) or SIGTERM, so that `--resume` always has a checkpoint.

The first signal does not interrupt the step in progress (an update cut in half would leave weights
and Adam's moments inconsistent): ``StopRequest`` notes it, the loop finishes the step, writes
OUT/last.pt like a periodic checkpoint and raises ``RunInterrupted``, which the command line turns
into "continue with ... --resume". A second signal stops at once (Python's KeyboardInterrupt),
without saving more than what was saved before. SIGTERM (``kill``, job schedulers, torchrun closing
its workers) is treated like Ctrl-C.

Under torchrun every rank must write the checkpoint at the same step: a rank's request is shared
at the loop's log steps, where the ranks already meet (one all-reduce), so a multi-process run stops
within ``log_every`` steps. A signal that the process inherited as ignored (``nohup``, a background
job of a shell without job control) stays ignored, and handlers are installed only in the main
thread; both are restored when the loop ends. DataLoader workers ignore SIGINT (trainer.data.loader):
Ctrl-C reaches the whole foreground process group, and a worker that died of it would fail the
main process's next batch before the checkpoint could be written.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import torch

from trainer.engine.distributed import all_sum

__all__ = ["StopRequest", "RunInterrupted", "SIGNALS"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(KeyboardInterrupt):
    """A run stopped on a signal after writing its checkpoint. ``signum``: the signal (exit status 128 + it)."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


class StopRequest:
    """Context manager: while active, SIGINT and SIGTERM ask the loop to stop after the current step.

    Args:
        say: receives the one line that acknowledges the first signal.
        world: processes of the run (1: checked after every step; more: at the log steps, all-reduced).
        device: where the all-reduced flag lives (the run's device).
    """

    def __init__(self, say: Callable[[str], None], *, world: int = 1, device: torch.device | None = None):
        self.say, self.world, self.device = say, world, device or torch.device("cpu")
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                if signal.getsignal(s) is not signal.SIG_IGN:
                    self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        self._restore()

    def _restore(self) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:  # the second signal: stop now
            self._restore()
            raise KeyboardInterrupt
        self.signum = signum
        self.say(f"{signal.Signals(signum).name}: stopping after this step to write the checkpoint "
                 "(a second Ctrl-C or SIGTERM stops at once, without it)")

    def due(self, step: int, log_every: int) -> bool:
        """True when the run should stop now, after update ``step`` (the same answer on every rank)."""
        if self.world == 1:
            return self.signum is not None
        if step % log_every:
            return False
        flag = torch.tensor([0.0 if self.signum is None else 1.0], device=self.device)
        return all_sum(flag, self.world).item() > 0

    @property
    def name(self) -> str:
        """The signal's name (SIGINT, SIGTERM; "signal" when another rank received it)."""
        return signal.Signals(self.signum).name if self.signum is not None else "signal"
