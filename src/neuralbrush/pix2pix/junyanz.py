"""Import the published pix2pix generators (junyanz pytorch-CycleGAN-and-pix2pix ``.pth``).

Those files are plain state_dicts of a recursively nested U-Net. Level 1 (outermost) lives at
``model.model.``: ``0`` is its down conv and ``3`` its final transposed conv; its child sits at
``1``. Every middle level at prefix ``P`` has ``P.model.1`` (down conv), ``P.model.2`` (down
norm), the child at ``P.model.3``, ``P.model.5`` (up transposed conv), ``P.model.6`` (up norm).
The innermost level has ``P.model.1`` (down conv), ``P.model.3`` (up conv), ``P.model.4`` (up
norm). With instance norm there are no norm entries and every conv has a bias; batch-norm
files may lack ``num_batches_tracked``. We map these keys onto the flat ``down{k}`` /
``up{k}`` names of :class:`~neuralbrush.pix2pix.networks.UNetGenerator`.

Instance-norm files saved by older PyTorch (whose InstanceNorm tracked running statistics) carry
``running_mean`` / ``running_var`` / ``num_batches_tracked`` on the norm layers; the reference
drops those keys when loading (an instance norm without tracking never uses them), and so do
we, saying so in one info line. A file that is some other network (a ResNet generator, a PatchGAN
discriminator, a VGG classifier) is refused with a sentence naming what it is.

Files are read by :func:`neuralbrush.core.checkpoint.read_torch_state_dict`, our own
restricted reader of torch.save's format: a file that tries to run code is refused rather than
executed.
"""

from __future__ import annotations

import os
from typing import Mapping

import torch

from ..core.checkpoint import read_torch_state_dict
from ..core.errors import CheckpointError
from ..core.progress import info
from ..weights.checks import what_network
from .networks import ARCH_DEPTHS, UNetConfig, UNetGenerator

_DEPTH_TO_ARCH = {v: k for k, v in ARCH_DEPTHS.items()}


def level_prefixes(depth: int) -> list[str]:
    """Module prefix (without trailing dot) of each nested level, outermost first."""
    prefixes = ["model"]
    for k in range(2, depth + 1):
        child = "1" if k == 2 else "3"
        prefixes.append(f"{prefixes[-1]}.model.{child}")
    return prefixes


def _strip_wrappers(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in state.items():
        if k.startswith("module."):  # saved from DataParallel
            k = k[len("module."):]
        out[k] = v
    return out


def describe_junyanz(state: Mapping[str, torch.Tensor], label: str = "this file") -> UNetConfig:
    """Infer (arch, channels, ngf, norm) of a junyanz U-Net state_dict; raises if it is not one."""
    state = _strip_wrappers(state)
    first = state.get("model.model.0.weight")
    last = state.get("model.model.3.weight")
    if first is None or last is None or first.dim() != 4 or last.dim() != 4:
        raise CheckpointError(f"{label} is not a pix2pix U-Net generator: it is {what_network(state)} "
                              "(a U-Net has keys model.model.0.weight and model.model.3.weight)")
    prefixes = level_prefixes(16)
    depth = 1
    while depth < len(prefixes) and f"{prefixes[depth]}.model.1.weight" in state:
        depth += 1
    if depth not in _DEPTH_TO_ARCH:
        raise CheckpointError(f"this pix2pix U-Net has {depth} levels; supported are "
                              + ", ".join(f"{a} ({d})" for a, d in ARCH_DEPTHS.items()))
    norm = "instance" if "model.model.1.model.1.bias" in state else "batch"
    return UNetConfig(arch=_DEPTH_TO_ARCH[depth], in_channels=int(first.shape[1]), out_channels=int(last.shape[1]),
                      ngf=int(first.shape[0]), norm=norm)


def _describe(cfg: UNetConfig) -> str:
    return f"{cfg.arch} with {cfg.norm} norm, ngf {cfg.ngf}, {cfg.in_channels}->{cfg.out_channels} channels"


def junyanz_key_map(cfg: UNetConfig) -> dict[str, str]:
    """junyanz key -> flat key for every parameter and buffer of a U-Net of ``cfg``."""
    depth = cfg.depth
    prefixes = level_prefixes(depth)
    batch = cfg.norm == "batch"
    norm_keys = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked") if batch else ()
    conv_keys = ("weight", "bias") if not batch else ("weight",)
    mapping: dict[str, str] = {}

    def conv(src: str, dst: str, keys: tuple[str, ...]) -> None:
        for name in keys:
            mapping[f"{src}.{name}"] = f"{dst}.{name}"

    for k, p in enumerate(prefixes, start=1):
        if k == 1:
            conv(f"{p}.model.0", "down1.conv", conv_keys)
            conv(f"{p}.model.3", "up1.conv", ("weight", "bias"))
        elif k == depth:
            conv(f"{p}.model.1", f"down{k}.conv", conv_keys)
            conv(f"{p}.model.3", f"up{k}.conv", conv_keys)
            conv(f"{p}.model.4", f"up{k}.norm", norm_keys)
        else:
            conv(f"{p}.model.1", f"down{k}.conv", conv_keys)
            conv(f"{p}.model.2", f"down{k}.norm", norm_keys)
            conv(f"{p}.model.5", f"up{k}.conv", conv_keys)
            conv(f"{p}.model.6", f"up{k}.norm", norm_keys)
    return mapping


def junyanz_to_flat(state: Mapping[str, torch.Tensor], expect: UNetConfig | None = None, *,
                    label: str = "the pix2pix generator file") -> tuple[UNetConfig, dict[str, torch.Tensor]]:
    """Convert a junyanz U-Net state_dict to our flat names; checks it against ``expect``.
    ``label`` (the file's path) starts every refusal."""
    state = _strip_wrappers(state)
    found = describe_junyanz(state, label)
    if found.norm == "instance":
        state = _drop_instance_norm_statistics(state, found)
    if expect is not None:
        mismatch = [f for f in ("arch", "norm", "ngf", "in_channels", "out_channels")
                    if getattr(expect, f) != getattr(found, f)]
        if mismatch:
            raise CheckpointError(f"{label} does not fit: expected {_describe(expect)}, "
                                  f"found {_describe(found)}")
        found = UNetConfig(found.arch, found.in_channels, found.out_channels, found.ngf, found.norm, expect.dropout)
    mapping = junyanz_key_map(found)
    flat: dict[str, torch.Tensor] = {}
    for src, dst in mapping.items():
        if src in state:
            flat[dst] = state[src]
        elif not src.endswith("num_batches_tracked"):
            raise CheckpointError(f"{label} ({_describe(found)}) lacks {src}")
    unused = sorted(set(state) - set(mapping))
    if unused:
        raise CheckpointError(f"{label} has entries a {_describe(found)} does not: "
                              + ", ".join(unused[:3]) + ("..." if len(unused) > 3 else ""))
    # shapes are checked against a fresh network so a wrong file cannot half-load
    ref = UNetGenerator(found.arch, in_channels=found.in_channels, out_channels=found.out_channels,
                        ngf=found.ngf, norm=found.norm, dropout=found.dropout).state_dict()
    for k, v in flat.items():
        if tuple(ref[k].shape) != tuple(v.shape):
            raise CheckpointError(f"{label} has {k} of shape {tuple(v.shape)}, "
                                  f"expected {tuple(ref[k].shape)} for {_describe(found)}")
    for k, v in ref.items():  # missing num_batches_tracked: keep the fresh zero counter
        flat.setdefault(k, v)
    return found, flat


def _drop_instance_norm_statistics(state: dict[str, torch.Tensor], cfg: UNetConfig) -> dict[str, torch.Tensor]:
    """Without the running statistics older PyTorch saved on InstanceNorm layers (as the reference does)."""
    as_batch = UNetConfig(cfg.arch, cfg.in_channels, cfg.out_channels, cfg.ngf, "batch")
    norm_layers = {src.rsplit(".", 1)[0] for src, dst in junyanz_key_map(as_batch).items() if ".norm." in dst}
    stale = [k for k in state if k.rsplit(".", 1)[0] in norm_layers
             and k.rsplit(".", 1)[-1] in ("running_mean", "running_var", "num_batches_tracked")]
    if stale:
        layers = len({k.rsplit(".", 1)[0] for k in stale})
        info(f"ignoring the running statistics older PyTorch saved on {layers} instance-norm layers "
             f"({len(stale)} entries; instance norm does not use them, and the reference drops them too)")
    return {k: v for k, v in state.items() if k not in set(stale)}


def read_junyanz_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a ``.pth`` state_dict with the allowlisting loader (never executes code)."""
    return read_torch_state_dict(path, what="pix2pix generator")


def load_junyanz_generator(path: str | os.PathLike, *, expect: UNetConfig | None = None,
                           dropout: float = 0.5) -> UNetGenerator:
    """A :class:`UNetGenerator` holding the weights of a junyanz ``.pth`` file."""
    state = read_junyanz_file(path)
    if expect is not None:
        dropout = expect.dropout
    cfg, flat = junyanz_to_flat(state, expect, label=str(path))
    g = UNetGenerator(cfg.arch, in_channels=cfg.in_channels, out_channels=cfg.out_channels, ngf=cfg.ngf,
                      norm=cfg.norm, dropout=dropout)
    g.load_state_dict(flat, strict=True)
    return g
