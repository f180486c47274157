"""Options of the steering commands (``directions``, ``breed``, ``--edit``), declared once.

No heavy imports: the CLI reads these defaults to build its options, and the library functions
take the same dataclasses, so the API and the command line cannot drift apart. Checks that need
no model happen here (``validate``); checks against a model (layer ranges, identities) happen in
:mod:`neuralbrush.latent.directions` and :mod:`neuralbrush.latent.edits` before any work starts.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..core import checks
from ..core.errors import UsageError
from ..core.seeds import parse_float_sweep, parse_int_list
from .options import MAX_BATCH, MAX_IMAGES, MAX_SPREAD, NOISE_MODES, check_seed, parse_seeds

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

    method: str = "pca"
    samples: int = 100_000  # PCA: mapped w samples
    layers: str | None = None  # layers the directions are for (SeFa: whose style weights); None: all
    std_samples: int = 10_000  # SeFa: samples that measure each direction's spread (amounts in std)
    seed: int = 0
    batch: int = 2048  # z per mapping-network pass
    class_idx: int | None = None
    sheet_components: int = 6  # rows of the direction sheet (0: no sheet)
    sheet_seeds: str = "0-2"
    sheet_amounts: str = "-3:3:7"  # standard deviations, a list or START:STOP:COUNT
    trunc: float = 1.0  # truncation of the sheet's seeds
    noise_mode: str = "const"

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

    parents: list[str] = field(default_factory=list)  # latent files; the first latent of each
    children: int = 16
    mutation: float = 0.3  # per dimension, in units of w's natural spread (like neighbours' sigma)
    crossover: str = "layers"  # layers: each layer's w from one parent; blend: a random convex mix
    seed: int = 0
    pick: int | None = None
    batch: int = 8
    noise_mode: str = "const"

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


DIRS = DirectionsOptions()
BREED = BreedOptions()
