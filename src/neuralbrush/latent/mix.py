"""``mix``: NVIDIA-style style-mixing grids.

Row sources keep their w except in the chosen layers (``--styles``), which come from the
column sources: low layers carry pose and shape, high layers colour and texture.
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
from .edits import edit_latents, resolve_edits
from .latents import has_w, latents_from_seeds, save_latents
from .options import MixOptions
from .render import Renderer, for_display, grid_cell_side, shrink


@dataclass
class MixResult:
    """What :func:`style_mix` wrote."""

    grid: Path  # grid.png (each mixed image is also mix-ROW-COL.png beside it)
    count: int  # mixed images


def style_mix(G: torch.nn.Module, outdir: str | Path, *, rows: str, cols: str, styles: str, trunc: float = 1.0,
              noise_mode: str = "const", class_idx: int | None = None, runtime: Runtime | None = None, model: str | None = None,
              edits=(), progress: ProgressFn | None = None, compile: str = "auto") -> MixResult:
    """NVIDIA-style style-mixing grid: row sources keep their w except the ``styles`` layers,
    which come from the column sources. Headers: the sources themselves. ``edits`` (``--edit``
    texts) move every source's w first, so every cell is edited alike. ``progress`` gets an
    event per finished row (its first mixed image as preview; None: a bar). ``compile`` (auto,
    on, off): see :mod:`neuralbrush.latent.compiled`."""
    runtime = runtime or Runtime.default()
    opts = MixOptions(rows=rows, cols=cols, styles=styles, trunc=trunc, noise_mode=noise_mode, class_idx=class_idx)
    opts.validate()
    if not has_w(G):
        raise UsageError("style mixing needs a style-based generator (StyleGAN2); this one (DCGAN or lite) has no w")
    row_seeds, col_seeds, layers = opts.validate(G.num_ws)
    all_seeds = sorted(set(row_seeds + col_seeds))
    r = Renderer(G, runtime, noise_mode=noise_mode, class_idx=class_idx, compile=compile,
                 images_expected=len(all_seeds) + len(row_seeds) * len(col_seeds))
    res = int(G.img_resolution)
    side = grid_cell_side((len(col_seeds) + 1) * (len(row_seeds) + 1), res)
    fixed, _ = resolve_edits(G, edits)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    lat, _ = edit_latents(latents_from_seeds(G, all_seeds, psi=trunc, class_idx=class_idx), fixed)
    w_of = {s: lat.w[i] for i, s in enumerate(all_seeds)}
    src_frames = [shrink(f, side) for chunk in lat.w.split(r.batch) for f in r.frames(chunk, "w")]
    src = dict(zip(all_seeds, src_frames))
    blank = np.zeros((side, side, 3), np.uint8)
    cells, labels = [blank], [f"styles {styles}"]
    for cs in col_seeds:
        cells.append(src[cs])
        labels.append(f"col {cs}")
    with presenting(progress, "style mixing") as report:
        for n, rs in enumerate(row_seeds, 1):  # one row at a time: only the grid's cells stay in memory
            mixed_w = []
            for cs in col_seeds:
                w = w_of[rs].clone()
                w[layers] = w_of[cs][layers]
                mixed_w.append(w)
            mixed = r.frames(torch.stack(mixed_w), "w")
            cells.append(src[rs])
            labels.append(f"row {rs}")
            for cs, frame in zip(col_seeds, mixed):
                save_image(frame, outdir / f"mix-{rs}-{cs}.png")
                cells.append(shrink(frame, side))
                labels.append("")
            report(ProgressEvent(n, len(row_seeds), task="mix", preview=mixed[0]))
    layout = (len(col_seeds) + 1, len(row_seeds) + 1)
    grid_path = save_image(make_grid(for_display(cells), layout, labels=labels, pad=2), outdir / "grid.png")
    write_json(outdir / "options.json", {"model": model, "rows": row_seeds, "cols": col_seeds, "styles": layers,
                                         "trunc": trunc, "noise_mode": noise_mode, "class_idx": class_idx,
                                         "runtime": runtime.describe(), "edits": list(edits)})
    save_latents(outdir / "sources.npz", lat)
    return MixResult(grid=grid_path, count=len(row_seeds) * len(col_seeds))
