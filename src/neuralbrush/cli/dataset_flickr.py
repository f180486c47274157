"""``neuralbrush dataset flickr``: download openly licensed photos with their licence metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..datasets.flickr import FlickrOptions as _O
from .dataset import dataset_app

_D = _O()


@dataset_app.command("flickr")
def flickr_cmd(
    query: str = typer.Option(..., "--query", help="Search text (or comma-separated tags with --tags)."),
    out: Path = typer.Option(..., "-o", "--out", "--output", help="Folder for <id>.jpg + <id>.json; rerun to resume."),
    api_key: str = typer.Option(..., "--api-key", envvar="FLICKR_API_KEY", show_envvar=True,
                                help="Your Flickr API key (never written to disk)."),
    licence: str = typer.Option(_D.licence, "--licence", "--license",
                                help="modifications (licences allowing derivative works), commercial (also "
                                     "commercial use) or licence ids such as 4,5,9."),
    min_size: int = typer.Option(_D.min_size, "--min-size", min=0,
                                 help="Skip photos whose largest offered size has a shorter side below this (px)."),
    limit: int = typer.Option(_D.limit, "--limit", min=1, help="Stop when the folder holds this many photos."),
    api_url: str = typer.Option(_D.api_url, "--api-url",
                                help="Flickr REST endpoint (http/https). Photos are fetched only from Flickr's "
                                     "static photo hosts or from this endpoint's own host and port."),
    tags: bool = typer.Option(_D.tags, "--tags", help="Treat --query as comma-separated tags (all must match)."),
    sort: str = typer.Option(_D.sort, "--sort", help="relevance, date-posted-desc/asc, date-taken-desc/asc or "
                                                     "interestingness-desc/asc."),
    prefer: str = typer.Option(_D.prefer, "--prefer", help="Which size to take among those >= --min-size: "
                                                         "largest or smallest."),
    since: Optional[str] = typer.Option(_D.since, "--since", help="Only photos uploaded on or after this day "
                                                                  "(YYYY-MM-DD; default: all)."),
    until: Optional[str] = typer.Option(_D.until, "--until", help="Only photos uploaded on or before this day "
                                                                  "(YYYY-MM-DD; default: today)."),
    per_page: int = typer.Option(_D.per_page, "--per-page", min=1, max=500, help="Results per search call."),
    api_interval: float = typer.Option(_D.api_interval, "--api-interval", min=1.0,
                                       help="Seconds between API calls (at least 1)."),
    download_interval: float = typer.Option(_D.download_interval, "--download-interval", min=0.0,
                                            help="Seconds between image downloads."),
    timeout: float = typer.Option(_D.timeout, "--timeout", min=0.001, max=600.0,
                                  help="Seconds to wait for any answer (connect, headers, each read) before "
                                       "trying again."),
    retries: int = typer.Option(_D.retries, "--retries", min=0, max=10,
                                help="Extra tries after HTTP 429/5xx, a timeout or a dropped connection, with a "
                                     "growing pause."),
    max_photo_mb: float = typer.Option(_D.max_photo_mb, "--max-photo-mb", min=0.001, max=4096.0,
                                       help="Refuse a photo larger than this many MB (it never reaches disk in "
                                            "full)."),
) -> None:
    """Search Flickr for openly licensed photos and download them with owner and licence metadata."""
    from ..core.progress import console, make_progress

    def say(text: str) -> None:
        console.print(text, soft_wrap=True, markup=False, highlight=False)

    from ..datasets.flickr import FlickrOptions, FlickrProgress, download_flickr

    opts = FlickrOptions(query=query, licence=licence, min_size=min_size, limit=limit, api_url=api_url, tags=tags,
                         sort=sort, prefer=prefer, since=since, until=until, per_page=per_page,
                         api_interval=api_interval, download_interval=download_interval, timeout=timeout,
                         retries=retries, max_photo_mb=max_photo_mb)
    opts.validate()  # every option checked before the bar appears
    from ..core.outputs import claim_output

    claim_output(out, "folder")  # refused before the first API call
    with make_progress() as prog:  # refreshes on its own, so elapsed time moves while a server is slow
        task = prog.add_task("flickr", total=limit, info="starting")

        def progress(event: FlickrProgress) -> None:
            prog.update(task, completed=event.done, info=event.message[:70])

        result = download_flickr(out, api_key, opts, progress=progress)
    say(f"{result.total} photos in {result.out} ({len(result.downloaded)} new, {result.kept} already there; "
                  f"{result.api_calls} API calls over {result.windows} upload-date windows)")
    if result.rejected:
        reasons: dict[str, int] = {}
        for r in result.rejected:
            reasons[r["reason"]] = reasons.get(r["reason"], 0) + 1
        say("skipped: " + ", ".join(f"{n} {k}" for k, n in sorted(reasons.items()))
                      + f" (details in {result.out / 'flickr-report.json'})")
    if result.total < limit:
        say(f"the search ran out of matching photos before --limit {limit}")
