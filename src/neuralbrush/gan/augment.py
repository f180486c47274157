"""Adaptive discriminator augmentation (ADA): the 'bgc' pipeline, written afresh.

Every operation is applied to reals and fakes alike, per sample, each with probability ``p``.
Geometric operations (xflip, rotate90, integer translation, isotropic scale, arbitrary rotation,
anisotropic scale, fractional translation) are composed into ONE inverse matrix per sample and
applied once: reflect padding, 2x upsampling with a windowed-sinc low-pass, bilinear sampling,
2x downsampling with the same filter. Colour operations (brightness, contrast, luma flip, hue
rotation, saturation) are composed into one 4x4 matrix applied per pixel.

Bilinear sampling runs ``F.grid_sample``'s kernel, the coordinates held constant. Its autograd
formula has no double backward on current PyTorch ("derivative for aten::grid_sampler_2d_backward
is not implemented"), which would break R1 through the augmentation; but for fixed coordinates
sampling is a linear map of the image, so ``_GridSample`` differentiates through its transpose (the
kernel's input gradient, ``_GridSampleT``), whose own derivative is the sampling again: any order.
The older sampler, four ``gather`` calls weighted by the bilinear weights (gather's backward is
scatter-add, whose backward is gather), stays as ``sampler="gather"``: 3-5x slower on the CPU,
it is the plain training loop's baseline.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

AUG_MODES = ("ada", "fixed", "noaug", "diffaugment")  # diffaugment: DiffAugment (gan/diffaugment.py)

# Strengths of the 'bgc' pipeline (REFERENCE.md).
BGC = dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
           brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)


def lowpass_filter(taps: int = 12, beta: float = 6.0) -> torch.Tensor:
    """A symmetric Kaiser-windowed sinc, cutoff at half the Nyquist rate (for 2x resampling)."""
    t = np.arange(taps) - (taps - 1) / 2
    h = 0.5 * np.sinc(0.5 * t) * np.kaiser(taps, beta)
    return torch.tensor(h / h.sum(), dtype=torch.float32)


@functools.lru_cache(maxsize=128)
def _resample_matrix(n_in: int, taps: tuple[float, ...], up: bool, pad: tuple[int, int]) -> torch.Tensor:
    """A 1-D resampling step as a matrix ``M`` [n_in, n_out]: ``x @ M`` resamples the last dim.

    up: reflect-pad by ``pad``, insert zeros (pixel i -> 2i, 2i+1), low-pass with ``2 f``.
    down (``pad`` unused): low-pass with ``f``, keep every other pixel (2i, 2i+1 -> i).
    Built once per size by running the 1-D operations on the identity, in float64. As matrices
    the resampling is two small matrix products per direction (forward and backward, and to any
    order of derivative for R1), where depthwise convolutions over zero-inserted images cost
    about five times as long on the CPU (issue 15)."""
    f = torch.tensor(taps, dtype=torch.float64)
    m = f.numel() // 2
    x = torch.eye(n_in, dtype=torch.float64)[:, None, :]  # n_in one-pixel signals
    if up:
        if any(pad):
            x = F.pad(x, list(pad), mode="reflect")
        z = x.new_zeros(n_in, 1, x.shape[-1], 2)
        z[..., 0] = x
        z = F.pad(z.reshape(n_in, 1, -1), [m, m - 1])
        out = F.conv1d(z, (2 * f).view(1, 1, -1))
    else:
        out = F.conv1d(F.pad(x, [m - 1, m - 1]), f.view(1, 1, -1), stride=2)
    return out[:, 0, :].float()


def _separable(x: torch.Tensor, mh: torch.Tensor, mw: torch.Tensor) -> torch.Tensor:
    """``x`` [N, C, H, W] resampled along H by ``mh`` [H, H'] and along W by ``mw`` [W, W']."""
    mh, mw = mh.to(x.device, x.dtype), mw.to(x.device, x.dtype)
    return mh.t() @ (x @ mw)


def _conv_resample(x: torch.Tensor, f: torch.Tensor, up: bool, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """The resampling written directly: reflect pad, zero insertion, depthwise 1-D convolutions
    (what the training loop ran before issue 15; the lean=False loop still does, as the baseline)."""
    c, m = x.shape[1], f.numel() // 2
    if up:
        if any(pad):
            x = F.pad(x, list(pad), mode="reflect")
        n, _, h, w = x.shape
        z = x.new_zeros(n, c, h, 2, w, 2)
        z[:, :, :, 0, :, 0] = x
        x, f, lo, hi, stride = z.reshape(n, c, 2 * h, 2 * w), f * 2, m, m - 1, 1
    else:
        lo, hi, stride = m - 1, m - 1, 2
    f = f.to(x.dtype)
    x = F.conv2d(F.pad(x, [lo, hi, 0, 0]), f.view(1, 1, 1, -1).repeat(c, 1, 1, 1), stride=(1, stride), groups=c)
    return F.conv2d(F.pad(x, [0, 0, lo, hi]), f.view(1, 1, -1, 1).repeat(c, 1, 1, 1), stride=(stride, 1), groups=c)


def _check_method(method: str) -> None:
    """``matrix`` (the default) or ``conv`` (the direct form, the plain training loop's)."""
    if method != "matrix":
        raise ValueError(f"resampling method must be 'matrix' or 'conv', not {method!r}")


def upsample2x(x: torch.Tensor, f: torch.Tensor, pad: tuple[int, int, int, int] = (0, 0, 0, 0),
               method: str = "matrix") -> torch.Tensor:
    """Reflect-pad by ``pad`` (left, right, top, bottom), zero-insert, low-pass; pixel centres stay
    aligned (pixel i -> 2i, 2i+1)."""
    if method == "conv":
        return _conv_resample(x, f, True, pad)
    _check_method(method)
    taps = tuple(f.tolist())
    return _separable(x, _resample_matrix(x.shape[2], taps, True, (pad[2], pad[3])),
                      _resample_matrix(x.shape[3], taps, True, (pad[0], pad[1])))


def downsample2x(x: torch.Tensor, f: torch.Tensor, method: str = "matrix") -> torch.Tensor:
    """Low-pass then keep every other pixel (pixels 2i, 2i+1 -> i)."""
    if method == "conv":
        return _conv_resample(x, f, False, (0, 0, 0, 0))
    _check_method(method)
    taps = tuple(f.tolist())
    return _separable(x, _resample_matrix(x.shape[2], taps, False, (0, 0)),
                      _resample_matrix(x.shape[3], taps, False, (0, 0)))


SAMPLERS = ("grid", "gather")


class _GridSample(torch.autograd.Function):
    """Bilinear sampling of ``img`` at a constant ``grid`` (grid_sample's normalised coordinates,
    align_corners False, border padding); differentiable to any order in ``img``."""

    @staticmethod
    def forward(ctx, img: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(grid)
        ctx.img_shape = img.shape
        return torch.grid_sampler_2d(img, grid, 0, 1, False)  # bilinear, border, align_corners False

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (grid,) = ctx.saved_tensors
        return _GridSampleT.apply(grad, grid, ctx.img_shape), None


class _GridSampleT(torch.autograd.Function):
    """The transpose of ``_GridSample``: spreads ``grad`` back onto an image of ``img_shape``."""

    @staticmethod
    def forward(ctx, grad: torch.Tensor, grid: torch.Tensor, img_shape: torch.Size) -> torch.Tensor:
        ctx.save_for_backward(grid)
        # the CPU kernel reads only the input's shape and dtype when the grid's gradient is not asked
        # for (measured: no fill of a zero image, 3.3 -> 2.4 ms); elsewhere a real zero image
        cpu = grad.device.type == "cpu"
        shape_only = grad.new_zeros([]).expand(img_shape) if cpu else grad.new_zeros(img_shape)
        return torch.ops.aten.grid_sampler_2d_backward(grad, shape_only, grid, 0, 1, False, [True, False])[0]

    @staticmethod
    def backward(ctx, grad2: torch.Tensor):
        (grid,) = ctx.saved_tensors
        return _GridSample.apply(grad2, grid), None, None


def bilinear_sample(img: torch.Tensor, x: torch.Tensor, y: torch.Tensor, sampler: str = "grid") -> torch.Tensor:
    """Sample NCHW ``img`` at pixel-index coordinates ``x``, ``y`` (N,Ho,Wo); borders clamp.

    Differentiable to any order with respect to ``img``; the coordinates are treated as
    constants, which is all augmentation needs. ``sampler``: "grid" (grid_sample's kernel) or
    "gather" (four gathers; the same values, 3-5x slower on the CPU).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r} (one of {', '.join(SAMPLERS)})")
    n, c, h, w = img.shape
    ho, wo = x.shape[1:]
    if sampler == "grid":
        # pixel index -> grid_sample's [-1, 1] (pixel edges at +-1); coordinates stay fp32 or better
        cdtype = torch.promote_types(img.dtype, torch.float32)
        grid = torch.stack([(2 * x.to(cdtype) + 1) / w - 1, (2 * y.to(cdtype) + 1) / h - 1], dim=-1)
        return _GridSample.apply(img.to(cdtype), grid).to(img.dtype)
    x0 = torch.floor(x)
    y0 = torch.floor(y)
    fx = (x - x0).to(img.dtype).unsqueeze(1)
    fy = (y - y0).to(img.dtype).unsqueeze(1)
    x0 = x0.long()
    y0 = y0.long()
    flat = img.reshape(n, c, h * w)

    def tap(yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
        idx = (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).reshape(n, 1, ho * wo).expand(n, c, ho * wo)
        return flat.gather(2, idx).reshape(n, c, ho, wo)

    top = tap(y0, x0) * (1 - fx) + tap(y0, x0 + 1) * fx
    bottom = tap(y0 + 1, x0) * (1 - fx) + tap(y0 + 1, x0 + 1) * fx
    return top * (1 - fy) + bottom * fy


# --- 2-D / 3-D homogeneous matrices, batched ------------------------------------------------------

def _mat(rows: list[list[torch.Tensor | float]], ref: torch.Tensor) -> torch.Tensor:
    n = ref.shape[0]
    out = [[torch.as_tensor(v, dtype=torch.float32, device=ref.device).expand(n) for v in row] for row in rows]
    return torch.stack([torch.stack(r, dim=-1) for r in out], dim=-2)


def translate2d(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    return _mat([[1, 0, tx], [0, 1, ty], [0, 0, 1]], tx)


def scale2d(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    return _mat([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], sx)


def rotate2d(theta: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(theta), torch.sin(theta)
    return _mat([[c, -s, 0], [s, c, 0], [0, 0, 1]], theta)


def translate3d(t: torch.Tensor) -> torch.Tensor:
    return _mat([[1, 0, 0, t], [0, 1, 0, t], [0, 0, 1, t], [0, 0, 0, 1]], t)


def scale3d(s: torch.Tensor) -> torch.Tensor:
    return _mat([[s, 0, 0, 0], [0, s, 0, 0], [0, 0, s, 0], [0, 0, 0, 1]], s)


def rotate3d(v: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Rotation by ``theta`` about unit axis ``v`` (3,), as batched 4x4 matrices (Rodrigues)."""
    vx, vy, vz = (float(a) for a in v)
    c, s = torch.cos(theta), torch.sin(theta)
    cc = 1 - c
    return _mat([[vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, 0],
                 [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, 0],
                 [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, 0],
                 [0, 0, 0, 1]], theta)


class AugmentPipe(torch.nn.Module):
    """Differentiable per-sample augmentation with a shared probability ``p`` (a buffer).

    ``forward(images)`` takes NCHW float images in [-1, 1] and returns augmented images of the
    same shape. Strength arguments multiply each operation's probability (0 disables it).
    """

    def __init__(self, *, xflip: float = 0, rotate90: float = 0, xint: float = 0, xint_max: float = 0.125,
                 scale: float = 0, rotate: float = 0, aniso: float = 0, xfrac: float = 0,
                 scale_std: float = 0.2, rotate_max: float = 1.0, aniso_std: float = 0.2, xfrac_std: float = 0.125,
                 brightness: float = 0, contrast: float = 0, lumaflip: float = 0, hue: float = 0,
                 saturation: float = 0, brightness_std: float = 0.2, contrast_std: float = 0.5,
                 hue_max: float = 1.0, saturation_std: float = 1.0, filter_taps: int = 12) -> None:
        super().__init__()
        self.register_buffer("p", torch.zeros([]))
        self.xflip, self.rotate90, self.xint, self.xint_max = float(xflip), float(rotate90), float(xint), float(xint_max)
        self.scale, self.rotate, self.aniso, self.xfrac = float(scale), float(rotate), float(aniso), float(xfrac)
        self.scale_std, self.rotate_max, self.aniso_std = float(scale_std), float(rotate_max), float(aniso_std)
        self.xfrac_std = float(xfrac_std)
        self.brightness, self.contrast, self.lumaflip = float(brightness), float(contrast), float(lumaflip)
        self.hue, self.saturation = float(hue), float(saturation)
        self.brightness_std, self.contrast_std = float(brightness_std), float(contrast_std)
        self.hue_max, self.saturation_std = float(hue_max), float(saturation_std)
        self.register_buffer("lowpass", lowpass_filter(filter_taps), persistent=False)
        luma = torch.tensor([1.0, 1.0, 1.0]) / math.sqrt(3)
        self.register_buffer("luma_axis", luma, persistent=False)
        # How the geometric path resamples: "matrix" (small matrix products) or "conv" (the direct
        # depthwise convolutions, ~5x slower on the CPU; kept as the plain training loop's baseline),
        # and how it samples: "grid" (grid_sample's kernel) or "gather" (the plain loop's baseline)
        self.resample = "matrix"
        self.sampler = "grid"

    # -- random parameters ----------------------------------------------------------------------
    def _gate(self, n: int, prob: float, value: torch.Tensor, identity: float, device) -> torch.Tensor:
        keep = torch.rand([n], device=device) < prob
        return torch.where(keep, value, torch.full_like(value, identity))

    def geometric_matrix(self, n: int, width: int, height: int, device) -> torch.Tensor:
        """Inverse transforms (N,3,3) in centred pixel units: output pixel -> input pixel."""
        p = float(self.p)
        eye = torch.eye(3, device=device).expand(n, 3, 3)
        g = eye.clone()
        if self.xflip > 0:
            i = torch.floor(torch.rand([n], device=device) * 2)
            i = self._gate(n, p * self.xflip, i, 0, device)
            g = g @ scale2d(1 - 2 * i, torch.ones_like(i))
        if self.rotate90 > 0:
            i = torch.floor(torch.rand([n], device=device) * 4)
            i = self._gate(n, p * self.rotate90, i, 0, device)
            g = g @ rotate2d(-math.pi / 2 * i)
        if self.xint > 0:
            t = (torch.rand([n, 2], device=device) * 2 - 1) * self.xint_max
            keep = (torch.rand([n, 1], device=device) < p * self.xint)
            t = torch.where(keep, t, torch.zeros_like(t))
            g = g @ translate2d(-torch.round(t[:, 0] * width), -torch.round(t[:, 1] * height))
        if self.scale > 0:
            s = torch.exp2(torch.randn([n], device=device) * self.scale_std)
            s = self._gate(n, p * self.scale, s, 1, device)
            g = g @ scale2d(1 / s, 1 / s)
        p_rot = 1 - math.sqrt(max(1 - p * self.rotate, 0))  # two steps whose union has probability p
        if self.rotate > 0:
            theta = (torch.rand([n], device=device) * 2 - 1) * math.pi * self.rotate_max
            theta = self._gate(n, p_rot, theta, 0, device)
            g = g @ rotate2d(-theta)
        if self.aniso > 0:
            s = torch.exp2(torch.randn([n], device=device) * self.aniso_std)
            s = self._gate(n, p * self.aniso, s, 1, device)
            g = g @ scale2d(1 / s, s)
        if self.rotate > 0:
            theta = (torch.rand([n], device=device) * 2 - 1) * math.pi * self.rotate_max
            theta = self._gate(n, p_rot, theta, 0, device)
            g = g @ rotate2d(-theta)
        if self.xfrac > 0:
            t = torch.randn([n, 2], device=device) * self.xfrac_std
            keep = (torch.rand([n, 1], device=device) < p * self.xfrac)
            t = torch.where(keep, t, torch.zeros_like(t))
            g = g @ translate2d(-t[:, 0] * width, -t[:, 1] * height)
        return g

    def color_matrix(self, n: int, device) -> torch.Tensor:
        """Colour transforms (N,4,4) acting on homogeneous RGB."""
        p = float(self.p)
        c = torch.eye(4, device=device).expand(n, 4, 4).clone()
        v = self.luma_axis.to(device)
        vv = torch.zeros(4, 4, device=device)
        vv[:3, :3] = torch.outer(v, v)
        if self.brightness > 0:
            b = self._gate(n, p * self.brightness, torch.randn([n], device=device) * self.brightness_std, 0, device)
            c = translate3d(b) @ c
        if self.contrast > 0:
            s = self._gate(n, p * self.contrast, torch.exp2(torch.randn([n], device=device) * self.contrast_std), 1, device)
            c = scale3d(s) @ c
        if self.lumaflip > 0:
            i = self._gate(n, p * self.lumaflip, torch.floor(torch.rand([n], device=device) * 2), 0, device)
            c = (torch.eye(4, device=device) - 2 * vv * i.view(n, 1, 1)) @ c
        if self.hue > 0:
            theta = (torch.rand([n], device=device) * 2 - 1) * math.pi * self.hue_max
            theta = self._gate(n, p * self.hue, theta, 0, device)
            c = rotate3d(v, theta) @ c
        if self.saturation > 0:
            s = self._gate(n, p * self.saturation,
                           torch.exp2(torch.randn([n], device=device) * self.saturation_std), 1, device)
            c = (vv + (torch.eye(4, device=device) - vv) * s.view(n, 1, 1)) @ c
        return c

    # -- application ------------------------------------------------------------------------------
    def apply_geometric(self, images: torch.Tensor, g_inv: torch.Tensor) -> torch.Tensor:
        """Resample ``images`` by per-sample inverse matrices ``g_inv`` without aliasing."""
        n, _, h, w = images.shape
        f = self.lowpass.to(images.device)
        # Where the output corners land in the input decides how much reflect padding is needed.
        corners = torch.tensor([[-w / 2, -h / 2, 1], [w / 2, -h / 2, 1], [w / 2, h / 2, 1], [-w / 2, h / 2, 1]],
                               device=images.device)
        src = (g_inv @ corners.t())[:, :2, :]  # N,2,4
        extra = f.numel() // 4 + 2  # filter support in original pixels, plus bilinear slack
        lo = (-src.amin(dim=(0, 2)) - torch.tensor([w / 2, h / 2], device=images.device)).ceil()
        hi = (src.amax(dim=(0, 2)) - torch.tensor([w / 2, h / 2], device=images.device)).ceil()
        mx0, my0 = (int(min(max(v, 0) + extra, s - 1)) for v, s in zip(lo.tolist(), (w, h)))
        mx1, my1 = (int(min(max(v, 0) + extra, s - 1)) for v, s in zip(hi.tolist(), (w, h)))
        x = upsample2x(images, f, (mx0, mx1, my0, my1), self.resample)
        # Output pixel centres at 2x, in centred original-pixel units.
        ys = (torch.arange(2 * h, device=images.device, dtype=torch.float32) + 0.5) / 2 - h / 2
        xs = (torch.arange(2 * w, device=images.device, dtype=torch.float32) + 0.5) / 2 - w / 2
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        pts = torch.stack([gx.reshape(-1), gy.reshape(-1), torch.ones_like(gx).reshape(-1)])  # 3,P
        srcp = g_inv @ pts  # N,3,P
        # Centred input coordinate -> pixel-index coordinate in the padded, upsampled image.
        sx = 2 * (srcp[:, 0] + w / 2 + mx0) - 0.5
        sy = 2 * (srcp[:, 1] + h / 2 + my0) - 0.5
        x = bilinear_sample(x, sx.view(n, 2 * h, 2 * w), sy.view(n, 2 * h, 2 * w), self.sampler)
        return downsample2x(x, f, self.resample)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        assert images.dim() == 4, "expected NCHW images"
        n, ch, h, w = images.shape
        dev = images.device
        if float(self.p) <= 0:
            return images
        out_dtype = images.dtype
        x = images.float().contiguous()
        g_inv = self.geometric_matrix(n, w, h, dev)
        if not torch.equal(g_inv, torch.eye(3, device=dev).expand(n, 3, 3)):
            x = self.apply_geometric(x, g_inv)
        c = self.color_matrix(n, dev)
        if ch == 3 and not torch.equal(c, torch.eye(4, device=dev).expand(n, 4, 4)):
            flat = x.reshape(n, 3, h * w)
            x = (c[:, :3, :3] @ flat + c[:, :3, 3:]).reshape(n, 3, h, w)
        elif ch == 1 and not torch.equal(c, torch.eye(4, device=dev).expand(n, 4, 4)):
            # Greyscale: only the luma part (brightness, contrast) is meaningful.
            gain = c[:, :3, :3].mean(dim=(1, 2)) * 3
            x = x * gain.view(n, 1, 1, 1) + c[:, :3, 3].mean(dim=1).view(n, 1, 1, 1)
        return x.to(out_dtype)


def make_augment_pipe(mode: str, p: float = 0.0, *, policy: str | None = None,
                      color_p: float = 1.0) -> torch.nn.Module | None:
    """The 'bgc' pipe for ``ada``/``fixed`` (p set), a :class:`~.diffaugment.DiffAugment` of
    ``policy`` (default: all its operations; its colour operation on a ``color_p`` share of the
    images) for ``diffaugment``, None for ``noaug``."""
    if mode not in AUG_MODES:
        raise ValueError(f"augmentation mode must be one of {AUG_MODES}")
    if mode == "noaug":
        return None
    if mode == "diffaugment":
        from .diffaugment import DEFAULT_POLICY, DiffAugment

        return DiffAugment(policy or DEFAULT_POLICY, color_p=color_p)
    pipe = AugmentPipe(**BGC)
    pipe.p.fill_(float(p))
    return pipe


@dataclass
class AdaController:
    """Adaptive p: every ``interval`` minibatches p += sign(E[sign(D(real))] - target) * speed.

    speed = batch * interval / (ada_kimg * 1000); p is kept in [0, 1]. ``accumulate`` is called
    with the real logits of each discriminator step; ``update`` (once per minibatch) adjusts p
    when due and returns True then. In DDP the sign sums are averaged across ranks first.
    """

    target: float = 0.6
    ada_kimg: float = 500.0
    interval: int = 4
    sign_sum: float = 0.0
    count: float = 0.0
    last_rt: float = float("nan")

    def accumulate(self, real_logits: torch.Tensor) -> None:
        self.sign_sum += float(torch.sign(real_logits.detach().float()).sum())
        self.count += real_logits.numel()

    def update(self, pipe: AugmentPipe, batch: int, batch_idx: int, reduce=None) -> bool:
        if (batch_idx + 1) % self.interval != 0:
            return False
        stats = torch.tensor([self.sign_sum, self.count], dtype=torch.float64)
        if reduce is not None:
            reduce(stats)  # sum over ranks
        self.sign_sum = self.count = 0.0
        if stats[1] <= 0:
            return False
        rt = float(stats[0] / stats[1])
        self.last_rt = rt
        adjust = float(np.sign(rt - self.target)) * (batch * self.interval) / (self.ada_kimg * 1000)
        pipe.p.copy_(torch.as_tensor(min(max(float(pipe.p) + adjust, 0.0), 1.0)))
        return True
