"""StyleGAN2 generator and discriminator, parameter-compatible with NVIDIA stylegan2-ada-pytorch.

(Over 400 lines on purpose: the generator's six classes, from the mapping network to
``Generator``, stay together in NVIDIA's order so the parameter names below and the .pkl importer
read against one file; the layers are in :mod:`.layers` and the discriminator in
:mod:`.discriminator` already.)

The module tree, parameter and buffer names, shapes and initialisation follow NVIDIA's
``training/networks.py`` (written afresh from the published architecture), so a state_dict
from one of their pickles loads strictly here and gives the same images:

Generator
    ``mapping.fc{i}.{weight,bias}``, ``mapping.w_avg``, ``mapping.embed.*`` (c_dim > 0),
    ``synthesis.b{R}.resample_filter``, ``synthesis.b4.const`` (and ``synthesis.b4.input`` with
    ``input_mode='w'``, ours only),
    ``synthesis.b{R}.conv0`` (R > 4, 2x up) / ``conv1`` with ``weight, bias, noise_const,
    noise_strength, resample_filter, affine.{weight,bias}``, ``synthesis.b{R}.torgb.{weight,
    bias, affine.weight, affine.bias}``.
Discriminator (resnet; in :mod:`.discriminator`, also importable from here)
    ``b{R}.fromrgb`` (R = img_resolution), ``b{R}.conv0`` (3x3), ``b{R}.conv1`` (3x3, 2x down),
    ``b{R}.skip`` (1x1, 2x down, no bias), ``b4.mbstd`` (no state), ``b4.conv``
    ([C, C + mbstd_num_channels, 3, 3]), ``b4.fc`` ([C, C*16]), ``b4.out``, ``mapping.*`` (c_dim > 0).

Precision: with no autocast everything runs in fp32. Under ``torch.autocast`` (see
``core.device.Runtime.autocast``) the convolutions of every synthesis/discriminator block
run in bf16; with fp16 autocast only the ``num_fp16_res`` highest resolutions do (like
NVIDIA's mixed precision, the low resolutions with many channels overflow fp16) and
``conv_clamp`` keeps activations in range. The mapping network, style/demodulation maths and
the discriminator epilogue always run in fp32. ``force_fp32=True`` disables autocast.

Every block checks the shapes it receives (:func:`neuralbrush.core.shapes.assert_shape`, ``*`` =
any size), so a network fed the wrong resolution, channel count or number of ws fails at the
block that was built for something else, naming it.
"""

from __future__ import annotations

import contextlib
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..core.shapes import assert_shape
from .layers import (Conv2dLayer, FullyConnectedLayer, bias_act, def_gain, modulated_conv2d, normalize_2nd_moment,
                     setup_filter, upsample2d)

NOISE_MODES = ("random", "const", "none")
# The first block's input: NVIDIA's learned constant, or that constant plus a per-sample 4x4 layout made
# from w by a dense layer (``synthesis.b4.input.{weight,bias}``; not in NVIDIA's networks). With the
# constant alone w can only re-weight the constant's channels, so every sample starts from one layout.
INPUT_MODES = ("const", "w")


def block_precision(x: torch.Tensor, use_fp16: bool, force_fp32: bool) -> contextlib.AbstractContextManager:
    """Context for one block: keep the caller's autocast, or switch it off for this block."""
    dev = x.device.type
    if not torch.is_autocast_enabled(dev):
        return contextlib.nullcontext()
    if force_fp32 or (torch.get_autocast_dtype(dev) == torch.float16 and not use_fp16):
        return torch.autocast(device_type=dev, enabled=False)
    return contextlib.nullcontext()


def lowp_active(x: torch.Tensor) -> bool:
    return torch.is_autocast_enabled(x.device.type)


# ----------------------------------------------------------------------------------------------
# Mapping network


class MappingNetwork(nn.Module):
    """z [N, z_dim] (+ embedded label c [N, c_dim]) -> w [N, num_ws, w_dim]; tracks the mean w.

    With ``num_ws=None`` the output is [N, w_dim] (the discriminator's label embedding).
    """

    def __init__(
        self,
        z_dim: int,                             # Input latent (z) width; 0 = no latent input.
        c_dim: int,                             # Conditioning label (c) width; 0 = unconditional.
        w_dim: int,                             # Intermediate latent (w) width.
        num_ws: int | None,                     # Copies of w to broadcast; None = return [N, w_dim].
        num_layers: int = 8,                    # Fully connected layers in the mapping.
        embed_features: int | None = None,      # Label embedding width; None = w_dim (0 when c_dim = 0).
        layer_features: int | None = None,      # Hidden layer width; None = w_dim.
        activation: str = "lrelu",              # Activation of every layer.
        lr_multiplier: float = 0.01,            # Learning-rate multiplier of the mapping layers.
        w_avg_beta: float | None = 0.995,       # Decay of the tracked mean w; None = no w_avg (no truncation).
    ) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            layer = FullyConnectedLayer(features[idx], features[idx + 1], activation=activation,
                                        lr_multiplier=lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor | None, c: torch.Tensor | None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, update_emas: bool = False) -> torch.Tensor:
        dev = (z if z is not None else c).device.type
        with torch.autocast(device_type=dev, enabled=False):
            x = None
            if self.z_dim > 0:
                if z is None or z.ndim != 2 or z.shape[1] != self.z_dim:
                    raise ValueError(f"z must have shape [N, {self.z_dim}], got {None if z is None else list(z.shape)}")
                x = normalize_2nd_moment(z.float())
            if self.c_dim > 0:
                if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                    raise ValueError(f"c must have shape [N, {self.c_dim}] (conditional network)")
                y = normalize_2nd_moment(self.embed(c.float()))
                x = torch.cat([x, y], dim=1) if x is not None else y
            for idx in range(self.num_layers):
                x = getattr(self, f"fc{idx}")(x)
            if update_emas and self.w_avg_beta is not None:
                with torch.no_grad():
                    self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
            if self.num_ws is not None:
                x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
            if truncation_psi != 1:
                if self.w_avg_beta is None:
                    raise ValueError("truncation needs a mapping network that tracks w_avg")
                if self.num_ws is None or truncation_cutoff is None:
                    x = self.w_avg.lerp(x, truncation_psi)
                else:
                    x = torch.cat([self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi),
                                   x[:, truncation_cutoff:]], dim=1)
        return x

    def extra_repr(self) -> str:
        return f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}"


# ----------------------------------------------------------------------------------------------
# Synthesis network


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution (optionally 2x upsampling) + noise + bias + lrelu.

    x: [N, in_channels, R/up, R/up], w: [N, w_dim] -> [N, out_channels, R, R].
    """

    def __init__(
        self,
        in_channels: int,                                   # Channels of the input feature map.
        out_channels: int,                                  # Channels of the output feature map.
        w_dim: int,                                         # Width of the intermediate latent w.
        resolution: int,                                    # Output resolution R of this layer.
        kernel_size: int = 3,                               # Convolution kernel width.
        up: int = 1,                                        # Upsampling factor: 1, or 2 for a block's conv0.
        use_noise: bool = True,                             # Add per-pixel noise (scaled by noise_strength)?
        activation: str = "lrelu",                          # Activation after the bias.
        resample_filter: Sequence[float] = (1, 3, 3, 1),    # 1-D FIR taps for upsampling.
        conv_clamp: float | None = None,                    # Clamp outputs to +-X; None = no clamping.
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.act_gain = def_gain(activation)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", fused_modconv: bool = True,
                gain: float = 1.0) -> torch.Tensor:
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        in_res = self.resolution // self.up
        assert_shape(x, [None, self.in_channels, in_res, in_res], f"{self.resolution}px layer x")
        assert_shape(w, [x.shape[0], self.w_dim], f"{self.resolution}px layer w")
        with torch.autocast(device_type=x.device.type, enabled=False):
            styles = self.affine(w.float())
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device) * self.noise_strength
        if self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, flip_weight=(self.up == 1),
                             fused_modconv=fused_modconv)
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain * gain, clamp=act_clamp)

    def extra_repr(self) -> str:
        return f"in={self.in_channels}, out={self.out_channels}, resolution={self.resolution}, up={self.up}"


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution to image channels, without demodulation.

    x: [N, in_channels, H, W], w: [N, w_dim] -> [N, out_channels, H, W].
    """

    def __init__(
        self,
        in_channels: int,                   # Channels of the input feature map.
        out_channels: int,                  # Image channels produced (3 for RGB).
        w_dim: int,                         # Width of the intermediate latent w.
        kernel_size: int = 1,               # Convolution kernel width.
        conv_clamp: float | None = None,    # Clamp outputs to +-X; None = no clamping.
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.w_dim = in_channels, out_channels, w_dim
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / np.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool = True) -> torch.Tensor:
        assert_shape(x, [None, self.in_channels, None, None], "torgb x")
        assert_shape(w, [x.shape[0], self.w_dim], "torgb w")
        with torch.autocast(device_type=x.device.type, enabled=False):
            styles = self.affine(w.float()) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution R of the synthesis network (architecture 'skip', 'orig' or 'resnet').

    x: [N, in_channels, R/2, R/2] (None for the first block), img: [N, img_channels, R/2, R/2]
    or None, ws: [N, num_conv + num_torgb, w_dim] -> x [N, out_channels, R, R], img [N, img_channels, R, R].
    """

    def __init__(
        self,
        in_channels: int,                                   # Channels of the input x; 0 = first block (const).
        out_channels: int,                                  # Channels of this block's feature maps.
        w_dim: int,                                         # Width of the intermediate latent w.
        resolution: int,                                    # Output resolution R of this block.
        img_channels: int,                                  # Image channels (3 for RGB).
        is_last: bool,                                      # The last (highest resolution) block?
        architecture: str = "skip",                         # 'orig', 'skip' (torgb every block) or 'resnet'.
        resample_filter: Sequence[float] = (1, 3, 3, 1),    # 1-D FIR taps for upsampling.
        conv_clamp: float | None = None,                    # Clamp conv outputs to +-X; None = no clamping.
        use_fp16: bool = False,                             # Run under fp16 autocast (num_fp16_res blocks)?
        input_mode: str = "const",                          # First block: 'const' (NVIDIA's) or 'w' (see below).
        **layer_kwargs: Any,                                # More SynthesisLayer arguments (use_noise, ...).
    ) -> None:
        super().__init__()
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"unknown synthesis architecture {architecture!r}")
        if input_mode not in INPUT_MODES:
            raise ValueError(f"input_mode must be one of {INPUT_MODES}, got {input_mode!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.is_last = is_last
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.num_conv = 0
        self.num_torgb = 0
        self.input_mode = input_mode if in_channels == 0 else "const"
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
            if self.input_mode == "w":  # a per-sample layout added to the constant, from the block's first w
                self.input = FullyConnectedLayer(w_dim, out_channels * resolution * resolution)
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim=w_dim, resolution=resolution, up=2,
                                        resample_filter=resample_filter, conv_clamp=conv_clamp, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim=w_dim, resolution=resolution,
                                    conv_clamp=conv_clamp, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                    resample_filter=resample_filter)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor, force_fp32: bool = False,
                fused_modconv: bool | None = None, noise_mode: str = "random") -> tuple[torch.Tensor, torch.Tensor]:
        res, half = self.resolution, self.resolution // 2
        assert_shape(ws, [None, self.num_conv + self.num_torgb, self.w_dim], f"b{res} ws")
        if self.in_channels != 0:
            assert_shape(x, [ws.shape[0], self.in_channels, half, half], f"b{res} x")
        if img is not None:
            assert_shape(img, [ws.shape[0], self.img_channels, half, half], f"b{res} img")
        w_iter = iter(ws.unbind(dim=1))
        ref = ws
        with block_precision(ref, self.use_fp16, force_fp32):
            lowp = lowp_active(ref)
            if fused_modconv is None:
                fused_modconv = (not self.training) and (not lowp or ws.shape[0] == 1)
            if self.in_channels == 0:
                x = self.const.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
                if self.input_mode == "w":
                    x = x + self.input(ws[:, 0]).view(x.shape)
            elif not lowp:
                x = x.float()
            if self.in_channels == 0:
                x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, noise_mode=noise_mode)
            elif self.architecture == "resnet":
                y = self.skip(x, gain=np.sqrt(0.5))
                x = self.conv0(x, next(w_iter), fused_modconv=fused_modconv, noise_mode=noise_mode)
                x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, noise_mode=noise_mode,
                               gain=np.sqrt(0.5))
                x = y + x
            else:
                x = self.conv0(x, next(w_iter), fused_modconv=fused_modconv, noise_mode=noise_mode)
                x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, noise_mode=noise_mode)
            if img is not None:
                img = upsample2d(img, self.resample_filter)
            if self.is_last or self.architecture == "skip":
                y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv).float()
                img = img + y if img is not None else y
        assert_shape(x, [ws.shape[0], self.out_channels, res, res], f"b{res} output x")
        return x, img

    def extra_repr(self) -> str:
        return (f"resolution={self.resolution}, architecture={self.architecture}"
                + (", input_mode='w'" if self.input_mode == "w" else ""))


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> image [N, img_channels, R, R] (roughly in [-1, 1])."""

    def __init__(
        self,
        w_dim: int,                     # Width of the intermediate latent w.
        img_resolution: int,            # Output resolution R, a power of two >= 4.
        img_channels: int,              # Image channels (3 for RGB).
        channel_base: int = 32768,      # Channels at resolution r: min(channel_base // r, channel_max).
        channel_max: int = 512,         # Most channels of any block.
        num_fp16_res: int = 0,          # Highest resolutions that run under fp16 autocast (see module doc).
        **block_kwargs: Any,            # More SynthesisBlock arguments (architecture, conv_clamp, ...).
    ) -> None:
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.img_channels = img_channels
        self.num_fp16_res = num_fp16_res
        self.block_resolutions = [2 ** i for i in range(2, self.img_resolution_log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = channels[res // 2] if res > 4 else 0
            is_last = res == img_resolution
            block = SynthesisBlock(in_channels, channels[res], w_dim=w_dim, resolution=res,
                                   img_channels=img_channels, is_last=is_last, use_fp16=res >= fp16_resolution,
                                   **block_kwargs)
            self.num_ws += block.num_conv
            if is_last:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)

    def forward(self, ws: torch.Tensor, noise_mode: str = "random", force_fp32: bool = False,
                fused_modconv: bool | None = None) -> torch.Tensor:
        assert_shape(ws, [None, self.num_ws, self.w_dim], "synthesis ws")
        ws = ws.float()
        w_idx = 0
        x = img = None
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            cur = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            w_idx += block.num_conv
            x, img = block(x, img, cur, force_fp32=force_fp32, fused_modconv=fused_modconv, noise_mode=noise_mode)
        return img

    def extra_repr(self) -> str:
        return f"w_dim={self.w_dim}, num_ws={self.num_ws}, img_resolution={self.img_resolution}"


class Generator(nn.Module):
    """StyleGAN2 generator: ``G(z [N, z_dim], c [N, c_dim]) -> img [N, img_channels, R, R]``;
    ``G.mapping`` and ``G.synthesis`` are public. ``init_kwargs`` records the arguments (a snapshot
    stores them as ``G_kwargs`` and rebuilds the same network from them)."""

    def __init__(
        self,
        z_dim: int = 512,                       # Input latent (z) width.
        c_dim: int = 0,                         # Conditioning label width; 0 = unconditional.
        w_dim: int = 512,                       # Intermediate latent (w) width.
        img_resolution: int = 256,              # Output resolution, a power of two >= 4.
        img_channels: int = 3,                  # Output image channels.
        mapping_kwargs: dict | None = None,     # MappingNetwork arguments; None = {"num_layers": 8}.
        synthesis_kwargs: dict | None = None,   # SynthesisNetwork arguments; None = NVIDIA's defaults.
    ) -> None:
        super().__init__()
        mapping_kwargs = dict(mapping_kwargs if mapping_kwargs is not None else {"num_layers": 8})
        synthesis_kwargs = dict(synthesis_kwargs if synthesis_kwargs is not None else
                                {"channel_base": 32768, "channel_max": 512, "num_fp16_res": 0, "conv_clamp": None})
        self.init_kwargs = dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
                                img_channels=img_channels, mapping_kwargs=dict(mapping_kwargs),
                                synthesis_kwargs=dict(synthesis_kwargs))
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                                          **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **mapping_kwargs)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, noise_mode: str = "random", force_fp32: bool = False,
                update_emas: bool = False, fused_modconv: bool | None = None) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, noise_mode=noise_mode, force_fp32=force_fp32, fused_modconv=fused_modconv)


def __getattr__(name: str) -> Any:
    # The discriminator lives in .discriminator (this module stays under ~400 lines); the old
    # import path ``from neuralbrush.gan.networks import Discriminator`` keeps working. Resolved
    # lazily because .discriminator imports MappingNetwork from here.
    if name in ("Discriminator", "DiscriminatorBlock", "DiscriminatorEpilogue"):
        from . import discriminator

        return getattr(discriminator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
