"""Steering commands: ``directions`` (GANSpace / SeFa) and ``breed`` (crossover + mutation).

``--edit`` on the other latent commands lives in :mod:`neuralbrush.cli.latent`. The work
happens in :mod:`neuralbrush.latent.directions`, :mod:`.edits` and :mod:`.breed`; defaults come
from :mod:`neuralbrush.latent.steer_options`.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer

from ..core.outputs import claim_output
from ..latent.steer_options import BREED, DIRS
from .latent import DEVICE, MODEL_HELP, PRECISION, _setup


@contextmanager
def progress_bars() -> Iterator:
    """A presenter for :class:`neuralbrush.latent.events.SteerProgress`: one bar per stage."""
    from ..core.progress import make_progress

    with make_progress() as prog:
        tasks: dict[str, int] = {}

        def show(ev) -> None:
            if ev.stage not in tasks:
                tasks[ev.stage] = prog.add_task(ev.stage, total=max(ev.total, 1), info="")
            prog.update(tasks[ev.stage], completed=ev.step, total=max(ev.total, 1), info=ev.message)

        yield show


def directions_cmd(
        model: str = typer.Argument(..., help=MODEL_HELP),
        method: str = typer.Option(DIRS.method, "--method", help="pca (GANSpace: PCA of sampled w) or sefa "
                                                                 "(closed form from the style weights, no sampling)."),
        samples: int = typer.Option(DIRS.samples, "--samples", min=2, help="PCA: how many w to sample."),
        layers: Optional[str] = typer.Option(DIRS.layers, "--layers",
                                             help="Layers (rows of w) the directions are for, e.g. 0-17 "
                                                  "(SeFa: whose style weights); default all."),
        std_samples: int = typer.Option(DIRS.std_samples, "--std-samples", min=2,
                                        help="SeFa: w sampled to measure each direction's spread."),
        seed: int = typer.Option(DIRS.seed, "--seed", help="Seed of the sampled z."),
        class_idx: Optional[int] = typer.Option(DIRS.class_idx, "--class", help="Class label for a conditional model."),
        sheet_components: int = typer.Option(DIRS.sheet_components, "--sheet-components", min=0,
                                             help="Rows of the direction sheet (0: no sheet)."),
        sheet_seeds: str = typer.Option(DIRS.sheet_seeds, "--sheet-seeds", help="Seeds shown on the sheet."),
        sheet_amounts: str = typer.Option(DIRS.sheet_amounts, "--sheet-amounts",
                                          help="Columns of the sheet in standard deviations: a list or START:STOP:COUNT."),
        trunc: float = typer.Option(DIRS.trunc, "--trunc", help="Truncation psi of the sheet's seeds."),
        batch: int = typer.Option(DIRS.batch, "--batch", min=1, help="z per mapping-network pass."),
        out: Path = typer.Option(Path("dirs.npz"), "-o", "--out", help="Directions file (.npz); the sheet goes "
                                                                       "beside it (.png), with a summary (.json)."),
        device: str = DEVICE, precision: str = PRECISION) -> None:
    """Interpretable directions (GANSpace PCA or SeFa) with a direction sheet PNG beside them."""
    from ..core.errors import UsageError
    from ..core.progress import info
    from ..latent.directions import write_directions
    from ..latent.steer_options import DirectionsOptions

    opts = DirectionsOptions(method=method, samples=samples, layers=layers, std_samples=std_samples, seed=seed,
                             batch=batch, class_idx=class_idx, sheet_components=sheet_components,
                             sheet_seeds=sheet_seeds, sheet_amounts=sheet_amounts, trunc=trunc)
    opts.validate()
    if out.suffix.lower() != ".npz":
        raise UsageError(f"the directions file must end in .npz, not {out.name}")
    claim_output(out, "file")
    G, runtime = _setup(model, device, precision)
    with progress_bars() as show:
        res = write_directions(G, out, opts, runtime, model=model, progress=show)
    d = res.directions
    head = ", ".join(f"{v:.3g}" for v in (d.explained[:5] if d.method == "pca" else d.values[:5]))
    what = "explained variance" if d.method == "pca" else "eigenvalues"
    info(f"{d.method}: {len(d.components)} components in {res.seconds:.1f} s (top {what}: {head}); wrote {res.path}"
         + (f" and {res.sheet}" if res.sheet else ""))


def breed_cmd(
        model: str = typer.Argument(..., help=MODEL_HELP),
        parents: str = typer.Option(..., "--parents", help="Parent latent files, comma-separated: a.npz,b.npz[,c.npz]."),
        children: int = typer.Option(BREED.children, "--children", min=1, help="How many children."),
        mutation: float = typer.Option(BREED.mutation, "--mutation", min=0.0,
                                       help="Mutation noise per dimension, in units of w's spread (0: none)."),
        crossover: str = typer.Option(BREED.crossover, "--crossover",
                                      help="layers (each layer's w from one parent) or blend (a random mix)."),
        seed: int = typer.Option(BREED.seed, "--seed", help="Seed of crossover and mutation."),
        pick: Optional[int] = typer.Option(None, "--pick", help="Also save child N as keyframe_N.npz/.png."),
        batch: int = typer.Option(BREED.batch, "--batch", min=1, help="Images per forward pass."),
        out: Path = typer.Option(Path("out/breed/sheet.png"), "-o", "--out", help="Contact sheet (.png)."),
        device: str = DEVICE, precision: str = PRECISION) -> None:
    """Breed favourite latents: children by crossover and mutation on a numbered contact sheet."""
    from ..core.errors import UsageError
    from ..core.progress import info
    from ..latent.breed import SHEET_SUFFIXES, breed
    from ..latent.steer_options import BreedOptions

    files = [p.strip() for p in parents.split(",") if p.strip()]
    opts = BreedOptions(parents=files, children=children, mutation=mutation, crossover=crossover, seed=seed,
                        pick=pick, batch=batch)
    opts.validate()
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise UsageError(f"parent latent file {missing[0]} does not exist")
    if out.suffix.lower() not in SHEET_SUFFIXES:
        raise UsageError(f"the contact sheet must be an image file (.png), not {out.name}")
    claim_output(out, "file")
    G, runtime = _setup(model, device, precision)
    with progress_bars() as show:
        res = breed(G, out, opts, runtime, model=model, progress=show)
    info(f"wrote {res.sheet} and {res.latents}" + (f"; keyframe {res.keyframe}" if res.keyframe else ""))


def register(app: typer.Typer) -> None:
    app.command("directions")(directions_cmd)
    app.command("breed")(breed_cmd)
