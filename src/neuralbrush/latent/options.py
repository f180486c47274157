"""Options of the latent commands, declared once (no heavy imports: the CLI reads them).

The library functions take these dataclasses and the typer commands take their defaults
from them, so the API and the command line cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import UsageError


@dataclass
class GenerateOptions:
    """Options of ``neuralbrush generate`` (the CLI is built from these defaults)."""

    seeds: str = "0-7"
    trunc: str = "1.0"
    trunc_cutoff: int | None = None
    noise_mode: str = "const"
    class_idx: int | None = None
    w_file: str | None = None
    grid: str | None = None
    batch: int = 8


@dataclass
class WalkOptions:
    """Options of ``neuralbrush video walk`` (the CLI is built from these defaults)."""

    seeds: str = "1,5,9"
    w_file: str | None = None
    kind: str = "slerp"
    space: str = "z"
    frames: int = 150
    fps: float = 30.0
    easing: str = "linear"
    loop: bool = False
    trunc: float = 1.0
    trunc_cutoff: int | None = None
    radius: float = 0.5
    sigma: float = 0.4
    harmonics: int = 3
    seed: int = 0
    noise_mode: str = "const"
    class_idx: int | None = None
    grid: str | None = None
    batch: int = 8


@dataclass
class ProjectOptions:
    """Options of ``neuralbrush project`` (the CLI is built from these defaults)."""

    steps: int = 1000
    space: str = "w"
    loss: str = "lpips"
    fit: str = "crop"
    pad_color: str = "black"
    lr: float = 0.1
    w_avg_samples: int = 10000
    initial_noise_factor: float = 0.05
    noise_ramp_length: float = 0.75
    lr_rampdown_length: float = 0.25
    lr_rampup_length: float = 0.05
    regularize_noise_weight: float = 1e5
    mse_weight: float = 1.0
    seed: int = 303
    checkpoint_every: int = 100

    def validate(self, G) -> None:
        from .latents import has_w

        if self.steps < 1:
            raise UsageError("--steps must be at least 1")
        if self.space not in ("w", "w+", "z"):
            raise UsageError(f"unknown projection space {self.space!r}; choose w, w+ or z")
        if self.space in ("w", "w+") and not has_w(G):
            raise UsageError("this generator has no w space (a DCGAN): project with --space z")
        if self.loss not in ("lpips", "mse", "both"):
            raise UsageError(f"unknown loss {self.loss!r}; choose lpips, mse or both")
        if self.fit not in ("crop", "pad"):
            raise UsageError(f"unknown fit {self.fit!r}; choose crop or pad")



NEIGHBOURS_DEFAULTS = {"count": 100, "sigma": 0.5, "space": "w", "seed": 0}
STORYBOARD_DEFAULTS = {"batch": None}

GEN = GenerateOptions()
WALK = WalkOptions()
PROJ = ProjectOptions()
NB = NEIGHBOURS_DEFAULTS
STORY = STORYBOARD_DEFAULTS
