"""Pieces of the trainer that are not the loop: real-image feeding, optimiser and RNG state as
tensors (so snapshots stay pickle-free), transfer-learning weight loading, Freeze-D, grids."""

from __future__ import annotations

import concurrent.futures
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..core.errors import CheckpointError, UsageError

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


# -- optimiser / RNG state as tensors -----------------------------------------------------------------


def optimizer_tensors(opt: torch.optim.Optimizer, prefix: str) -> dict[str, torch.Tensor]:
    out = {}
    for pid, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            out[f"{prefix}.{pid}.{k}"] = (v if isinstance(v, torch.Tensor) else torch.tensor(v)).detach().cpu().clone()
    return out


def load_optimizer_tensors(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], prefix: str) -> bool:
    """Restore what :func:`optimizer_tensors` saved; False when nothing was saved."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, v in tensors.items():
        if key.startswith(prefix + "."):
            pid, _, name = key[len(prefix) + 1:].partition(".")
            if not pid.isdigit() or not name:
                raise CheckpointError(f"the snapshot has a malformed optimiser entry {key!r}")
            state.setdefault(int(pid), {})[name] = v
    if not state:
        return False
    sd = opt.state_dict()
    sd["state"] = state
    try:
        opt.load_state_dict(sd)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as e:
        raise CheckpointError(f"the snapshot's {prefix} optimiser state does not fit this run "
                              f"({str(e)[:80] or type(e).__name__})") from None
    return True


def rng_tensors(generators: dict[str, torch.Generator]) -> dict[str, torch.Tensor]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    out = {"rng.torch": torch.get_rng_state(), "rng.numpy_keys": torch.from_numpy(np.asarray(keys, np.int64)),
           "rng.numpy_extra": torch.tensor([float(pos), float(has_gauss), float(cached)], dtype=torch.float64)}
    for k, g in generators.items():
        out[f"rng.{k}"] = g.get_state()
    return out


def restore_rng(tensors: dict[str, torch.Tensor], generators: dict[str, torch.Generator]) -> None:
    try:
        _restore_rng(tensors, generators)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"the snapshot's random-number state is damaged ({str(e)[:80] or type(e).__name__})") \
            from None


def _restore_rng(tensors: dict[str, torch.Tensor], generators: dict[str, torch.Generator]) -> None:
    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"].to(torch.uint8))
    if "rng.numpy_keys" in tensors:
        pos, has_gauss, cached = tensors["rng.numpy_extra"].tolist()
        np.random.set_state(("MT19937", tensors["rng.numpy_keys"].numpy().astype(np.uint32), int(pos),
                             int(has_gauss), float(cached)))
    for k, g in generators.items():
        if f"rng.{k}" in tensors:
            g.set_state(tensors[f"rng.{k}"].to(torch.uint8))


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


def fakes_grid_files(run_dir: Path) -> list[Path]:
    """The frames of the progress animation: ``progress/<nimg>.png`` in training order (falling
    back to fakes_init.png + fakesNNNNNN.png for runs without that folder)."""
    frames = sorted((run_dir / "progress").glob("[0-9]*.png"))
    if frames:
        return frames
    files = sorted(run_dir.glob("fakes[0-9]*.png"), key=lambda p: int(re.findall(r"\d+", p.stem)[-1]))
    init = run_dir / "fakes_init.png"
    return ([init] if init.exists() else []) + files
