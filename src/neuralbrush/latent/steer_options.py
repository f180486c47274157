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

from ..core.errors import UsageError
from ..core.seeds import parse_float_sweep, parse_int_list

METHODS = ("pca", "sefa")
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

    def validate(self) -> None:
        if self.method not in METHODS:
            raise UsageError(f"unknown method {self.method!r}; choose pca or sefa")
        if self.samples < 2:
            raise UsageError("--samples must be at least 2")
        if self.std_samples < 2:
            raise UsageError("--std-samples must be at least 2")
        if self.batch < 1:
            raise UsageError("--batch must be at least 1")
        if self.sheet_components < 0:
            raise UsageError("--sheet-components must not be negative")
        _finite(self.trunc, "--trunc")
        if self.sheet_components:
            parse_int_list(self.sheet_seeds, what="sheet seeds")
            for a in self.amounts():
                _finite(a, "a sheet amount")

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

    def validate(self) -> None:
        if len(self.parents) < 2:
            raise UsageError("breeding needs at least two parents, e.g. --parents a.npz,b.npz "
                             "(the same file twice is allowed)")
        if self.children < 1:
            raise UsageError("--children must be at least 1")
        if self.children > 4096:
            raise UsageError("--children must be at most 4096 (one contact sheet)")
        if _finite(self.mutation, "--mutation") < 0:
            raise UsageError("--mutation must not be negative")
        if self.crossover not in CROSSOVERS:
            raise UsageError(f"unknown crossover {self.crossover!r}; choose layers or blend")
        if self.batch < 1:
            raise UsageError("--batch must be at least 1")
        if self.pick is not None and not 0 <= self.pick < self.children:
            raise UsageError(f"--pick {self.pick} is not on the sheet: children are numbered 0-{self.children - 1}")


DIRS = DirectionsOptions()
BREED = BreedOptions()
