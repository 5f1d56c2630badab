"""The reader's error handlers: a damaged shard or sample is reported to a handler, counted, and the
stream goes on with the next one (one bad sample never ends a run)."""

from __future__ import annotations

import warnings

__all__ = ["DamagedDataWarning", "DamageCounter", "QuietDamageCounter"]


class DamagedDataWarning(UserWarning):
    """A shard or sample could not be read and was skipped."""


class DamageCounter:
    """Error handler of the stages: warn, count, keep the last messages, continue (returns True).

    ``streak`` counts the damage reports since the last good sample (``good()``, called by
    decode_samples for each sample it delivers): a consumer can stop with a message naming the
    cause when nothing usable arrives any more (e.g. every shard missing or damaged), instead of
    waiting forever on an endless, resampled stream.
    """

    def __init__(self, keep: int = 100) -> None:
        self.count = 0
        self.streak = 0
        self.messages: list[str] = []
        self._keep = keep

    def message(self, exn: BaseException) -> str:
        where = next((a for a in reversed(exn.args) if isinstance(a, str) and a.endswith(".tar")), None)
        text = str(exn.args[0]) if exn.args else repr(exn)
        return f"skipping damaged data{' in ' + where if where else ''}: {type(exn).__name__}: {text[:300]}"

    def __call__(self, exn: BaseException) -> bool:
        self.count += 1
        self.streak += 1
        msg = self.message(exn)
        self.messages = (self.messages + [msg])[-self._keep:]
        self.warn(msg)
        return True

    def warn(self, msg: str) -> None:
        warnings.warn(msg, DamagedDataWarning, stacklevel=3)

    def good(self) -> None:
        """A usable sample arrived: the streak of damage starts again from 0."""
        self.streak = 0


class QuietDamageCounter(DamageCounter):
    """A DamageCounter that only counts and keeps messages (loader workers report through their batches)."""

    def warn(self, msg: str) -> None:
        pass
