"""The style-transfer options, declared once (no torch import, so the CLI can read them fast).

:class:`StyleOptions` holds every keyword of :meth:`StyleTransfer.stylize` with its default and
help text; the method's signature takes its defaults from here and the CLI builds its options
from here. :class:`VideoOptions` does the same for the video loop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


# Documented limits: a value beyond them is a typo, refused before VGG-19 or any photo loads.
MAX_SIDE = 8192  # output long side, --max-size and --min-scale, in pixels
MAX_ITERATIONS = 100_000  # optimisation steps per scale
MAX_STYLE_SCALE = 8.0  # style image size relative to the output
MAX_SEED = 2**32 - 1


def _f(default, help: str, **kw):
    return field(default=default, metadata={"help": help}, **kw)


@dataclass(frozen=True)
class StyleOptions:
    style_weights: tuple[float, ...] | None = _f(None, "Relative weight of each style image (normalised to sum 1), e.g. 100,45.")
    content_layers: tuple[str, ...] = _f(("relu4_2",), "VGG-19 layers whose features must match the content (comma list).")
    style_layers: tuple[str, ...] = _f(("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
                                       "VGG-19 layers whose Gram matrices must match the style (comma list).")
    style_layer_weights: tuple[float, ...] | None = _f(
        None, "Weight of each style layer (normalised); default halves per layer, so earlier layers weigh more.")
    content_weight: float = _f(1.0, "Weight of the content loss (relative feature error).")
    style_weight: float = _f(10.0, "Weight of the style loss (relative Gram error).")
    tv_weight: float = _f(1.0, "Weight of the total-variation smoothness loss.")
    init: str = _f("content", "Start from: content, noise, style, or an image FILE.")
    optimizer: str = _f("lbfgs", "lbfgs (default; a fresh L-BFGS at every scale, steps counted as loss evaluations) "
                                 "or adam (with --step-size and --ema).")
    step_size: float = _f(0.02, "Adam step size on [0, 1] pixels (ignored by lbfgs).")
    iterations: int = _f(80, "Optimisation steps at each scale after the first (all steps with --no-scales).")
    initial_iterations: int = _f(200, "Optimisation steps at the first (smallest) scale.")
    scales: bool = _f(True, "Coarse-to-fine: optimise from --min-scale up to the output size in sqrt(2) steps.")
    min_scale: int = _f(128, "Long side in pixels of the first scale.")
    ema: float = _f(0.95, "Adam only: decay of the exponential moving average of the iterates (0 disables).")
    style_scale: float = _f(1.0, "Style image size relative to the output at each scale (bigger: larger brush strokes).")
    size: int | None = _f(None, "Output long side in pixels (default: the content's size, capped by --max-size).")
    max_size: int = _f(512, "Cap on the output long side when --size is not given.")
    preserve_color: str = _f("none", "Keep the content's colours: none, luminance (transfer on luma only) or "
                                     "histogram (recolour the styles to the content's colour statistics).")
    seed: int = _f(0, "Random seed (noise init, random VGG weights).")


@dataclass
class VideoOptions:
    """Options of the video loop (the per-frame style options are :class:`StyleOptions`)."""

    temporal_weight: float = _f(2000.0, "Weight of the temporal loss (masked MSE to the previous stylised frame "
                                        "warped by optical flow).")
    later_iterations: int = _f(60, "Optimisation steps for each frame after the first (it starts from the warped "
                                   "previous frame).")
    flow: str = _f("dis", "Optical flow on the content frames: dis (OpenCV DIS, fast) or farneback.")
    coherent: bool = _f(True, "Temporal coherence (flow-warped init + temporal loss); --no-coherent stylises "
                              "frames independently (the flickering baseline).")
    max_frames: int | None = _f(None, "Stylise only the first N frames.")
    fps: float | None = _f(None, "Output frame rate (default: the input's).")


OPTION_DEFAULTS: dict = asdict(StyleOptions())
OPTION_HELP: dict[str, str] = {f.name: f.metadata["help"] for f in fields(StyleOptions)}
VIDEO_DEFAULTS: dict = asdict(VideoOptions())
VIDEO_HELP: dict[str, str] = {f.name: f.metadata["help"] for f in fields(VideoOptions)}
