"""``neuralbrush dataset ...``: build datasets, pix2pix pairs, Flickr downloads.

The group is shared: ``build`` lives here, ``pairs`` in ``dataset_pairs.py`` and ``flickr`` in
``dataset_flickr.py``; each adds its command to ``dataset_app``.
"""

from __future__ import annotations

import importlib

import typer

dataset_app = typer.Typer(help="Build datasets from your images: validate, crop, align faces, pairs, Flickr.",
                          no_args_is_help=True)

EXTRA_MODULES = ("dataset_pairs",)  # modules adding commands to dataset_app


def register(app: typer.Typer) -> None:
    for name in EXTRA_MODULES:
        importlib.import_module(f"{__package__}.{name}")
    app.add_typer(dataset_app, name="dataset")
