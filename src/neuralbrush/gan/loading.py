"""Load trained GAN networks from wherever a user points: one function for every command.

``source`` is anything :func:`neuralbrush.core.sources.resolve_source` understands, for GAN
networks:

* a run directory (its latest ``network-snapshot-*.safetensors``; an NVlabs run directory
  with ``network-snapshot-*.pkl`` works too), or a folder of runs (the newest GAN run),
* a snapshot ``.safetensors`` file (:mod:`.snapshot`),
* an NVIDIA ``.pkl`` network file (read by the allowlisting importer in :mod:`.nvidia_pkl`),
* a weights-store name whose catalogue kind is ``stylegan2-pkl`` (e.g. ``ffhq256``) or a bundled demo
  model (``blooms64-stylegan2``, ``blooms64-lite``).

Transfer learning copies matching tensors with :func:`.trainer_state.copy_matching`.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from ..core.errors import CheckpointError, UsageError
from ..core.runs import NVLABS_SNAPSHOT_GLOB, SNAPSHOT_GLOB
from ..core.sources import SNAPSHOT, Source, resolve_source
from .snapshot import FORMAT, Snapshot, load_snapshot


def gan_source(source: str | os.PathLike) -> Source:
    """Where ``source`` points, for a consumer of GAN networks (one sentence listing the valid
    names and shapes when it names nothing usable)."""
    return resolve_source(source, kinds=("stylegan2-pkl", "gan-snapshot"), what="GAN generator", formats=(FORMAT,),
                          suffixes=(".pkl",), snapshot_globs=(SNAPSHOT_GLOB, NVLABS_SNAPSHOT_GLOB))


def load_gan(source: str | os.PathLike, device: str | torch.device = "cpu") -> Snapshot:
    """Every network ``source`` holds, as a :class:`Snapshot` (NVIDIA pickles are converted)."""
    src = gan_source(source)
    path = src.path
    if src.kind == SNAPSHOT:
        return load_snapshot(path, device=device)
    from .nvidia_pkl import load_nvidia_networks

    nets = load_nvidia_networks(path, device=device)
    n = nets.networks
    meta = {"format": FORMAT, "version": 1, "arch": "stylegan2",
            "G_kwargs": nets.kwargs.get("G_ema", nets.kwargs.get("G")), "D_kwargs": nets.kwargs.get("D"),
            "imported_from": {"file": path.name, "kind": "nvidia-pkl", "module_src_sha256": nets.fingerprints},
            "training_set_kwargs": nets.training_set_kwargs}
    return Snapshot(arch="stylegan2", G=n.get("G"), D=n.get("D"), G_ema=n.get("G_ema"), meta=meta, path=path)


def load_generator(source: str | os.PathLike, device: str | torch.device = "cpu", which: str = "G_ema") -> nn.Module:
    """The generator in ``source`` ('G_ema' by default, falling back to 'G'), in eval mode."""
    if which not in ("G", "G_ema"):
        raise UsageError(f"which must be 'G' or 'G_ema', not {which!r}")
    src = gan_source(source)
    path = src.path
    if src.kind != SNAPSHOT:
        from .nvidia_pkl import load_nvidia_pkl
        G = load_nvidia_pkl(path, which=which, device=device)
    else:
        G = load_snapshot(path, device=device).generator(which)
    return G.eval()


def load_discriminator(source: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """The discriminator in ``source`` (for resuming or transfer learning), in eval mode."""
    src = gan_source(source)
    path = src.path
    if src.kind != SNAPSHOT:
        from .nvidia_pkl import load_nvidia_pkl
        return load_nvidia_pkl(path, which="D", device=device).eval()
    snap = load_snapshot(path, device=device)
    if snap.D is None:
        raise CheckpointError(f"{path} holds no discriminator (it was saved for generation only)")
    return snap.D.eval()
