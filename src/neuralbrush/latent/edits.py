"""Edits along directions: ``--edit dirs.npz:COMP:AMOUNT[@LAYERS]`` wherever a latent is used.

An edit adds ``AMOUNT`` standard deviations of component ``COMP`` (see
:mod:`neuralbrush.latent.directions`) to the chosen rows of w (default: the layers the file was
made for); the other rows stay bit for bit as they were. Edits are exact to undo: edits of the
same component on the same layers are combined by adding their amounts, and an edited latent
file remembers its unedited w and its net edits (keys ``w_base``, ``edit_*``), so a later edit
is recomputed from the original; ``+a`` then ``-a`` gives back the original latent exactly.

``video walk --kind direction`` sweeps one edit's amount ``LO..HI`` and back: a seamless loop.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..core.errors import UsageError
from .directions import Directions, model_identity, resolve_layers
from .latents import Latents, has_w
from .steer_options import EditSpec, parse_edits
from .walk import LatentPath, ease


@dataclass(frozen=True)
class Edit:
    """One resolved edit: ``amount`` standard deviations of ``vector`` on ``layers``."""

    key: str  # the directions' digest and the component: equal keys on equal layers combine
    vector: torch.Tensor  # [w_dim] float64, one standard deviation along the component
    amount: float
    layers: tuple[int, ...]
    label: str  # for people: FILE:COMP:AMOUNT@LAYERS

    def with_amount(self, amount: float) -> "Edit":
        name = self.label.rsplit(":", 1)[0]
        return replace(self, amount=float(amount), label=f"{name}:{amount:+g}@{_layers_text(self.layers)}")


def _layers_text(layers: tuple[int, ...]) -> str:
    if layers and list(layers) == list(range(layers[0], layers[-1] + 1)):
        return f"{layers[0]}-{layers[-1]}" if len(layers) > 1 else str(layers[0])
    return ",".join(map(str, layers))


@dataclass(frozen=True)
class Sweep:
    """The edit a direction walk sweeps from ``lo`` to ``hi`` standard deviations and back."""

    edit: Edit  # amount 1
    lo: float
    hi: float


def resolve_edits(G: torch.nn.Module, specs, *, sweep_ok: bool = False,
                  base: str | Path | None = None) -> tuple[list[Edit], Sweep | None]:
    """Check every ``--edit`` against ``G`` before any work: the file, its model identity, the
    component and the layers. Returns the fixed edits and, for direction walks, the sweep.
    Relative file names are taken from ``base`` when given (a storyboard's folder)."""
    specs = parse_edits(specs)
    if not specs:
        return [], None
    if not has_w(G):
        raise UsageError("edits move w, and this generator has no w space (DCGAN or lite)")
    ident = model_identity(G)
    loaded: dict[Path, Directions] = {}
    fixed: list[Edit] = []
    sweep: Sweep | None = None
    for spec in specs:
        path = Path(spec.file).expanduser()
        if base is not None and not path.is_absolute():
            path = Path(base) / path
        if path not in loaded:
            dirs = Directions.load(path)
            dirs.check_model(ident)
            loaded[path] = dirs
        dirs = loaded[path]
        if not spec.component < len(dirs.components):
            raise UsageError(f"--edit {spec.text!r}: {path.name} has components 0-{len(dirs.components) - 1}")
        layers = dirs.layers if spec.layers is None else resolve_layers(
            G, ",".join(map(str, spec.layers)), what=f"--edit {spec.text!r}")
        vector = torch.from_numpy(dirs.components[spec.component].astype(np.float64)) * float(dirs.std[spec.component])
        edit = Edit(f"{dirs.digest[:24]}:{spec.component}", vector, 1.0, tuple(layers),
                    f"{path.name}:{spec.component}:+1@{_layers_text(tuple(layers))}")
        if spec.sweep is not None:
            if not sweep_ok:
                raise UsageError(f"the range in --edit {spec.text!r} is for video walk --kind direction; "
                                 f"give one amount here")
            if sweep is not None:
                raise UsageError("a direction walk sweeps one --edit with a range; give the others one amount")
            sweep = Sweep(edit, *spec.sweep)
        else:
            fixed.append(edit.with_amount(spec.amount))
    return fixed, sweep


def combine(edits: Sequence[Edit]) -> list[Edit]:
    """Add the amounts of edits with the same direction and layers; drop those that cancel."""
    net: dict[tuple[str, tuple[int, ...]], Edit] = {}
    for e in edits:
        k = (e.key, e.layers)
        net[k] = net[k].with_amount(net[k].amount + e.amount) if k in net else e
    return [e for e in net.values() if e.amount != 0]


def edits_offset(edits: Sequence[Edit], num_ws: int, w_dim: int) -> torch.Tensor | None:
    """The total offset [num_ws, w_dim] (float64) of the combined edits; None when it is zero."""
    edits = combine(edits)
    if not edits:
        return None
    out = torch.zeros(num_ws, w_dim, dtype=torch.float64)
    for e in edits:
        out[list(e.layers)] += e.amount * e.vector
    return out


@dataclass
class EditHistory:
    """The unedited latents and the net edits that made the current ones."""

    base: torch.Tensor  # [N, num_ws, w_dim] float32
    edits: list[Edit]

    def select(self, index: int) -> "EditHistory":
        return EditHistory(self.base[index:index + 1], list(self.edits))

    def arrays(self) -> dict[str, np.ndarray]:
        """Extra arrays for :func:`neuralbrush.latent.latents.save_latents`."""
        num_ws = self.base.shape[1]
        mask = np.zeros((len(self.edits), num_ws), dtype=bool)
        for i, e in enumerate(self.edits):
            mask[i, list(e.layers)] = True
        w_dim = self.base.shape[2]
        vectors = np.stack([e.vector.numpy() for e in self.edits]) if self.edits else np.zeros((0, w_dim))
        return {"w_base": self.base.float().numpy(), "edit_label": np.asarray([e.label for e in self.edits], dtype=str),
                "edit_key": np.asarray([e.key for e in self.edits], dtype=str),
                "edit_vector": vectors.astype(np.float64),
                "edit_amount": np.asarray([e.amount for e in self.edits], dtype=np.float64), "edit_layers": mask}


def apply_edits(w: torch.Tensor, edits: Sequence[Edit],
                history: EditHistory | None = None) -> tuple[torch.Tensor, EditHistory | None]:
    """Edited latents [N, num_ws, w_dim] and their history (None when nothing is edited).

    With a ``history`` the new edits join the old ones and w is recomputed from the unedited
    base, so edits never accumulate rounding and opposite edits cancel exactly."""
    if not edits and history is None:
        return w, None
    base = history.base if history is not None else w.detach().float().cpu()
    net = combine((history.edits if history is not None else []) + list(edits))
    off = edits_offset(net, base.shape[1], base.shape[2])
    new = base.clone() if off is None else (base.double() + off).float()
    return new, (EditHistory(base, net) if net else None)


def read_history(path: str | Path, w: torch.Tensor | None) -> EditHistory | None:
    """The edit history saved in a latent file, if it still describes the file's ``w``."""
    if w is None:
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if "w_base" not in data.files:
                return None
            base = torch.from_numpy(np.array(data["w_base"], dtype=np.float32))
            labels, keys = [str(s) for s in data["edit_label"]], [str(s) for s in data["edit_key"]]
            vectors = np.array(data["edit_vector"], dtype=np.float64)
            amounts = np.array(data["edit_amount"], dtype=np.float64)
            masks = np.array(data["edit_layers"], dtype=bool)
    except (OSError, ValueError, KeyError):
        return None
    if base.dim() == 2:
        base = base[None]
    if base.shape[0] != w.shape[0] or base.shape[2] != w.shape[2] or base.shape[1] not in (1, w.shape[1]):
        return None
    base = base.expand(-1, w.shape[1], -1).contiguous()
    n = len(labels)
    if not (len(keys) == len(amounts) == n and vectors.shape == (n, w.shape[2]) and masks.shape == (n, w.shape[1])):
        return None
    edits = [Edit(keys[i], torch.from_numpy(vectors[i].copy()), float(amounts[i]),
                  tuple(int(j) for j in np.nonzero(masks[i])[0]), labels[i]) for i in range(n)]
    hist = EditHistory(base, edits)
    again, _ = apply_edits(base, [], hist)
    # a file whose w was changed by another tool: its w is the truth, the history is stale
    return hist if torch.allclose(again, w.float(), atol=1e-6, rtol=0) else None


def edit_latents(lat: Latents, edits: Sequence[Edit], history: EditHistory | None = None
                 ) -> tuple[Latents, EditHistory | None]:
    """Edit the w of ``lat``. An edited latent keeps its seeds but loses z (z no longer maps to it)."""
    if not edits and history is None:
        return lat, None
    if lat.w is None:
        raise UsageError("this latent holds only z; edits move w (use a latent file with w)")
    w, hist = apply_edits(lat.w, edits, history)
    return Latents(z=lat.z if hist is None and history is None else None, w=w, seeds=lat.seeds, psi=lat.psi), hist


# ---------------------------------------------------------------------------------------------
# Paths: a fixed offset on any walk, and the direction sweep.

class OffsetPath(LatentPath):
    """Another path with a fixed offset added to every frame (edits on a w walk)."""

    def __init__(self, path: LatentPath, offset: torch.Tensor) -> None:
        self.path, self.offset, self.frames = path, offset, len(path)

    def at(self, indices) -> torch.Tensor:
        return (self.path.at(indices).double() + self.offset[None]).float()


class DirectionPath(LatentPath):
    """``start`` swept along ``sweep`` from ``lo`` to ``hi`` standard deviations and back.

    Frame i is at t = i / frames: amount lo + (hi - lo) * ease(2t) for t < 1/2 and
    lo + (hi - lo) * ease(2 - 2t) after, so the frame after the last is the first again."""

    def __init__(self, start: torch.Tensor, sweep: Sweep, frames: int, *, easing: str = "linear") -> None:
        if frames < 2:
            raise UsageError("a direction walk needs at least 2 frames")
        ease(0.0, easing)
        self.start, self.frames, self.easing = start.double(), int(frames), easing
        self.lo, self.hi = float(sweep.lo), float(sweep.hi)
        self.offset = edits_offset([sweep.edit], start.shape[0], start.shape[1])

    def amounts(self, indices) -> np.ndarray:
        t = np.asarray(indices, np.float64) / self.frames
        u = np.where(t < 0.5, 2 * t, 2 - 2 * t)
        return self.lo + (self.hi - self.lo) * ease(u, self.easing)

    def at(self, indices) -> torch.Tensor:
        a = torch.from_numpy(self.amounts(indices)).view(-1, 1, 1)
        return (self.start[None] + a * self.offset[None]).float()
