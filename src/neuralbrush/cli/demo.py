"""``neuralbrush demo``: the main job end to end on built-in data, ending in a gallery page."""

from __future__ import annotations

from pathlib import Path

import typer


def demo(out: Path = typer.Option(Path("demo-output"), "-o", "--out", help="Folder for every output and index.html."),
         full: bool = typer.Option(False, "--full", help="Bigger datasets and longer training (tens of minutes on a CPU)."),
         stage: list[str] = typer.Option(None, "--stage", help="Run only these stages (and what they need): "
                                         "datasets, effects, gan, latent, style, pix2pix. Repeatable."),
         ) -> None:
    """Run the whole studio on procedural blooms and scikit-image photos; open OUT/index.html."""
    import shutil

    from ..core.errors import NeuralbrushError
    from ..core.outputs import claim_output
    from ..core.progress import console
    from ..demo import resolve_stages, run_demo

    resolve_stages(stage or None)  # an unknown stage is refused before anything is written
    created = not out.exists()
    claim_output(out, "folder")
    try:
        results = run_demo(out, full=full, stages=stage or None)
    except (OSError, NeuralbrushError):  # a disk that filled up: a demo folder we started is removed whole
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    failed = [r for r in results if r.error]
    for r in results:
        mark = "[red]failed[/]" if r.error else "[green]ok[/]"
        console.print(f"  {r.name:<9} {mark} {r.seconds:6.0f} s  {len(r.items)} outputs" + (f"  ({r.error})" if r.error else ""))
    console.print(f"gallery: {(out / 'index.html').resolve()}")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
