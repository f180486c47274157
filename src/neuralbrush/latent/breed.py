"""Breeding: children of favourite images by crossover and mutation (Artbreeder-style).

Parents are latent files (the first latent of each; ours, a projection, a picked neighbour or
child). Each child is made in w ([num_ws, w_dim]) by

* crossover ``layers``: every layer row of w is copied from one parent, drawn at random per
  layer (coarse layers: shape and pose, fine layers: colour and texture, as in style mixing);
* crossover ``blend``: one random convex mix of the parents, weights ~ Dirichlet(1, ..., 1),
  written as p0 + sum_i a_i (p_i - p0) so that identical parents give the parent exactly;

then mutation adds ``mutation`` natural spreads of w (like ``neighbours --sigma``) of Gaussian
noise, the same offset on every layer. Mutation 0 with identical parents gives the parent back.
Files: the numbered contact sheet, ``children.npz`` (all, with each child's parentage),
``children/NNN.npz`` (one each), ``breed.json`` and, with ``pick``, ``keyframe_N.npz/.png``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.device import Runtime
from ..core.errors import UsageError
from ..core.progress import ProgressEvent, ProgressFn, presenting
from .latents import Latents, has_w, latent_scale, load_latents, save_latents
from .steer_options import BreedOptions

SHEET_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass
class Offspring:
    """Children latents and where each part came from."""

    w: torch.Tensor  # [C, num_ws, w_dim]
    layer_parent: np.ndarray | None  # [C, num_ws] parent index per layer (crossover 'layers')
    blend_weights: np.ndarray | None  # [C, P] mixing weights (crossover 'blend')


def breed_latents(parents: torch.Tensor, *, children: int = 16, mutation: float = 0.3, crossover: str = "layers",
                  seed: int = 0, scale: float = 1.0) -> Offspring:
    """``children`` latents from ``parents`` [P, num_ws, w_dim]; mutation is ``mutation * scale``
    per dimension (``scale``: the natural spread of w)."""
    if parents.dim() != 3 or parents.shape[0] < 1:
        raise UsageError("parents must be latents of shape [P, num_ws, w_dim]")
    if children < 1:
        raise UsageError("--children must be at least 1")
    if not np.isfinite(mutation) or mutation < 0:
        raise UsageError("--mutation must be a finite number, 0 or more")
    rng = np.random.RandomState(seed)
    P, num_ws, w_dim = parents.shape
    p = parents.float()
    layer_parent = blend = None
    if crossover == "layers":
        layer_parent = rng.randint(0, P, size=(children, num_ws))
        w = p[torch.from_numpy(layer_parent), torch.arange(num_ws)[None, :]]  # [C, num_ws, w_dim], exact copies
    elif crossover == "blend":
        blend = rng.dirichlet(np.ones(P), size=children)  # [C, P]
        a = torch.from_numpy(blend[:, 1:]).double().view(children, P - 1, 1, 1)
        diffs = (p[1:] - p[:1]).double()[None]  # [1, P-1, num_ws, w_dim]: zero for identical parents
        w = (p[:1].double() + (a * diffs).sum(1)).float()
    else:
        raise UsageError(f"unknown crossover {crossover!r}; choose layers or blend")
    if mutation > 0:
        noise = torch.from_numpy(rng.standard_normal((children, w_dim))).float() * float(mutation * scale)
        w = w + noise[:, None, :]
    return Offspring(w.contiguous(), layer_parent, blend)


@dataclass
class BreedResult:
    sheet: Path
    latents: Path  # children.npz
    folder: Path  # children/NNN.npz
    summary: Path  # breed.json
    count: int
    keyframe: Path | None = None
    offspring: Offspring | None = None


def load_parents(G: torch.nn.Module, files) -> torch.Tensor:
    """The first w latent of each parent file, checked against ``G``: [P, num_ws, w_dim]."""
    if not has_w(G):
        raise UsageError("breeding mixes w latents, and this generator has no w space (DCGAN or lite)")
    out = []
    for f in files:
        lat = load_latents(f, G)
        if lat.w is None:
            raise UsageError(f"parent {Path(f).name} holds only z; breeding needs w latents")
        out.append(lat.w[0])
    return torch.stack(out)


def breed(G: torch.nn.Module, sheet: str | Path, opts: BreedOptions, runtime: Runtime | None = None, *, model: str | None = None,
          progress: ProgressFn | None = None) -> BreedResult:
    """The ``breed`` command: children on a numbered sheet, every latent saved, ``pick`` promoted.
    ``progress`` gets a :class:`ProgressEvent` per batch of children, the batch as its preview
    (None: the default bar)."""
    from ..core.checkpoint import write_json
    from ..core.imageio import save_image
    from ..core.media import make_grid
    from .render import Renderer, for_display, grid_cell_side, shrink

    runtime = runtime or Runtime.default()
    opts.validate()
    sheet = Path(sheet)
    if sheet.suffix.lower() not in SHEET_SUFFIXES:
        raise UsageError(f"the contact sheet must be an image file (.png), not {sheet.name}")
    parents = load_parents(G, opts.parents)
    r = Renderer(G, runtime, noise_mode=opts.noise_mode, batch=opts.batch)
    kids = breed_latents(parents, children=opts.children, mutation=opts.mutation, crossover=opts.crossover,
                         seed=opts.seed, scale=latent_scale(G, "w") if opts.mutation > 0 else 1.0)
    side = grid_cell_side(opts.children, int(G.img_resolution))
    cells, picked = [], None
    with presenting(progress, "breeding") as report:
        for start in range(0, opts.children, opts.batch):
            chunk = r.frames(kids.w[start:start + opts.batch], "w")
            for i, frame in enumerate(chunk, start):
                cells.append(shrink(frame, side))  # only the sheet's cells stay in memory
                if i == opts.pick:
                    picked = frame
            report(ProgressEvent(len(cells), opts.children, f"{len(cells)} children", task="rendering",
                                 preview=lambda chunk=chunk: np.concatenate(list(chunk), axis=1)))
    outdir = sheet.parent
    outdir.mkdir(parents=True, exist_ok=True)
    save_image(make_grid(for_display(cells), None, labels=[str(i) for i in range(opts.children)], pad=2), sheet)
    lat = Latents(w=kids.w)
    extra = {"layer_parent": kids.layer_parent} if kids.layer_parent is not None else {"blend_weights": kids.blend_weights}
    save_latents(outdir / "children.npz", lat, mutation=opts.mutation, breed_seed=opts.seed, **extra)
    folder = outdir / "children"
    folder.mkdir(exist_ok=True)
    for i in range(opts.children):
        save_latents(folder / f"{i:03d}.npz", lat.select(i))
    keyframe = None
    if opts.pick is not None:
        keyframe = save_latents(outdir / f"keyframe_{opts.pick}.npz", lat.select(opts.pick))
        save_image(picked, outdir / f"keyframe_{opts.pick}.png")
    summary = write_json(outdir / "breed.json", {"model": model, "sheet": str(sheet), "runtime": runtime.describe(),
                                                 **asdict(opts)})
    return BreedResult(sheet, outdir / "children.npz", folder, summary, opts.children, keyframe, kids)
