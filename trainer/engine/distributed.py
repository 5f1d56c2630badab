"""Process group and device set-up for one process of a (possibly distributed) run.

Launched by torchrun (``torchrun --nproc_per_node N -m trainer sn ...``), a process finds RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT in its environment and joins the group:
NCCL on CUDA (one GPU per process, cuda:LOCAL_RANK), gloo on CPU. Without WORLD_SIZE > 1 the run is
a single process and nothing is initialised.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "resolve_device", "init_distributed", "all_gather_objects", "barrier", "all_mean", "all_sum"]


@dataclass(frozen=True)
class DistInfo:
    """rank, world (size), local_rank, device, and whether this call created the process group."""

    rank: int
    world: int
    local_rank: int
    device: torch.device
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def close(self) -> None:
        """Destroy the process group if this process created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """"auto" → cuda:LOCAL_RANK when CUDA is available, else cpu; "cuda" without CUDA is an error."""
    if name not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device: expected auto, cpu or cuda, got {name!r}")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError("device cuda: no CUDA device is available to this PyTorch (use --device cpu or auto)")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the torchrun process group when WORLD_SIZE > 1 (gloo on CPU, NCCL on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world <= 1:
        return DistInfo(0, 1, 0, dev)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo", rank=rank, world_size=world)
        owns = True
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, dev, owns)


def all_gather_objects(obj: Any, world: int) -> list[Any]:
    """[obj of rank 0, obj of rank 1, ...] (just [obj] in a single process)."""
    if world <= 1:
        return [obj]
    out: list[Any] = [None] * world
    dist.all_gather_object(out, obj)
    return out


def barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


def all_sum(values: torch.Tensor, world: int) -> torch.Tensor:
    """Sum over ranks of a tensor (a new tensor); the tensor itself in a single process."""
    if world <= 1:
        return values
    values = values.clone()
    dist.all_reduce(values)
    return values


def all_mean(values: torch.Tensor, world: int) -> torch.Tensor:
    """Mean over ranks of a float tensor; the tensor itself in a single process."""
    return values if world <= 1 else all_sum(values, world) / world
