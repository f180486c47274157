"""Pieces of the GAN trainer that are not the loop: real-image feeding, gradient averaging across
ranks, transfer-learning weight loading, Freeze-D, grids. (Optimiser and RNG state as tensors are
shared with pix2pix: :mod:`neuralbrush.core.training`.)"""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ..core.errors import UsageError

# -- real images ------------------------------------------------------------------------------------


class RealImages:
    """Uniformly sampled real images as uint8 NCHW batches.

    Small datasets (under ``cache_bytes``) are decoded once into memory; larger ones are decoded
    per batch by a thread pool. Indices come from the caller's generator, so the data order is
    part of the resumable, rank-consistent training state.
    """

    def __init__(self, dataset: torch.utils.data.Dataset, *, cache_bytes: int = 1 << 30, workers: int = 4) -> None:
        self.dataset = dataset
        self.size = len(dataset)
        img0, c0 = dataset[0]
        self.shape = tuple(img0.shape)
        self.label_dim = int(c0.numel())
        self._pool = concurrent.futures.ThreadPoolExecutor(max(1, workers))
        self.images: torch.Tensor | None = None
        self.labels: torch.Tensor | None = None
        if self.size * img0.numel() <= cache_bytes:
            items = list(self._pool.map(dataset.__getitem__, range(self.size)))
            self.images = torch.stack([x for x, _ in items])
            self.labels = torch.stack([c.float() for _, c in items]) if self.label_dim else torch.zeros(self.size, 0)

    def get(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.images is not None:
            return self.images[indices], self.labels[indices]
        items = list(self._pool.map(self.dataset.__getitem__, indices.tolist()))
        return torch.stack([x for x, _ in items]), torch.stack([c.float() for _, c in items]) if self.label_dim \
            else torch.zeros(len(items), 0)

    def first(self, count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """A fixed random subset (for the reals grid and metrics)."""
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(self.size, generator=g)[: min(count, self.size)]
        return self.get(idx)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0,255] -> float [-1,1]."""
    return images.float() / 127.5 - 1


def set_threads(threads: int) -> None:
    """Intra-op threads. On a CPU that other processes already saturate, OpenMP threads spin
    against each other (measured here: one step 5-10x slower with 2 threads than with 1), so
    ``0`` (auto) picks 1 thread when the load average is at least the core count."""
    import os

    if threads > 0:
        torch.set_num_threads(threads)
    elif hasattr(os, "getloadavg") and os.getloadavg()[0] >= (os.cpu_count() or 1):
        torch.set_num_threads(1)


# -- gradients across ranks -------------------------------------------------------------------------


def average_grads(module: nn.Module) -> None:
    """All-reduce mean of gradients in one flat buffer (NaN/Inf scrubbed, as NVlabs do)."""
    from ..core import distributed as dist

    params = [p for p in module.parameters() if p.grad is not None]
    if not params:
        return
    if dist.world_size() > 1:
        flat = torch.cat([p.grad.flatten() for p in params])
        dist.all_reduce_mean(flat)
        torch.nan_to_num(flat, nan=0, posinf=1e5, neginf=-1e5, out=flat)
        for p, g in zip(params, flat.split([p.numel() for p in params])):
            p.grad.copy_(g.view_as(p))
    else:
        for p in params:
            torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)


def reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` over ranks in place (ADA's sign counts)."""
    from ..core import distributed as dist

    if dist.world_size() > 1:
        import torch.distributed as tdist

        tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
    return t


# -- transfer learning ------------------------------------------------------------------------------


@dataclass
class TransferReport:
    """What a --resume source gave each network."""

    loaded: dict[str, list[str]]
    skipped: dict[str, list[tuple[str, str]]]  # name -> (tensor, why)

    def table(self) -> str:
        lines = [f"{'network':8} {'loaded':>7} {'skipped':>8}"]
        for net in self.loaded:
            lines.append(f"{net:8} {len(self.loaded[net]):7d} {len(self.skipped[net]):8d}")
        for net, items in self.skipped.items():
            for name, why in items[:20]:
                lines.append(f"  skipped {net}.{name}: {why}")
            if len(items) > 20:
                lines.append(f"  ... and {len(items) - 20} more in {net}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"loaded": self.loaded, "skipped": {k: [list(x) for x in v] for k, v in self.skipped.items()}}


def copy_matching(dst: nn.Module, src_state: dict[str, torch.Tensor] | None) -> tuple[list[str], list[tuple[str, str]]]:
    """Copy tensors whose name and shape match; returns (loaded, skipped with reasons)."""
    own = dst.state_dict()
    loaded, skipped = [], []
    if src_state is None:
        return [], [(k, "source has no such network") for k in own]
    with torch.no_grad():
        for k, v in own.items():
            if k not in src_state:
                skipped.append((k, "not in source"))
            elif tuple(src_state[k].shape) != tuple(v.shape):
                skipped.append((k, f"shape {tuple(src_state[k].shape)} vs ours {tuple(v.shape)}"))
            else:
                v.copy_(src_state[k].to(v.dtype))
                loaded.append(k)
    return loaded, skipped


def load_transfer_source(source: str, G: nn.Module, D: nn.Module, G_ema: nn.Module) -> TransferReport:
    """Load matching layers from a snapshot, run dir, weights-store name or NVIDIA .pkl."""
    from .loading import load_gan

    snap = load_gan(source)
    report = TransferReport(loaded={}, skipped={})
    g_src = snap.G if snap.G is not None else snap.G_ema
    ema_src = snap.G_ema if snap.G_ema is not None else snap.G
    for name, module, src in (("G", G, g_src), ("D", D, snap.D), ("G_ema", G_ema, ema_src)):
        state = src.state_dict() if src is not None else None  # no D published: D starts from scratch
        report.loaded[name], report.skipped[name] = copy_matching(module, state)
    return report


# -- Freeze-D ---------------------------------------------------------------------------------------


def discriminator_layers(D: nn.Module) -> list[list[nn.Parameter]]:
    """Trainable layers of D ordered from the highest resolution (Freeze-D counts these)."""
    layers: list[list[nn.Parameter]] = []
    if hasattr(D, "block_resolutions"):
        for res in D.block_resolutions:
            block = getattr(D, f"b{res}")
            for name in ("fromrgb", "conv0", "conv1", "skip"):
                if hasattr(block, name):
                    layers.append(list(getattr(block, name).parameters()))
        return [l for l in layers if l]
    # Generic (DCGAN): each conv with the normalisation that follows it.
    for m in D.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            layers.append(list(m.parameters(recurse=False)))
        elif isinstance(m, nn.BatchNorm2d) and layers:
            layers[-1].extend(m.parameters(recurse=False))
    return layers


def frozen_parameters(D: nn.Module, freezed: int) -> set[int]:
    """ids of the parameters of the first ``freezed`` layers."""
    if freezed <= 0:
        return set()
    layers = discriminator_layers(D)
    if freezed >= len(layers):
        raise UsageError(f"--freezed {freezed} would freeze all {len(layers)} layers of the discriminator")
    return {id(p) for layer in layers[:freezed] for p in layer}


# -- grids ------------------------------------------------------------------------------------------


def grid_size(spec: str, res: int) -> tuple[int, int]:
    """``7x4`` or ``auto`` (NVlabs rule, capped at 12x8 for small images so a CPU can render it)."""
    from ..core.media import auto_grid_size
    from ..core.seeds import parse_grid

    if spec and spec != "auto":
        try:
            return tuple(parse_grid(spec))  # type: ignore[return-value]
        except Exception:
            raise UsageError(f"--grid must look like 7x4 or be 'auto', not {spec!r}") from None
    gw, gh = auto_grid_size(res, res)
    if res <= 128:
        gw, gh = min(gw, 12), min(gh, 8)
    return gw, gh


@torch.no_grad()
def generate_images(G: nn.Module, z: torch.Tensor, c: torch.Tensor, *, batch: int = 32,
                    autocast: Callable | None = None, noise_mode: str = "const") -> torch.Tensor:
    """G(z, c) in chunks, float32 CPU tensor in [-1, 1]."""
    import contextlib

    dev = next(G.parameters()).device
    out = []
    was_training = G.training
    G.eval()
    for i in range(0, z.shape[0], batch):
        with autocast() if autocast is not None else contextlib.nullcontext():
            img = G(z[i:i + batch].to(dev), c[i:i + batch].to(dev), noise_mode=noise_mode)
        out.append(img.float().clamp(-1, 1).cpu())
    G.train(was_training)
    return torch.cat(out)
