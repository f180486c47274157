"""Quality metrics that need no pretrained weights: sliced Wasserstein distance (SWD) on
Laplacian-pyramid patches, in the manner of the progressive-GAN paper; FID/KID only when the
weights store holds 'inception-fid'.

SWD: for each pyramid level (full resolution down to 16 px) take random 7x7 neighbourhoods from
every image (128 per image), normalise the descriptors per colour channel, project them onto
random unit directions, sort, and average the absolute difference of the sorted projections
(the 1-D Wasserstein distance). Reported x1000 per level and averaged over levels; lower is
better; identical distributions give values near the sampling noise floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F

_GAUSS = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _blur(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    k = _GAUSS.tolist()
    x = F.pad(x, [2, 2, 2, 2], mode="reflect")
    # Separable 5-tap binomial as shifted sums: much faster than a depthwise conv on the CPU.
    x = sum(k[i] * x[..., :, i:i + w] for i in range(5))
    return sum(k[i] * x[..., i:i + h, :] for i in range(5))


def laplacian_pyramid(images: torch.Tensor, min_res: int = 16) -> list[torch.Tensor]:
    """Band-pass levels, finest first; the last level is the low-pass residual at ``min_res``."""
    levels = []
    x = images.float()
    while x.shape[-1] > min_res:
        down = _blur(x)[:, :, ::2, ::2]
        up = F.interpolate(down, scale_factor=2, mode="nearest")
        levels.append(x - _blur(up))
        x = down
    levels.append(x)
    return levels


def patch_descriptors(level: torch.Tensor, per_image: int = 128, size: int = 7,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Random ``size`` x ``size`` neighbourhoods: (N * per_image, C * size * size)."""
    n, c, h, w = level.shape
    size = min(size, h, w)
    ys = torch.randint(0, h - size + 1, (n, per_image), generator=generator)
    xs = torch.randint(0, w - size + 1, (n, per_image), generator=generator)
    off = torch.arange(size)
    rows = (ys[..., None] + off).view(n, per_image, size, 1).expand(n, per_image, size, size)
    cols = (xs[..., None] + off).view(n, per_image, 1, size).expand(n, per_image, size, size)
    flat_idx = (rows * w + cols).reshape(n, 1, -1).expand(n, c, -1)
    patches = level.reshape(n, c, h * w).gather(2, flat_idx).view(n, c, per_image, size, size)
    return patches.permute(0, 2, 1, 3, 4).reshape(n * per_image, c * size * size)


def _normalise(desc: torch.Tensor, channels: int) -> torch.Tensor:
    """Zero mean, unit std per colour channel (over all positions of all patches)."""
    d = desc.view(desc.shape[0], channels, -1)
    mean = d.mean(dim=(0, 2), keepdim=True)
    std = d.std(dim=(0, 2), keepdim=True).clamp_min(1e-8)
    return ((d - mean) / std).view(desc.shape[0], -1)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, *, dirs: int = 128, repeats: int = 4,
                       generator: torch.Generator | None = None) -> float:
    """Mean 1-D Wasserstein distance between ``a`` and ``b`` (rows = samples) over random directions."""
    n = min(a.shape[0], b.shape[0])
    a, b = a[:n], b[:n]
    total = 0.0
    for _ in range(repeats):
        d = torch.randn(a.shape[1], dirs, generator=generator)
        d = d / d.norm(dim=0, keepdim=True)
        # numpy sorts contiguous rows several times faster than torch.sort on the CPU
        pa = np.sort((a @ d).t().contiguous().numpy(), axis=1)
        pb = np.sort((b @ d).t().contiguous().numpy(), axis=1)
        total += float(np.abs(pa - pb).mean())
    return total / repeats


@dataclass
class SWDReference:
    """Descriptors of the real images per level, computed once per run and reused."""

    descriptors: list[torch.Tensor]
    channels: int
    resolutions: list[int]


def swd_descriptors(images: torch.Tensor, *, seed: int = 123, per_image: int = 128,
                    min_res: int = 16) -> tuple[list[torch.Tensor], list[int]]:
    """Normalised descriptors per pyramid level for uint8 or [-1,1] float NCHW images."""
    x = images.float()
    if images.dtype == torch.uint8:
        x = x / 127.5 - 1
    g = torch.Generator().manual_seed(seed)
    out, res = [], []
    for level in laplacian_pyramid(x.cpu(), min_res=min(min_res, x.shape[-1])):
        out.append(_normalise(patch_descriptors(level, per_image, generator=g), x.shape[1]))
        res.append(level.shape[-1])
    return out, res


def swd(reference: SWDReference | torch.Tensor, images: torch.Tensor, *, seed: int = 123) -> dict[str, float]:
    """SWD x1e3 per level (``swd/<res>``) and their average (``swd``) between reals and ``images``."""
    if isinstance(reference, torch.Tensor):
        d, r = swd_descriptors(reference, seed=seed)
        reference = SWDReference(d, reference.shape[1], r)
    fake, res = swd_descriptors(images, seed=seed + 1)
    g = torch.Generator().manual_seed(seed + 2)
    result = {}
    for da, db, r in zip(reference.descriptors, fake, res):
        result[f"swd/{r}"] = sliced_wasserstein(da, db, generator=g) * 1e3
    result["swd"] = float(np.mean([v for k, v in result.items()]))
    return result


class MetricRunner:
    """Computes the metrics a run asked for at init and at every snapshot.

    ``real_batches`` yields uint8 NCHW real images; ``generate(n)`` returns n fake images in [-1, 1]
    (the trainer passes G_ema with fixed seeds, so successive values are comparable).
    """

    def __init__(self, names: Iterable[str], real_images: torch.Tensor, *, num_images: int = 1024,
                 log: Callable[[str], None] | None = None) -> None:
        self.names = [n for n in names if n and n != "none"]
        unknown = set(self.names) - {"swd", "fid", "kid"}
        if unknown:
            from ..core.errors import UsageError

            raise UsageError(f"unknown metric(s) {sorted(unknown)}; choose from swd, fid, kid, none")
        self.num_images = min(num_images, real_images.shape[0])
        self.log = log or (lambda m: None)
        self.reference: SWDReference | None = None
        if "swd" in self.names:
            d, r = swd_descriptors(real_images[: self.num_images])
            self.reference = SWDReference(d, real_images.shape[1], r)
        if {"fid", "kid"} & set(self.names):
            from ..weights import store

            if store.find("inception-fid") is None:
                self.log("FID/KID skipped: the weights store has no 'inception-fid' "
                         "(neuralbrush weights fetch inception-fid)")
            else:
                self.log("FID/KID skipped: the Inception-v3 feature network is not implemented yet; SWD only")
            self.names = [n for n in self.names if n == "swd"]

    @property
    def active(self) -> bool:
        return bool(self.names)

    def __call__(self, generate: Callable[[int], torch.Tensor]) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.reference is not None:
            fakes = generate(self.num_images)
            out.update(swd(self.reference, fakes))
        return out
