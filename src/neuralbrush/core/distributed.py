"""torchrun helpers: the same command line, more processes.

Under ``torchrun`` the environment carries RANK / WORLD_SIZE / LOCAL_RANK; ``init`` starts a
process group (gloo on CPU, nccl on CUDA). Without torchrun everything is rank 0 of 1.
"""

from __future__ import annotations

import os
from typing import Sequence, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else int(os.environ.get("WORLD_SIZE", 1))


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else int(os.environ.get("RANK", 0))


def is_main() -> bool:
    return rank() == 0


def init(device: torch.device) -> bool:
    """Initialise the process group when launched by torchrun; returns True if distributed."""
    if int(os.environ.get("WORLD_SIZE", 1)) <= 1:
        return False
    if not dist.is_initialized():
        from .device import bind_device, distributed_backend

        bind_device(device)
        dist.init_process_group(backend=distributed_backend(device))
    return True


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(items: Sequence[T]) -> list[T]:
    """This rank's share of ``items`` (round-robin), e.g. video frames to render."""
    r, n = rank(), world_size()
    return [x for i, x in enumerate(items) if i % n == r]


def all_reduce_mean(t: torch.Tensor) -> torch.Tensor:
    """Average a tensor across ranks in place (no-op when not distributed)."""
    if dist.is_available() and dist.is_initialized() and world_size() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t /= world_size()
    return t


def broadcast_module(module: torch.nn.Module, src: int = 0) -> None:
    """Make every rank's parameters and buffers equal to rank ``src``'s."""
    if dist.is_available() and dist.is_initialized() and world_size() > 1:
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=src)
