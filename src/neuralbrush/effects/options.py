"""The options of the effects commands (quantize, superpixels, enhance), free of numpy: the CLI
builds its flags from them, so ``neuralbrush quantize --help`` imports nothing heavy (issue 15).
The functions that use them live in :mod:`.quantize`, :mod:`.superpixels` and :mod:`.enhance`,
which re-export these names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..core import checks
from ..core.errors import UsageError
from ..core.options import option

SPACES = ("rgb", "lab")
DITHERS = ("none", "floyd", "ordered")
MAX_SEGMENTS = 100_000  # --segments
MAX_OUTLINE_WIDTH = 256  # --outline-width, in pixels


def _check_space(space: str) -> str:
    s = str(space).lower()
    if s not in SPACES:
        raise UsageError(f"unknown colour space {space!r}; use rgb or lab")
    return s


@dataclass
class QuantizeOptions:
    """Everything ``quantize`` can be told; the CLI is built from these defaults."""

    colors: int = option(8, "Palette size k (k-means colours); the output has exactly k colours when the image "
                            "has at least k and --dither is none.", min=1, max=256, flag=("--colors", "-k"))
    space: Literal["rgb", "lab"] = option("rgb", "Colour distances in rgb or lab (perceptual).")
    dither: Literal["none", "floyd", "ordered"] = option(
        "none", "none, floyd (Floyd-Steinberg error diffusion) or ordered (8x8 Bayer).")
    palette: str | None = option(None, "Fixed palette instead of k-means: a file (hex lines, JSON, or an image to "
                                       "take colours from) or a list like '#112233,#ffcc00,navy'.")
    seed: int = option(0, "Seed for the pixel sample and k-means initialisation.", min=0)
    sample: int = option(100_000, "Pixels the palette is fitted on (0 = all).", min=0)

    def validate(self) -> "QuantizeOptions":
        if not 1 <= int(self.colors) <= 256:
            raise UsageError(f"--colors must be between 1 and 256, got {self.colors}")
        _check_space(self.space)
        if self.dither not in DITHERS:
            raise UsageError(f"unknown dither {self.dither!r}; use none, floyd or ordered")
        if self.sample is not None and int(self.sample) < 0:
            raise UsageError("--sample must be 0 (all pixels) or positive")
        return self


@dataclass
class SuperpixelOptions:
    """Everything ``superpixels`` can be told; the CLI is built from these defaults."""

    segments: int = option(400, "About how many regions SLIC makes.", min=1, flag=("--segments", "-n"))
    compactness: float = option(10.0, "Higher: squarer, more regular regions; lower: regions hug edges.", min=0.001)
    outline: str | None = option(None, "Draw region borders in this colour (#hex, r,g,b or a name): stained glass.")
    outline_width: int = option(1, "Border width in pixels.", min=1)
    sigma: float = option(0.0, "Gaussian smoothing before segmenting (skimage's default is none).", min=0.0)

    def validate(self) -> "SuperpixelOptions":
        from ..core.imageio import parse_color

        checks.whole("--segments", self.segments, lo=1, hi=MAX_SEGMENTS)
        checks.number("--compactness", self.compactness, lo=0, lo_open=True, hi=1e6)
        if self.outline is not None:
            try:
                parse_color(checks.text("--outline", self.outline))
            except UsageError as e:
                raise UsageError(f"--outline: {e}") from None
        checks.whole("--outline-width", self.outline_width, lo=1, hi=MAX_OUTLINE_WIDTH)
        checks.number("--sigma", self.sigma, lo=0, hi=1000)
        return self


@dataclass
class EnhanceOptions:
    """Everything ``enhance`` can be told; the CLI is built from these defaults (all no-ops)."""

    auto_contrast: bool = option(False, "Stretch luminance so the darkest/brightest --cutoff percent clip.")
    cutoff: float = option(0.5, "Percent clipped at each end by --auto-contrast.", min=0.0, max=49.9)
    gamma: float = option(1.0, "Gamma on 0..1 values (out = in ** gamma): below 1 brightens midtones.", min=0.01)
    saturation: float = option(1.0, "Colourfulness: 0 gray, 1 unchanged, 1.2 a little richer.", min=0.0)
    clahe: bool = option(False, "Local contrast (CLAHE) on the lightness channel.")
    clahe_clip: float = option(2.0, "CLAHE clip limit.", min=0.01)
    clahe_tiles: int = option(8, "CLAHE tiles per side.", min=1)
    sharpen: bool = option(False, "Unsharp mask.")
    sharpen_amount: float = option(1.0, "How much of the detail (image minus blur) is added back.", min=0.0)
    sharpen_radius: float = option(1.5, "Blur sigma in pixels for the unsharp mask.", min=0.01)

    def validate(self) -> "EnhanceOptions":
        if not 0 <= float(self.cutoff) < 50:
            raise UsageError(f"--cutoff must be between 0 and 50 percent, got {self.cutoff}")
        if float(self.gamma) <= 0:
            raise UsageError(f"--gamma must be positive, got {self.gamma}")
        if float(self.saturation) < 0:
            raise UsageError(f"--saturation must not be negative, got {self.saturation}")
        if float(self.clahe_clip) <= 0 or int(self.clahe_tiles) < 1:
            raise UsageError("--clahe-clip must be positive and --clahe-tiles at least 1")
        if float(self.sharpen_radius) <= 0 or float(self.sharpen_amount) < 0:
            raise UsageError("--sharpen-radius must be positive and --sharpen-amount not negative")
        return self

    def is_noop(self) -> bool:
        return not (self.auto_contrast or self.clahe or self.sharpen or self.gamma != 1.0 or self.saturation != 1.0)
