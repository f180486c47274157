"""DCGAN (Radford et al.), the simple baseline, in the flat pytorch/examples style.

Generator: z (+ label) as a 1x1 map -> 4x4 transposed conv -> (BN, ReLU, 2x transposed conv)
repeated up to ``img_resolution`` -> tanh. Discriminator: the mirror image with strided convs,
leaky ReLU and BatchNorm, a 4x4 valid conv to one logit; labels enter by projection.
Any power-of-two resolution >= 16; channel widths are capped at 8x ngf/ndf (64x64 gives
exactly the pytorch/examples network).

Both expose the same call signatures as the StyleGAN2 networks so the training loop and the
latent tools treat them alike; ``w_dim=None`` and ``num_ws=0`` say there is no W space, and
truncation scales z toward 0.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..core.shapes import assert_shape


def _check_resolution(res: int) -> int:
    if res < 16 or res & (res - 1):
        raise ValueError(f"DCGAN img_resolution must be a power of two >= 16, got {res}")
    return int(math.log2(res))


def _init_weights(m: nn.Module) -> None:
    # DCGAN paper: conv weights N(0, 0.02), BN gamma N(1, 0.02), beta 0.
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if getattr(m, "bias", None) is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)



def z_space_input(z: torch.Tensor, c: torch.Tensor | None, *, z_dim: int, c_dim: int,
                  truncation_psi: float = 1) -> torch.Tensor:
    """What a z-space generator (DCGAN, lite) reads: z checked, truncated in z (``z * psi``), with
    the labels appended for a conditional network."""
    assert_shape(z, [None, z_dim], "z")
    x = z * truncation_psi if truncation_psi != 1 else z
    if c_dim > 0:
        if c is None:
            raise ValueError(f"c must have shape [N, {c_dim}] (conditional network)")
        assert_shape(c, [z.shape[0], c_dim], "c (conditional network)")
        x = torch.cat([x, c.to(x.dtype)], dim=1)
    return x

class DCGANGenerator(nn.Module):
    """``G(z [N, z_dim], c [N, c_dim]) -> img [N, C, R, R]`` in [-1, 1]."""

    w_dim = None
    num_ws = 0

    def __init__(
        self,
        z_dim: int = 100,           # Input latent width (100 in the paper).
        c_dim: int = 0,             # Conditioning label width, concatenated to z; 0 = unconditional.
        img_resolution: int = 64,   # Output resolution R, a power of two >= 16.
        img_channels: int = 3,      # Output image channels.
        ngf: int = 64,              # Channels of the last hidden layer; earlier layers have up to 8x.
    ) -> None:
        super().__init__()
        n_up = _check_resolution(img_resolution) - 2
        self.init_kwargs = dict(z_dim=z_dim, c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels,
                                ngf=ngf)
        self.z_dim, self.c_dim = z_dim, c_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        chans = [ngf * min(2 ** (n_up - 1 - i), 8) for i in range(n_up)]  # 64px: 8,4,2,1 x ngf
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim + c_dim, chans[0], 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(chans[0]), nn.ReLU(True)]
        for i in range(1, n_up):
            layers += [nn.ConvTranspose2d(chans[i - 1], chans[i], 4, 2, 1, bias=False),
                       nn.BatchNorm2d(chans[i]), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(chans[-1], img_channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.apply(_init_weights)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, noise_mode: str = "random", **_: object) -> torch.Tensor:
        x = z_space_input(z, c, z_dim=self.z_dim, c_dim=self.c_dim, truncation_psi=truncation_psi)
        img = self.main(x[:, :, None, None]).float()
        assert_shape(img, [z.shape[0], self.img_channels, self.img_resolution, self.img_resolution], "DCGAN output")
        return img


class DCGANDiscriminator(nn.Module):
    """``D(img [N, C, R, R], c [N, c_dim]) -> logits [N, 1]``."""

    def __init__(
        self,
        c_dim: int = 0,             # Conditioning label width (projection discriminator); 0 = unconditional.
        img_resolution: int = 64,   # Input resolution R, a power of two >= 16.
        img_channels: int = 3,      # Input image channels.
        ndf: int = 64,              # Channels of the first layer; later layers have up to 8x.
    ) -> None:
        super().__init__()
        n_down = _check_resolution(img_resolution) - 2
        self.init_kwargs = dict(c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels, ndf=ndf)
        self.c_dim = c_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        chans = [ndf * min(2 ** i, 8) for i in range(n_down)]  # 64px: 1,2,4,8 x ndf
        layers: list[nn.Module] = [nn.Conv2d(img_channels, chans[0], 4, 2, 1, bias=False),
                                   nn.LeakyReLU(0.2, inplace=True)]
        for i in range(1, n_down):
            layers += [nn.Conv2d(chans[i - 1], chans[i], 4, 2, 1, bias=False), nn.BatchNorm2d(chans[i]),
                       nn.LeakyReLU(0.2, inplace=True)]
        self.features = nn.Sequential(*layers)
        self.out = nn.Conv2d(chans[-1], 1, 4, 1, 0, bias=False)
        if c_dim > 0:  # projection discriminator: logit += <embed(c), pooled features>
            self.embed = nn.Linear(c_dim, chans[-1], bias=False)
        self.apply(_init_weights)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None, **_: object) -> torch.Tensor:
        res = self.img_resolution
        assert_shape(img, [None, self.img_channels, res, res], "D img")
        h = self.features(img)
        assert_shape(h, [img.shape[0], self.out.in_channels, 4, 4], "D features")
        logits = self.out(h).flatten(1).float()
        if self.c_dim > 0:
            if c is None:
                raise ValueError(f"c must have shape [N, {self.c_dim}] (conditional network)")
            assert_shape(c, [img.shape[0], self.c_dim], "c (conditional network)")
            proj = (self.embed(c.to(h.dtype)) * h.sum(dim=[2, 3])).sum(dim=1, keepdim=True)
            logits = logits + proj.float()
        return logits
