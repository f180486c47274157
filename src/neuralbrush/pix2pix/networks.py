"""pix2pix networks: the U-Net generator and the PatchGAN discriminator, as flat modules.

The U-Net is the one of Isola et al. (and of the junyanz code the published generators come
from), written as a flat list of named levels instead of recursively nested blocks:

    down1 .. downN   encoder: 4x4 stride-2 convolutions (ngf, 2ngf, 4ngf, then 8ngf)
    upN .. up1       decoder: 4x4 stride-2 transposed convolutions, each fed the previous
                     decoder output concatenated with the skip from the matching encoder level

Every encoder level returns its *activated* output (LeakyReLU 0.2; ReLU at the bottleneck).
That activated tensor is both the input of the next level and the skip connection, which is
exactly what the reference computes: its LeakyReLU runs in place on the tensor it also
concatenates as the skip. Decoder levels start with ReLU, so ``up_k`` sees
``relu(cat(skip_k, up_{k+1}))``. The innermost encoder level has no normalisation (at a 1x1
bottleneck with batch 1, batch norm would zero everything); the outermost encoder level has
none either, and the outermost decoder level ends in Tanh. Dropout 0.5 sits in the decoder
levels nearest the bottleneck that have 8*ngf output channels (three of them for unet_256).

With batch norm the convolutions carry no bias (the norm has one); with instance norm (no
affine parameters, no running statistics) every convolution has a bias.

Every level checks the channels it receives and the U-Net checks the image size
(:func:`neuralbrush.core.shapes.assert_shape`; a :class:`~neuralbrush.core.shapes.ShapeError`
names the level built for something else).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from ..core.shapes import ShapeError, assert_shape

ARCH_DEPTHS = {"unet_256": 8, "unet_128": 7, "unet_64": 6, "unet_32": 5}
NORMS = ("batch", "instance")


def norm_layer(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    raise ValueError(f"unknown norm {kind!r}; choose one of {', '.join(NORMS)}")


@dataclass(frozen=True)
class UNetConfig:
    """Constructor arguments of :class:`UNetGenerator` (stored in checkpoint metadata)."""

    arch: str = "unet_256"
    in_channels: int = 3
    out_channels: int = 3
    ngf: int = 64
    norm: str = "batch"
    dropout: float = 0.5

    @property
    def depth(self) -> int:
        if self.arch not in ARCH_DEPTHS:
            raise ValueError(f"unknown generator {self.arch!r}; choose one of {', '.join(ARCH_DEPTHS)}")
        return ARCH_DEPTHS[self.arch]

    def to_dict(self) -> dict:
        return asdict(self)


def unet_channels(depth: int, ngf: int) -> list[int]:
    """Output channels of encoder levels 1..depth: ngf, 2ngf, 4ngf, 8ngf, 8ngf, ..."""
    return [ngf * min(2 ** i, 8) for i in range(depth)]


def dropout_levels(depth: int) -> set[int]:
    """Decoder levels with dropout: those with 8*ngf outputs between the bottleneck's own level
    and level 4 (the reference puts depth-5 such blocks there: 3 for unet_256, 2 for unet_128)."""
    return set(range(5, depth))


class EncoderLevel(nn.Module):
    """conv 4x4 stride 2 -> optional norm -> activation. [N, cin, H, W] -> [N, cout, H/2, W/2]."""

    def __init__(
        self,
        cin: int,               # Channels of the input.
        cout: int,              # Channels of the output.
        *,
        norm: str | None,       # 'batch' or 'instance'; None = no normalisation (outermost, innermost).
        bias: bool,             # Give the convolution a bias (True when no batch norm follows).
        activation: str,        # 'lrelu' (LeakyReLU 0.2) or anything else for ReLU (the bottleneck).
    ) -> None:
        super().__init__()
        self.cin = cin
        self.conv = nn.Conv2d(cin, cout, kernel_size=4, stride=2, padding=1, bias=bias)
        self.norm = norm_layer(norm, cout) if norm else nn.Identity()
        self.act = nn.LeakyReLU(0.2) if activation == "lrelu" else nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert_shape(x, [None, self.cin, None, None], "encoder level x")
        return self.act(self.norm(self.conv(x)))


class DecoderLevel(nn.Module):
    """ReLU -> transposed conv 4x4 stride 2 -> norm (or Tanh at the output) -> optional dropout.

    [N, cin, H, W] -> [N, cout, 2H, 2W]; cin counts the concatenated skip too.
    """

    def __init__(
        self,
        cin: int,               # Channels of the input (previous decoder output + skip, or the bottleneck).
        cout: int,              # Channels of the output (the image channels at the outermost level).
        *,
        norm: str | None,       # 'batch' or 'instance'; None = no normalisation (outermost).
        bias: bool,             # Give the transposed convolution a bias.
        dropout: float,         # Dropout probability after the norm; 0 = no dropout layer.
        outermost: bool,        # The image level: Tanh instead of norm and dropout.
    ) -> None:
        super().__init__()
        self.cin = cin
        self.conv = nn.ConvTranspose2d(cin, cout, kernel_size=4, stride=2, padding=1, bias=bias)
        self.norm = norm_layer(norm, cout) if norm else nn.Identity()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.outermost = outermost

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert_shape(x, [None, self.cin, None, None], "decoder level x")
        y = self.conv(torch.relu(x))
        if self.outermost:
            return torch.tanh(y)
        return self.dropout(self.norm(y))


class UNetGenerator(nn.Module):
    """U-Net generator mapping [N, in, H, W] in [-1, 1] to [N, out, H, W] in [-1, 1].

    H and W must be multiples of ``2 ** depth`` (256 for unet_256, 128 for unet_128).
    """

    def __init__(
        self,
        arch: str = "unet_256",     # A key of ARCH_DEPTHS: the number of levels (8 for unet_256).
        *,
        in_channels: int = 3,       # Channels of the input image.
        out_channels: int = 3,      # Channels of the output image.
        ngf: int = 64,              # Channels of the outermost encoder level; deeper levels up to 8x.
        norm: str = "batch",        # 'batch' or 'instance' normalisation (see NORMS).
        dropout: float = 0.5,       # Dropout in the 8*ngf decoder levels nearest the bottleneck; 0 = none.
    ) -> None:
        super().__init__()
        self.config = UNetConfig(arch, in_channels, out_channels, ngf, norm, dropout)
        depth = self.config.depth
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")
        self.depth = depth
        self.multiple = 2 ** depth
        bias = norm == "instance"
        ch = unet_channels(depth, ngf)
        drop = dropout_levels(depth)
        for k in range(1, depth + 1):
            cin = in_channels if k == 1 else ch[k - 2]
            inner = k == depth
            outer = k == 1
            self.add_module(f"down{k}", EncoderLevel(
                cin, ch[k - 1], norm=None if (inner or outer) else norm, bias=bias,
                activation="relu" if inner else "lrelu"))
        for k in range(depth, 0, -1):
            cin = ch[k - 1] if k == depth else ch[k - 1] * 2
            cout = out_channels if k == 1 else ch[k - 2]
            self.add_module(f"up{k}", DecoderLevel(
                cin, cout, norm=None if k == 1 else norm, bias=True if k == 1 else bias,
                dropout=dropout if k in drop else 0.0, outermost=k == 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert_shape(x, [None, self.config.in_channels, None, None], f"{self.config.arch} input")
        n, c, h, w = x.shape
        if h % self.multiple or w % self.multiple:
            raise ShapeError(f"{self.config.arch} needs sizes divisible by {self.multiple}, got {h}x{w}")
        skips = []
        for k in range(1, self.depth + 1):
            x = getattr(self, f"down{k}")(x)
            skips.append(x)
        y = getattr(self, f"up{self.depth}")(skips[-1])
        for k in range(self.depth - 1, 0, -1):
            y = getattr(self, f"up{k}")(torch.cat([skips[k - 1], y], dim=1))
        assert_shape(y, [n, self.config.out_channels, h, w], f"{self.config.arch} output")
        return y


@dataclass(frozen=True)
class PatchConfig:
    """Constructor arguments of :class:`PatchDiscriminator`."""

    in_channels: int = 6
    ndf: int = 64
    n_layers: int = 3
    norm: str = "batch"

    def to_dict(self) -> dict:
        return asdict(self)


class PatchDiscriminator(nn.Module):
    """PatchGAN: a grid of real/fake logits, each seeing a 70x70 patch when n_layers is 3.

    Input is the channel concatenation of the condition and the (real or generated) target,
    [N, 6, H, W]; output [N, 1, H/8 - 2, W/8 - 2] logits for n_layers 3.
    Layers: conv1 (no norm) .. conv{n_layers+1} (stride 1 for the last), then ``out``.
    """

    def __init__(
        self,
        in_channels: int = 6,   # Condition + target channels, concatenated.
        *,
        ndf: int = 64,          # Channels of conv1; deeper layers up to 8x.
        n_layers: int = 3,      # Stride-2 convolutions (3 gives 70x70 receptive fields).
        norm: str = "batch",    # 'batch' or 'instance' normalisation after conv2 onwards.
    ) -> None:
        super().__init__()
        self.config = PatchConfig(in_channels, ndf, n_layers, norm)
        bias = norm == "instance"
        self.n_layers = n_layers
        cin, cout = in_channels, ndf
        self.conv1 = nn.Conv2d(cin, cout, kernel_size=4, stride=2, padding=1)
        for k in range(2, n_layers + 2):
            cin, cout = cout, ndf * min(2 ** (k - 1), 8)
            stride = 2 if k <= n_layers else 1
            self.add_module(f"conv{k}", nn.Conv2d(cin, cout, kernel_size=4, stride=stride, padding=1, bias=bias))
            self.add_module(f"norm{k}", norm_layer(norm, cout))
        self.out = nn.Conv2d(cout, 1, kernel_size=4, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert_shape(x, [None, self.config.in_channels, None, None], "PatchGAN input")
        x = nn.functional.leaky_relu(self.conv1(x), 0.2)
        for k in range(2, self.n_layers + 2):
            x = nn.functional.leaky_relu(getattr(self, f"norm{k}")(getattr(self, f"conv{k}")(x)), 0.2)
        return self.out(x)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def init_weights(module: nn.Module, *, gain: float = 0.02, generator: torch.Generator | None = None) -> nn.Module:
    """The pix2pix initialisation: conv weights ~ N(0, 0.02), norm scales ~ N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            with torch.no_grad():
                m.weight.normal_(0.0, gain, generator=generator)
                if m.bias is not None:
                    m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.normal_(1.0, gain, generator=generator)
                m.bias.zero_()
    return module


def _check_fields(cls: type, d: object, label: str, limits: dict[str, tuple[type, float, float]],
                  choices: dict[str, tuple[str, ...]]) -> dict:
    """``d`` as constructor kwargs of ``cls`` when every value is of the right type and range."""
    from ..core.errors import CheckpointError

    what = "generator" if cls is UNetConfig else "discriminator"
    if not isinstance(d, dict):
        raise CheckpointError(f"{label} has no valid {what} description in its metadata")
    unknown = sorted(set(d) - {f.name for f in fields(cls)})
    if unknown:
        raise CheckpointError(f"{label} describes its {what} with unknown entries: {', '.join(map(str, unknown[:3]))}")
    for name, options in choices.items():
        if name in d and d[name] not in options:
            raise CheckpointError(f"{label} has a {what} {name} of {d[name]!r}; expected one of {', '.join(options)}")
    for name, (kind, lo, hi) in limits.items():
        if name not in d:
            continue
        v = d[name]
        ok_type = isinstance(v, (int, float)) if kind is float else isinstance(v, int)
        if isinstance(v, bool) or not ok_type or not lo <= v <= hi:
            raise CheckpointError(f"{label} has a {what} {name} of {v!r}; expected a number in [{lo:g}, {hi:g}]")
    return dict(d)


def generator_config_from(d: object, label: str) -> UNetConfig:
    """A :class:`UNetConfig` from checkpoint metadata, every value checked (a damaged or hostile file
    cannot ask for a network of negative or enormous size)."""
    return UNetConfig(**_check_fields(UNetConfig, d, label,
                                      {"in_channels": (int, 1, 64), "out_channels": (int, 1, 64),
                                       "ngf": (int, 1, 1024), "dropout": (float, 0.0, 0.999)},
                                      {"arch": tuple(ARCH_DEPTHS), "norm": NORMS}))


def discriminator_config_from(d: object, label: str) -> PatchConfig:
    """A :class:`PatchConfig` from checkpoint metadata, every value checked."""
    return PatchConfig(**_check_fields(PatchConfig, d, label,
                                       {"in_channels": (int, 1, 128), "ndf": (int, 1, 1024), "n_layers": (int, 1, 8)},
                                       {"norm": NORMS}))


def check_state(module: nn.Module, state: dict[str, torch.Tensor], label: str, what: str) -> None:
    """A missing, extra or wrongly shaped tensor is one CheckpointError (``module`` may live on the
    meta device: only names and shapes are compared)."""
    from ..core.errors import CheckpointError

    own = module.state_dict()
    missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or extra or wrong:
        detail = (f"lacks {missing[0]}" if missing else f"has an unexpected {extra[0]}" if extra else
                  f"has {wrong[0]} of shape {tuple(state[wrong[0]].shape)}, expected {tuple(own[wrong[0]].shape)}")
        raise CheckpointError(f"{label}: the {what} does not match its description ({detail}); the file is damaged")


def load_state(module: nn.Module, state: dict[str, torch.Tensor], label: str, what: str) -> None:
    """Strictly load ``state`` after :func:`check_state`."""
    check_state(module, state, label, what)
    module.load_state_dict(state, strict=True)


def build_generator(config: UNetConfig | dict) -> UNetGenerator:
    cfg = config if isinstance(config, UNetConfig) else UNetConfig(**config)
    return UNetGenerator(cfg.arch, in_channels=cfg.in_channels, out_channels=cfg.out_channels, ngf=cfg.ngf,
                         norm=cfg.norm, dropout=cfg.dropout)


def build_discriminator(config: PatchConfig | dict) -> PatchDiscriminator:
    cfg = config if isinstance(config, PatchConfig) else PatchConfig(**config)
    return PatchDiscriminator(cfg.in_channels, ndf=cfg.ndf, n_layers=cfg.n_layers, norm=cfg.norm)
