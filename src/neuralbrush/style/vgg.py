"""VGG-19 feature extractor for style transfer.

The network is torchvision's VGG-19 architecture (``features`` only), loaded from the weights
store (``vgg19``: torchvision's IMAGENET1K_V1 file), from a file the user names, or given
explicitly random, seeded weights (``vgg="random"``, for tests; the art is not meaningful).
It is cut after the last layer a loss needs, its weights never take gradients, and it runs in
eval mode in the runtime's layout (channels_last on AMX CPUs and GPUs).

Layer names follow the usual convention: ``conv{block}_{n}`` is a convolution's output before
its ReLU, ``relu{block}_{n}`` after it, ``pool{block}`` the pooling at the end of a block.
Gatys et al. name their layers ``conv4_2`` etc., but in Caffe the ReLU runs in place, so their
features are the ReLU outputs: our ``relu4_2``.

Inputs are RGB in [0, 1]; the ImageNet mean/std normalisation happens inside ``forward``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import torch
from torch import nn

from ..core.errors import UsageError
from .options import LAYER_INDEX, LAYER_NAMES, layer_index  # noqa: F401 (the layer names, declared with the options)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

RANDOM_WARNING = ("using random VGG-19 weights (--vgg random): the losses and timings are real, "
                  "but the pictures are not meaningful art")


def _state_dict_from_file(path: Path) -> dict[str, torch.Tensor]:
    """Read a torchvision VGG-19 state dict (allowlisting loader) and keep the ``features.*`` part."""
    from ..core.errors import CheckpointError

    from ..core.checkpoint import read_torch_state_dict

    obj = read_torch_state_dict(path, what="VGG-19")
    feats = {k[len("features."):]: v for k, v in obj.items() if k.startswith("features.")}
    if not feats:  # a bare features state dict ("0.weight", ...)
        feats = {k: v for k, v in obj.items() if k.split(".")[0].isdigit()}
    if "0.weight" not in feats or tuple(feats["0.weight"].shape) != (64, 3, 3, 3):
        raise CheckpointError(f"{path} is not a torchvision VGG-19 state dict (no features.0.weight of shape 64x3x3x3)")
    return feats


def _vgg19_features() -> nn.Sequential:
    """torchvision's VGG-19 ``features`` (configuration "E"), built without the classifier."""
    from torchvision.models.vgg import cfgs, make_layers

    return make_layers(cfgs["E"], batch_norm=False)


STORE_ALIASES = ("store", "default")  # other names of the weights store's vgg19


def resolve_vgg_source(vgg: str | os.PathLike | None) -> tuple[str, Path | None]:
    """``--vgg``: ``'random'``; None, ``'store'`` or ``'vgg19'`` (the store's file:
    WeightsMissingError if absent); or a path, through the one name-or-path resolver.
    Returns (kind, path) with kind in {'file', 'random'}."""
    if vgg is None or str(vgg) in STORE_ALIASES:
        vgg = "vgg19"
    if str(vgg) == "random":
        return "random", None
    from ..core.sources import resolve_source

    src = resolve_source(vgg, kinds=("vgg19",), what="VGG-19 network", suffixes=(".pth",), snapshot_globs=(),
                         extra_names=("random",))
    return "file", src.path


class VGGFeatures(nn.Module):
    """VGG-19 ``features`` cut after the deepest of ``layers``; ``forward`` returns a dict of them.

    Args:
        layers: layer names whose outputs ``forward`` returns.
        vgg: ``'store'`` (the weights store's vgg19), ``'random'`` (seeded random weights) or a
            path to a torchvision VGG-19 ``.pth`` state dict.
        pooling: ``'max'`` (as trained) or ``'avg'`` (smoother textures, often preferred for art).
        seed: seed for random weights.
        warn: say that random weights make no meaningful art (off when an owner rebuilds it).
    """

    def __init__(self, layers: Iterable[str], *, vgg: str | os.PathLike | None = "store", pooling: str = "max",
                 seed: int = 0, warn: bool = True) -> None:
        super().__init__()
        self.layers = tuple(dict.fromkeys(layers))
        if not self.layers:
            raise UsageError("no VGG layers were asked for")
        idx = [layer_index(n) for n in self.layers]
        last = max(idx)
        if pooling not in ("max", "avg"):
            raise UsageError(f"unknown pooling {pooling!r}; use max or avg")
        kind, path = resolve_vgg_source(vgg)
        self.source = "random" if kind == "random" else str(path)
        if kind == "random" and warn:
            warnings.warn(RANDOM_WARNING, stacklevel=2)
            from ..core.progress import info

            info(f"[yellow]warning:[/] {RANDOM_WARNING}")
        features = _vgg19_features()
        if kind == "random":
            # torchvision's own VGG initialisation, seeded, without building the 120M-parameter classifier
            gen = torch.Generator().manual_seed(seed)
            for m in features:
                if isinstance(m, nn.Conv2d):
                    fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
                    with torch.no_grad():
                        m.weight.normal_(0.0, (2.0 / fan_out) ** 0.5, generator=gen)
                        m.bias.zero_()
        else:
            features.load_state_dict(_state_dict_from_file(path))  # type: ignore[arg-type]
        mods = list(features.children())[: last + 1]
        for i, m in enumerate(mods):
            if isinstance(m, nn.ReLU):
                mods[i] = nn.ReLU(inplace=False)  # we keep pre-activation outputs too
            elif isinstance(m, nn.MaxPool2d) and pooling == "avg":
                mods[i] = nn.AvgPool2d(2, 2)
        self.body = nn.Sequential(*mods)
        self.body.requires_grad_(False)
        self.eval()
        self._want = {i: n for i, n in zip(idx, self.layers)}
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def random(self) -> bool:
        return self.source == "random"

    def train(self, mode: bool = True) -> "VGGFeatures":  # always eval: no dropout/bn here, but be explicit
        return super().train(False)

    def forward(self, image: torch.Tensor, layers: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """``image``: N x 3 x H x W RGB in [0, 1]. Returns {layer name: features}."""
        assert image.dim() == 4 and image.shape[1] == 3, f"expected Nx3xHxW, got {tuple(image.shape)}"
        want = self._want if layers is None else {layer_index(n): n for n in layers}
        missing = [n for n in want.values() if n not in self.layers]
        if missing:
            raise UsageError(f"layer(s) {', '.join(missing)} were not requested when the extractor was built")
        x = (image - self.mean.to(image.dtype)) / self.std.to(image.dtype)
        out: dict[str, torch.Tensor] = {}
        last = max(want)
        for i, m in enumerate(self.body):
            x = m(x)
            if i in want:
                out[want[i]] = x
            if i >= last:
                break
        return out
