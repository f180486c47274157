"""Building blocks of StyleGAN2 written with plain PyTorch operations.

Everything here is ordinary ``conv2d`` / ``conv_transpose2d`` / elementwise work, so it runs
on any device, under ``torch.autocast``, with channels_last tensors, and supports double
backward (R1 and path-length regularisation). The numerical conventions follow NVIDIA's
stylegan2-ada-pytorch so that their trained weights give the same images here:

* equalised learning rate: weights are stored N(0, 1) (divided by the lr multiplier) and
  scaled at run time by ``lr_multiplier / sqrt(fan_in)``;
* ``bias_act``: bias, activation, gain (``sqrt(2)`` for leaky ReLU), then optional clamp;
* FIR resampling (``upfirdn2d``) with the separable ``[1, 3, 3, 1]`` filter, stored as a 4x4
  buffer normalised to sum 1, with NVIDIA's padding rules for 2x up/down sampling;
* ``conv2d_resample`` picks the same fused paths (transposed conv then FIR for upsampling,
  FIR then strided conv for downsampling), including their weight-flip convention.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.device import channels_last_only
from ..core.shapes import assert_shape

SQRT2 = math.sqrt(2.0)

#: activation name -> (function, default gain)
ACTIVATIONS = {
    "linear": (lambda x, alpha: x, 1.0),
    "relu": (lambda x, alpha: F.relu(x), SQRT2),
    "lrelu": (lambda x, alpha: F.leaky_relu(x, alpha), SQRT2),
    "tanh": (lambda x, alpha: torch.tanh(x), 1.0),
    "sigmoid": (lambda x, alpha: torch.sigmoid(x), 1.0),
}


def def_gain(act: str) -> float:
    return ACTIVATIONS[act][1]


def bias_act(x: torch.Tensor, b: torch.Tensor | None = None, act: str = "linear", gain: float | None = None,
             clamp: float | None = None, alpha: float = 0.2, dim: int = 1) -> torch.Tensor:
    """Add bias ``b`` along ``dim``, apply ``act``, multiply by ``gain`` (default: the activation's
    own gain), clamp to ``[-clamp, clamp]``.

    Few passes over memory (issue 15: at 64 px these element-wise passes cost as much as the
    convolutions): for the positively homogeneous activations (linear, relu, lrelu) the gain goes
    into the bias add, ``gain * (x + b)`` in one ``add`` with ``alpha``, the activation runs in
    place, and the clamp is ``hardtanh`` (one masked pass backward, where ``clamp``'s backward
    takes four: two compares, an ``and``, a ``where``). The clamp's gradient is zero at exactly
    +-clamp, as in NVIDIA's bias_act kernel."""
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}")
    func, dgain = ACTIVATIONS[act]
    gain = dgain if gain is None else float(gain)
    clamped = clamp is not None and clamp >= 0
    bias = None
    if b is not None:
        shape = [1] * x.ndim
        shape[dim] = -1
        bias = b.to(x.dtype).reshape(shape)
    if act in _HOMOGENEOUS and gain > 0:
        if bias is not None:
            if _short_channel_run(x):
                # gain * b + x * gain in one addcmul (see SHORT_RUN)
                y = torch.addcmul(bias * gain, x, torch.full_like(bias, gain))
            else:
                y = torch.add(bias * gain, x, alpha=gain) if gain != 1 else x + bias
        elif gain != 1:
            y = x * gain
        elif act == "linear":
            return F.hardtanh(x, -clamp, clamp) if clamped else x
        else:
            y = x.clone()  # the activation below runs in place
        if act == "lrelu":
            y = F.leaky_relu_(y, alpha)
        elif act == "relu":
            y = F.relu_(y)
        # out of place: the in-place activation saved y for its backward
        return F.hardtanh(y, -clamp, clamp) if clamped else y
    if bias is not None:
        x = x + bias
    x = func(x, alpha)
    if gain != 1:
        x = x * gain
    return F.hardtanh(x, -clamp, clamp) if clamped else x


_HOMOGENEOUS = ("linear", "relu", "lrelu")  # act(g * x) == g * act(x) for g > 0
# torch's CPU add kernel leaves its vector loop for a per-channel operand when a 16-bit channels_last
# tensor has fewer channels than one AVX-512 vector holds (32 bf16): ``x + b`` on [8, 16, 64, 64]
# bf16 takes 0.81 ms, a full-tensor add 0.15 ms. ``addcmul`` with the gain as a per-channel tensor
# keeps the vector loop (0.24 ms; forward + backward with leaky ReLU 1.69 -> 1.14 ms).
SHORT_RUN = 32


def _short_channel_run(x: torch.Tensor) -> bool:
    """Whether ``x`` is a 16-bit channels_last feature map with fewer than SHORT_RUN channels."""
    return (x.dim() == 4 and x.dtype in (torch.bfloat16, torch.float16) and 1 < x.shape[1] < SHORT_RUN
            and x.stride(1) == 1 and not x.is_contiguous())


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


# ----------------------------------------------------------------------------------------------
# FIR resampling


def setup_filter(f: Sequence[float] | torch.Tensor | None = (1, 3, 3, 1), normalize: bool = True) -> torch.Tensor:
    """A 2-D FIR filter: a 1-D list becomes its outer product; normalised to sum 1."""
    f = torch.as_tensor([1.0] if f is None else f, dtype=torch.float32)
    if f.ndim == 0:
        f = f[None]
    if f.ndim == 1:
        f = torch.outer(f, f)
    if f.ndim != 2:
        raise ValueError("resample filter must be 1-D or 2-D")
    if normalize:
        f = f / f.sum()
    return f


def _pad4(padding: int | Sequence[int]) -> list[int]:
    if isinstance(padding, int):
        return [padding] * 4
    padding = list(padding)
    if len(padding) == 2:
        px, py = padding
        return [px, px, py, py]
    return padding


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1,
              padding: int | Sequence[int] = 0, flip_filter: bool = False, gain: float = 1.0) -> torch.Tensor:
    """Upsample by zero insertion, pad (or crop, negative), convolve with the 2-D FIR ``f``,
    keep every ``down``-th pixel. ``padding`` = (x0, x1, y0, y1)."""
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    n, c, h, w = x.shape
    px0, px1, py0, py1 = _pad4(padding)
    if up > 1:  # zero insertion, in the input's layout (the FIR below runs ~2.5x faster channels_last)
        z = torch.empty([n, c, h * up, w * up], dtype=x.dtype, device=x.device, memory_format=_layout(x)).zero_()
        z[:, :, ::up, ::up] = x
        x = z
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    f = f * (gain ** (f.ndim / 2))
    if not flip_filter:
        f = f.flip([0, 1])
    # The FIR runs in the dtype of its input, also under autocast: images (fp32) stay fp32,
    # low-precision activations stay low precision.
    weight = f.to(device=x.device, dtype=x.dtype)[None, None].repeat(c, 1, 1, 1)
    if weight.shape[-1] > 1 or weight.shape[-2] > 1 or gain != 1:
        with _autocast_off(x.device.type):
            x = _FIR.apply(x, weight)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


class _FIR(torch.autograd.Function):
    """``conv2d(x, weight, groups=C)`` with a constant depthwise filter, differentiable to any
    order through itself and :class:`_FIRTransposed`.

    Autograd's own double backward of a grouped convolution computes the filter's gradient one
    group at a time, whether or not the filter needs one: a small convolution per channel for
    every FIR filter in R1 and path length regularisation (128 calls per 8 px layer of the
    ``small`` preset, 512 at 256 px). Here the backward is the transposed filter and its backward
    the filter again, so no filter gradient is ever computed. (A strided form, computing only the
    pixels a downsampling keeps, was slower: conv_transpose2d at stride 2 is slow on the CPU.)"""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(weight)
        ctx.layout = _layout(x)
        return F.conv2d(x, weight, groups=weight.shape[0])

    @staticmethod
    def backward(ctx, gy: torch.Tensor):
        (weight,) = ctx.saved_tensors
        # in the input's layout, as autograd's own convolution backward gives it
        gx = _FIRTransposed.apply(gy.contiguous(memory_format=ctx.layout), weight)
        return gx.contiguous(memory_format=ctx.layout), None


class _FIRTransposed(torch.autograd.Function):
    """The adjoint of :class:`_FIR`: ``conv_transpose2d`` back to the input's size. Channels_last
    tensors take the same sums as the correlation of the zero-padded gradient with the flipped
    filter, through the depthwise forward kernel: 1.8x faster than conv_transpose2d's for bf16
    tensors of 16 channels, 1.4x at 32, equal at 128; in NCHW conv_transpose2d is the faster one
    from 32 channels up (fp32: 0.42 against 0.60 ms at [8, 32, 30, 30])."""

    @staticmethod
    def forward(ctx, gy: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(weight)
        if not channels_last_only(gy):
            return F.conv_transpose2d(gy, weight, groups=weight.shape[0])
        kh, kw = weight.shape[2:]
        return F.conv2d(F.pad(gy, [kw - 1, kw - 1, kh - 1, kh - 1]), weight.flip([2, 3]), groups=weight.shape[0])

    @staticmethod
    def backward(ctx, gx: torch.Tensor):
        (weight,) = ctx.saved_tensors
        return _FIR.apply(gx.contiguous(memory_format=_layout(gx)), weight), None


def _layout(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if channels_last_only(x) else torch.contiguous_format


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2, gain: float = 1.0) -> torch.Tensor:
    fh, fw = f.shape
    p = [(fw + up - 1) // 2, (fw - up) // 2, (fh + up - 1) // 2, (fh - up) // 2]
    return upfirdn2d(x, f, up=up, padding=p, gain=gain * up * up)


def downsample2d(x: torch.Tensor, f: torch.Tensor, down: int = 2, gain: float = 1.0) -> torch.Tensor:
    fh, fw = f.shape
    p = [(fw - down + 1) // 2, (fw - down) // 2, (fh - down + 1) // 2, (fh - down) // 2]
    return upfirdn2d(x, f, down=down, padding=p, gain=gain)


def _conv(x: torch.Tensor, w: torch.Tensor, stride: int = 1, padding: int | Sequence[int] = 0, groups: int = 1,
          transpose: bool = False, flip_weight: bool = True, bias: torch.Tensor | None = None) -> torch.Tensor:
    # conv2d computes a correlation; flip_weight=False turns it into a true convolution.
    if not flip_weight:
        w = w.flip([2, 3])
    if transpose:
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)
    return F.conv2d(x, w, bias, stride=stride, padding=padding, groups=groups)


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor | None = None, up: int = 1, down: int = 1,
                    padding: int = 0, groups: int = 1, flip_weight: bool = True,
                    bias: torch.Tensor | None = None) -> tuple[torch.Tensor, bool]:
    """2-D convolution with optional 2x FIR up- or downsampling (NVIDIA's conventions).

    With ``bias``: returns (output, True) when the convolution is the last operation and added
    ``bias`` itself (oneDNN adds it as it writes the output: no broadcast add over the result,
    which for bf16 channels_last tensors costs ~5x a plain add), else (output, False) and the
    caller adds it. Without ``bias``: the output alone."""
    out, used = _conv2d_resample(x, w, f, up, down, padding, groups, flip_weight, bias)
    return (out, used) if bias is not None else out


def _conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor | None, up: int, down: int, padding: int,
                     groups: int, flip_weight: bool, bias: torch.Tensor | None) -> tuple[torch.Tensor, bool]:
    out_ch, in_per_group, kh, kw = w.shape
    fh, fw = (f.shape if f is not None else (1, 1))
    px0, px1, py0, py1 = _pad4(padding)
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2

    if kw == 1 and kh == 1 and down > 1 and up == 1:  # 1x1 with downsampling: filter first
        x = upfirdn2d(x, f, down=down, padding=[px0, px1, py0, py1])
        return _conv(x, w, groups=groups, flip_weight=flip_weight, bias=bias), bias is not None
    if kw == 1 and kh == 1 and up > 1 and down == 1:  # 1x1 with upsampling: convolve first
        x = _conv(x, w, groups=groups, flip_weight=flip_weight)
        return upfirdn2d(x, f, up=up, padding=[px0, px1, py0, py1], gain=up ** 2), False
    if down > 1 and up == 1:  # FIR then strided convolution
        x = upfirdn2d(x, f, padding=[px0, px1, py0, py1])
        return _conv(x, w, stride=down, groups=groups, flip_weight=flip_weight, bias=bias), bias is not None
    if up > 1:  # transposed strided convolution then FIR
        if groups == 1:
            w = w.transpose(0, 1)
        else:
            w = w.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
            w = w.reshape(groups * in_per_group, out_ch // groups, kh, kw)
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        pxt = max(min(-px0, -px1), 0)
        pyt = max(min(-py0, -py1), 0)
        x = _conv(x, w, stride=up, padding=[pyt, pxt], groups=groups, transpose=True, flip_weight=not flip_weight)
        x = upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up ** 2)
        if down > 1:
            x = upfirdn2d(x, f, down=down)
        return x, False
    if up == 1 and down == 1 and px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return _conv(x, w, padding=[py0, px0], groups=groups, flip_weight=flip_weight, bias=bias), bias is not None
    # General fallback.
    x = upfirdn2d(x, f if up > 1 else None, up=up, padding=[px0, px1, py0, py1], gain=up ** 2)
    x = _conv(x, w, groups=groups, flip_weight=flip_weight)
    if down > 1:
        x = upfirdn2d(x, f, down=down)
    return x, False


# ----------------------------------------------------------------------------------------------
# Layers with equalised learning rate


def _fp16_compute(x: torch.Tensor) -> bool:
    dev = x.device.type
    return x.dtype == torch.float16 or (torch.is_autocast_enabled(dev) and torch.get_autocast_dtype(dev) == torch.float16)


def _autocast_off(device_type: str):
    return torch.autocast(device_type=device_type, enabled=False)


class FullyConnectedLayer(nn.Module):
    """Dense layer with equalised lr: y = act(x @ (W * lr/sqrt(in)).T + b * lr). x: [N, in_features]."""

    def __init__(
        self,
        in_features: int,               # Width of the input vectors.
        out_features: int,              # Width of the output vectors.
        bias: bool = True,              # Add a learned bias before the activation; False = no bias at all.
        activation: str = "linear",     # A key of ACTIVATIONS ('linear', 'lrelu', ...), applied with its gain.
        lr_multiplier: float = 1.0,     # Equalised-lr multiplier for weight and bias (0.01 in the mapping net).
        bias_init: float = 0.0,         # Initial bias value (1 for the style affines: styles start at 1).
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier
        self.fold_gain = True  # the weight gain into addmm's alpha / the activation gain (False: a scaled weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert_shape(x, [None, self.in_features], "fully connected x")
        # the weight gain goes into addmm's alpha, or past the matmul into bias_act's gain, as in
        # Conv2dLayer (not in fp16: the unscaled product can be ~1000x the output in the mapping net)
        fold = self.fold_gain and self.activation in _HOMOGENEOUS and not _fp16_compute(x)
        w = self.weight.to(x.dtype)
        wg = self.weight_gain if fold else 1.0
        if not fold:
            w = w * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t(), alpha=wg)
        if b is not None and fold:
            b = b * (1 / wg)
        return bias_act(x.matmul(w.t()), b, act=self.activation, gain=def_gain(self.activation) * wg)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"


class Conv2dLayer(nn.Module):
    """Convolution with equalised lr, optional 2x FIR up/downsampling, bias, activation, clamp.

    ``trainable=False`` registers weight and bias as buffers (Freeze-D), as NVIDIA does; the
    state_dict names stay the same either way.
    """

    def __init__(
        self,
        in_channels: int,                                   # Channels of the input feature map.
        out_channels: int,                                  # Channels of the output feature map.
        kernel_size: int,                                   # Square kernel width (padding keeps the size).
        bias: bool = True,                                  # Add a learned bias; False = none.
        activation: str = "linear",                         # A key of ACTIVATIONS, applied with its gain.
        up: int = 1,                                        # Upsampling factor (1 or 2, FIR-filtered).
        down: int = 1,                                      # Downsampling factor (1 or 2, FIR-filtered).
        resample_filter: Sequence[float] = (1, 3, 3, 1),    # 1-D FIR taps for up/downsampling.
        conv_clamp: float | None = None,                    # Clamp outputs to +-X; None = no clamping.
        trainable: bool = True,                             # False = weight and bias are frozen buffers.
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.activation = activation
        self.up, self.down = up, down
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / np.sqrt(in_channels * kernel_size ** 2)
        self.act_gain = def_gain(activation)
        self.fold_gain = True  # the weight gain into the activation gain (False: a scaled weight per call)
        weight = torch.randn([out_channels, in_channels, kernel_size, kernel_size])
        b = torch.zeros([out_channels]) if bias else None
        if trainable:
            self.weight = nn.Parameter(weight)
            self.bias = nn.Parameter(b) if b is not None else None
        else:
            self.register_buffer("weight", weight)
            self.register_buffer("bias", b)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        assert_shape(x, [None, self.in_channels, None, None], "conv x")
        # For the positively homogeneous activations the equalised-lr weight gain moves past the
        # convolution into bias_act's gain (the bias divided by it): act(g * (conv(x, w * wg) + b))
        # == act(g * wg * (conv(x, w) + b / wg)). No scaled copy of the weight per call, nor its
        # backward: one multiply over a [C, C, 3, 3] tensor each way, per layer, per call. Not in fp16,
        # whose range the 1 / wg larger convolution outputs (x68 at 512 channels) could leave.
        fold = self.fold_gain and self.activation in _HOMOGENEOUS and not _fp16_compute(x)
        wg = self.weight_gain if fold else 1.0
        w = self.weight if fold else self.weight * self.weight_gain
        b = None
        if self.bias is not None:
            b = (self.bias * (1 / wg) if fold else self.bias).to(x.dtype)
        flip_weight = self.up == 1
        if not torch.is_autocast_enabled(x.device.type):
            w = w.to(x.dtype)
        if b is not None:
            x, added = conv2d_resample(x, w, f=self.resample_filter, up=self.up, down=self.down, padding=self.padding,
                                       flip_weight=flip_weight, bias=b)
            b = None if added else b
        else:
            x = conv2d_resample(x, w, f=self.resample_filter, up=self.up, down=self.down, padding=self.padding,
                                flip_weight=flip_weight)
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, b, act=self.activation, gain=self.act_gain * gain * wg, clamp=act_clamp)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, activation={self.activation}, "
                f"up={self.up}, down={self.down}")


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, noise: torch.Tensor | None = None,
                     up: int = 1, down: int = 1, padding: int = 0, resample_filter: torch.Tensor | None = None,
                     demodulate: bool = True, flip_weight: bool = True, fused_modconv: bool = True) -> torch.Tensor:
    """StyleGAN2 modulated convolution.

    x: [N, I, H, W]; weight: [O, I, k, k]; styles: [N, I] (fp32). Per-sample weights are
    ``weight * styles`` demodulated to unit norm per output channel. ``fused_modconv`` runs it
    as one grouped convolution; otherwise the activations are scaled before and after a shared
    convolution (same maths, better for large training batches).
    The style and demodulation arithmetic stays in fp32 even under autocast.
    """
    n = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    assert_shape(x, [None, in_ch, None, None], "modulated conv x")
    assert_shape(styles, [n, in_ch], "modulated conv styles")
    fp16 = _fp16_compute(x)
    with _autocast_off(x.device.type):
        weight = weight.float()
        styles = styles.float()
        if fp16 and demodulate:  # pre-normalise so fp16 activations stay in range (bf16 has fp32's range)
            weight = weight * (1 / np.sqrt(in_ch * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
            styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)
        dcoefs = None
        if demodulate:
            # sum_{i,k} (w[o,i,k] s[i])^2 = sum_i s[i]^2 sum_k w[o,i,k]^2: a small matmul instead of
            # materialising the [N, O, I, k, k] per-sample weights (same value, far less memory traffic).
            dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()  # [N, O]
        w = None
        if fused_modconv:
            w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)  # [N, O, I, k, k]
            if demodulate:
                w = w * dcoefs.reshape(n, -1, 1, 1, 1)
    cdtype = x.dtype
    if not fused_modconv:
        x = x * styles.to(cdtype).reshape(n, -1, 1, 1)
        wt = weight if torch.is_autocast_enabled(x.device.type) else weight.to(cdtype)
        x = conv2d_resample(x, wt, f=resample_filter, up=up, down=down, padding=padding, flip_weight=flip_weight)
        if demodulate and noise is not None:  # one pass: noise + x * dcoefs
            return torch.addcmul(noise.to(x.dtype), x, dcoefs.to(x.dtype).reshape(n, -1, 1, 1))
        if demodulate:
            x = x * dcoefs.to(x.dtype).reshape(n, -1, 1, 1)
        if noise is not None:
            x = x + noise.to(x.dtype)
        return x
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_ch, kh, kw)
    if not torch.is_autocast_enabled(x.device.type):
        w = w.to(cdtype)
    x = conv2d_resample(x, w, f=resample_filter, up=up, down=down, padding=padding, groups=n,
                        flip_weight=flip_weight)
    x = x.reshape(n, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x


class MinibatchStdLayer(nn.Module):
    """Append the mean standard deviation over groups of samples as extra feature maps.

    x: [N, C, H, W] -> [N, C + num_channels, H, W]; C must be divisible by ``num_channels``.
    """

    def __init__(
        self,
        group_size: int | None,     # Samples per statistics group (largest divisor of N <= it); None = all N.
        num_channels: int = 1,      # Extra feature maps: the channels are split into this many groups.
    ) -> None:
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def groups_of(self, n: int) -> int:
        """Samples per group for a batch of ``n``: the samples i, i + n/g, i + 2n/g, ... form one group."""
        g = min(self.group_size, n) if self.group_size is not None else n
        while n % g:  # NVIDIA requires divisibility; fall back to the largest group that divides N
            g -= 1
        return g

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = self.groups_of(n)
        fch = self.num_channels
        cc = c // fch
        y = x.reshape(g, -1, fch, cc, h, w)
        y = y - y.mean(dim=0)
        y = y.square().mean(dim=0)
        y = (y + 1e-8).sqrt()
        y = y.mean(dim=[2, 3, 4])
        y = y.reshape(-1, fch, 1, 1)
        y = y.repeat(g, 1, h, w)
        return torch.cat([x, y.to(x.dtype)], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"
