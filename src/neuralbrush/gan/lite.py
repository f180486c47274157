"""``lite``: a few-shot GAN in the spirit of FastGAN (Liu et al., ICLR 2021), 32 to 1024 px.

Written afresh from the paper's description. What makes it train from a few hundred images:

* Generator: a 4x4 start from z, then one upsampling block per resolution (nearest 2x, 3x3 conv,
  BatchNorm, GLU; every other block has a second conv and per-pixel noise). **Skip-layer
  excitation** (SLE) gates the channels of a high-resolution feature with a vector computed from
  a feature 16x smaller (at least 4x4): pooled to 4x4, a 4x4 conv, SiLU, a 1x1 conv, sigmoid.
  Gradients reach the low blocks by a short path and the low-res content steers the style of the
  fine layers (at 1024 px: 8 -> 128, 16 -> 256, 32 -> 512, as in the paper; smaller images use
  the three highest blocks from 32 px up).
* Discriminator: two branches, the image at full size and at half size (at most 128 px), each
  ending in 5x5 patch logits (hinge loss on every patch). It is **self-supervised**: three small
  decoders rebuild, from its 8x8 features, the whole image, the half-size image and, from one
  quadrant of its 16x16 features, that quadrant of the image (all at ``rec_res`` = half the
  resolution, at most 128 px). Only real images are reconstructed; :class:`..loss.LiteLoss`
  adds the reconstruction error to D's loss.
* Spectral normalisation on every convolution of both networks (one power iteration per
  training call, no hooks: the weights stay plain parameters for Freeze-D and snapshots).

Differences from the paper, on purpose: D makes its own half-size view by area downsampling
(FastGAN's G also draws a 128 px image for it); the reconstruction loss is L1 plus L1 of
image gradients at two scales instead of LPIPS (no pretrained network is needed); channel widths
are ``ngf``/``ndf`` times FastGAN's per-resolution multipliers, so a CPU preset can be narrow.

Like DCGAN there is no w space (``w_dim=None``, ``num_ws=0``): the latent tools work in z and
truncation scales z toward 0.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..core.shapes import assert_shape
from .dcgan import z_space_input

MIN_RES, MAX_RES = 32, 1024
# FastGAN's channel multipliers per resolution (times ngf or ndf).
MULT = {4: 16, 8: 8, 16: 4, 32: 2, 64: 2, 128: 1, 256: 0.5, 512: 0.25, 1024: 0.125}
MIN_CHANNELS = 8
COMP_RES = (8, 32, 128, 512)  # blocks with two convs and noise
NOISE_MODES = ("const", "random", "none")


def check_resolution(res: int) -> int:
    if not isinstance(res, int) or res < MIN_RES or res > MAX_RES or res & (res - 1):
        raise ValueError(f"lite img_resolution must be a power of two from {MIN_RES} to {MAX_RES}, got {res}")
    return int(math.log2(res))


def width(base: int, res: int) -> int:
    """Channels at resolution ``res`` for width ``base`` (ngf or ndf)."""
    return max(int(base * MULT[res]), MIN_CHANNELS)


def sle_pairs(res: int) -> list[tuple[int, int]]:
    """(source, target) resolutions of the skip-layer excitations of a ``res`` px generator."""
    targets = [t for t in (32, 64, 128, 256, 512) if t <= res][-3:]
    return [(max(t // 16, 4), t) for t in targets]


def half_res(res: int) -> int:
    """Size of D's second view and of the reconstructions: half the image, at most 128 px."""
    return min(res // 2, 128)


class _SpectralNorm:
    """Divides the weight by its largest singular value, estimated by one power iteration per
    training call (buffers ``sn_u``/``sn_v``); evaluation reuses the stored vectors."""

    def _init_sn(self) -> None:
        rows, cols = self.weight.shape[0], self.weight[0].numel()
        self.register_buffer("sn_u", F.normalize(torch.randn(rows), dim=0))
        self.register_buffer("sn_v", F.normalize(torch.randn(cols), dim=0))

    def normalized_weight(self) -> torch.Tensor:
        dev = self.weight.device.type
        with torch.autocast(dev, enabled=False) if torch.amp.is_autocast_available(dev) else contextlib.nullcontext():
            w = self.weight.float().flatten(1)
            if self.training:
                with torch.no_grad():
                    v = F.normalize(w.t() @ self.sn_u.float(), dim=0, eps=1e-12)
                    u = F.normalize(w @ v, dim=0, eps=1e-12)
                    self.sn_u.copy_(u)
                    self.sn_v.copy_(v)
            sigma = torch.dot(self.sn_u.float(), w @ self.sn_v.float())
            return (self.weight.float() / sigma.clamp_min(1e-8)).to(self.weight.dtype)


class SNConv2d(nn.Conv2d, _SpectralNorm):
    """``nn.Conv2d`` with spectral normalisation."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_sn()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.normalized_weight(), self.bias)


class SNLinear(nn.Linear, _SpectralNorm):
    """``nn.Linear`` with spectral normalisation."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_sn()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.normalized_weight(), self.bias)


@torch.no_grad()
def settle_spectral_norms(module: nn.Module, iters: int = 10) -> None:
    """Power-iterate every spectral norm's vectors on the current weights. Called after
    initialisation: with the random starting vectors an eval-mode network (the EMA generator's
    first grid, a fresh network's samples) divided its weights by a meaningless sigma and drew
    NaN; training calls refine the vectors from here as before."""
    for m in module.modules():
        if isinstance(m, _SpectralNorm):
            w = m.weight.float().flatten(1)
            u, v = m.sn_u.float(), m.sn_v.float()
            for _ in range(iters):
                v = F.normalize(w.t() @ u, dim=0, eps=1e-12)
                u = F.normalize(w @ v, dim=0, eps=1e-12)
            m.sn_u.copy_(u)
            m.sn_v.copy_(v)


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class NoiseInjection(nn.Module):
    """``x + strength * noise`` with one noise map per sample (``random``), a fixed map (``const``,
    drawn from a fixed seed so generation is repeatable) or none; strength starts at 0."""

    def __init__(self, resolution: int) -> None:
        super().__init__()
        self.strength = nn.Parameter(torch.zeros([]))
        const = torch.randn(1, 1, resolution, resolution, generator=torch.Generator().manual_seed(resolution))
        self.register_buffer("noise_const", const, persistent=False)

    def forward(self, x: torch.Tensor, noise_mode: str) -> torch.Tensor:
        if noise_mode == "none":
            return x
        if noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        else:
            noise = self.noise_const.to(x.dtype)
        return x + self.strength.to(x.dtype) * noise


class UpBlock(nn.Module):
    """[N, in, r/2, r/2] -> [N, out, r, r]: nearest 2x, conv 3x3, (noise), BN, GLU (twice when ``comp``)."""

    def __init__(self, in_channels: int, out_channels: int, resolution: int, comp: bool) -> None:
        super().__init__()
        self.conv0 = SNConv2d(in_channels, out_channels * 2, 3, 1, 1, bias=False)
        self.bn0 = nn.BatchNorm2d(out_channels * 2)
        self.comp = comp
        if comp:
            self.noise0 = NoiseInjection(resolution)
            self.conv1 = SNConv2d(out_channels, out_channels * 2, 3, 1, 1, bias=False)
            self.noise1 = NoiseInjection(resolution)
            self.bn1 = nn.BatchNorm2d(out_channels * 2)

    def forward(self, x: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        x = self.conv0(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        if self.comp:
            x = self.noise0(x, noise_mode)
        x = F.glu(self.bn0(x), dim=1)
        if self.comp:
            x = F.glu(self.bn1(self.noise1(self.conv1(x), noise_mode)), dim=1)
        return x


class SkipLayerExcitation(nn.Module):
    """``high * sigmoid(conv1x1(silu(conv4x4(pool4x4(low)))))``: channel gates for the
    high-resolution feature computed from the low-resolution one."""

    def __init__(self, low_channels: int, high_channels: int) -> None:
        super().__init__()
        self.conv0 = SNConv2d(low_channels, high_channels, 4, 1, 0, bias=False)
        self.conv1 = SNConv2d(high_channels, high_channels, 1, 1, 0, bias=False)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        gate = self.conv0(F.adaptive_avg_pool2d(low, 4))
        gate = torch.sigmoid(self.conv1(F.silu(gate)))
        return high * gate


class LiteGenerator(nn.Module):
    """``G(z [N, z_dim], c [N, c_dim]) -> img [N, C, R, R]`` in [-1, 1]."""

    w_dim = None
    num_ws = 0

    def __init__(
        self,
        z_dim: int = 256,           # Input latent width (FastGAN: 256).
        c_dim: int = 0,             # Conditioning label width, concatenated to z; 0 = unconditional.
        img_resolution: int = 256,  # Output resolution R, a power of two from 32 to 1024.
        img_channels: int = 3,      # Output image channels.
        ngf: int = 64,              # Width: channels at r are ngf * MULT[r] (FastGAN: 64), at least 8.
    ) -> None:
        super().__init__()
        log_res = check_resolution(img_resolution)
        self.init_kwargs = dict(z_dim=z_dim, c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels,
                                ngf=ngf)
        self.z_dim, self.c_dim = z_dim, c_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.resolutions = [2 ** i for i in range(3, log_res + 1)]
        ch = {r: width(ngf, r) for r in [4] + self.resolutions}
        self.init = SNLinear(z_dim + c_dim, ch[4] * 2 * 16, bias=False)
        self.init_bn = nn.BatchNorm2d(ch[4] * 2)
        for r in self.resolutions:
            setattr(self, f"up{r}", UpBlock(ch[r // 2], ch[r], r, comp=r in COMP_RES))
        self.sle = {dst: src for src, dst in sle_pairs(img_resolution)}  # target res -> source res
        for dst, src in self.sle.items():
            setattr(self, f"sle{dst}", SkipLayerExcitation(ch[src], ch[dst]))
        self.torgb = SNConv2d(ch[img_resolution], img_channels, 3, 1, 1, bias=True)
        self.apply(_init_weights)
        settle_spectral_norms(self)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, noise_mode: str = "const", **_: object) -> torch.Tensor:
        """``noise_mode`` const (the default: repeatable pictures), random (training) or none."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, not {noise_mode!r}")
        x = z_space_input(z, c, z_dim=self.z_dim, c_dim=self.c_dim, truncation_psi=truncation_psi)
        x = self.init(x).view(z.shape[0], -1, 4, 4)
        feats = {4: F.glu(self.init_bn(x), dim=1)}
        for r in self.resolutions:
            x = getattr(self, f"up{r}")(feats[r // 2], noise_mode)
            if r in self.sle:
                x = getattr(self, f"sle{r}")(feats[self.sle[r]], x)
            feats[r] = x
        img = torch.tanh(self.torgb(x)).float()
        assert_shape(img, [z.shape[0], self.img_channels, self.img_resolution, self.img_resolution], "lite output")
        return img


def _down_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """conv 4x4 stride 2, BN, leaky ReLU: [N, in, r, r] -> [N, out, r/2, r/2]."""
    return nn.Sequential(SNConv2d(in_channels, out_channels, 4, 2, 1, bias=False), nn.BatchNorm2d(out_channels),
                         nn.LeakyReLU(0.2))


class DownBlockComp(nn.Module):
    """Residual 2x downsampling: (conv 4x4 s2, BN, lrelu, conv 3x3, BN, lrelu) averaged with
    (avg-pool, conv 1x1, BN, lrelu)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.main = nn.Sequential(_down_block(in_channels, out_channels),
                                  SNConv2d(out_channels, out_channels, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(out_channels), nn.LeakyReLU(0.2))
        self.direct = nn.Sequential(nn.AvgPool2d(2, 2), SNConv2d(in_channels, out_channels, 1, 1, 0, bias=False),
                                    nn.BatchNorm2d(out_channels), nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.main(x) + self.direct(x)) / 2


class Decoder(nn.Module):
    """[N, in, 8, 8] features -> [N, C, out_res, out_res] image in [-1, 1]."""

    def __init__(self, in_channels: int, base: int, out_res: int, img_channels: int) -> None:
        super().__init__()
        blocks, c, r = [], in_channels, 8
        while r < out_res:
            r *= 2
            blocks.append(UpBlock(c, width(base, r), r, comp=False))
            c = width(base, r)
        self.blocks = nn.ModuleList(blocks)
        self.out = SNConv2d(c, img_channels, 3, 1, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return torch.tanh(self.out(x))


@dataclass
class LiteScores:
    """What D says about a batch: patch logits [N, P] (two 5x5 grids), and for real images the
    reconstructions {'whole' | 'small' | 'part': (reconstruction, target)}, each [N, C, rec, rec]."""

    patches: torch.Tensor
    reconstructions: dict[str, tuple[torch.Tensor, torch.Tensor]]


def _area(img: torch.Tensor, size: int) -> torch.Tensor:
    return img if img.shape[-1] == size else F.adaptive_avg_pool2d(img, size)


class LiteDiscriminator(nn.Module):
    """``D(img [N, C, R, R], c [N, c_dim]) -> logits [N, 1]`` (the mean patch logit);
    :meth:`score` gives the patch logits and, on request, the reconstructions."""

    def __init__(
        self,
        c_dim: int = 0,             # Conditioning label width (projection discriminator); 0 = unconditional.
        img_resolution: int = 256,  # Input resolution R, a power of two from 32 to 1024.
        img_channels: int = 3,      # Input image channels.
        ndf: int = 64,              # Width: channels at r are ndf * MULT[r] (FastGAN: 64); decoders ndf / 2.
    ) -> None:
        super().__init__()
        check_resolution(img_resolution)
        self.init_kwargs = dict(c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels, ndf=ndf)
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels
        self.rec_res = self.small_res = half_res(img_resolution)
        ch = {r: width(ndf, r) for r in MULT}
        big: list[nn.Module] = []  # full-size branch, down to 8x8 (16x16 kept for the part decoder)
        r, c = img_resolution, img_channels
        while r > 256:  # cheap stride-2 entry for very large images
            big += [SNConv2d(c, ch[r // 2], 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
            r, c = r // 2, ch[r // 2]
        if not big:
            big += [SNConv2d(c, ch[r], 3, 1, 1, bias=False), nn.LeakyReLU(0.2)]
            c = ch[r]
        self.big_in = nn.Sequential(*big)
        self.big_down = nn.ModuleList()
        while r > 8:
            self.big_down.append(DownBlockComp(c, ch[r // 2]))
            r, c = r // 2, ch[r // 2]
        self.big_logits = nn.Sequential(SNConv2d(ch[8], ch[4], 1, 1, 0, bias=False), nn.BatchNorm2d(ch[4]),
                                        nn.LeakyReLU(0.2), SNConv2d(ch[4], 1, 4, 1, 0, bias=False))
        r = self.small_res // 2  # half-size branch
        small: list[nn.Module] = [SNConv2d(img_channels, ch[r], 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
        while r > 8:
            small.append(_down_block(ch[r], ch[r // 2]))
            r //= 2
        self.small = nn.Sequential(*small)
        self.small_logits = SNConv2d(ch[8], 1, 4, 1, 0, bias=False)
        dec_base = max(ndf // 2, 1)
        self.dec_whole = Decoder(ch[8], dec_base, self.rec_res, img_channels)
        self.dec_part = Decoder(ch[16], dec_base, self.rec_res, img_channels)
        self.dec_small = Decoder(ch[8], dec_base, self.rec_res, img_channels)
        if c_dim > 0:  # projection discriminator: every patch logit += <embed(c), pooled 8x8 features>
            self.embed = nn.Linear(c_dim, ch[8], bias=False)
        self.apply(_init_weights)
        settle_spectral_norms(self)

    def score(self, img: torch.Tensor, c: torch.Tensor | None = None, *, reconstruct: bool = False,
              part: int | None = None) -> LiteScores:
        """Patch logits; with ``reconstruct`` also the three reconstructions and their targets.
        ``part`` (0-3: top-left, top-right, bottom-left, bottom-right) picks the quadrant the
        part decoder rebuilds; None draws one from torch's global generator."""
        res = self.img_resolution
        assert_shape(img, [None, self.img_channels, res, res], "D img")
        n = img.shape[0]
        x = self.big_in(img)
        feat16 = None
        for block in self.big_down:
            x = block(x)
            if x.shape[-1] == 16:
                feat16 = x
        feat8 = x
        small_img = _area(img, self.small_res)
        feat_small = self.small(small_img)
        assert_shape(feat_small, [n, None, 8, 8], "D small-branch features")
        patches = torch.cat([self.big_logits(feat8).flatten(1), self.small_logits(feat_small).flatten(1)], 1).float()
        if self.c_dim > 0:
            if c is None:
                raise ValueError(f"c must have shape [N, {self.c_dim}] (conditional network)")
            assert_shape(c, [n, self.c_dim], "c (conditional network)")
            proj = (self.embed(c.to(feat8.dtype)) * feat8.mean(dim=[2, 3])).sum(dim=1, keepdim=True)
            patches = patches + proj.float()
        recs: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        if reconstruct:
            if part is None:
                part = int(torch.randint(4, ()))
            if part not in range(4):
                raise ValueError(f"part must be 0, 1, 2 or 3, got {part}")
            row, col = divmod(part, 2)
            half = res // 2
            crop = img[:, :, row * half:(row + 1) * half, col * half:(col + 1) * half]
            feat_part = feat16[:, :, row * 8:(row + 1) * 8, col * 8:(col + 1) * 8]
            target = img.detach()
            recs = {"whole": (self.dec_whole(feat8).float(), _area(target, self.rec_res).float()),
                    "part": (self.dec_part(feat_part).float(), _area(crop.detach(), self.rec_res).float()),
                    "small": (self.dec_small(feat_small).float(), _area(small_img.detach(), self.rec_res).float())}
        return LiteScores(patches=patches, reconstructions=recs)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None, **_: object) -> torch.Tensor:
        return self.score(img, c).patches.mean(dim=1, keepdim=True)
