"""Latent walks: interpolation, easing, circular loops and noise loops.

A walk is a :class:`LatentPath`: it knows its frame count and returns the latents of any frame
indices on demand (``path.at(indices)``), so rendering can run in batches, shard across ranks
and resume from any frame without holding the whole path in memory.

Kinds (``--kind``):

* ``linear``: straight lines between keyframes.
* ``slerp``: spherical interpolation around the centre of the space (the origin in z, ``w_avg``
  in w), which keeps z at typical lengths.
* ``circular``: a closed circle through the first keyframe. Its plane is spanned by the
  directions to the next keyframes when given, random directions otherwise; ``radius`` is in
  units of the latent's natural spread times sqrt(dimensions) (1.0: a circle about as wide as
  a typical latent is long).
* ``noise-loop``: a closed path through smooth periodic noise around the first keyframe: each
  dimension is a sum of a few sinusoids (harmonics 1..K with random phases, 1/k amplitudes),
  so the path returns exactly to its start and its speed is continuous at the loop point.

Frames of a loop are sampled at t = i / frames for i < frames: the frame after the last is
the first, so played in a loop there is no seam and no duplicated frame.

(Over 400 lines on purpose: the path kinds and ``render_walk``, the one renderer of them, are
read together; splitting would scatter one concept.)
"""

from __future__ import annotations

import abc

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from ..core.device import Runtime
from ..core.errors import UsageError
from ..core.progress import ProgressFn
from .options import WalkOptions

KINDS = ("linear", "slerp", "circular", "noise-loop")


# ---------------------------------------------------------------------------------------------
# Easing: maps t in [0, 1] to [0, 1] with f(0) = 0, f(1) = 1.

def _in_out(f_in: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    return lambda t: np.where(t < 0.5, f_in(2 * t) / 2, 1 - f_in(2 - 2 * t) / 2)


def _out(f_in: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    return lambda t: 1 - f_in(1 - t)


_quad = lambda t: t * t  # noqa: E731
_cubic = lambda t: t * t * t  # noqa: E731
_sine = lambda t: 1 - np.cos(t * np.pi / 2)  # noqa: E731

EASINGS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda t: t,
    "ease-in": _quad,
    "ease-out": _out(_quad),
    "ease-in-out": _in_out(_quad),
    "ease-in-cubic": _cubic,
    "ease-out-cubic": _out(_cubic),
    "ease-in-out-cubic": _in_out(_cubic),
    "ease-in-out-sine": lambda t: (1 - np.cos(np.pi * t)) / 2,
    "ease-in-sine": _sine,
    "ease-out-sine": _out(_sine),
    "smoothstep": lambda t: t * t * (3 - 2 * t),
}


def ease(t: np.ndarray | float, easing: str = "linear") -> np.ndarray:
    """Apply a named easing curve to t in [0, 1]."""
    try:
        f = EASINGS[easing]
    except KeyError:
        raise UsageError(f"unknown easing {easing!r}; choose one of {', '.join(EASINGS)}") from None
    return np.clip(f(np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0)), 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Interpolation between two latents of any shape (z: [D], w: [num_ws, w_dim]).

def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """a, b: [...]; t: [F] -> [F, ...]."""
    t = t.to(a.dtype).view(-1, *([1] * a.dim()))
    return a[None] + (b - a)[None] * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, center: torch.Tensor | None = None) -> torch.Tensor:
    """Spherical interpolation of (a - center) and (b - center), row by row for 2-D latents.

    Falls back to lerp where the two directions are (anti)parallel. Returns [F, ...].
    """
    c = torch.zeros_like(a) if center is None else center.to(a.dtype).expand_as(a)
    a0, b0 = (a - c), (b - c)
    flat_a = a0.reshape(-1, a0.shape[-1])
    flat_b = b0.reshape(-1, b0.shape[-1])
    na = flat_a.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    nb = flat_b.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    dot = ((flat_a / na) * (flat_b / nb)).sum(-1, keepdim=True).clamp(-1, 1)
    omega = torch.arccos(dot)  # [R, 1]
    so = torch.sin(omega)
    tt = t.to(a.dtype).view(-1, 1, 1)  # [F, 1, 1]
    safe = so.abs() > 1e-6
    so_safe = torch.where(safe, so, torch.ones_like(so))
    wa = torch.where(safe, torch.sin((1 - tt) * omega) / so_safe, 1 - tt)
    wb = torch.where(safe, torch.sin(tt * omega) / so_safe, tt)
    out = wa * flat_a[None] + wb * flat_b[None]
    return out.reshape(-1, *a.shape) + c[None]


# ---------------------------------------------------------------------------------------------
# Paths.

class LatentPath(abc.ABC):
    """A sequence of latents evaluated lazily: ``len(path)`` frames, ``path.at(indices)``."""

    frames: int

    def __len__(self) -> int:
        return self.frames

    @abc.abstractmethod
    def at(self, indices: Sequence[int] | np.ndarray) -> torch.Tensor:
        """The latents of the given frame indices, stacked."""

    def all(self) -> torch.Tensor:
        return self.at(np.arange(len(self)))


class SegmentPath(LatentPath):
    """``a`` to ``b`` in ``frames`` frames; ``include_end`` makes the last frame exactly ``b``."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor, frames: int, *, kind: str = "slerp",
                 easing: str = "linear", include_end: bool = False, center: torch.Tensor | None = None) -> None:
        if frames < 1:
            raise UsageError("a transition needs at least 1 frame")
        if kind not in ("linear", "slerp"):
            raise UsageError(f"a transition is linear or slerp, not {kind!r}")
        ease(0.0, easing)
        self.a, self.b, self.frames, self.kind = a.float(), b.float(), int(frames), kind
        self.easing, self.include_end, self.center = easing, include_end, center

    def at(self, indices) -> torch.Tensor:
        idx = np.asarray(indices, dtype=np.float64)
        denom = (self.frames - 1) if self.include_end and self.frames > 1 else self.frames
        t = torch.from_numpy(ease(idx / denom, self.easing)).float()
        if self.kind == "linear":
            return lerp(self.a, self.b, t)
        return slerp(self.a, self.b, t, self.center)


class ConcatPath(LatentPath):
    """Several paths played one after the other."""

    def __init__(self, parts: Sequence[LatentPath]) -> None:
        self.parts = [p for p in parts if len(p) > 0]
        if not self.parts:
            raise UsageError("a walk needs at least one frame")
        self.offsets = np.cumsum([0] + [len(p) for p in self.parts])
        self.frames = int(self.offsets[-1])

    def locate(self, i: int) -> tuple[int, int]:
        part = int(np.searchsorted(self.offsets, i, side="right") - 1)
        return part, int(i - self.offsets[part])

    def at(self, indices) -> torch.Tensor:
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.frames):
            raise IndexError("frame index out of range")
        parts = np.searchsorted(self.offsets, idx, side="right") - 1
        out: list[torch.Tensor | None] = [None] * len(idx)
        for p in np.unique(parts):
            sel = np.nonzero(parts == p)[0]
            lat = self.parts[p].at(idx[sel] - self.offsets[p])
            for j, s in enumerate(sel):
                out[s] = lat[j]
        return torch.stack(out) if out else torch.zeros(0)  # type: ignore[arg-type]


def _unit_directions(shape_row: int, start: torch.Tensor, others: Sequence[torch.Tensor], seed: int,
                     count: int = 2) -> list[torch.Tensor]:
    """``count`` orthonormal directions [row]: toward ``others`` first, random ones after."""
    rng = np.random.RandomState(seed % 2**32)
    cands = [(o - start).reshape(-1, shape_row).mean(0) for o in others]
    cands += [torch.from_numpy(rng.randn(shape_row)).float() for _ in range(count + 2)]
    basis: list[torch.Tensor] = []
    for v in cands:
        v = v.double()
        for b in basis:
            v = v - (v @ b) * b
        n = v.norm()
        if n > 1e-6:
            basis.append(v / n)
        if len(basis) == count:
            break
    return [b.float() for b in basis]


class CirclePath(LatentPath):
    """A closed circle through ``start`` of radius ``radius`` (absolute latent units)."""

    def __init__(self, start: torch.Tensor, frames: int, radius: float, *, others: Sequence[torch.Tensor] = (),
                 seed: int = 0, easing: str = "linear") -> None:
        if frames < 2:
            raise UsageError("a loop needs at least 2 frames")
        self.start, self.frames, self.radius, self.easing = start.float(), int(frames), float(radius), easing
        ease(0.0, easing)
        self.u, self.v = _unit_directions(start.shape[-1], self.start, others, seed)

    def at(self, indices) -> torch.Tensor:
        theta = torch.from_numpy(2 * np.pi * ease(np.asarray(indices, np.float64) / self.frames, self.easing)).float()
        cu = (torch.cos(theta) - 1).view(-1, *([1] * self.start.dim()))
        sv = torch.sin(theta).view(-1, *([1] * self.start.dim()))
        return self.start[None] + self.radius * (cu * self.u + sv * self.v)


class NoiseLoopPath(LatentPath):
    """A closed path through smooth periodic noise that starts and ends at ``start``.

    offset(t) = sigma * (n(t) - n(0)), n(t) = sum_k (a_k cos 2πkt + b_k sin 2πkt) / k, with
    a_k, b_k ~ N(0, 1) per dimension, normalised so n has unit RMS per dimension. The noise is
    shared across the rows of a w latent (the same direction for every layer).
    """

    def __init__(self, start: torch.Tensor, frames: int, sigma: float, *, harmonics: int = 3, seed: int = 0,
                 easing: str = "linear") -> None:
        if frames < 2:
            raise UsageError("a loop needs at least 2 frames")
        if harmonics < 1:
            raise UsageError("a noise loop needs at least one harmonic")
        ease(0.0, easing)
        self.start, self.frames, self.sigma, self.easing = start.float(), int(frames), float(sigma), easing
        rng = np.random.RandomState(seed % 2**32)
        d = start.shape[-1]
        k = np.arange(1, harmonics + 1, dtype=np.float64)
        amp = 1.0 / k
        norm = math.sqrt(float(np.sum(amp**2)) / 2)
        self.k = k
        self.a = torch.from_numpy(rng.randn(harmonics, d) * (amp / norm)[:, None])
        self.b = torch.from_numpy(rng.randn(harmonics, d) * (amp / norm)[:, None])

    def _noise(self, t: np.ndarray) -> torch.Tensor:
        ang = torch.from_numpy(2 * np.pi * np.outer(t, self.k))  # [F, K]
        return (torch.cos(ang) @ self.a + torch.sin(ang) @ self.b).float()  # [F, d]

    def at(self, indices) -> torch.Tensor:
        t = ease(np.asarray(indices, np.float64) / self.frames, self.easing)
        off = self.sigma * (self._noise(t) - self._noise(np.zeros(1)))  # [F, d]
        shape = [off.shape[0]] + [1] * (self.start.dim() - 1) + [off.shape[1]]
        return self.start[None] + off.view(shape)


def stops_loop(start: torch.Tensor, *, stops: int = 7, frames_per_stop: int = 30, sigma: float = 0.5,
               seed: int = 0, easing: str = "linear", kind: str = "linear",
               center: torch.Tensor | None = None) -> LatentPath:
    """The art-seed noise loop: stops, each the previous plus Gaussian noise, visited in turn
    with ``frames_per_stop`` interpolated frames each, and back to ``start`` (closed)."""
    if stops < 2:
        raise UsageError("a stops loop needs at least 2 stops")
    rng = np.random.RandomState(seed % 2**32)
    pts = [start.float()]
    for _ in range(stops - 1):
        step = torch.from_numpy(rng.randn(start.shape[-1])).float() * sigma
        pts.append(pts[-1] + step)  # broadcast over the rows of a w latent
    pts.append(start.float())
    return ConcatPath([SegmentPath(pts[i], pts[i + 1], frames_per_stop, kind=kind, easing=easing, center=center)
                       for i in range(stops)])


def keyframe_path(keyframes: Sequence[torch.Tensor], *, kind: str = "slerp", frames: int = 150,
                  easing: str = "linear", loop: bool = False, radius: float = 1.0, sigma: float = 1.0,
                  harmonics: int = 3, seed: int = 0, center: torch.Tensor | None = None) -> LatentPath:
    """The path of one walk. ``frames`` is per transition for linear/slerp, per loop otherwise.

    ``radius`` and ``sigma`` are absolute here (latent units); the CLI scales them by the
    space's natural spread. A linear/slerp walk with ``loop`` returns to the first keyframe.
    """
    if kind not in KINDS:
        raise UsageError(f"unknown walk kind {kind!r}; choose one of {', '.join(KINDS)}")
    if not keyframes:
        raise UsageError("a walk needs at least one keyframe")
    kfs = [k.float() for k in keyframes]
    if kind == "circular":
        return CirclePath(kfs[0], frames, radius, others=kfs[1:], seed=seed, easing=easing)
    if kind == "noise-loop":
        return NoiseLoopPath(kfs[0], frames, sigma, harmonics=harmonics, seed=seed, easing=easing)
    if len(kfs) < 2:
        raise UsageError(f"a {kind} walk needs at least two keyframes (or use --kind circular / noise-loop)")
    pts = kfs + [kfs[0]] if loop else kfs
    segs = [SegmentPath(pts[i], pts[i + 1], frames, kind=kind, easing=easing, center=center,
                        include_end=(not loop and i == len(pts) - 2)) for i in range(len(pts) - 1)]
    if not loop:  # the last segment ends on the final keyframe: one more frame than the others
        last = segs[-1]
        segs[-1] = _SegmentWithEnd(last)
    return ConcatPath(segs)


class _SegmentWithEnd(LatentPath):
    """A segment of ``frames`` steps plus its end point (frames + 1 frames in total)."""

    def __init__(self, seg: SegmentPath) -> None:
        self.seg = seg
        self.frames = seg.frames + 1
        seg.include_end = False

    def at(self, indices) -> torch.Tensor:
        return self.seg.at(indices)  # index == seg.frames gives t = 1, exactly the end


def walk(G: torch.nn.Module, keyframes: Sequence[int | torch.Tensor], *, kind: str = "slerp", frames: int = 150,
         space: str = "z", easing: str = "linear", loop: bool = False, radius: float = 1.0, sigma: float = 1.0,
         harmonics: int = 3, seed: int = 0, psi: float = 1.0, cutoff: int | None = None, noise_mode: str = "const",
         class_idx: int | None = None, batch: int = 8, runtime: Runtime | None = None,
         compile: str = "auto") -> Iterator[np.ndarray]:
    """Yield uint8 frames [H, W, 3] of a walk through ``keyframes`` (seeds or latents).

    Seeds become z (NVIDIA's RandomState rule) and, in w space, truncated w. ``radius`` and
    ``sigma`` are in units of the space's natural spread (see :func:`walk_path`). ``compile``
    (auto, on, off): see :mod:`neuralbrush.latent.compiled`.
    """
    from .render import Renderer

    runtime = runtime or Runtime.default()
    path = walk_path(G, keyframes, kind=kind, frames=frames, space=space, easing=easing, loop=loop, radius=radius,
                     sigma=sigma, harmonics=harmonics, seed=seed, psi=psi, cutoff=cutoff, class_idx=class_idx)
    r = Renderer(G, runtime, psi=psi if space == "z" else 1.0, cutoff=cutoff, noise_mode=noise_mode,
                 class_idx=class_idx, batch=batch, compile=compile, images_expected=len(path))
    yield from r.stream(path.at, len(path), space)


def resolve_keyframes(G: torch.nn.Module, keyframes: Sequence[int | torch.Tensor], space: str, *, psi: float = 1.0,
                      cutoff: int | None = None, class_idx: int | None = None) -> list[torch.Tensor]:
    """Seeds or tensors -> latents in ``space`` (z: [z_dim]; w: [num_ws, w_dim])."""
    from .latents import check_space, map_z, seed_z

    space = check_space(G, space)
    out = []
    for k in keyframes:
        if isinstance(k, (int, np.integer)):
            z = seed_z(G, [int(k)])
            out.append(z[0] if space == "z" else map_z(G, z, psi=psi, cutoff=cutoff, class_idx=class_idx)[0].cpu())
        else:
            t = torch.as_tensor(k).float().cpu()
            if space == "w" and t.dim() == 3:
                t = t[0]
            if space == "z" and t.dim() == 2:
                t = t[0]
            out.append(t)
    return out


def walk_path(G: torch.nn.Module, keyframes: Sequence[int | torch.Tensor], *, kind: str = "slerp", frames: int = 150,
              space: str = "z", easing: str = "linear", loop: bool = False, radius: float = 1.0, sigma: float = 1.0,
              harmonics: int = 3, seed: int = 0, psi: float = 1.0, cutoff: int | None = None,
              class_idx: int | None = None) -> LatentPath:
    """The latents of a walk (no rendering). ``radius`` scales the typical latent length
    (spread * sqrt(dim)); ``sigma`` is per dimension in units of the space's natural spread."""
    from .latents import latent_center, latent_scale

    kfs = resolve_keyframes(G, keyframes, space, psi=psi, cutoff=cutoff, class_idx=class_idx)
    scale = latent_scale(G, space) if kind in ("circular", "noise-loop") else 1.0
    dim = kfs[0].shape[-1]
    return keyframe_path(kfs, kind=kind, frames=frames, easing=easing, loop=loop,
                         radius=radius * scale * math.sqrt(dim), sigma=sigma * scale, harmonics=harmonics,
                         seed=seed, center=latent_center(G, space))


# ---------------------------------------------------------------------------------------------
# The ``video walk`` command.

@dataclass
class WalkResult:
    """What :func:`render_walk` wrote."""

    video: Path  # the MP4/GIF (its options record is VIDEO.walk.json beside it)
    frames: int

def render_walk(G: torch.nn.Module, output: str | Path, opts: WalkOptions, runtime: Runtime, *, model: str | None = None,
                edits=(), progress: ProgressFn | None = None, compile: str = "auto") -> WalkResult:
    """Render one walk (or a grid of walks, each starting at the next keyframe) to MP4/GIF;
    ``progress`` gets an event per rendered batch, the latest frame as preview (None: a bar).

    ``edits`` (``--edit`` texts, see :mod:`neuralbrush.latent.edits`) move every frame's w. Kind
    ``direction`` sweeps the one edit given with a range (``dirs.npz:3:-3..3``) from its low to
    its high amount and back, a seamless loop of ``frames`` frames, always in w. ``compile``
    (auto, on, off): see :mod:`neuralbrush.latent.compiled`."""
    from .edits import DirectionPath, OffsetPath, edits_offset, resolve_edits
    from ..core.checkpoint import write_json
    from ..core.media import VideoWriter, make_grid
    from ..core.progress import ProgressEvent, presenting
    from ..core.seeds import parse_grid, parse_int_list
    from .latents import check_space, load_latents
    from .render import Renderer

    opts.validate()
    direction = opts.kind == "direction"
    fixed, sweep = resolve_edits(G, edits, sweep_ok=direction)
    if direction and sweep is None:
        raise UsageError("a direction walk sweeps one --edit with a range, e.g. --edit dirs.npz:3:-3..3")
    space = check_space(G, "w" if direction else opts.space)
    if fixed and space != "w":
        raise UsageError("--edit moves w: walk with --space w")
    offset = edits_offset(fixed, G.num_ws, G.w_dim) if fixed else None
    if opts.w_file:
        lat = load_latents(opts.w_file, G)
        keys: list = list(lat.in_space(space))
    else:
        keys = parse_int_list(opts.seeds)
    grid = parse_grid(opts.grid) or (1, 1)
    cells = grid[0] * grid[1]
    paths = []
    for i in range(cells):
        k = i % len(keys)
        rotated = keys[k:] + keys[:k]
        if direction:
            start = resolve_keyframes(G, rotated[:1], "w", psi=opts.trunc, cutoff=opts.trunc_cutoff,
                                      class_idx=opts.class_idx)[0]
            if offset is not None:
                start = (start.double() + offset).float()
            paths.append(DirectionPath(start, sweep, opts.frames, easing=opts.easing))
            continue
        path = walk_path(G, rotated, kind=opts.kind, frames=opts.frames, space=space, easing=opts.easing,
                         loop=opts.loop, radius=opts.radius, sigma=opts.sigma, harmonics=opts.harmonics,
                         seed=opts.seed + i, psi=opts.trunc, cutoff=opts.trunc_cutoff, class_idx=opts.class_idx)
        paths.append(OffsetPath(path, offset) if offset is not None else path)
    total = len(paths[0])
    r = Renderer(G, runtime, psi=opts.trunc if space == "z" else 1.0, cutoff=opts.trunc_cutoff,
                 noise_mode=opts.noise_mode, class_idx=opts.class_idx, batch=max(1, opts.batch // cells) * cells,
                 noise_seed=opts.seed, compile=compile, images_expected=total * cells)
    per = max(1, opts.batch // cells)
    output = Path(output)
    with presenting(progress, f"rendering {output.name}") as report, VideoWriter(output, opts.fps) as writer:
        for start in range(0, total, per):
            idx = np.arange(start, min(total, start + per))
            lat = torch.cat([p.at(idx) for p in paths])  # cell-major: [cells * len(idx), ...]
            frames = r.frames(lat, space)
            frames = frames.reshape(cells, len(idx), *frames.shape[1:])
            for j in range(len(idx)):
                frame = frames[0, j] if cells == 1 else make_grid([frames[c, j] for c in range(cells)], grid)
                writer.append(frame)
            report(ProgressEvent(start + len(idx), total, message=runtime.describe(), task="walk", preview=frame))
    from dataclasses import asdict

    write_json(output.with_name(output.stem + ".walk.json"), {"model": model, "output": str(output), "frames": total,
                                                              "runtime": runtime.describe(), **asdict(opts),
                                                              "edits": list(edits)})
    return WalkResult(video=output, frames=total)
