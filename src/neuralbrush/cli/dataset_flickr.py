"""``neuralbrush dataset flickr``: download openly licensed photos with their licence metadata."""

from __future__ import annotations

from pathlib import Path

import typer

from ..core.options import cli_from
from ..datasets.flickr import FlickrOptions
from .dataset import dataset_app


@dataset_app.command("flickr")
@cli_from(FlickrOptions)
def flickr_cmd(
    out: Path = typer.Option(..., "-o", "--out", "--output", help="Folder for <id>.jpg + <id>.json; rerun to resume."),
    api_key: str = typer.Option(..., "--api-key", envvar="FLICKR_API_KEY", show_envvar=True,
                                help="Your Flickr API key (never written to disk)."),
    *, opts: FlickrOptions,
) -> None:
    """Search Flickr for openly licensed photos and download them with owner and licence metadata."""
    from ..core.progress import console

    def say(text: str) -> None:
        console.print(text, soft_wrap=True, markup=False, highlight=False)

    from ..datasets.flickr import download_flickr

    from ..core.outputs import claim_output

    claim_output(out, "folder")  # refused before the first API call
    # the default bar refreshes on its own, so elapsed time moves while a server is slow
    result = download_flickr(out, api_key, opts)
    say(f"{result.total} photos in {result.out} ({len(result.downloaded)} new, {result.kept} already there; "
                  f"{result.api_calls} API calls over {result.windows} upload-date windows)")
    if result.rejected:
        reasons: dict[str, int] = {}
        for r in result.rejected:
            reasons[r["reason"]] = reasons.get(r["reason"], 0) + 1
        say("skipped: " + ", ".join(f"{n} {k}" for k, n in sorted(reasons.items()))
                      + f" (details in {result.out / 'flickr-report.json'})")
    if result.total < opts.limit:
        say(f"the search ran out of matching photos before --limit {opts.limit}")
