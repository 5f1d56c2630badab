"""Process-wide state a training run touches: the global RNGs, torch's thread count, cuDNN/TF32 flags.

A run seeds the global RNGs (the weights' initialisation draws from torch's), sets torch's
intra-op threads and, on CUDA, turns on cuDNN's autotuner and TF32 matmuls. ``preserved_global_state``
saves all of it and puts it back when the run ends, so that calling ``train`` or ``transfer`` from
Python (a notebook, the tests, an experiment script) leaves the caller's process as it found it.

``rng_state`` / ``set_rng_state`` also serve the checkpoints: their dicts hold only tensors and
plain Python values (weights_only-safe).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

__all__ = ["rng_state", "set_rng_state", "preserved_global_state", "torch_threads", "apply_numerics"]


def rng_state() -> dict[str, Any]:
    """Every global RNG state (torch CPU/CUDA, numpy's legacy global, Python's), weights_only-safe."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, words, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"name": str(name), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": [int(version), [int(w) for w in words], gauss_next],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of rng_state (CUDA states are restored when the same number of devices is visible)."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["name"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    version, words, gauss_next = state["python"]
    random.setstate((version, tuple(words), gauss_next))


def _flags() -> tuple[bool, bool, bool]:
    return (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)


def _set_flags(benchmark: bool, matmul_tf32: bool, cudnn_tf32: bool) -> None:
    torch.backends.cudnn.benchmark = benchmark
    torch.backends.cuda.matmul.allow_tf32 = matmul_tf32
    torch.backends.cudnn.allow_tf32 = cudnn_tf32


@contextlib.contextmanager
def preserved_global_state() -> Iterator[None]:
    """Restore on exit (also after an error) the global RNG states, torch's intra-op thread count,
    ``cudnn.benchmark`` and the two TF32 flags, whatever the body changed."""
    rng, threads, flags = rng_state(), torch.get_num_threads(), _flags()
    try:
        yield
    finally:
        set_rng_state(rng)
        torch.set_num_threads(threads)
        _set_flags(*flags)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the body with ``threads`` torch intra-op threads (None: as they are), restoring the count after."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def apply_numerics(device: torch.device, *, seed: int | None = None, threads: int | None = None) -> None:
    """A run's numerics: seed the global RNGs (when ``seed`` is given); on CPU use ``threads`` intra-op
    threads (None: leave them); on CUDA turn on cuDNN's autotuner and TF32 (fast; not bit-reproducible).

    Call it inside ``preserved_global_state``.
    """
    if seed is not None:
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
    if device.type == "cpu":
        if threads is not None:
            torch.set_num_threads(threads)
    else:
        _set_flags(True, True, True)
