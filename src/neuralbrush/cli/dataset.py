"""``neuralbrush dataset ...``: build datasets, pix2pix pairs, Flickr downloads.

The group is shared: ``build`` lives here, ``pairs`` in ``dataset_pairs.py`` and ``flickr`` in
``dataset_flickr.py``; each adds its command to ``dataset_app``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import typer

from ..core.options import cli_from
from ..datasets.build_options import BuildOptions

dataset_app = typer.Typer(help="Build datasets from your images: validate, crop, align faces, pairs, Flickr.",
                          no_args_is_help=True)

EXTRA_MODULES = ("dataset_pairs", "dataset_flickr")  # modules adding commands to dataset_app


def register(app: typer.Typer) -> None:
    for name in EXTRA_MODULES:
        importlib.import_module(f"{__package__}.{name}")
    app.add_typer(dataset_app, name="dataset")


@dataset_app.command("build")
@cli_from(BuildOptions)
def build_cmd(
    sources: list[Path] = typer.Argument(..., help="Folders (searched recursively), zip files or single images."),
    output: Path = typer.Option(..., "-o", "--output", help="Dataset to write: a .zip file or a folder."),
    *, opts: BuildOptions,
) -> None:
    """Validate, convert, crop or face-align and resize images into an NVlabs-layout dataset.

    Bad files are skipped and listed with their reason in OUT-report/rejected.csv; a contact sheet and a preview GIF land there too.
    """
    from ..datasets.build import build_dataset, print_summary

    from ..core.outputs import claim_output
    from ..datasets.build_output import report_dir_for

    claim_output(output, "file" if output.suffix.lower() == ".zip" else "folder", what="dataset")
    claim_output(report_dir_for(output), "folder", what="report folder")
    result = build_dataset(sources, output, opts)
    print_summary(result)
    print(result.output)
