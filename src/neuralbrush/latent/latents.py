"""Latent vectors: seeds to z, z to w, truncation, statistics of w, and latent files.

Shapes follow NVIDIA's conventions so files travel between tools:

* ``z``: ``[N, z_dim]``, drawn per seed as ``np.random.RandomState(seed).randn(1, z_dim)``.
* ``w``: ``[N, num_ws, w_dim]`` (one row per synthesis layer; equal rows for plain w, different
  rows for w+). A DCGAN or lite generator has no w space (``num_ws == 0``).

A latent file is an ``.npz`` with key ``w`` ``[N, num_ws, w_dim]`` (the key NVIDIA's projector
writes and its generator reads) and, when known, ``z`` ``[N, z_dim]``, ``seed``, ``psi``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.checkpoint import atomic_path
from ..core.errors import UsageError

NOISE_MODES = ("const", "random", "none")
SPACES = ("z", "w")


def has_w(G: torch.nn.Module) -> bool:
    """True for a style-based generator (StyleGAN2); False for DCGAN and lite (z space only)."""
    return bool(getattr(G, "num_ws", 0)) and getattr(G, "w_dim", None) is not None


def check_space(G: torch.nn.Module, space: str) -> str:
    space = space.lower()
    if space not in SPACES:
        raise UsageError(f"unknown latent space {space!r}; choose z or w")
    if space == "w" and not has_w(G):
        raise UsageError("this generator has no w space (DCGAN and lite work in z only): use --space z")
    return space


def _device(G: torch.nn.Module) -> torch.device:
    for t in G.parameters():
        return t.device
    return torch.device("cpu")


def seed_z(G: torch.nn.Module, seeds: int | list[int]) -> torch.Tensor:
    """z for each seed, ``[len(seeds), z_dim]``, exactly as NVIDIA's generate.py draws them."""
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    zs = [np.random.RandomState(int(s) % (2**32)).randn(1, G.z_dim) for s in seeds]
    return torch.from_numpy(np.concatenate(zs)).float()


def class_labels(G: torch.nn.Module, class_idx: int | None, n: int) -> torch.Tensor:
    """One-hot labels ``[n, c_dim]`` (``[n, 0]`` for unconditional models)."""
    c_dim = int(getattr(G, "c_dim", 0) or 0)
    c = torch.zeros(n, c_dim)
    if c_dim == 0:
        if class_idx is not None:
            raise UsageError("--class was given but this model is unconditional")
        return c
    if class_idx is None:
        raise UsageError(f"this model is conditional ({c_dim} classes): pass --class K")
    if not 0 <= class_idx < c_dim:
        raise UsageError(f"--class {class_idx} is out of range: the model has classes 0-{c_dim - 1}")
    c[:, class_idx] = 1
    return c


def truncate_w(G: torch.nn.Module, ws: torch.Tensor, psi: float, cutoff: int | None = None) -> torch.Tensor:
    """Lerp ``ws`` toward ``mapping.w_avg`` by ``psi`` (only layers below ``cutoff`` when given)."""
    if psi == 1:
        return ws
    w_avg = G.mapping.w_avg.to(ws.device, ws.dtype)
    out = ws.clone()
    n = ws.shape[1] if cutoff is None else min(int(cutoff), ws.shape[1])
    out[:, :n] = w_avg.lerp(ws[:, :n], psi)
    return out


@torch.no_grad()
def map_z(G: torch.nn.Module, z: torch.Tensor, *, psi: float = 1.0, cutoff: int | None = None,
          class_idx: int | None = None) -> torch.Tensor:
    """z ``[N, z_dim]`` -> w ``[N, num_ws, w_dim]`` through the mapping network, with truncation."""
    if not has_w(G):
        raise UsageError("this generator has no w space (DCGAN and lite work in z only)")
    dev = _device(G)
    c = class_labels(G, class_idx, z.shape[0]).to(dev)
    ws = G.mapping(z.to(dev, torch.float32), c, truncation_psi=1)
    return truncate_w(G, ws.float(), psi, cutoff)


@dataclass
class WStats:
    """Centre and spread of w, from mapped samples (NVIDIA's projector uses 10,000)."""

    w_avg: torch.Tensor  # [w_dim]
    w_std: float  # NVIDIA's scalar: sqrt(E |w - w_avg|^2)

    @property
    def per_dim_std(self) -> float:
        return self.w_std / float(self.w_avg.numel()) ** 0.5


_STATS_CACHE: dict[tuple[int, int, int | None], WStats] = {}


@torch.no_grad()
def w_stats(G: torch.nn.Module, samples: int = 10000, seed: int = 123, class_idx: int | None = None) -> WStats:
    """Mean and spread of w over ``samples`` random z (cached per generator object)."""
    key = (id(G), samples, class_idx)
    if key in _STATS_CACHE:
        return _STATS_CACHE[key]
    z = torch.from_numpy(np.random.RandomState(seed).randn(samples, G.z_dim)).float()
    ws = []
    for chunk in z.split(2048):
        ws.append(map_z(G, chunk, class_idx=class_idx)[:, 0].cpu())
    w = torch.cat(ws).double()
    w_avg = w.mean(0)
    w_std = float(((w - w_avg).square().sum() / samples) ** 0.5)
    stats = WStats(w_avg.float(), w_std)
    _STATS_CACHE[key] = stats
    return stats


def latent_scale(G: torch.nn.Module, space: str) -> float:
    """The natural per-dimension spread of a latent: 1 in z, the per-dim std of w in w.

    Noise amounts (``sigma``, loop radii) are given in these units, so the same number means
    about the same visual change on any model.
    """
    return 1.0 if space == "z" else w_stats(G).per_dim_std


def latent_center(G: torch.nn.Module, space: str) -> torch.Tensor | None:
    """Centre used by spherical interpolation: the origin in z, w_avg in w."""
    return None if space == "z" else G.mapping.w_avg.detach().float().cpu()


@dataclass
class Latents:
    """A batch of latents and where they came from; ``w`` and/or ``z`` may be missing."""

    z: torch.Tensor | None = None  # [N, z_dim]
    w: torch.Tensor | None = None  # [N, num_ws, w_dim]
    seeds: list[int] | None = None
    psi: float | None = None

    def __len__(self) -> int:
        t = self.w if self.w is not None else self.z
        return 0 if t is None else int(t.shape[0])

    def in_space(self, space: str) -> torch.Tensor:
        t = self.w if space == "w" else self.z
        if t is None:
            other = "w" if space == "z" else "z"
            raise UsageError(f"this latent file holds only {other} latents; use --space {other}")
        return t

    def select(self, index: int) -> "Latents":
        return Latents(None if self.z is None else self.z[index:index + 1],
                       None if self.w is None else self.w[index:index + 1],
                       None if self.seeds is None else [self.seeds[index]], self.psi)


def latents_from_seeds(G: torch.nn.Module, seeds: list[int], *, psi: float = 1.0, cutoff: int | None = None,
                       class_idx: int | None = None) -> Latents:
    z = seed_z(G, seeds)
    w = map_z(G, z, psi=psi, cutoff=cutoff, class_idx=class_idx).cpu() if has_w(G) else None
    return Latents(z=z, w=w, seeds=list(seeds), psi=psi)


def save_latents(path: str | os.PathLike, lat: Latents, **extra: np.ndarray | float | int) -> Path:
    """Write an .npz (atomically) with ``w`` (NVIDIA key) and ``z`` when known."""
    arrays: dict[str, np.ndarray] = {}
    if lat.w is not None:
        arrays["w"] = lat.w.detach().float().cpu().numpy()
    if lat.z is not None:
        arrays["z"] = lat.z.detach().float().cpu().numpy()
    if lat.seeds is not None:
        arrays["seed"] = np.asarray(lat.seeds, dtype=np.int64)
    if lat.psi is not None:
        arrays["psi"] = np.asarray(lat.psi, dtype=np.float32)
    for k, v in extra.items():
        arrays[k] = np.asarray(v)
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return path


def load_latents(path: str | os.PathLike, G: torch.nn.Module | None = None) -> Latents:
    """Read an .npz latent file (ours or NVIDIA's projected_w.npz), checking shapes against G."""
    import zipfile
    import zlib

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"latent file {path} does not exist")
    if path.stat().st_size == 0:
        raise UsageError(f"latent file {path} is empty (0 bytes), not an .npz with 'w' or 'z'")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an .npz archive")
        with data:
            keys = set(data.files)
            w = _float_array(data, "w", path) if "w" in keys else None
            z = _float_array(data, "z", path) if "z" in keys else None
            seeds = [int(s) for s in np.atleast_1d(data["seed"]).astype(np.int64)] if "seed" in keys else None
            psi = float(np.asarray(data["psi"], dtype=np.float64).reshape(-1)[0]) if "psi" in keys else None
    except UsageError:
        raise
    except (OSError, ValueError, TypeError, IndexError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        reason = (str(e).splitlines() or [type(e).__name__])[0][:80]
        raise UsageError(f"latent file {path} is not a readable .npz with 'w' or 'z' ({reason})") from None
    if w is None and z is None:
        raise UsageError(f"latent file {path} holds neither 'w' nor 'z' (keys: {', '.join(sorted(keys)) or 'none'})")
    if w is not None:
        if w.dim() == 2:
            w = w[None]
        if w.dim() != 3 or w.shape[0] == 0 or w.shape[1] == 0 or w.shape[2] == 0:
            raise UsageError(f"latent file {path}: 'w' must have shape [N, num_ws, w_dim], found {list(w.shape)}")
    if z is not None:
        if z.dim() == 1:
            z = z[None]
        if z.dim() != 2 or z.shape[0] == 0 or z.shape[1] == 0:
            raise UsageError(f"latent file {path}: 'z' must have shape [N, z_dim], found {list(z.shape)}")
    if w is not None and z is not None and len(w) != len(z):
        raise UsageError(f"latent file {path} holds {len(w)} w but {len(z)} z latents")
    if seeds is not None and len(seeds) != len(w if w is not None else z):
        seeds = None  # a stray seed list that does not describe these latents
    if G is not None:
        if w is not None:
            if not has_w(G):
                if z is None:
                    raise UsageError(f"{path.name} holds w latents but this generator has no w space (DCGAN or lite)")
                w = None
            else:
                if w.shape[2] != G.w_dim or w.shape[1] not in (1, G.num_ws):
                    raise UsageError(f"{path.name}: w has shape {list(w.shape[1:])} but the model expects "
                                     f"[{G.num_ws}, {G.w_dim}]")
                if w.shape[1] == 1:
                    w = w.repeat(1, G.num_ws, 1)
        if z is not None and z.shape[1] != G.z_dim:
            raise UsageError(f"{path.name}: z has {z.shape[1]} dimensions but the model expects {G.z_dim}")
    return Latents(z=z, w=w, seeds=seeds, psi=psi)


def _float_array(data, key: str, path: Path) -> torch.Tensor:
    """A numeric array of an .npz as float32; text, objects and NaN/inf are refused."""
    arr = data[key]
    if arr.dtype.kind not in "fiu":
        raise UsageError(f"latent file {path}: '{key}' holds {arr.dtype} values, not numbers")
    arr = np.array(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise UsageError(f"latent file {path}: '{key}' contains NaN or infinite values")
    return torch.from_numpy(arr)


def file_digest(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes (model fingerprints and the projection cache)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()
