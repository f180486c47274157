"""GAN snapshots: the one checkpoint format for trained GANs (no pickle needed to load).

One ``.safetensors`` file written atomically through :mod:`neuralbrush.core.checkpoint`:

* tensors ``G.<name>``, ``D.<name>``, ``G_ema.<name>`` (state_dicts), plus any extra tensors
  the trainer passes under its own prefixes (``opt_G.*``, ``augment.*``...);
* JSON meta ``{"format": "neuralbrush.gan", "version": 1, "arch": "stylegan2"|"dcgan",
  "G_kwargs": {...}, "D_kwargs": {...}, ...}`` plus whatever the trainer adds (cur_nimg,
  augment_p, training_options...).

The trainer names them ``<run>/network-snapshot-{kimg:06d}.safetensors`` (:func:`snapshot_name`); optimiser
and RNG state sit under the prefixes of :func:`neuralbrush.core.training.state_tensors`.
A full disk during a write leaves the previous snapshot as it was and says so; the temporaries a
killed writer leaves are removed when the run resumes (:meth:`neuralbrush.core.training.TrainingRun.continue_`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from ..core.checkpoint import load_checkpoint, save_snapshot_checkpoint, unprefixed
from ..core.errors import CheckpointError
from . import ARCHS, build_discriminator, build_generator

FORMAT = "neuralbrush.gan"
VERSION = 1
NETWORK_KEYS = ("G", "D", "G_ema")
RESERVED_META = ("format", "version", "arch", "G_kwargs", "D_kwargs", "networks")


def snapshot_name(kimg: int) -> str:
    """File name of the snapshot taken at ``kimg`` thousand images (the one pattern of
    :func:`neuralbrush.core.training.snapshot_name`)."""
    from ..core.training import snapshot_name as run_snapshot_name

    return run_snapshot_name(kimg, "kimg")


@dataclass
class Snapshot:
    """A loaded snapshot: modules rebuilt from their kwargs with their state loaded strictly."""

    arch: str
    G: nn.Module | None
    D: nn.Module | None
    G_ema: nn.Module | None
    meta: dict[str, Any]
    extra_tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    path: Path | None = None

    def generator(self, which: str = "G_ema") -> nn.Module:
        """``G_ema`` (falling back to ``G``) or exactly ``which`` when it is 'G'."""
        if which not in ("G", "G_ema"):
            raise CheckpointError(f"which must be 'G' or 'G_ema', not {which!r}")
        order = ("G_ema", "G") if which == "G_ema" else ("G", "G_ema")
        for name in order:
            m = getattr(self, name)
            if m is not None:
                return m
        raise CheckpointError(f"snapshot {self.path} holds no generator")


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in module.state_dict().items()}


def save_snapshot(path: str | os.PathLike, *, arch: str, G: nn.Module | None, D: nn.Module | None = None,
                  G_ema: nn.Module | None = None, meta: Mapping[str, Any] | None = None,
                  extra_tensors: Mapping[str, torch.Tensor] | None = None) -> Path:
    """Write G / D / G_ema (any may be None, but one generator is needed) and extras atomically."""
    if arch not in ARCHS:
        raise CheckpointError(f"unknown GAN architecture {arch!r}")
    gen = G_ema if G_ema is not None else G
    if gen is None:
        raise CheckpointError("a snapshot needs G or G_ema")
    tensors: dict[str, torch.Tensor] = {}
    networks = []
    for name, m in (("G", G), ("D", D), ("G_ema", G_ema)):
        if m is None:
            continue
        networks.append(name)
        for k, v in _state(m).items():
            tensors[f"{name}.{k}"] = v
    for k, v in (extra_tensors or {}).items():
        if k.split(".")[0] in NETWORK_KEYS:
            raise CheckpointError(f"extra tensor {k!r} clashes with a network prefix")
        if not isinstance(v, torch.Tensor):
            raise CheckpointError(f"extra tensor {k!r} is a {type(v).__name__}, not a tensor")
        tensors[k] = v
    extra_meta = dict(meta or {})
    clash = [k for k in RESERVED_META if k in extra_meta]
    if clash:
        raise CheckpointError(f"meta keys {clash} are reserved by the snapshot format")
    doc = {"format": FORMAT, "version": VERSION, "arch": arch, "networks": networks,
           "G_kwargs": dict(gen.init_kwargs), "D_kwargs": dict(D.init_kwargs) if D is not None else None}
    doc.update(extra_meta)
    # safetensors refuses tensors that share memory; clone any aliases.
    seen: dict[tuple[int, int], str] = {}
    for k, v in list(tensors.items()):
        if v.numel() == 0:
            continue
        key = (v.untyped_storage().data_ptr(), v.storage_offset())
        if key in seen:
            tensors[k] = v.clone()
        seen[key] = k
    return save_snapshot_checkpoint(path, tensors, doc)


def _build(kind: str, arch: str, kwargs: dict[str, Any], state: dict[str, torch.Tensor], path: Path,
           name: str) -> nn.Module:
    try:
        module = (build_generator if kind == "G" else build_discriminator)(arch, **kwargs)
    except (TypeError, ValueError, RuntimeError, OverflowError, KeyError, AttributeError) as e:
        raise CheckpointError(f"{path}: cannot rebuild {name} from its stored kwargs "
                              f"({str(e).splitlines()[0][:120] if str(e) else type(e).__name__})") from None
    missing, unexpected = load_state_strict(module, state)
    if missing or unexpected:
        raise CheckpointError(f"{path}: {name} does not match its architecture "
                              f"(missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
                              f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''})")
    return module


TRAINING_COUNTERS = ("cur_nimg", "tick", "batch_idx")


def restore_networks(snap: Snapshot, G: nn.Module, D: nn.Module, G_ema: nn.Module) -> None:
    """Continue a run from ``snap``: copy its G, D and G_ema into the trainer's networks, refusing
    (one :class:`CheckpointError` naming the file) a snapshot that lacks a network or a training
    counter, or whose networks are not the ones the run's options build."""
    where = snap.path if snap.path is not None else "the snapshot"
    absent = [n for n in NETWORK_KEYS if getattr(snap, n) is None]
    if absent:
        raise CheckpointError(f"{where} holds no {' or '.join(absent)}, so a run cannot continue from it "
                              "(it was saved for generation only); start a new run with --resume FILE instead")
    for k in TRAINING_COUNTERS:
        v = snap.meta.get(k)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise CheckpointError(f"{where} lacks a valid '{k}' training counter in its metadata; it is damaged "
                                  "or was not written by the trainer")
    for name, dst in (("G", G), ("D", D), ("G_ema", G_ema)):
        try:
            missing, unexpected = load_state_strict(dst, getattr(snap, name).state_dict())
        except CheckpointError as e:
            raise CheckpointError(f"{where}: {name} does not fit this run's {name} ({e}); the run's "
                                  "training_options.json and its snapshot disagree") from None
        if missing or unexpected:
            raise CheckpointError(f"{where}: {name} does not fit this run's {name} (missing {missing[:2]}, "
                                  f"unexpected {unexpected[:2]}); the run's training_options.json and its snapshot "
                                  "disagree")


def load_state_strict(module: nn.Module, state: Mapping[str, torch.Tensor]) -> tuple[list[str], list[str]]:
    """Load ``state`` into ``module``; returns (missing, unexpected) names, raises on shape mismatch."""
    own = module.state_dict()
    bad = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in state.items()
           if k in own and tuple(own[k].shape) != tuple(v.shape)]
    if bad:
        raise CheckpointError(f"{len(bad)} tensors have the wrong shape, e.g. {bad[0]}")
    result = module.load_state_dict(dict(state), strict=False)
    return list(result.missing_keys), list(result.unexpected_keys)


def load_snapshot(path: str | os.PathLike, device: str | torch.device = "cpu") -> Snapshot:
    """Rebuild the networks stored in ``path`` (strict loading) on ``device``; modules are in eval mode."""
    path = Path(path)
    tensors, meta = load_checkpoint(path, expect_format=FORMAT)
    version = meta.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"{path} is a GAN snapshot of version {version}; this neuralbrush reads up to {VERSION}")
    arch = meta.get("arch")
    if arch not in ARCHS:
        raise CheckpointError(f"{path} holds an unknown GAN architecture {arch!r}")
    nets: dict[str, nn.Module | None] = {}
    for name in NETWORK_KEYS:
        state = unprefixed(tensors, name)
        if not state:
            nets[name] = None
            continue
        kind = "D" if name == "D" else "G"
        kwargs = meta.get("D_kwargs" if kind == "D" else "G_kwargs")
        if not isinstance(kwargs, dict):
            raise CheckpointError(f"{path} has {name} tensors but no {kind}_kwargs in its metadata")
        nets[name] = _build(kind, arch, kwargs, state, path, name).to(device).eval()
    if nets["G"] is None and nets["G_ema"] is None:
        raise CheckpointError(f"{path} holds no generator")
    extra = {k: v for k, v in tensors.items() if k.split(".")[0] not in NETWORK_KEYS}
    return Snapshot(arch=arch, G=nets["G"], D=nets["D"], G_ema=nets["G_ema"], meta=meta, extra_tensors=extra,
                    path=path)
