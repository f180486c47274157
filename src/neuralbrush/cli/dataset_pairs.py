"""``neuralbrush dataset pairs``: aligned pix2pix pairs (derived input | photo) from photos."""

from __future__ import annotations

from pathlib import Path

import typer

from ..datasets.pairs import PairsOptions as _O
from .dataset import dataset_app

_D = _O()


@dataset_app.command("pairs")
def pairs_cmd(
    sources: list[Path] = typer.Argument(..., help="Folders (searched recursively), image files or zip files of photos."),
    out: Path = typer.Option(..., "-o", "--out", "--output", help="Output folder: train/, val/, dataset.json, contact_sheet.png."),
    input: str = typer.Option(_D.input, "--input", help="Input derived from each photo: edges (Canny lines on white) "
                              "or clusters (k-means colours in a fixed palette)."),
    clusters: int = typer.Option(_D.clusters, "--clusters", min=1, max=len(_D.palette),
                                 help="Number of colour clusters for --input clusters."),
    size: int = typer.Option(_D.size, "--size", min=8, help="Side of each half of a pair in pixels (pairs are 2*size x size)."),
    crop: str = typer.Option(_D.crop, "--crop", help="center: crop the middle square; pad: fit the whole photo and letterbox."),
    pad_color: str = typer.Option("0,0,0", "--pad-color", help="Letterbox colour for --crop pad (#RRGGBB, r,g,b or a name)."),
    thickness: int = typer.Option(_D.thickness, "--thickness", min=1, help="Edge line thickness in pixels for --input edges."),
    val_fraction: float = typer.Option(_D.val_fraction, "--val-fraction", min=0.0, max=0.99,
                                       help="Fraction of pairs written to val/ instead of train/."),
    min_size: int = typer.Option(_D.min_size, "--min-size", min=0, help="Reject photos whose shorter side is smaller."),
    seed: int = typer.Option(_D.seed, "--seed", help="Seed for k-means and the train/val split."),
    overwrite: bool = typer.Option(_D.overwrite, "--overwrite", help="Replace the pairs of an earlier run in OUT."),
) -> None:
    """Make pix2pix training pairs: the input derived from each photo (left) and the photo (right)."""
    from ..core.imageio import parse_color
    from ..core.progress import console

    def say(text: str) -> None:
        console.print(text, soft_wrap=True, markup=False, highlight=False)

    from ..datasets.pairs import PairsOptions, build_pairs

    opts = PairsOptions(input=input, size=size, crop=crop, clusters=clusters, thickness=thickness,
                        pad_color=parse_color(pad_color), val_fraction=val_fraction, min_size=min_size, seed=seed,
                        overwrite=overwrite)
    from ..core.outputs import claim_output

    opts.validate()
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
