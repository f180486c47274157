"""Options of the latent commands, declared once (no heavy imports: the CLI reads them).

The library functions take these dataclasses and the typer commands take their defaults
from them, so the API and the command line cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..core import checks
from ..core.errors import UsageError
from ..core.options import option

# Documented limits: absurd sizes are refused up front, with the limit in the message, instead of
# hanging on a range of 10^11 seeds or dying for memory after hours of work.
MAX_IMAGES = 10_000  # images one command renders: generate (seeds x psi), mix cells, neighbours
MAX_FRAMES = 216_000  # frames in one video: two hours at 30 fps (video walk, video storyboard)
MAX_FPS = 240.0  # frames per second of a video
MAX_BATCH = 1024  # latents per forward pass
MAX_WALK_CELLS = 64  # walks side by side in one video (video walk --grid)
MAX_PROJECT_STEPS = 100_000  # optimisation steps of one projection
MAX_HARMONICS = 64  # sinusoids per dimension of a noise loop
MAX_SPREAD = 1000.0  # noise amounts and loop radii, in units of the latent's natural spread
MAX_SEED = 2**32 - 1  # seeds are NumPy RandomState seeds: 0 .. 2^32 - 1
MAX_GRID_PIXELS = 1 << 28  # one labelled grid or contact sheet; more images make its cells smaller
NOISE_MODES = ("const", "random", "none")
SPACES = ("z", "w")
WALK_KINDS = ("linear", "slerp", "circular", "noise-loop", "direction")  # direction: see latent/edits.py
PROJECT_SPACES = ("w", "w+", "z")
PROJECT_LOSSES = ("lpips", "mse", "both")
FITS = ("crop", "pad")


def parse_seeds(text, option: str = "--seeds", limit: int = MAX_IMAGES, unit: str = "images") -> list[int]:
    """A seed list (``0-7,12``) with at most ``limit`` seeds, each a RandomState seed."""
    from ..core.seeds import parse_int_list

    if not isinstance(text, (str, int, list)) or isinstance(text, bool) or (
            isinstance(text, list) and not all(isinstance(v, int) and not isinstance(v, bool) for v in text)):
        raise UsageError(f"{option} must be a seed list such as 0-7,12, not {text!r:.40}")
    seeds = parse_int_list(text, what=option, limit=limit, unit=unit)
    bad = [s for s in seeds if not 0 <= s <= MAX_SEED]
    if bad:
        raise UsageError(f"{option}: seed {bad[0]} is outside 0-{MAX_SEED}")
    return seeds


def parse_cells(text, option: str, limit: int) -> tuple[int, int] | None:
    """A COLSxROWS layout (None: automatic) of at most ``limit`` cells."""
    from ..core.seeds import parse_grid

    if text is not None and not isinstance(text, str):
        raise UsageError(f"{option} must look like 7x4 or be auto, not {text!r}")
    try:
        grid = parse_grid(text)
    except UsageError:
        raise UsageError(f"{option} must look like 7x4 or be auto, not {text!r}") from None
    if grid is not None and grid[0] * grid[1] > limit:
        raise UsageError(f"{option} {text} has {grid[0] * grid[1]} cells; the limit is {limit}")
    return grid


def check_seed(option: str, value) -> int:
    return checks.whole(option, value, lo=0, hi=MAX_SEED)


def latent_count(path, option: str = "--w") -> int:
    """How many latents a file holds (read now, so a broken file is refused before the model loads)."""
    from .latents import load_latents

    checks.text(option, str(path))
    return len(load_latents(path))


@dataclass
class GenerateOptions:
    """Options of ``neuralbrush generate`` (the CLI is built from these defaults)."""

    seeds: str = option("0-7", "Seeds, e.g. 0-31,77 (one image each).")
    trunc: str = option("1.0", "Truncation psi, or a sweep START:STOP:COUNT (grid of seeds x psi).")
    trunc_cutoff: int | None = option(None, "Truncate only the first K layers.", min=0)
    noise_mode: Literal["const", "random", "none"] = option("const", "Noise inputs: const, random or none.")
    class_idx: int | None = option(None, "Class label for a conditional model.", min=0, flag="--class")
    w_file: str | None = option(None, "Render the w latents of this .npz instead of seeds.", flag="--w")
    grid: str | None = option(None, "Grid layout COLSxROWS (default near-square).")
    batch: int = option(8, "Images per forward pass.", min=1, max=MAX_BATCH)

    def validate(self) -> "GenerateOptions":
        """Check every option (no model needed); ``--w`` files are read and checked here too."""
        from ..core.seeds import parse_float_sweep

        if not isinstance(self.trunc, (str, int, float)):
            raise UsageError(f"--trunc must be a number or a sweep START:STOP:COUNT, not {self.trunc!r}")
        psis = parse_float_sweep(self.trunc, what="--trunc", limit=MAX_IMAGES)
        checks.optional_whole("--trunc-cutoff", self.trunc_cutoff, lo=0)
        checks.choice("--noise-mode", self.noise_mode, NOISE_MODES)
        checks.optional_whole("--class", self.class_idx, lo=0)
        checks.whole("--batch", self.batch, lo=1, hi=MAX_BATCH, why="latents per forward pass")
        parse_cells(self.grid, "--grid", MAX_IMAGES)
        if self.w_file:
            if len(psis) > 1:
                raise UsageError("a truncation sweep needs seeds; --w images are rendered as saved")
            n = latent_count(self.w_file)
            if n > MAX_IMAGES:
                raise UsageError(f"--w {self.w_file} holds {n} latents; the limit is {MAX_IMAGES} images per command")
        else:
            n = len(parse_seeds(self.seeds, "--seeds")) * len(psis)
            if n > MAX_IMAGES:
                raise UsageError(f"--seeds x --trunc make {n} images; the limit is {MAX_IMAGES} images per command")
        return self


@dataclass
class WalkOptions:
    """Options of ``neuralbrush video walk`` (the CLI is built from these defaults)."""

    seeds: str = option("1,5,9", "Keyframe seeds, e.g. 1,5,9.")
    w_file: str | None = option(None, "Keyframes from a latent .npz (its rows) instead of seeds.", flag="--w")
    kind: Literal["linear", "slerp", "circular", "noise-loop", "direction"] = option(
        "slerp", "linear, slerp, circular, noise-loop or direction (sweep --edit FILE:COMP:LO..HI and back, in w).")
    space: Literal["z", "w"] = option("z", "Walk in z or w.")
    frames: int = option(150, "Frames per transition (linear/slerp) or per loop.", min=2, max=MAX_FRAMES)
    fps: float = option(30.0, "Frames per second.", max=MAX_FPS)
    easing: str = option("linear", "linear, ease-in-out, ease-in, ease-out, *-cubic, *-sine, smoothstep.")
    loop: bool = option(False, "linear/slerp: return to the first keyframe.")
    trunc: float = option(1.0, "Truncation psi.")
    trunc_cutoff: int | None = option(None, "Truncate only the first K layers.", min=0)
    radius: float = option(0.5, "Circular loop radius, relative to a typical latent's length.", min=0.0,
                           max=MAX_SPREAD)
    sigma: float = option(0.4, "Noise loop amplitude per dimension (units of the space's spread).", min=0.0,
                          max=MAX_SPREAD)
    harmonics: int = option(3, "Noise loop smoothness: fewer is smoother.", min=1, max=MAX_HARMONICS)
    seed: int = option(0, "Seed of loop directions / noise.", min=0, max=MAX_SEED)
    noise_mode: Literal["const", "random", "none"] = option("const", "Noise inputs: const, random or none.")
    class_idx: int | None = option(None, "Class label for a conditional model.", min=0, flag="--class")
    grid: str | None = option(None, "COLSxROWS walks at once, each starting at the next keyframe.")
    batch: int = option(8, "Images per forward pass.", min=1, max=MAX_BATCH)

    def validate(self) -> "WalkOptions":
        """Check every option (no model needed), the length of the video included."""
        from .walk import EASINGS

        checks.choice("--kind", self.kind, WALK_KINDS)
        checks.choice("--space", self.space, SPACES)
        checks.choice("--easing", self.easing, tuple(EASINGS))
        frames = checks.whole("--frames", self.frames, lo=2, hi=MAX_FRAMES, why="frames per video")
        checks.number("--fps", self.fps, lo=0, lo_open=True, hi=MAX_FPS)
        checks.flag("--loop", self.loop)
        checks.number("--trunc", self.trunc)
        checks.optional_whole("--trunc-cutoff", self.trunc_cutoff, lo=0)
        checks.number("--radius", self.radius, lo=0, hi=MAX_SPREAD, why="in units of the latent's spread")
        checks.number("--sigma", self.sigma, lo=0, hi=MAX_SPREAD, why="in units of the latent's spread")
        checks.whole("--harmonics", self.harmonics, lo=1, hi=MAX_HARMONICS)
        check_seed("--seed", self.seed)
        checks.choice("--noise-mode", self.noise_mode, NOISE_MODES)
        checks.optional_whole("--class", self.class_idx, lo=0)
        checks.whole("--batch", self.batch, lo=1, hi=MAX_BATCH, why="latents per forward pass")
        parse_cells(self.grid, "--grid", MAX_WALK_CELLS)
        if self.w_file:
            keys = latent_count(self.w_file)
            if keys < 1:
                raise UsageError(f"--w {self.w_file} holds no latents")
        else:
            keys = len(parse_seeds(self.seeds, "--seeds", limit=MAX_FRAMES, unit="keyframes"))
        if self.kind in ("circular", "noise-loop", "direction"):
            total = frames
        else:
            total = keys * frames if self.loop else (keys - 1) * frames + 1
        if total > MAX_FRAMES:
            raise UsageError(f"{keys} keyframes x --frames {frames} make a video of {total} frames; the limit is "
                             f"{MAX_FRAMES} frames per video")
        return self


@dataclass
class ProjectOptions:
    """Options of ``neuralbrush project`` (the CLI is built from these defaults)."""

    steps: int = option(1000, "Optimisation steps.", min=1, max=MAX_PROJECT_STEPS)
    space: Literal["w", "w+", "z"] = option("w", "w (one w), w+ (one per layer: closer) or z (DCGAN, lite).")
    loss: Literal["lpips", "mse", "both"] = option("lpips", "lpips (needs vgg16 + lpips-vgg weights), mse or both.")
    fit: Literal["crop", "pad"] = option("crop", "Non-square targets: crop (centre) or pad.")
    pad_color: str = option("black", "Padding colour for --fit pad.")
    lr: float = option(0.1, "Initial Adam learning rate.")
    w_avg_samples: int = option(10000, "z sampled to find the mean w (the starting point).", cli=False)
    initial_noise_factor: float = option(0.05, "Noise added to w at the start, in units of w's spread.", cli=False)
    noise_ramp_length: float = option(0.75, "Fraction of the steps over which the w noise fades out.", cli=False)
    lr_rampdown_length: float = option(0.25, "Fraction of the steps of cosine learning-rate ramp-down.", cli=False)
    lr_rampup_length: float = option(0.05, "Fraction of the steps of learning-rate warm-up.", cli=False)
    regularize_noise_weight: float = option(1e5, "Weight of the noise-buffer regulariser.", cli=False)
    mse_weight: float = option(1.0, "Weight of the pixel MSE with --loss both.", cli=False)
    seed: int = option(303, "Seed of the noise buffers and w noise.", min=0, max=MAX_SEED)
    checkpoint_every: int = option(100, "Save resumable state every N steps (0: never).", min=0)

    def check(self) -> "ProjectOptions":
        """Check every option that needs no model (the CLI runs this before loading anything)."""
        from ..core.imageio import parse_color

        checks.whole("--steps", self.steps, lo=1, hi=MAX_PROJECT_STEPS)
        checks.choice("--space", self.space, PROJECT_SPACES)
        checks.choice("--loss", self.loss, PROJECT_LOSSES)
        checks.choice("--fit", self.fit, FITS)
        try:
            parse_color(checks.text("--pad-color", self.pad_color))
        except UsageError as e:
            raise UsageError(f"--pad-color: {e}") from None
        checks.number("--lr", self.lr, lo=0, lo_open=True, hi=10)
        checks.whole("w_avg_samples", self.w_avg_samples, lo=1, hi=1_000_000)
        checks.number("initial_noise_factor", self.initial_noise_factor, lo=0, hi=MAX_SPREAD)
        for name in ("noise_ramp_length", "lr_rampdown_length", "lr_rampup_length"):
            checks.number(name, getattr(self, name), lo=0, lo_open=True, hi=1)
        checks.number("regularize_noise_weight", self.regularize_noise_weight, lo=0)
        checks.number("mse_weight", self.mse_weight, lo=0)
        check_seed("--seed", self.seed)
        checks.whole("--checkpoint-every", self.checkpoint_every, lo=0)
        return self

    def validate(self, G) -> None:
        from .latents import has_w

        self.check()
        if self.space in ("w", "w+") and not has_w(G):
            raise UsageError("this generator has no w space (DCGAN or lite): project with --space z")


@dataclass
class NeighboursOptions:
    """Options of ``neuralbrush neighbours`` (the CLI is built from these defaults)."""

    count: int = option(100, "How many neighbours.", min=1, max=MAX_IMAGES)
    sigma: float = option(0.5, "Noise per dimension, in units of the space's spread (1 in z, std of w).", min=0.0,
                          max=MAX_SPREAD)
    space: Literal["z", "w"] = option("w", "Perturb w or z.")
    seed: int = option(0, "Seed of the noise.", min=0, max=MAX_SEED)
    pick: int | None = option(None, "Also save neighbour N as keyframe_N.npz/.png.")
    batch: int = option(8, "Images per forward pass.", min=1, max=MAX_BATCH)
    noise_mode: Literal["const", "random", "none"] = option("const", "Noise inputs: const, random or none.")

    def validate(self) -> "NeighboursOptions":
        checks.whole("--count", self.count, lo=1, hi=MAX_IMAGES, why="images per command")
        checks.number("--sigma", self.sigma, lo=0, hi=MAX_SPREAD, why="in units of the latent's spread")
        checks.choice("--space", self.space, SPACES)
        check_seed("--seed", self.seed)
        if self.pick is not None:
            checks.whole("--pick", self.pick)
            if not 0 <= self.pick < self.count:
                raise UsageError(f"--pick {self.pick} is not on the sheet: neighbours are numbered 0-{self.count - 1}")
        checks.whole("--batch", self.batch, lo=1, hi=MAX_BATCH, why="latents per forward pass")
        checks.choice("--noise-mode", self.noise_mode, NOISE_MODES)
        return self


@dataclass
class MixOptions:
    """Options of ``neuralbrush mix`` (the CLI is built from these defaults)."""

    rows: str = option("85,100,75", "Seeds of the row sources (they keep their other layers).")
    cols: str = option("55,821,1789", "Seeds of the column sources (they give the mixed layers).")
    styles: str = option("0-6", "Layers taken from the column sources, e.g. 0-6.")
    trunc: float = option(1.0, "Truncation psi.")
    noise_mode: Literal["const", "random", "none"] = option("const", "Noise inputs: const, random or none.")
    class_idx: int | None = option(None, "Class label for a conditional model.", min=0, flag="--class")

    def validate(self, num_ws: int | None = None) -> tuple[list[int], list[int], list[int]]:
        """Row seeds, column seeds and style layers (checked against ``num_ws`` when known)."""
        from ..core.seeds import parse_int_list

        rows = parse_seeds(self.rows, "--rows")
        cols = parse_seeds(self.cols, "--cols")
        if len(rows) * len(cols) > MAX_IMAGES:
            raise UsageError(f"--rows x --cols make {len(rows) * len(cols)} images; the limit is {MAX_IMAGES} "
                             "images per command")
        if not isinstance(self.styles, (str, int, list)):
            raise UsageError(f"--styles must be a layer list such as 0-6, not {self.styles!r}")
        layers = parse_int_list(self.styles, what="--styles", limit=MAX_IMAGES, unit="layers")
        checks.number("--trunc", self.trunc)
        checks.choice("--noise-mode", self.noise_mode, NOISE_MODES)
        checks.optional_whole("--class", self.class_idx, lo=0)
        if num_ws is not None:
            bad = [s for s in layers if not 0 <= s < num_ws]
            if bad:
                raise UsageError(f"--styles layers {bad[:8]} are out of range: this model has layers 0-{num_ws - 1}")
        return rows, cols, layers


@dataclass
class StoryboardOptions:
    """Options of ``neuralbrush video storyboard`` beyond the storyboard file itself."""

    model: str | None = option(None, "Run folder, snapshot .safetensors, weights-store name (e.g. ffhq256) or NVIDIA "
                                     ".pkl. Overrides 'model:' in the file.")
    batch: int | None = option(None, "Frames per forward pass (default: the file's).", min=1, max=MAX_BATCH)

    def validate(self) -> "StoryboardOptions":
        if self.model is not None:
            checks.text("--model", self.model)
        return self
