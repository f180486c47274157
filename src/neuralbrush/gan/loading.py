"""Load trained GAN networks from wherever a user points: one function for every command.

``source`` may be

* a run directory (its latest ``network-snapshot-*.safetensors``; an NVlabs run directory
  with ``network-snapshot-*.pkl`` works too),
* a snapshot ``.safetensors`` file (:mod:`.snapshot`),
* an NVIDIA ``.pkl`` network file (read by the allowlisting importer in :mod:`.nvidia_pkl`),
* a weights-store name whose catalogue kind is ``stylegan2-pkl`` (e.g. ``ffhq256``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from ..core.errors import CheckpointError, UsageError
from .snapshot import Snapshot, load_snapshot

SNAPSHOT_PATTERN = "network-snapshot-*.safetensors"
PKL_PATTERN = "network-snapshot-*.pkl"


def resolve_source(source: str | os.PathLike) -> Path:
    """The file ``source`` names: a snapshot or .pkl file (run dirs -> latest snapshot, store names -> file)."""
    from ..core.runs import RUN_RE, snapshot_files

    text = str(source)
    p = Path(source).expanduser()
    if p.is_dir():
        # the run itself, or a folder of runs (then the newest run that has a snapshot)
        runs = [p] + sorted((d for d in p.iterdir() if d.is_dir() and RUN_RE.match(d.name)), reverse=True)
        for run in runs:
            for pattern in (SNAPSHOT_PATTERN, PKL_PATTERN):
                files = snapshot_files(run, pattern)
                if files:
                    return files[-1]
        raise UsageError(f"{p} is a directory without network snapshots (network-snapshot-*.safetensors)")
    if p.is_file():
        return p
    from ..weights import store

    if text in store.CATALOGUE:
        e = store.entry(text)
        if e.kind != "stylegan2-pkl":
            raise UsageError(f"weights {text!r} are {e.kind} weights, not a GAN generator")
        return store.require(text)
    if p.suffix in (".safetensors", ".pkl") or os.sep in text or "/" in text:
        raise UsageError(f"model file {text} does not exist")
    gans = [n for n, e in store.CATALOGUE.items() if e.kind == "stylegan2-pkl"]
    raise UsageError(f"{text!r} is not a run directory, snapshot (.safetensors), NVIDIA .pkl or weights name "
                     f"(GAN weights names: {', '.join(gans)})")


def _kind(path: Path) -> str:
    if path.suffix == ".safetensors":
        return "snapshot"
    if path.suffix == ".pkl":
        return "pkl"
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"\x80"):
        return "pkl"
    if len(head) >= 9 and head[8:9] == b"{":  # safetensors: u64 header length then JSON
        return "snapshot"
    raise UsageError(f"{path} is neither a neuralbrush snapshot (.safetensors) nor an NVIDIA network pickle (.pkl)")


def load_gan(source: str | os.PathLike, device: str | torch.device = "cpu") -> Snapshot:
    """Every network ``source`` holds, as a :class:`Snapshot` (NVIDIA pickles are converted)."""
    path = resolve_source(source)
    if _kind(path) == "snapshot":
        return load_snapshot(path, device=device)
    from .nvidia_pkl import load_nvidia_networks

    nets = load_nvidia_networks(path, device=device)
    n = nets.networks
    meta = {"format": "neuralbrush.gan", "version": 1, "arch": "stylegan2",
            "G_kwargs": nets.kwargs.get("G_ema", nets.kwargs.get("G")), "D_kwargs": nets.kwargs.get("D"),
            "imported_from": {"file": path.name, "kind": "nvidia-pkl", "module_src_sha256": nets.fingerprints},
            "training_set_kwargs": nets.training_set_kwargs}
    return Snapshot(arch="stylegan2", G=n.get("G"), D=n.get("D"), G_ema=n.get("G_ema"), meta=meta, path=path)


def load_generator(source: str | os.PathLike, device: str | torch.device = "cpu", which: str = "G_ema") -> nn.Module:
    """The generator in ``source`` ('G_ema' by default, falling back to 'G'), in eval mode."""
    if which not in ("G", "G_ema"):
        raise UsageError(f"which must be 'G' or 'G_ema', not {which!r}")
    path = resolve_source(source)
    if _kind(path) == "pkl":
        from .nvidia_pkl import load_nvidia_pkl
        G = load_nvidia_pkl(path, which=which, device=device)
    else:
        G = load_snapshot(path, device=device).generator(which)
    return G.eval()


def load_discriminator(source: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """The discriminator in ``source`` (for resuming or transfer learning), in eval mode."""
    path = resolve_source(source)
    if _kind(path) == "pkl":
        from .nvidia_pkl import load_nvidia_pkl
        return load_nvidia_pkl(path, which="D", device=device).eval()
    snap = load_snapshot(path, device=device)
    if snap.D is None:
        raise CheckpointError(f"{path} holds no discriminator (it was saved for generation only)")
    return snap.D.eval()


def transfer_state(dst: nn.Module, src: nn.Module | Mapping[str, torch.Tensor]) -> tuple[list[str], list[str]]:
    """Copy every tensor of ``src`` whose name and shape match into ``dst`` (transfer learning).

    Returns (loaded, skipped): ``skipped`` names the tensors of ``dst`` left as initialised
    (absent in ``src`` or of another shape), so the caller can report them.
    """
    state = src.state_dict() if isinstance(src, nn.Module) else dict(src)
    own = dst.state_dict()
    take = {k: v for k, v in state.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    dst.load_state_dict(take, strict=False)
    skipped = [k for k in own if k not in take]
    return sorted(take), skipped
