"""The style-transfer options, declared once (no torch import, so the CLI can read them fast).

:class:`StyleOptions` is what :meth:`StyleTransfer.stylize` takes (``StyleOptions(style_weight=20)``):
every option with its default, help text and bounds, and :meth:`StyleOptions.check`, the checks
that make a wrong value one sentence naming the option before VGG-19 or any photo loads. The CLI
builds its options from the same fields. :class:`VideoOptions` does the same for the video loop.
The VGG-19 layer names the layer options accept live here too, so checking them needs no torch.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, Sequence

from ..core import checks
from ..core.errors import UsageError
from ..core.options import choices_of, hints, option

# Documented limits: a value beyond them is a typo, refused before VGG-19 or any photo loads.
MAX_SIDE = 8192  # output long side, --max-size and --min-scale, in pixels
MAX_ITERATIONS = 100_000  # optimisation steps per scale
# The last scale's steps per --iterations step when --final-iterations is not given. At 512 px the
# last scale's bf16 L-BFGS (full steps) reaches the classic recipe's final loss after ~190
# evaluations: 2.4 x 80 = 192 of them. They fit a 512 px picture in issue 5's 5 minutes on 2 cores
# because the first (128 px) scale takes 100 evaluations, not 200: that costs the last scale
# nothing measurable and pays for ~10 of its evaluations (docs/style.md, "Against the classic
# recipe"; the same run on an AMX CPU: 0.31385 in 115 s, where 200 + 180 ended at 0.31401 in 117 s).
FINAL_FACTOR = 2.4
MAX_STYLE_SCALE = 8.0  # style image size relative to the output
MAX_SEED = 2**32 - 1
INIT_CHOICES = ("content", "noise", "style")  # or an image file

# Convolutions per block in VGG-19; layer names as in vgg.py (conv4_2 before its ReLU, relu4_2 after).
_BLOCKS = (2, 2, 4, 4, 4)


def _layer_names() -> list[str]:
    names: list[str] = []
    for b, n in enumerate(_BLOCKS, start=1):
        for i in range(1, n + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return names


LAYER_NAMES: tuple[str, ...] = tuple(_layer_names())  # index i = torchvision vgg19().features[i]
LAYER_INDEX: dict[str, int] = {n: i for i, n in enumerate(LAYER_NAMES)}


def layer_index(name: str) -> int:
    """Index of a named layer in ``vgg19().features``; raises UsageError for unknown names."""
    try:
        return LAYER_INDEX[name]
    except KeyError:
        raise UsageError(f"unknown VGG-19 layer {name!r}; use names like conv4_2, relu3_1 or pool2") from None


def default_layer_weights(n: int) -> list[float]:
    """Earlier (finer) style layers weigh more: 2^-i, normalised to sum 1."""
    weights = [2.0 ** -i for i in range(n)]
    total = sum(abs(w) for w in weights)
    return [w / total for w in weights]


@dataclass(frozen=True)
class StyleOptions:
    """Every option of :meth:`StyleTransfer.stylize` (``StyleOptions(style_weight=20)``)."""

    style_weights: tuple[float, ...] | None = option(
        None, "Relative weight of each style image (normalised to sum 1), e.g. 100,45.")
    content_layers: tuple[str, ...] = option(("relu4_2",), "VGG-19 layers whose features must match the content "
                                                           "(comma list).")
    style_layers: tuple[str, ...] = option(("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
                                           "VGG-19 layers whose Gram matrices must match the style (comma list).")
    style_layer_weights: tuple[float, ...] | None = option(
        None, "Weight of each style layer (normalised); default halves per layer, so earlier layers weigh more.")
    content_weight: float = option(1.0, "Weight of the content loss (relative feature error).", min=0.0)
    style_weight: float = option(10.0, "Weight of the style loss (relative Gram error).", min=0.0)
    tv_weight: float = option(1.0, "Weight of the total-variation smoothness loss.", min=0.0)
    init: str = option("content", "Start from: content, noise, style, or an image FILE.")
    optimizer: Literal["lbfgs", "adam"] = option(
        "lbfgs", "lbfgs (default; a fresh L-BFGS at every scale, steps counted as loss evaluations) or adam (with "
                 "--step-size and --ema).")
    line_search: bool = option(
        False, "L-BFGS only: a strong-Wolfe line search in every step. Off (default): every step is the "
               "quasi-Newton step, one loss evaluation each; a step that blows the loss up switches to the line "
               "search from the best image so far.")
    step_size: float = option(0.02, "Adam step size on [0, 1] pixels (ignored by lbfgs).", min=0.0)
    iterations: int = option(80, "Optimisation steps at each scale after the first (all steps with --no-scales).",
                             min=0, max=MAX_ITERATIONS)
    initial_iterations: int = option(100, "Optimisation steps at the first (smallest) scale.", min=0,
                                     max=MAX_ITERATIONS)
    final_iterations: int | None = option(
        None, f"Optimisation steps at the last (output-size) scale of several (default: {FINAL_FACTOR} x --iterations; "
              "the output size is where the fine strokes settle).", min=0, max=MAX_ITERATIONS)
    scales: bool = option(True, "Coarse-to-fine: optimise from --min-scale up to the output size in sqrt(2) steps.")
    min_scale: int = option(128, "Long side in pixels of the first scale.", min=16, max=MAX_SIDE)
    ema: float = option(0.95, "Adam only: decay of the exponential moving average of the iterates (0 disables).",
                        min=0.0, max=0.9999)
    style_scale: float = option(1.0, "Style image size relative to the output at each scale (bigger: larger brush "
                                     "strokes).", min=0.01, max=MAX_STYLE_SCALE)
    size: int | None = option(None, "Output long side in pixels (default: the content's size, capped by --max-size).",
                              min=16, max=MAX_SIDE)
    max_size: int = option(512, "Cap on the output long side when --size is not given.", min=16, max=MAX_SIDE)
    preserve_color: Literal["none", "luminance", "histogram"] = option(
        "none", "Keep the content's colours: none, luminance (transfer on luma only) or histogram (recolour the "
                "styles to the content's colour statistics).")
    seed: int = option(0, "Random seed (noise init, random VGG weights).", min=0, max=MAX_SEED)

    def check(self, n_styles: int | None = None, *, init_image: bool = False) -> "StyleOptions":
        """Every value checked (one-line :class:`UsageError` naming the option on a wrong type, NaN,
        infinity or a value out of range), so a command can refuse them before loading anything.

        ``n_styles``: the number of style images, which ``style_weights`` must match.
        ``init_image``: a starting image is given, so ``init`` is not read. Returns the options
        as :meth:`StyleTransfer.stylize` runs them: with ``n_styles``, ``style_weights`` and
        ``style_layer_weights`` filled in (equal style weights; halving layer weights) as float
        tuples, and a ``preserve_color`` of None read as ``'none'``.
        """
        if n_styles is not None and n_styles < 1:
            raise UsageError("give at least one style image")
        sw = None if self.style_weights is None else _weights("--style-weights", self.style_weights)
        if n_styles is not None:
            sw = [1.0] * n_styles if sw is None else sw
            if len(sw) != n_styles:
                raise UsageError(f"{len(sw)} style weights for {n_styles} style images; give one weight per style")
        _layers("--content-layers", self.content_layers)
        style_layers = _layers("--style-layers", self.style_layers)
        if self.style_layer_weights is not None:
            slw = _weights("--style-layer-weights", self.style_layer_weights)
        else:
            slw = default_layer_weights(len(style_layers))
        if len(slw) != len(style_layers):
            raise UsageError(f"{len(slw)} style-layer weights for {len(style_layers)} style layers")
        th = hints(StyleOptions)
        checks.choice("--optimizer", self.optimizer, choices_of(th["optimizer"]))
        preserve = "none" if self.preserve_color in (None, "", False) else self.preserve_color
        checks.choice("--preserve-color", preserve, choices_of(th["preserve_color"]))
        for k in ("content_weight", "style_weight", "tv_weight"):
            checks.number("--" + k.replace("_", "-"), getattr(self, k), lo=0)
        checks.number("--step-size", self.step_size, lo=0, lo_open=True)
        for k in ("iterations", "initial_iterations"):
            checks.whole("--" + k.replace("_", "-"), getattr(self, k), lo=0, hi=MAX_ITERATIONS)
        if self.final_iterations is not None:
            checks.whole("--final-iterations", self.final_iterations, lo=0, hi=MAX_ITERATIONS)
        checks.flag("--scales", self.scales)
        checks.whole("--min-scale", self.min_scale, lo=16, hi=MAX_SIDE)
        checks.number("--ema", self.ema, lo=0, hi=1, hi_open=True)
        checks.number("--style-scale", self.style_scale, lo=0, lo_open=True, hi=MAX_STYLE_SCALE)
        if self.size is not None:
            checks.whole("--size", self.size, lo=16, hi=MAX_SIDE, why="VGG-19 pools 4 times; pixels on the long side")
        checks.whole("--max-size", self.max_size, lo=16, hi=MAX_SIDE)
        checks.whole("--seed", self.seed, lo=0, hi=MAX_SEED)
        init = self.init
        if not init_image and (not isinstance(init, (str, os.PathLike)) or (
                init not in INIT_CHOICES and not Path(init).is_file())):
            raise UsageError(f"--init must be content, noise, style or an existing image file; {init!r} is none of "
                             "these")
        return replace(self, style_weights=None if sw is None else tuple(sw), style_layer_weights=tuple(slw),
                       preserve_color=preserve)

    def final_steps(self) -> int:
        """Steps at the last of several scales: ``final_iterations``, or FINAL_FACTOR x ``iterations``."""
        if self.final_iterations is not None:
            return int(self.final_iterations)
        return min(MAX_ITERATIONS, round(FINAL_FACTOR * int(self.iterations)))


@dataclass(frozen=True)
class TransferOptions:
    """How the :class:`StyleTransfer` engine is built: VGG-19 weights, pooling, device, precision."""

    vgg: str | None = option(None, "VGG-19 weights: a torchvision .pth FILE, or 'random' (not meaningful art; tests). "
                                   "Default: the weights store's vgg19.", flag="--vgg")
    pooling: Literal["max", "avg"] = option("max", "VGG pooling: max (as trained) or avg (smoother).")
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = option(
        "auto", "auto (bf16 on CPUs with native bf16 and on GPUs), fp32, bf16 or fp16.")

    def validate(self) -> "TransferOptions":
        from ..core.options import check_device

        check_device(self.device)
        return self


@dataclass
class VideoOptions:
    """Options of the video loop (the per-frame style options are :class:`StyleOptions`)."""

    temporal_weight: float = option(2000.0, "Weight of the temporal loss (masked MSE to the previous stylised frame "
                                            "warped by optical flow).", min=0.0)
    later_iterations: int = option(60, "Optimisation steps for each frame after the first (it starts from the warped "
                                       "previous frame).", min=0, max=MAX_ITERATIONS)
    flow: Literal["dis", "farneback"] = option("dis", "Optical flow on the content frames: dis (OpenCV DIS, fast) or "
                                                      "farneback.")
    coherent: bool = option(True, "Temporal coherence (flow-warped init + temporal loss); --no-coherent stylises "
                                  "frames independently (the flickering baseline).")
    max_frames: int | None = option(None, "Stylise only the first N frames.", min=1)
    fps: float | None = option(None, "Output frame rate (default: the input's).", min=0.1)


def _weights(name: str, values: Any) -> list[float]:
    """A list of finite, non-negative weights, not all zero."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise UsageError(f"{name} must be a list of numbers, not {values!r:.40}")
    out = [checks.number(name, v, lo=0) for v in values]
    if out and sum(out) <= 0:
        raise UsageError(f"{name} must not all be zero")
    return out


def _layers(name: str, values: Any) -> tuple[str, ...]:
    """A non-empty tuple of VGG-19 layer names (each checked)."""
    if isinstance(values, str) or not isinstance(values, Sequence) or not all(isinstance(v, str) for v in values):
        raise UsageError(f"{name} must be a list of VGG-19 layer names such as relu4_2, not {values!r:.40}")
    if not values:
        raise UsageError(f"{name} must name at least one VGG-19 layer, e.g. relu1_1,relu2_1")
    for n in values:
        layer_index(n)
    return tuple(values)


OPTION_DEFAULTS: dict = asdict(StyleOptions())
OPTION_HELP: dict[str, str] = {f.name: f.metadata["help"] for f in fields(StyleOptions)}
VIDEO_DEFAULTS: dict = asdict(VideoOptions())
VIDEO_HELP: dict[str, str] = {f.name: f.metadata["help"] for f in fields(VideoOptions)}
