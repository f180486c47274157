"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

The same random transformations are applied to every image D sees, reals and fakes alike, in the
generator's and the discriminator's steps. Every operation is differentiable in the images, so the
generator learns through it (and R1 can take its double backward): nothing is resampled with
interpolation, only added, scaled, gathered and masked. Unlike ADA there is no probability p: every
image is augmented by every operation of the policy, in the paper's order.

Operations (images in [-1, 1], NCHW), per image:

* ``color``: brightness ``x + U(-0.5, 0.5)``; saturation ``mean_c + (x - mean_c) * U(0, 2)``
  (``mean_c``: the mean over channels of each pixel); contrast ``mean + (x - mean) * U(0.5, 1.5)``
  (``mean``: the image's mean over channels and pixels).
* ``translation``: an integer shift of up to 1/8 of the height and of the width in each direction
  (drawn independently), with zeros where the image moved away.
* ``cutout``: one square (rectangle for non-square images) of half the height and width set to
  zero, centred anywhere in the image (it may reach past the border).

``color_p`` below 1 (training option ``diffaugment_color_p``; issue 14) gives the colour operation to
each image with that probability only, so D also sees images in their true colours: with every
image recoloured (the paper's p = 1) D cannot tell a saturation from another, and a generator
trained against it draws grounds of any saturation where the reals all have one.

The random numbers come from the CPU's torch generator (or the ``generator`` given), whatever the
images' device: a seed gives the same augmentation on every device, and a snapshot's saved torch
RNG state continues the exact stream on resume.
"""

from __future__ import annotations

import torch
from torch import nn

from .presets import DIFFAUGMENT_OPS, parse_diffaugment_policy

DEFAULT_POLICY = ",".join(DIFFAUGMENT_OPS)
TRANSLATION_RATIO = 1 / 8  # the paper's shift: up to 1/8 of the image size
CUTOUT_RATIO = 1 / 2  # the paper's cutout: a square of half the image size
BRIGHTNESS_RANGE = (-0.5, 0.5)  # added
SATURATION_RANGE = (0.0, 2.0)  # multiplies the distance to the pixel's channel mean
CONTRAST_RANGE = (0.5, 1.5)  # multiplies the distance to the image's mean


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=generator) * (hi - lo) + lo


def _randint(n: int, lo: int, hi: int, generator: torch.Generator | None) -> torch.Tensor:
    """Integers in [lo, hi] (both included)."""
    return torch.randint(lo, hi + 1, (n,), generator=generator)


def adjust_color(x: torch.Tensor, brightness: torch.Tensor, saturation: torch.Tensor,
                 contrast: torch.Tensor) -> torch.Tensor:
    """Brightness (added), saturation and contrast (factors) per image, each a tensor of N values."""
    n = x.shape[0]
    x = x + brightness.to(x).view(n, 1, 1, 1)
    pixel_mean = x.mean(dim=1, keepdim=True)
    x = (x - pixel_mean) * saturation.to(x).view(n, 1, 1, 1) + pixel_mean
    image_mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - image_mean) * contrast.to(x).view(n, 1, 1, 1) + image_mean


def translate(x: torch.Tensor, shift_y: torch.Tensor, shift_x: torch.Tensor) -> torch.Tensor:
    """Move image i down by ``shift_y[i]`` and right by ``shift_x[i]`` whole pixels, zeros where it
    left. A gather, so it is differentiable to any order."""
    n, c, h, w = x.shape
    dev = x.device
    src_y = torch.arange(h, device=dev).view(1, h) - shift_y.to(dev).view(n, 1)  # N,H: the row each output reads
    src_x = torch.arange(w, device=dev).view(1, w) - shift_x.to(dev).view(n, 1)
    inside = ((src_y >= 0) & (src_y < h)).view(n, h, 1) & ((src_x >= 0) & (src_x < w)).view(n, 1, w)
    index = src_y.clamp(0, h - 1).view(n, h, 1) * w + src_x.clamp(0, w - 1).view(n, 1, w)
    moved = x.reshape(n, c, h * w).gather(2, index.view(n, 1, h * w).expand(n, c, h * w)).view(n, c, h, w)
    return moved * inside.view(n, 1, h, w).to(x.dtype)


def cutout_mask(n: int, h: int, w: int, centre_y: torch.Tensor, centre_x: torch.Tensor, size: tuple[int, int],
                device: torch.device | str = "cpu") -> torch.Tensor:
    """N,1,H,W mask: 0 inside the ``size`` (height, width) rectangle centred at (centre_y, centre_x), else 1."""
    top = (centre_y.to(device) - size[0] // 2).view(n, 1, 1, 1)
    left = (centre_x.to(device) - size[1] // 2).view(n, 1, 1, 1)
    ys = torch.arange(h, device=device).view(1, 1, h, 1)
    xs = torch.arange(w, device=device).view(1, 1, 1, w)
    hole = (ys >= top) & (ys < top + size[0]) & (xs >= left) & (xs < left + size[1])
    return (~hole).float()


class DiffAugment(nn.Module):
    """The DiffAugment policy as a module: ``DiffAugment('color,translation,cutout')(images)``.

    Args:
        policy: comma-separated operations from :data:`DIFFAUGMENT_OPS`, applied in the paper's
            order (colour, then translation, then cutout) whatever order they are named in.
        translation_ratio, cutout_ratio: the shift bound and the hole size as fractions of the size.
    """

    def __init__(self, policy: str = DEFAULT_POLICY, *, translation_ratio: float = TRANSLATION_RATIO,
                 cutout_ratio: float = CUTOUT_RATIO, color_p: float = 1.0) -> None:
        super().__init__()
        if not 0 <= color_p <= 1:
            raise ValueError(f"color_p must be in [0, 1], got {color_p}")
        self.color_p = float(color_p)
        named = set(parse_diffaugment_policy(policy))
        self.ops = tuple(op for op in DIFFAUGMENT_OPS if op in named)
        self.translation_ratio = float(translation_ratio)
        self.cutout_ratio = float(cutout_ratio)

    @property
    def policy(self) -> str:
        return ",".join(self.ops)

    def extra_repr(self) -> str:
        return f"policy={self.policy!r}" + (f", color_p={self.color_p:g}" if self.color_p < 1 else "")

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        assert images.dim() == 4, f"expected NCHW images, got shape {tuple(images.shape)}"
        n, _, h, w = images.shape
        x = images
        if "color" in self.ops:
            bright, sat, contrast = (_uniform(n, *BRIGHTNESS_RANGE, generator), _uniform(n, *SATURATION_RANGE, generator),
                                     _uniform(n, *CONTRAST_RANGE, generator))
            if self.color_p < 1:  # (at p = 1 no number is drawn: the paper's stream, and runs made before, stay)
                keep = torch.rand(n, generator=generator) >= self.color_p  # these images keep their colours
                bright, sat, contrast = bright.masked_fill(keep, 0.0), sat.masked_fill(keep, 1.0), contrast.masked_fill(keep, 1.0)
            x = adjust_color(x, bright, sat, contrast)
        if "translation" in self.ops:
            max_y, max_x = int(h * self.translation_ratio + 0.5), int(w * self.translation_ratio + 0.5)
            shift_y = _randint(n, -max_y, max_y, generator)
            shift_x = _randint(n, -max_x, max_x, generator)
            x = translate(x, shift_y, shift_x)
        if "cutout" in self.ops:
            size = (int(h * self.cutout_ratio + 0.5), int(w * self.cutout_ratio + 0.5))
            # Centres anywhere in the image (the paper's range, which keeps odd sizes symmetric).
            centre_y = _randint(n, 0, h - size[0] % 2, generator)
            centre_x = _randint(n, 0, w - size[1] % 2, generator)
            x = x * cutout_mask(n, h, w, centre_y, centre_x, size, device=x.device).to(x.dtype)
        return x
