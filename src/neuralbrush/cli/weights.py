"""``neuralbrush weights list|fetch|import|path``: the pretrained-weights store."""

from __future__ import annotations

from pathlib import Path

import typer

weights_app = typer.Typer(help="Pretrained weights: list the catalogue, fetch, import and locate files.",
                          no_args_is_help=True)


@weights_app.command("list")
def list_cmd() -> None:
    """List every catalogue entry, whether it is in the store, its licence and size."""
    from rich.table import Table

    from ..core.progress import console
    from ..weights import store

    table = Table(title=f"weights store: {store.store_dir()}")
    for col in ("name", "kind", "stored", "size MB", "licence", "description"):
        table.add_column(col)
    for e in store.list_entries():
        found = store.find(e.name)
        stored = ("bundled" if e.bundled else "yes") if found else "-"
        size = e.size_mb or (round(found.stat().st_size / 2**20, 1) if found else None)
        table.add_row(e.name, e.kind, stored, f"{size:g}" if size else "?", e.licence, e.description)
    console.print(table)


@weights_app.command("fetch")
def fetch_cmd(name: str = typer.Argument(..., help="Catalogue name, e.g. vgg19 or ffhq256."),
              force: bool = typer.Option(False, help="Download again even if the file is stored.")) -> None:
    """Download a file into the store and verify it."""
    from ..core.outputs import claim_output
    from ..weights import store

    store.entry(name)  # an unknown name first
    claim_output(store.store_dir(), "folder", what="weights store")
    print(store.fetch(name, force=force))


@weights_app.command("import")
def import_cmd(name: str = typer.Argument(..., help="Catalogue name the file is."),
               file: Path = typer.Argument(..., help="The file you downloaded elsewhere.")) -> None:
    """Copy a file obtained elsewhere into the store (verified against the catalogue)."""
    from ..core.outputs import claim_output
    from ..weights import store

    store.entry(name)  # an unknown name first
    claim_output(store.store_dir(), "folder", what="weights store")
    print(store.import_file(name, file))


@weights_app.command("path")
def path_cmd(name: str = typer.Argument(..., help="Catalogue name.")) -> None:
    """Print where the file for NAME lives (fails if it is not stored)."""
    from ..weights import store

    print(store.require(name))


def register(app: typer.Typer) -> None:
    app.add_typer(weights_app, name="weights")
