"""``generate``: images from seeds (or saved w latents), truncation sweeps, latents alongside.

Every image gets a sibling ``.npz`` with its ``z`` and ``w`` (NVIDIA key ``w``, shape
``[1, num_ws, w_dim]``), so any picture can be fed back into ``generate --w``, ``walk``,
``neighbours`` or a storyboard later.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.checkpoint import write_json
from ..core.device import Runtime
from ..core.imageio import save_image
from ..core.media import make_grid
from ..core.progress import ProgressEvent, ProgressFn, presenting
from ..core.seeds import parse_float_sweep, parse_grid, parse_int_list
from .edits import edit_latents, read_history, resolve_edits
from .latents import has_w, latents_from_seeds, load_latents, save_latents
from .options import GenerateOptions
from .render import Renderer, for_display, grid_cell_side, shrink


@dataclass
class GenerateResult:
    """What :func:`generate` wrote."""

    grid: Path  # grid.png
    images: list[Path]  # one PNG per image, each with its .npz beside it
    options: Path  # options.json


def _fmt_psi(p: float) -> str:
    return f"{p:.2f}"


def generate(G: torch.nn.Module, outdir: str | Path, opts: GenerateOptions, runtime: Runtime, *,
             model: str | None = None, edits=(), progress: ProgressFn | None = None,
             compile: str = "auto") -> GenerateResult:
    """Render the images, save each with its latents, and a labelled grid; returns the paths.
    ``progress`` gets an event (with the image as preview) as images are done (None: a bar).

    ``edits`` (``--edit`` texts, see :mod:`neuralbrush.latent.edits`) move every w before it is
    rendered and saved. Every option is checked (and a ``--w`` file read against ``G``) before
    the folder is made. ``compile`` (auto, on, off): see :mod:`neuralbrush.latent.compiled`."""
    opts.validate()
    psis = parse_float_sweep(opts.trunc, what="--trunc")
    space = "w" if has_w(G) else "z"
    images: list[np.ndarray] = []
    labels: list[str] = []
    files: list[str] = []
    grid = parse_grid(opts.grid)
    lat = load_latents(opts.w_file, G) if opts.w_file else None
    if lat is not None:
        lat.in_space(space)
        count = len(lat)
    else:
        seeds = parse_int_list(opts.seeds)
        count = len(seeds) * len(psis)
    r = Renderer(G, runtime, psi=1.0, noise_mode=opts.noise_mode, class_idx=opts.class_idx, batch=opts.batch,
                 compile=compile, images_expected=count)
    side = grid_cell_side(max(count, grid[0] * grid[1] if grid else 0), int(G.img_resolution))
    fixed, _ = resolve_edits(G, edits)
    history = read_history(opts.w_file, lat.w) if fixed and lat is not None else None
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)

    with presenting(progress, "generating") as report:
        if lat is not None:
            for i in range(len(lat)):
                one, hist = edit_latents(lat.select(i), fixed, history.select(i) if history is not None else None)
                frame = r.frames(one.in_space(space), space)[0]
                name = f"w{i:04d}"
                save_image(frame, outdir / f"{name}.png")
                save_latents(outdir / f"{name}.npz", one, **(hist.arrays() if hist is not None else {}))
                images.append(shrink(frame, side))
                labels.append(str(i) if one.seeds is None else f"seed {one.seeds[0]}")
                files.append(f"{name}.png")
                report(ProgressEvent(i + 1, count, task="generate", preview=frame))
        else:
            sweep = len(psis) > 1
            # Batches of seeds (one at a time with random noise, so each seed's noise is its own).
            step = 1 if opts.noise_mode == "random" else max(1, opts.batch // len(psis))
            chunks = [seeds[k:k + step] for k in range(0, len(seeds), step)]
            frames: dict[tuple[int, int], np.ndarray] = {}
            done = 0
            for chunk in chunks:
                for j, psi in enumerate(psis):
                    if has_w(G):
                        lat = latents_from_seeds(G, chunk, psi=psi, cutoff=opts.trunc_cutoff, class_idx=opts.class_idx)
                        lat, hist = edit_latents(lat, fixed)
                        r.noise_seed = chunk[0]
                        out = r.frames(lat.w, "w")
                    else:
                        lat, hist = latents_from_seeds(G, chunk, psi=psi), None
                        r.psi = psi
                        out = r.frames(lat.z, "z")
                    for k, seed in enumerate(chunk):
                        name = f"seed{seed:04d}" + (f"-psi{_fmt_psi(psi)}" if sweep else "")
                        save_image(out[k], outdir / f"{name}.png")
                        save_latents(outdir / f"{name}.npz", lat.select(k),
                                     **(hist.select(k).arrays() if hist is not None else {}))
                        frames[(seed, j)] = shrink(out[k], side)
                    done += len(chunk)
                    report(ProgressEvent(done, count, task="generate", preview=out[0]))
            rows = []
            for seed in seeds:
                rows.append([frames[(seed, j)] for j in range(len(psis))])
                for j, psi in enumerate(psis):
                    files.append(f"seed{seed:04d}" + (f"-psi{_fmt_psi(psi)}" if sweep else "") + ".png")
                    if sweep:
                        parts = ([f"seed {seed}"] if j == 0 else []) + ([f"psi {_fmt_psi(psi)}"] if seed == seeds[0] else [])
                        labels.append(" ".join(parts))
                    else:
                        labels.append(f"seed {seed}")
            images = [im for row in rows for im in row]
            if sweep:
                grid = (len(psis), len(seeds))
    grid_img = make_grid(for_display(images), grid, labels=labels, pad=2)
    grid_path = save_image(grid_img, outdir / "grid.png")
    options = {"model": model, "runtime": runtime.describe(), **asdict(opts), "edits": list(edits)}
    write_json(outdir / "options.json", options)
    return GenerateResult(grid=grid_path, images=[outdir / f for f in files], options=outdir / "options.json")
