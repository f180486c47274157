"""pix2pix snapshots: the one checkpoint format for trained pix2pix models (as ``gan/snapshot.py``
is for GANs), and what a ``--resume`` source gives a training run.

One ``.safetensors`` file written atomically through :mod:`neuralbrush.core.checkpoint`:

* tensors ``G.<name>`` and ``D.<name>`` (state_dicts), plus optimiser and RNG state under the
  prefixes of :func:`neuralbrush.core.training.state_tensors` (``opt_G.*``, ``opt_D.*``, ``rng.*``);
* JSON meta ``{"format": "neuralbrush.pix2pix", "version": 1, "generator": {...},
  "discriminator": {...}, "input", "clusters", "size", "step", "epoch", "elapsed_s", "sampler",
  "options", ...}`` plus the validation numbers at that step.

Snapshots written before the names were unified stored ``optG.*``/``optD.*``/``rng_torch`` and two
``optX_groups`` meta entries; :func:`read_snapshot` reads them under today's names, so older runs
still resume. Inference (``pix2pix apply``/``video``) reads this module, never the trainer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..core.checkpoint import load_checkpoint, meta_entry, prefixed, save_snapshot_checkpoint, unprefixed
from ..core.errors import CheckpointError, UsageError
from ..core.runs import SNAPSHOT_GLOB
from .networks import (ARCH_DEPTHS, PatchConfig, UNetConfig, build_discriminator, build_generator, check_state,
                       discriminator_config_from, generator_config_from)
from .options import TrainOptions

FORMAT = "neuralbrush.pix2pix"
VERSION = 1
SNAPSHOT_PATTERN = SNAPSHOT_GLOB  # the name older callers import
LEGACY_PREFIXES = {"optG.": "opt_G.", "optD.": "opt_D."}  # tensor names before the unified scheme
LEGACY_KEYS = {"rng_torch": "rng.torch"}


# ----------------------------------------------------------------------------- network configuration

def auto_arch(size: int) -> str:
    """The deepest U-Net (at most unet_256) whose input multiple divides ``size``."""
    for arch, depth in sorted(ARCH_DEPTHS.items(), key=lambda kv: -kv[1]):
        if size % (2 ** depth) == 0:
            return arch
    raise UsageError(f"--size {size} is not a multiple of 32; pix2pix U-Nets need multiples of 32 (e.g. 64, 128, 256)")


def generator_config(opts: TrainOptions) -> UNetConfig:
    arch = auto_arch(opts.size) if opts.arch == "auto" else opts.arch
    return UNetConfig(arch=arch, ngf=opts.ngf, norm=opts.norm, dropout=opts.dropout)


def discriminator_config(opts: TrainOptions) -> PatchConfig:
    return PatchConfig(in_channels=6, ndf=opts.ndf, n_layers=opts.n_layers, norm=opts.norm)


# ----------------------------------------------------------------------------- the file

def save_snapshot(path: str | os.PathLike, *, G: nn.Module, D: nn.Module, gcfg: UNetConfig, dcfg: PatchConfig,
                  meta: dict[str, Any], extra_tensors: dict[str, torch.Tensor]) -> Path:
    """Write G, D, the extra (optimiser/RNG) tensors and ``meta`` atomically; a full disk is one
    sentence naming the snapshot that is still intact."""
    tensors = {**prefixed(G.state_dict(), "G"), **prefixed(D.state_dict(), "D"), **extra_tensors}
    doc = {"format": FORMAT, "version": VERSION, "generator": gcfg.to_dict(), "discriminator": dcfg.to_dict(), **meta}
    return save_snapshot_checkpoint(path, tensors, doc, SNAPSHOT_GLOB)


def read_snapshot(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and meta of a pix2pix snapshot, older tensor names renamed to today's."""
    tensors, meta = load_checkpoint(path, expect_format=FORMAT)
    out = {}
    for k, v in tensors.items():
        for old, new in LEGACY_PREFIXES.items():
            if k.startswith(old):
                k = new + k[len(old):]
        out[LEGACY_KEYS.get(k, k)] = v
    return out, meta


# ----------------------------------------------------------------------------- resume sources

@dataclass
class ResumeSource:
    kind: str  # run (continue it in place) | checkpoint (its weights start a new run) | junyanz (the same)
    path: Path
    run_dir: Path | None = None


def resolve_resume(resume: str | None) -> ResumeSource | None:
    """Interpret ``--resume`` other than ``latest`` (which the trainer resolves): a run folder, our
    snapshot, a weights-store name or a junyanz ``.pth`` file, through the one resolver."""
    if not resume:
        return None
    from ..core.sources import SNAPSHOT
    from ..core.training import OPTIONS_FILE
    from .apply import pix2pix_source

    src = pix2pix_source(resume)
    if src.run_dir is not None and (src.run_dir / OPTIONS_FILE).is_file():  # a run we made: continue it
        return ResumeSource("run", src.path, src.run_dir)
    return ResumeSource("checkpoint" if src.kind == SNAPSHOT else "junyanz", src.path)


@dataclass
class ResumeState:
    """What a resume source gives, read and checked before any data is loaded."""

    source: ResumeSource
    gcfg: UNetConfig
    dcfg: PatchConfig | None = None
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)  # our snapshots
    meta: dict[str, Any] = field(default_factory=dict)
    junyanz: dict[str, torch.Tensor] | None = None  # a published generator, flat names


def read_resume(source: ResumeSource, opts: TrainOptions) -> ResumeState:
    """Read and check everything ``source`` holds (a bad file is refused before the data loads)."""
    if source.kind == "junyanz":
        from .junyanz import junyanz_to_flat, read_junyanz_file

        expect = None if opts.arch == "auto" else generator_config(opts)
        found, flat = junyanz_to_flat(read_junyanz_file(source.path), expect, label=str(source.path))
        gcfg = UNetConfig(found.arch, found.in_channels, found.out_channels, found.ngf, found.norm, opts.dropout)
        if opts.size % (2 ** gcfg.depth):
            raise UsageError(f"{source.path.name} is a {gcfg.arch}, which needs a size divisible by "
                             f"{2 ** gcfg.depth}; got --size {opts.size}")
        return ResumeState(source, gcfg, junyanz=flat)
    label = str(source.path)
    tensors, meta = read_snapshot(source.path)
    gcfg = generator_config_from(meta.get("generator"), label)
    # a generator-only file (a weights-store export such as the bundled demo model) starts a new run
    # with a fresh discriminator, like a published junyanz generator
    g_only = "discriminator" not in meta and not unprefixed(tensors, "D") and source.kind == "checkpoint"
    dcfg = None if g_only else discriminator_config_from(meta.get("discriminator"), label)
    for key, kind in (("step", int), ("elapsed_s", (int, float)), ("sampler", dict)):
        meta_entry(meta, key, kind, label)
    if meta["step"] < 0:
        raise CheckpointError(f"{label} has a negative step count in its metadata; it is damaged")
    with torch.device("meta"):  # names and shapes only: nothing is allocated
        check_state(build_generator(gcfg), unprefixed(tensors, "G"), label, "generator")
        if dcfg is not None:
            check_state(build_discriminator(dcfg), unprefixed(tensors, "D"), label, "discriminator")
    if opts.size % (2 ** gcfg.depth):
        raise UsageError(f"the checkpoint's {gcfg.arch} needs a size divisible by {2 ** gcfg.depth}, got {opts.size}")
    return ResumeState(source, gcfg, dcfg, tensors, meta)
