"""The style-transfer options, declared once (no torch import, so the CLI can read them fast).

:class:`StyleOptions` holds every keyword of :meth:`StyleTransfer.stylize` with its default and
help text; the method's signature takes its defaults from here and the CLI builds its options
from here. :class:`VideoOptions` does the same for the video loop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Literal

from ..core.options import option

# Documented limits: a value beyond them is a typo, refused before VGG-19 or any photo loads.
MAX_SIDE = 8192  # output long side, --max-size and --min-scale, in pixels
MAX_ITERATIONS = 100_000  # optimisation steps per scale
MAX_STYLE_SCALE = 8.0  # style image size relative to the output
MAX_SEED = 2**32 - 1


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
    step_size: float = option(0.02, "Adam step size on [0, 1] pixels (ignored by lbfgs).", min=0.0)
    iterations: int = option(80, "Optimisation steps at each scale after the first (all steps with --no-scales).",
                             min=0, max=MAX_ITERATIONS)
    initial_iterations: int = option(200, "Optimisation steps at the first (smallest) scale.", min=0,
                                     max=MAX_ITERATIONS)
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


OPTION_DEFAULTS: dict = asdict(StyleOptions())
OPTION_HELP: dict[str, str] = {f.name: f.metadata["help"] for f in fields(StyleOptions)}
VIDEO_DEFAULTS: dict = asdict(VideoOptions())
VIDEO_HELP: dict[str, str] = {f.name: f.metadata["help"] for f in fields(VideoOptions)}
