"""LPIPS (VGG-16 variant): the perceptual distance the projector minimises.

Features of torchvision's VGG-16 at relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3 are
unit-normalised along channels, their squared differences weighted per channel by the LPIPS
v0.1 linear layers, averaged over space and summed over layers. Both weight files come from
the weights store (``vgg16`` and ``lpips-vgg``) or files named in their place; nothing falls
back to untrained weights.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import WeightsMissingError

# Slices of torchvision vgg16().features ending at relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.
_SLICES = ((0, 4), (4, 9), (9, 16), (16, 23), (23, 30))
_CHANNELS = (64, 128, 256, 512, 512)
# LPIPS input scaling for images in [-1, 1].
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
WEIGHT_NAMES = ("vgg16", "lpips-vgg")


def weight_files(vgg16: str | os.PathLike = "vgg16", lin: str | os.PathLike = "lpips-vgg") -> tuple[Path, Path]:
    """The VGG-16 and linear-layer files: each a store name or a path, through the one name-or-path
    resolver; store entries that are missing are named together, each with its directions."""
    from ..core.sources import resolve_source
    from ..weights import store

    missing = [n for n in (str(vgg16), str(lin)) if n in WEIGHT_NAMES and store.find(n) is None]
    if missing:
        msgs = []
        for n in missing:
            try:
                store.require(n)
            except WeightsMissingError as e:
                msgs.append(str(e))
        raise WeightsMissingError(
            f"the LPIPS loss needs {' and '.join(repr(m) for m in missing)} in the weights store "
            f"(or use --loss mse for the pixel loss only): " + "; ".join(msgs))
    return (resolve_source(vgg16, kinds=("vgg16",), what="VGG-16 network", suffixes=(".pth",), snapshot_globs=()).path,
            resolve_source(lin, kinds=("lpips",), what="LPIPS linear-layer file", suffixes=(".pth",),
                           snapshot_globs=()).path)


class LPIPS(nn.Module):
    """``LPIPS(vgg_state, lin_state)(x, y)`` -> distance per image ``[N]`` for x, y in [-1, 1]."""

    def __init__(self, vgg_state: dict[str, torch.Tensor] | None = None,
                 lin_state: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        from torchvision.models.vgg import cfgs, make_layers

        features = make_layers(cfgs["D"], batch_norm=False)[:30]  # VGG-16's convolutional part only
        if vgg_state is not None:
            sub = {k[len("features."):]: v for k, v in vgg_state.items() if k.startswith("features.")}
            sub = {k: v for k, v in sub.items() if int(k.split(".")[0]) < 30}
            features.load_state_dict(sub)
        for m in features:
            if isinstance(m, nn.ReLU):
                m.inplace = False
        self.slices = nn.ModuleList(features[a:b] for a, b in _SLICES)
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in _CHANNELS)
        if lin_state is not None:
            for i, lin in enumerate(self.lins):
                keys = [k for k in lin_state if re.match(rf"^lin{i}\.(model\.\d+\.)?weight$", k)]
                if len(keys) != 1:
                    raise WeightsMissingError(f"the lpips-vgg file has no weights for layer lin{i}")
                lin.weight.data.copy_(lin_state[keys[0]].reshape_as(lin.weight))
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False).eval()

    @classmethod
    def from_store(cls, vgg16: str | os.PathLike = "vgg16", lin: str | os.PathLike = "lpips-vgg") -> "LPIPS":
        """Build from the weights store, or from files named in place of either entry."""
        from ..core.checkpoint import read_torch_state_dict

        vgg_file, lin_file = weight_files(vgg16, lin)
        return cls(read_torch_state_dict(vgg_file, what="VGG-16"),
                   read_torch_state_dict(lin_file, what="LPIPS linear-layer"))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = (x - self.shift.to(x.dtype)) / self.scale.to(x.dtype)
        out = []
        for s in self.slices:
            h = s(h)
            out.append(h)
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fx, fy = self.features(x), self.features(y)
        total = x.new_zeros(x.shape[0], dtype=torch.float32)
        for lin, a, b in zip(self.lins, fx, fy):
            a = a.float() / (a.float().square().sum(1, keepdim=True).sqrt() + 1e-10)
            b = b.float() / (b.float().square().sum(1, keepdim=True).sqrt() + 1e-10)
            d = F.conv2d((a - b).square(), lin.weight.float())
            total = total + d.mean(dim=(1, 2, 3))
        return total
