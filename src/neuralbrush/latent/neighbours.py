"""Neighbours: Gaussian variations of a latent, shown on a numbered contact sheet.

Neighbour i = latent + sigma * spread * n_i, n_i ~ N(0, I) drawn from ``seed``; ``spread`` is
the natural per-dimension spread of the space (1 in z, the std of w in w), so sigma 0.5 means
about the same amount of change on any model. In w the same offset is added to every layer
row, so a w+ projection stays a w+ latent with its per-layer detail intact.

Files: the sheet, ``neighbours.npz`` (all of them), ``neighbours/NNN.npz`` (one each, ready
for ``generate --w`` or a storyboard) and, with ``pick``, ``keyframe_NNN.npz`` + ``.png``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.checkpoint import write_json
from ..core.device import Runtime
from ..core.errors import UsageError
from ..core.imageio import save_image
from ..core.media import make_grid
from ..core.progress import ProgressEvent, ProgressFn, presenting
from .edits import edit_latents, read_history, resolve_edits
from .latents import Latents, check_space, latent_scale, load_latents, save_latents
from .options import NeighboursOptions
from .render import Renderer, for_display, grid_cell_side, shrink


@dataclass
class NeighboursResult:
    """What :func:`neighbours_sheet` wrote."""

    sheet: Path  # the numbered contact sheet
    latents: Path  # neighbours.npz, all of them
    folder: Path  # neighbours/NNN.npz, one each
    keyframe: Path | None = None  # keyframe_N.npz (with pick)


def neighbour_latents(G: torch.nn.Module, source: Latents, *, count: int = 100, sigma: float = 0.5,
                      space: str = "w", seed: int = 0) -> Latents:
    """``count`` Gaussian neighbours of the first latent in ``source`` (in ``space``)."""
    NeighboursOptions(count=count, sigma=sigma, space=space, seed=seed).validate()
    space = check_space(G, space)
    base = source.in_space(space)[0].float()
    rng = np.random.RandomState(seed)
    noise = torch.from_numpy(rng.randn(count, base.shape[-1])).float() * (sigma * latent_scale(G, space))
    if space == "w":
        return Latents(w=base[None] + noise[:, None, :])
    return Latents(z=base[None] + noise)


def neighbours_sheet(G: torch.nn.Module, latent_file: str | Path, sheet: str | Path, *, count: int = 100,
                     sigma: float = 0.5, space: str = "w", seed: int = 0, pick: int | None = None, runtime: Runtime | None = None,
                     batch: int = 8, model: str | None = None, noise_mode: str = "const", edits=(),
                     progress: ProgressFn | None = None, compile: str = "auto") -> NeighboursResult:
    """Write the numbered sheet and every neighbour's latent; promote ``pick`` to a keyframe.
    ``progress`` gets an event per rendered batch (its first image as preview; None: a bar).

    ``edits`` (``--edit`` texts) move the source latent first: its neighbours surround the edit.
    ``compile`` (auto, on, off): see :mod:`neuralbrush.latent.compiled`."""
    runtime = runtime or Runtime.default()
    NeighboursOptions(count=count, sigma=sigma, space=space, seed=seed, pick=pick, batch=batch,
                      noise_mode=noise_mode).validate()
    sheet = Path(sheet)
    if sheet.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
        raise UsageError(f"the contact sheet must be an image file (.png), not {sheet.name}")
    source = load_latents(latent_file, G)
    space = check_space(G, space)
    fixed, _ = resolve_edits(G, edits)
    if fixed:
        if space != "w":
            raise UsageError("--edit moves w: take neighbours with --space w")
        source, _ = edit_latents(source, fixed, read_history(latent_file, source.w))
    lat = neighbour_latents(G, source, count=count, sigma=sigma, space=space, seed=seed)
    r = Renderer(G, runtime, noise_mode=noise_mode, batch=batch, compile=compile, images_expected=count)
    side = grid_cell_side(count, int(G.img_resolution))
    outdir = sheet.parent
    outdir.mkdir(parents=True, exist_ok=True)
    cells, picked = [], None
    with presenting(progress, "neighbours") as report:
        for start, chunk in zip(range(0, count, batch), lat.in_space(space).split(batch)):
            frames = r.frames(chunk, space)
            for i, frame in enumerate(frames, start):
                cells.append(shrink(frame, side))  # only the sheet's cells stay in memory
                if i == pick:
                    picked = frame
            report(ProgressEvent(start + len(frames), count, task="neighbours", preview=frames[0]))
    save_image(make_grid(for_display(cells), None, labels=[str(i) for i in range(count)], pad=2), sheet)
    save_latents(outdir / "neighbours.npz", lat, sigma=sigma, neighbour_seed=seed)
    per = outdir / "neighbours"
    per.mkdir(exist_ok=True)
    for i in range(count):
        save_latents(per / f"{i:03d}.npz", lat.select(i))
    out = NeighboursResult(sheet=sheet, latents=outdir / "neighbours.npz", folder=per)
    if pick is not None:
        kf = outdir / f"keyframe_{pick}.npz"
        save_latents(kf, lat.select(pick))
        save_image(picked, outdir / f"keyframe_{pick}.png")
        out.keyframe = kf
    write_json(outdir / "neighbours.json", {"model": model, "source": str(latent_file), "count": count,
                                            "sigma": sigma, "space": space, "seed": seed, "pick": pick,
                                            "runtime": runtime.describe(), "edits": list(edits)})
    return out
