"""``neuralbrush dataset ...``: build datasets, pix2pix pairs, Flickr downloads.

The group is shared: ``build`` lives here, ``pairs`` in ``dataset_pairs.py`` and ``flickr`` in
``dataset_flickr.py``; each adds its command to ``dataset_app``.
"""

from __future__ import annotations

import importlib
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from ..datasets.build_options import CROPS

dataset_app = typer.Typer(help="Build datasets from your images: validate, crop, align faces, pairs, Flickr.",
                          no_args_is_help=True)

EXTRA_MODULES = ("dataset_pairs", "dataset_flickr")  # modules adding commands to dataset_app


def register(app: typer.Typer) -> None:
    for name in EXTRA_MODULES:
        importlib.import_module(f"{__package__}.{name}")
    app.add_typer(dataset_app, name="dataset")


Crop = Enum("Crop", {c: c for c in CROPS}, type=str)  # choices shown by --help


def _default(name: str):
    from ..datasets.build_options import BuildOptions

    return BuildOptions.__dataclass_fields__[name].default


@dataset_app.command("build")
def build_cmd(
    sources: list[Path] = typer.Argument(..., help="Folders (searched recursively), zip files or single images."),
    output: Path = typer.Option(..., "-o", "--output", help="Dataset to write: a .zip file or a folder."),
    size: int = typer.Option(_default("size"), "--size", help="Output resolution in pixels (a power of two)."),
    crop: Crop = typer.Option(_default("crop"), "--crop",
                             help="center: crop the middle square; pad: letterbox the whole image; "
                                  "face: detect the eyes and align like FFHQ."),
    min_size: int = typer.Option(_default("min_size"), "--min-size", min=0,
                                 help="Reject images whose used region is smaller (shorter side for center, "
                                      "longer side for pad, face crop side for face)."),
    mirror: bool = typer.Option(_default("mirror"), "--mirror/--no-mirror", help="Also write x-flipped copies."),
    dedupe: bool = typer.Option(_default("dedupe"), "--dedupe/--no-dedupe",
                                help="Drop exact (same pixels) and near (perceptual hash) duplicates."),
    dedupe_threshold: int = typer.Option(_default("dedupe_threshold"), "--dedupe-threshold", min=0, max=31,
                                         help="Near duplicates: largest Hamming distance of the 64-bit pHash."),
    dedupe_difference: float = typer.Option(_default("dedupe_difference"), "--dedupe-difference", min=0, max=255,
                                            help="Near duplicates: largest mean colour difference (0-255) of "
                                                 "16x16 thumbnails that confirms a pHash match."),
    labels_from_folders: bool = typer.Option(_default("labels_from_folders"), "--labels-from-folders",
                                             help="Label images by their top-level folder (class names sorted)."),
    max_images: Optional[int] = typer.Option(_default("max_images"), "--max-images", min=1,
                                             help="Stop after this many accepted images (default: all)."),
    pad_color: str = typer.Option(_default("pad_color"), "--pad-color", help="Letterbox colour for --crop pad."),
    background: str = typer.Option(_default("background"), "--background",
                                   help="Colour transparent pixels are composited on."),
    workers: int = typer.Option(_default("workers"), "--workers", min=0,
                                help="Worker processes (0 = one per CPU core)."),
    sample_count: int = typer.Option(_default("sample_count"), "--sample-count", min=0,
                                     help="Images shown in the contact sheet and preview GIF."),
    overwrite: bool = typer.Option(_default("overwrite"), "--overwrite", help="Replace an existing output."),
) -> None:
    """Validate, convert, crop or face-align and resize images into an NVlabs-layout dataset.

    Bad files are skipped and listed with their reason in OUT-report/rejected.csv; a contact sheet and a preview GIF land there too.
    """
    from ..datasets.build import build_dataset, print_summary
    from ..datasets.build_options import BuildOptions

    opts = BuildOptions(size=size, crop=Crop(crop).value, min_size=min_size, mirror=mirror, dedupe=dedupe,
                        dedupe_threshold=dedupe_threshold, dedupe_difference=dedupe_difference, labels_from_folders=labels_from_folders,
                        max_images=max_images, pad_color=pad_color, background=background, workers=workers,
                        sample_count=sample_count, overwrite=overwrite)
    from ..core.outputs import claim_output
    from ..datasets.build_output import report_dir_for

    opts.validate()
    claim_output(output, "file" if output.suffix.lower() == ".zip" else "folder", what="dataset")
    claim_output(report_dir_for(output), "folder", what="report folder")
    result = build_dataset(sources, output, opts)
    print_summary(result)
    print(result.output)
