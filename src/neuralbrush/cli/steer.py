"""Steering commands: ``directions`` (GANSpace / SeFa) and ``breed`` (crossover + mutation).

``--edit`` on the other latent commands lives in :mod:`neuralbrush.cli.latent`. The work
happens in :mod:`neuralbrush.latent.directions`, :mod:`.edits` and :mod:`.breed`; the options are
generated from :mod:`neuralbrush.latent.steer_options` (:func:`neuralbrush.core.options.cli_from`).
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..core.options import RuntimeOptions, cli_from
from ..core.outputs import claim_output
from ..latent.steer_options import BreedOptions, DirectionsOptions
from .latent import MODEL_HELP, _setup


@cli_from(DirectionsOptions, rt=RuntimeOptions)
def directions_cmd(
        model: str = typer.Argument(..., help=MODEL_HELP),
        out: Path = typer.Option(Path("dirs.npz"), "-o", "--out", help="Directions file (.npz); the sheet goes "
                                                                       "beside it (.png), with a summary (.json)."),
        *, opts: DirectionsOptions, rt: RuntimeOptions) -> None:
    """Interpretable directions (GANSpace PCA or SeFa) with a direction sheet PNG beside them."""
    from ..core.errors import UsageError
    from ..core.progress import info
    from ..latent.directions import write_directions

    if out.suffix.lower() != ".npz":
        raise UsageError(f"the directions file must end in .npz, not {out.name}")
    claim_output(out, "file")
    G, runtime = _setup(model, rt)
    res = write_directions(G, out, opts, runtime, model=model)  # progress: the default bars
    d = res.directions
    head = ", ".join(f"{v:.3g}" for v in (d.explained[:5] if d.method == "pca" else d.values[:5]))
    what = "explained variance" if d.method == "pca" else "eigenvalues"
    info(f"{d.method}: {len(d.components)} components in {res.seconds:.1f} s (top {what}: {head}); wrote {res.path}"
         + (f" and {res.sheet}" if res.sheet else ""))


@cli_from(BreedOptions, rt=RuntimeOptions)
def breed_cmd(
        model: str = typer.Argument(..., help=MODEL_HELP),
        out: Path = typer.Option(Path("out/breed/sheet.png"), "-o", "--out", help="Contact sheet (.png)."),
        *, opts: BreedOptions, rt: RuntimeOptions) -> None:
    """Breed favourite latents: children by crossover and mutation on a numbered contact sheet."""
    from ..core.errors import UsageError
    from ..core.progress import info
    from ..latent.breed import SHEET_SUFFIXES, breed

    missing = [f for f in opts.parents if not Path(f).is_file()]
    if missing:
        raise UsageError(f"parent latent file {missing[0]} does not exist")
    if out.suffix.lower() not in SHEET_SUFFIXES:
        raise UsageError(f"the contact sheet must be an image file (.png), not {out.name}")
    claim_output(out, "file")
    G, runtime = _setup(model, rt)
    res = breed(G, out, opts, runtime, model=model)  # progress: the default bars
    info(f"wrote {res.sheet} and {res.latents}" + (f"; keyframe {res.keyframe}" if res.keyframe else ""))


def register(app: typer.Typer) -> None:
    app.command("directions")(directions_cmd)
    app.command("breed")(breed_cmd)
