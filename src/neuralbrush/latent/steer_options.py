"""Options of the steering commands (``directions``, ``breed``, ``--edit``), declared once.

No heavy imports: the CLI reads these defaults to build its options, and the library functions
take the same dataclasses, so the API and the command line cannot drift apart. Checks that need
no model happen here (``validate``); checks against a model (layer ranges, identities) happen in
:mod:`neuralbrush.latent.directions` and :mod:`neuralbrush.latent.edits` before any work starts.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from ..core import checks
from ..core.errors import UsageError
from ..core.options import option
from ..core.seeds import parse_float_sweep, parse_int_list
from .options import MAX_BATCH, MAX_IMAGES, MAX_SEED, MAX_SPREAD, NOISE_MODES, check_seed, parse_seeds

METHODS = ("pca", "sefa")
MAX_SAMPLES = 10_000_000  # w sampled for PCA or spreads (about 10 minutes at 1024 px on one CPU thread)
MAX_MAPPING_BATCH = 65_536  # z per mapping-network pass
MAX_PARENTS = 64
CROSSOVERS = ("layers", "blend")
EDIT_FORMAT = "FILE.npz:COMPONENT:AMOUNT[@LAYERS], e.g. dirs.npz:2:+1.5@0-5"
_LAYERS_RE = re.compile(r"^[0-9][0-9,\- ]*$")


def _finite(value: float, what: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise UsageError(f"{what} must be a finite number, not {value}")
    return value


@dataclass(frozen=True)
class EditSpec:
    """One ``--edit`` as typed: a directions file, a component, an amount (or a sweep range for
    ``video walk --kind direction``) in standard deviations, optionally limited to layers."""

    file: str
    component: int
    amount: float | None = None  # a single amount
    sweep: tuple[float, float] | None = None  # LO..HI for direction walks
    layers: tuple[int, ...] | None = None  # None: the layers the directions file was made for
    text: str = ""


def _amount(text: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"cannot read the amount {text!r} of --edit {spec!r}: use {EDIT_FORMAT}") from None
    if not math.isfinite(value):
        raise UsageError(f"the amount of --edit {spec!r} must be a finite number of standard deviations")
    return value


def parse_edit(text: str) -> EditSpec:
    """``'dirs.npz:2:+1.5@0-5'`` -> :class:`EditSpec` (``'dirs.npz:3:-3..3'``: a sweep)."""
    spec = str(text).strip()
    body, layers = spec, None
    head, at, tail = spec.rpartition("@")
    if at and _LAYERS_RE.match(tail.strip()):
        body = head
        layers = tuple(parse_int_list(tail, what=f"layers of --edit {spec!r}"))
    parts = body.rsplit(":", 2)
    if len(parts) != 3 or not parts[0] or not parts[1] or not parts[2]:
        raise UsageError(f"cannot read --edit {spec!r}: use {EDIT_FORMAT}")
    path, comp, amount = parts
    try:
        component = int(comp)
    except ValueError:
        raise UsageError(f"cannot read the component {comp!r} of --edit {spec!r}: use {EDIT_FORMAT}") from None
    if component < 0:
        raise UsageError(f"the component of --edit {spec!r} must be 0 or more")
    if ".." in amount:
        lo_text, _, hi_text = amount.partition("..")
        lo, hi = _amount(lo_text, spec), _amount(hi_text, spec)
        if not lo < hi:
            raise UsageError(f"the range {amount} of --edit {spec!r} must run from low to high")
        return EditSpec(path, component, None, (lo, hi), layers, spec)
    return EditSpec(path, component, _amount(amount, spec), None, layers, spec)


def parse_edits(texts) -> list[EditSpec]:
    """Every ``--edit`` given (strings or specs), parsed; an empty list when there are none."""
    return [t if isinstance(t, EditSpec) else parse_edit(t) for t in (texts or ())]


@dataclass
class DirectionsOptions:
    """Options of ``neuralbrush directions`` (the CLI is built from these defaults)."""

    method: Literal["pca", "sefa"] = option("pca", "pca (GANSpace: PCA of sampled w) or sefa (closed form from "
                                                   "the style weights, no sampling).")
    samples: int = option(100_000, "PCA: how many w to sample.", min=2, max=MAX_SAMPLES)
    layers: str | None = option(None, "Layers (rows of w) the directions are for, e.g. 0-17 (SeFa: whose style "
                                      "weights); default all.")
    std_samples: int = option(10_000, "SeFa: w sampled to measure each direction's spread.", min=2, max=MAX_SAMPLES)
    seed: int = option(0, "Seed of the sampled z.", min=0, max=MAX_SEED)
    batch: int = option(2048, "z per mapping-network pass.", min=1, max=MAX_MAPPING_BATCH)
    class_idx: int | None = option(None, "Class label for a conditional model.", min=0, flag="--class")
    sheet_components: int = option(6, "Rows of the direction sheet (0: no sheet).", min=0)
    sheet_seeds: str = option("0-2", "Seeds shown on the sheet.")
    sheet_amounts: str = option("-3:3:7", "Columns of the sheet in standard deviations: a list or START:STOP:COUNT.")
    trunc: float = option(1.0, "Truncation psi of the sheet's seeds.")
    noise_mode: Literal["const", "random", "none"] = option("const", "Noise inputs: const, random or none.")

    def validate(self) -> "DirectionsOptions":
        """Check every option (no model needed; layers are checked against the model later)."""
        checks.choice("--method", self.method, METHODS)
        checks.whole("--samples", self.samples, lo=2, hi=MAX_SAMPLES, why="w sampled")
        checks.whole("--std-samples", self.std_samples, lo=2, hi=MAX_SAMPLES, why="w sampled")
        check_seed("--seed", self.seed)
        checks.whole("--batch", self.batch, lo=1, hi=MAX_MAPPING_BATCH, why="z per mapping pass")
        checks.optional_whole("--class", self.class_idx, lo=0)
        if self.layers is not None:
            parse_int_list(checks.text("--layers", self.layers), what="--layers")
        checks.whole("--sheet-components", self.sheet_components, lo=0)
        checks.number("--trunc", self.trunc)
        checks.choice("--noise-mode", self.noise_mode, NOISE_MODES)
        if self.sheet_components:
            seeds = parse_seeds(self.sheet_seeds, "--sheet-seeds")
            amounts = self.amounts()
            for a in amounts:
                _finite(a, "a sheet amount")
            cells = self.sheet_components * len(seeds) * len(amounts)
            if cells > MAX_IMAGES:
                raise UsageError(f"the direction sheet would hold {cells} images; the limit is {MAX_IMAGES} "
                                 f"(fewer --sheet-components, --sheet-seeds or --sheet-amounts)")
        return self

    def amounts(self) -> list[float]:
        return parse_float_sweep(self.sheet_amounts)


@dataclass
class BreedOptions:
    """Options of ``neuralbrush breed`` (the CLI is built from these defaults)."""

    parents: list[str] = option(help="Parent latent files, comma-separated: a.npz,b.npz[,c.npz] (the first latent "
                                     "of each).", default_factory=list)
    children: int = option(16, "How many children.", min=1, max=MAX_IMAGES)
    mutation: float = option(0.3, "Mutation noise per dimension, in units of w's spread (0: none).", min=0.0,
                             max=MAX_SPREAD)
    crossover: Literal["layers", "blend"] = option("layers", "layers (each layer's w from one parent) or blend (a "
                                                             "random mix).")
    seed: int = option(0, "Seed of crossover and mutation.", min=0, max=MAX_SEED)
    pick: int | None = option(None, "Also save child N as keyframe_N.npz/.png.")
    batch: int = option(8, "Images per forward pass.", min=1, max=MAX_BATCH)
    noise_mode: Literal["const", "random", "none"] = option("const", "Noise inputs: const, random or none.")

    def validate(self) -> "BreedOptions":
        """Check every option (no model needed; the parents are read against the model later)."""
        if len(self.parents) < 2:
            raise UsageError("breeding needs at least two parents, e.g. --parents a.npz,b.npz "
                             "(the same file twice is allowed)")
        if len(self.parents) > MAX_PARENTS:
            raise UsageError(f"{len(self.parents)} parents; the limit is {MAX_PARENTS}")
        for p in self.parents:
            checks.text("--parents", p)
        checks.whole("--children", self.children, lo=1, hi=MAX_IMAGES, why="images on one sheet")
        if _finite(self.mutation, "--mutation") < 0:
            raise UsageError("--mutation must not be negative")
        checks.number("--mutation", self.mutation, lo=0, hi=MAX_SPREAD, why="in units of w's spread")
        checks.choice("--crossover", self.crossover, CROSSOVERS)
        check_seed("--seed", self.seed)
        checks.whole("--batch", self.batch, lo=1, hi=MAX_BATCH, why="latents per forward pass")
        checks.choice("--noise-mode", self.noise_mode, NOISE_MODES)
        if self.pick is not None:
            checks.whole("--pick", self.pick, lo=0)
            if not self.pick < self.children:
                raise UsageError(f"--pick {self.pick} is not on the sheet: children are numbered 0-{self.children - 1}")
        return self

