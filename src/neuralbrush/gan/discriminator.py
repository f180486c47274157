"""StyleGAN2 discriminator (residual by default), parameter-compatible with NVIDIA stylegan2-ada-pytorch.

Names follow NVIDIA's ``training/networks.py`` (see :mod:`.networks` for the full table), so a
state_dict from one of their pickles loads strictly: ``b{R}.fromrgb``, ``b{R}.conv0``,
``b{R}.conv1`` (2x down), ``b{R}.skip`` for R = img_resolution .. 8, then the 4x4 epilogue
``b4.{mbstd, conv, fc, out}`` and, for conditional networks, ``mapping.*`` (the label embedding).
Precision follows the generator's rules (:func:`.networks.block_precision`); the epilogue always
runs in fp32. Every block checks the shapes it receives.

With ``recon_channels > 0`` (``--d-recon``, issue 14) D also carries two small decoders in the
manner of FastGAN's self-supervised discriminator: from its 8x8 features it rebuilds the whole
input image and, from one quadrant of its 16x16 features, that quadrant of the image, both at half
the image size (at most 128 px). They are named ``dec_whole.*`` and ``dec_part.*``, so a
discriminator without them keeps NVIDIA's names and loads their pickles strictly.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..core.shapes import assert_shape
from .layers import Conv2dLayer, FullyConnectedLayer, MinibatchStdLayer, downsample2d, setup_filter
from .lite import _area as area_resize, half_res  # reconstructions sized as lite's
from .networks import MappingNetwork, block_precision, lowp_active



class DiscriminatorBlock(nn.Module):
    """One resolution R of the discriminator: (fromrgb) conv0, conv1 with 2x down, skip.

    x: [N, in_channels, R, R] (None for the first block), img: [N, img_channels, R, R] or None
    -> x [N, out_channels, R/2, R/2], img [N, img_channels, R/2, R/2] ('skip') or None.
    """

    def __init__(
        self,
        in_channels: int,                                   # Channels of the input x; 0 = first block (fromrgb).
        tmp_channels: int,                                  # Channels of the block's internal feature maps.
        out_channels: int,                                  # Channels of the output x.
        resolution: int,                                    # Input resolution R of this block.
        img_channels: int,                                  # Image channels (3 for RGB).
        first_layer_idx: int,                               # Index of this block's first layer (for freezing).
        architecture: str = "resnet",                       # 'orig', 'skip' or 'resnet'.
        activation: str = "lrelu",                          # Activation of every conv.
        resample_filter: Sequence[float] = (1, 3, 3, 1),    # 1-D FIR taps for downsampling.
        conv_clamp: float | None = None,                    # Clamp conv outputs to +-X; None = no clamping.
        use_fp16: bool = False,                             # Run under fp16 autocast (num_fp16_res blocks)?
        freeze_layers: int = 0,                             # Layers with index < this are frozen buffers.
    ) -> None:
        super().__init__()
        if in_channels not in (0, tmp_channels):
            raise ValueError("in_channels must be 0 or tmp_channels")
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"unknown discriminator architecture {architecture!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.resolution = resolution
        self.img_channels = img_channels
        self.first_layer_idx = first_layer_idx
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.num_layers = 0

        def trainable() -> bool:
            idx = self.first_layer_idx + self.num_layers
            self.num_layers += 1
            return idx >= freeze_layers

        if in_channels == 0 or architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, kernel_size=1, activation=activation,
                                       trainable=trainable(), conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, kernel_size=3, activation=activation,
                                 trainable=trainable(), conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, kernel_size=3, activation=activation, down=2,
                                 trainable=trainable(), resample_filter=resample_filter, conv_clamp=conv_clamp)
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2,
                                    trainable=trainable(), resample_filter=resample_filter)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None,
                force_fp32: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        res = self.resolution
        if x is not None:
            assert_shape(x, [None, self.in_channels, res, res], f"D b{res} x")
        if img is not None:
            assert_shape(img, [None, self.img_channels, res, res], f"D b{res} img")
        ref = x if x is not None else img
        with block_precision(ref, self.use_fp16, force_fp32):
            lowp = lowp_active(ref)
            if x is not None and not lowp:
                x = x.float()
            if self.in_channels == 0 or self.architecture == "skip":
                if not lowp:
                    img = img.float()
                y = self.fromrgb(img)
                x = x + y if x is not None else y
                img = downsample2d(img, self.resample_filter) if self.architecture == "skip" else None
            if self.architecture == "resnet":
                y = self.skip(x, gain=np.sqrt(0.5))
                x = self.conv0(x)
                x = self.conv1(x, gain=np.sqrt(0.5))
                x = y + x
            else:
                x = self.conv0(x)
                x = self.conv1(x)
        assert_shape(x, [None, self.out_channels, res // 2, res // 2], f"D b{res} output x")
        return x, img


class DiscriminatorEpilogue(nn.Module):
    """4x4 head: minibatch stddev, conv, fc, out (projection onto the label embedding when c_dim>0).

    x: [N, in_channels, 4, 4], img: [N, img_channels, 4, 4] ('skip') or None, cmap: [N, cmap_dim]
    or None -> logits [N, 1].
    """

    def __init__(
        self,
        in_channels: int,                       # Channels of the input x.
        cmap_dim: int,                          # Width of the label embedding; 0 = unconditional.
        resolution: int,                        # Input resolution (4).
        img_channels: int,                      # Image channels (3 for RGB).
        architecture: str = "resnet",           # 'orig', 'skip' or 'resnet'.
        mbstd_group_size: int | None = 4,       # Minibatch-stddev group size; None = whole batch.
        mbstd_num_channels: int = 1,            # Minibatch-stddev feature maps; 0 = no mbstd layer.
        activation: str = "lrelu",              # Activation of conv and fc.
        conv_clamp: float | None = None,        # Clamp conv outputs to +-X; None = no clamping.
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.img_channels = img_channels
        self.cmap_dim = cmap_dim
        self.resolution = resolution
        self.architecture = architecture
        if architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, in_channels, kernel_size=1, activation=activation)
        self.mbstd = (MinibatchStdLayer(group_size=mbstd_group_size, num_channels=mbstd_num_channels)
                      if mbstd_num_channels > 0 else None)
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, kernel_size=3, activation=activation,
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x: torch.Tensor, img: torch.Tensor | None, cmap: torch.Tensor | None) -> torch.Tensor:
        res = self.resolution
        assert_shape(x, [None, self.in_channels, res, res], "D epilogue x")
        if self.architecture == "skip":
            assert_shape(img, [x.shape[0], self.img_channels, res, res], "D epilogue img")
        if self.cmap_dim > 0:
            assert_shape(cmap, [x.shape[0], self.cmap_dim], "D epilogue cmap")
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.float().contiguous()
            if self.architecture == "skip":
                x = x + self.fromrgb(img.float())
            if self.mbstd is not None:
                x = self.mbstd(x)
            x = self.conv(x)
            x = self.fc(x.flatten(1))
            x = self.out(x)
            if self.cmap_dim > 0:
                x = (x * cmap).sum(dim=1, keepdim=True) * (1 / np.sqrt(self.cmap_dim))
        return x


class ReconstructionDecoder(nn.Module):
    """[N, in_channels, 8, 8] features -> [N, img_channels, out_res, out_res]: 2x upsampling 3x3
    convolutions of ``channels`` (equalised learning rate, leaky ReLU, as D's own layers), then a
    linear 1x1 to the image channels (no tanh: augmented images leave [-1, 1])."""

    def __init__(
        self,
        in_channels: int,                       # Channels of the 8x8 features it starts from.
        channels: int,                          # Channels of every upsampling layer.
        out_res: int,                           # Side of the reconstruction, a power of two >= 16.
        img_channels: int,                      # Image channels (3 for RGB).
        conv_clamp: float | None = None,        # Clamp conv outputs to +-X; None = no clamping.
    ) -> None:
        super().__init__()
        if out_res < 16 or out_res & (out_res - 1):
            raise ValueError(f"a reconstruction decoder draws 16 px or more, a power of two; got {out_res}")
        layers, c, r = [], in_channels, 8
        while r < out_res:
            layers.append(Conv2dLayer(c, channels, kernel_size=3, activation="lrelu", up=2, conv_clamp=conv_clamp))
            c, r = channels, r * 2
        self.layers = nn.ModuleList(layers)
        self.torgb = Conv2dLayer(c, img_channels, kernel_size=1)
        self.out_res = out_res

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert_shape(x, [None, None, 8, 8], "decoder input")
        for layer in self.layers:
            x = layer(x)
        return self.torgb(x)


class Discriminator(nn.Module):
    """StyleGAN2 residual discriminator: ``D(img [N, img_channels, R, R], c [N, c_dim]) -> logits [N, 1]``.

    ``init_kwargs`` records the arguments (stored as ``D_kwargs`` in a snapshot)."""

    def __init__(
        self,
        c_dim: int = 0,                         # Conditioning label width; 0 = unconditional.
        img_resolution: int = 256,              # Input resolution R, a power of two >= 4.
        img_channels: int = 3,                  # Input image channels.
        architecture: str = "resnet",           # 'orig', 'skip' or 'resnet'.
        channel_base: int = 32768,              # Channels at resolution r: min(channel_base // r, channel_max).
        channel_max: int = 512,                 # Most channels of any block.
        num_fp16_res: int = 0,                  # Highest resolutions that run under fp16 autocast.
        conv_clamp: float | None = None,        # Clamp conv outputs to +-X; None = no clamping.
        mbstd_group_size: int | None = 4,       # Minibatch-stddev group size; None = whole batch.
        mbstd_num_channels: int = 1,            # Minibatch-stddev feature maps; 0 = none.
        cmap_dim: int | None = None,            # Label embedding width; None = channels at 4x4.
        freeze_layers: int = 0,                 # Freeze-D: the first N layers (highest resolution) are buffers.
        mapping_kwargs: dict | None = None,     # MappingNetwork arguments of the label embedding.
        recon_channels: int = 0,                # > 0: decoders of this width rebuild the input (32 px and up).
    ) -> None:
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        self.init_kwargs = dict(c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels,
                                architecture=architecture, channel_base=channel_base, channel_max=channel_max,
                                num_fp16_res=num_fp16_res, conv_clamp=conv_clamp, mbstd_group_size=mbstd_group_size,
                                mbstd_num_channels=mbstd_num_channels, cmap_dim=cmap_dim)
        if freeze_layers:
            self.init_kwargs["freeze_layers"] = freeze_layers
        if mapping_kwargs:
            self.init_kwargs["mapping_kwargs"] = dict(mapping_kwargs)
        if recon_channels:
            if img_resolution < 32:
                raise ValueError(f"D's reconstruction needs 32 px or more (16x16 features), got {img_resolution}")
            self.init_kwargs["recon_channels"] = recon_channels
        self.c_dim = c_dim
        self.img_resolution = img_resolution
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.img_channels = img_channels
        self.block_resolutions = [2 ** i for i in range(self.img_resolution_log2, 2, -1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions + [4]}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        if cmap_dim is None:
            cmap_dim = channels[4]
        if c_dim == 0:
            cmap_dim = 0
        self.cmap_dim = cmap_dim
        common = dict(img_channels=img_channels, architecture=architecture, conv_clamp=conv_clamp)
        layer_idx = 0
        for res in self.block_resolutions:
            in_channels = channels[res] if res < img_resolution else 0
            block = DiscriminatorBlock(in_channels, channels[res], channels[res // 2], resolution=res,
                                       first_layer_idx=layer_idx, use_fp16=res >= fp16_resolution,
                                       freeze_layers=freeze_layers, **common)
            setattr(self, f"b{res}", block)
            layer_idx += block.num_layers
        if c_dim > 0:
            self.mapping = MappingNetwork(z_dim=0, c_dim=c_dim, w_dim=cmap_dim, num_ws=None, w_avg_beta=None,
                                          **(mapping_kwargs or {}))
        self.b4 = DiscriminatorEpilogue(channels[4], cmap_dim=cmap_dim, resolution=4,
                                        mbstd_group_size=mbstd_group_size, mbstd_num_channels=mbstd_num_channels,
                                        **common)
        self.recon_channels = recon_channels
        if recon_channels:
            rec = half_res(img_resolution)  # half the image, at most 128 px, as lite's
            self.dec_whole = ReconstructionDecoder(channels[8], recon_channels, rec, img_channels, conv_clamp)
            self.dec_part = ReconstructionDecoder(channels[16], recon_channels, rec, img_channels, conv_clamp)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None, force_fp32: bool = False,
                features: dict[int, torch.Tensor] | None = None) -> torch.Tensor:
        """Logits [N, 1]; a dict given as ``features`` receives each block's output by its size."""
        res = self.img_resolution
        assert_shape(img, [None, self.img_channels, res, res], "D img")
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img, force_fp32=force_fp32)
            if features is not None:
                features[x.shape[-1]] = x
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return self.b4(x, img, cmap)

    def reconstruct(self, features: dict[int, torch.Tensor], img: torch.Tensor,
                    part: int | None = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """{'whole' | 'part': (reconstruction, target)} from the ``features`` of :meth:`forward` on
        ``img``; ``part`` (0-3: top-left, top-right, bottom-left, bottom-right) picks the quadrant,
        None draws one from torch's global generator."""
        if not self.recon_channels:
            raise ValueError("this discriminator was built without decoders (recon_channels=0)")
        if part is None:
            part = int(torch.randint(4, ()))
        if part not in range(4):
            raise ValueError(f"part must be 0, 1, 2 or 3, got {part}")
        row, col = divmod(part, 2)
        half = self.img_resolution // 2
        size = self.dec_whole.out_res
        target = img.detach().float()
        crop = target[:, :, row * half:(row + 1) * half, col * half:(col + 1) * half]
        feat_part = features[16][:, :, row * 8:(row + 1) * 8, col * 8:(col + 1) * 8]
        return {"whole": (self.dec_whole(features[8]).float(), area_resize(target, size)),
                "part": (self.dec_part(feat_part).float(), area_resize(crop, size))}
