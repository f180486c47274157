"""``neuralbrush dataset pairs``: aligned pix2pix pairs (derived input | photo) from photos."""

from __future__ import annotations

from pathlib import Path

import typer

from ..core.options import cli_from
from ..datasets.pair_options import PairsOptions
from .dataset import dataset_app


@dataset_app.command("pairs")
@cli_from(PairsOptions)
def pairs_cmd(
    sources: list[Path] = typer.Argument(..., help="Folders (searched recursively), image files or zip files of photos."),
    out: Path = typer.Option(..., "-o", "--out", "--output", help="Output folder: train/, val/, dataset.json, contact_sheet.png."),
    *, opts: PairsOptions,
) -> None:
    """Make pix2pix training pairs: the input derived from each photo (left) and the photo (right)."""
    from ..core.progress import console

    def say(text: str) -> None:
        console.print(text, soft_wrap=True, markup=False, highlight=False)

    from ..core.outputs import claim_output
    from ..datasets.pairs import build_pairs

    claim_output(out, "folder", what="pairs folder")
    result = build_pairs(sources, out, opts)
    say(f"{result.train} training pairs" + (f", {result.val} validation pairs" if result.val else "")
                  + f" written to {result.out}")
    if result.rejected:
        say(f"{len(result.rejected)} files rejected (see {result.out / 'rejected.txt'}):")
        for r in result.rejected[:10]:
            say(f"  {r['source']}: {r['reason']}")
        if len(result.rejected) > 10:
            say(f"  ... and {len(result.rejected) - 10} more")
    if result.contact_sheet:
        say(f"contact sheet: {result.contact_sheet}")
