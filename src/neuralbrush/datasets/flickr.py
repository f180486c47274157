"""Collect openly licensed photos from Flickr, with their licence and owner stored beside each one.

(Over 400 lines on purpose: the rate limiter, API client, licence table, options, window search
and ``download_flickr`` share the module's clock, sleep and window limits, which the hostile-server
tests replace on this module; the HTTP, file and photo-size parts are already split out.)

The flow follows Flickr's REST API (``format=json&nojsoncallback=1``):

1. ``flickr.photos.licenses.getInfo`` gives the licence table (id -> name, URL) at run time;
   ``--licence modifications`` / ``commercial`` pick the ids that allow derivative works (and
   commercial use), or the user lists ids.
2. ``flickr.photos.search`` with the licence filter and the size extras, ``per_page`` up to 500.
   Flickr returns at most 4000 results per query, so a query window whose ``total`` is larger
   is split in halves by upload date, recursively, until every window fits.
3. For each photo the largest offered size whose shorter side is at least ``--min-size`` is
   downloaded to ``DIR/<id>.jpg`` (or ``.png``/``.gif``, from the file's bytes), checked with
   the studio's image loader (a corrupt download is reported, not kept), and described in
   ``DIR/<id>.json`` (owner, page URL, licence, dates, source URL, sha256, modifications made).

Flickr's answers are untrusted input: ids, URLs, bodies and JSON shapes are checked before
they name a file or cause a request (:mod:`.flickr_files`, :mod:`.flickr_http`,
:mod:`.flickr_photos`); a bad search result is skipped and reported, a bad API answer is one
:class:`FlickrError`. API calls are spaced at least one second apart (Flickr allows about 3600
an hour per key) and downloads are spaced too. Progress lives in ``DIR/.flickr-state.json``:
windows and pages done, and the files downloaded with their sha256, so an interrupted run
resumes where it stopped and a rerun skips (after verifying) what it already has. Only the
standard library talks HTTP.
"""

from __future__ import annotations

import json
import math
import os
import time
import urllib.parse
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Sequence

from ..core.errors import UsageError
from ..core.options import option
from ..core.progress import ProgressEvent, ProgressFn, presenting
from .flickr_files import STATE_FILE, State, clean_text, photo_id, remove_partials, shown_id
from .flickr_http import (MAX_API_BYTES, FlickrError, HostRule, RefusedDownload, Status, check_api_url,
                          read_capped, request)
from .flickr_photos import SIZE_KEYS, Licence, as_int, choose_size, fetch_photo

__all__ = ["COMMERCIAL_LICENCES", "MODIFICATIONS_LICENCES", "FlickrClient", "FlickrError", "FlickrOptions",
           "FlickrResult", "Licence", "RateLimiter", "choose_size", "download_flickr",
           "fetch_licences", "resolve_licences", "SIZE_KEYS", "STATE_FILE"]

FLICKR_API_URL = "https://api.flickr.com/services/rest/"
#: Licences that allow modification (REFERENCE.md): BY-NC-SA 2.0, BY-NC 2.0, BY 2.0, BY-SA 2.0,
#: no known copyright restrictions, US government work, CC0, public domain mark, and the 4.0
#: versions of BY, BY-SA, BY-NC, BY-NC-SA.
MODIFICATIONS_LICENCES = (1, 2, 4, 5, 7, 8, 9, 10, 11, 12, 14, 15)
#: Licences that allow modification and commercial use.
COMMERCIAL_LICENCES = (4, 5, 7, 8, 9, 10, 11, 12)
EXTRAS = "license,owner_name,o_dims,url_o,url_k,url_h,url_b,date_upload,date_taken"
MAX_RESULTS_PER_QUERY = 4000
# Date windows one search may split into. A real query of a few million photos needs ~1,000; an
# answer that keeps claiming huge totals with empty pages would otherwise split without end.
MAX_WINDOWS = 4096
MAX_PER_PAGE = 500
FLICKR_START = int(datetime(2004, 1, 1, tzinfo=timezone.utc).timestamp())  # nothing was uploaded before
MAX_TIMEOUT = 600.0
MAX_RETRIES = 10
MAX_PHOTO_MB = 4096.0
SORTS = ("relevance", "date-posted-desc", "date-posted-asc", "date-taken-desc", "date-taken-asc",
         "interestingness-desc", "interestingness-asc")

# the clock and sleep every RateLimiter uses unless given its own (tests replace them)
default_clock: Callable[[], float] = time.monotonic
default_sleep: Callable[[float], None] = time.sleep


# ----------------------------------------------------------------------------- rate limiting

class RateLimiter:
    """Spaces events at least ``interval`` seconds apart on ``clock`` (sleeping with ``sleep``).

    ``times`` records when each event was let through (in clock time), so a test with a fake
    clock can check the spacing without really waiting.
    """

    def __init__(self, interval: float, *, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.interval = float(interval)
        self.clock = clock or default_clock
        self.sleep = sleep or default_sleep
        self.last: float | None = None
        self.times: list[float] = []

    def wait(self) -> None:
        now = self.clock()
        if self.last is not None:
            remaining = self.interval - (now - self.last)
            while remaining > 0:
                self.sleep(remaining)
                now = self.clock()
                remaining = self.interval - (now - self.last)
        self.last = now
        self.times.append(now)


# ----------------------------------------------------------------------------- API calls

def _parse_json(body: bytes) -> Any:
    """JSON from an API answer, or None when it is not JSON (including absurdly nested JSON)."""
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


class FlickrClient:
    """Calls Flickr REST methods, one call per ``interval`` seconds at most, only on the API's host."""

    def __init__(self, api_key: str, api_url: str = FLICKR_API_URL, *, limiter: RateLimiter | None = None,
                 timeout: float = 30.0, retries: int = 3, status: Status | None = None) -> None:
        if not api_key:
            raise UsageError("a Flickr API key is needed (--api-key or the FLICKR_API_KEY environment variable)")
        check_api_url(api_url)
        self.api_key = api_key
        self.api_url = api_url
        self.rule = HostRule.for_api(api_url, photos=False)
        self.limiter = limiter or RateLimiter(1.0)
        self.timeout = timeout
        self.retries = retries
        self.status = status
        self.calls: list[tuple[float, str]] = []  # (clock time, method) of every call made

    def call(self, method: str, **params: Any) -> dict:
        query = {"method": method, "api_key": self.api_key, "format": "json", "nojsoncallback": "1"}
        query.update({k: str(v) for k, v in params.items() if v is not None})
        sep = "&" if "?" in self.api_url else "?"
        try:
            body = request(self.api_url + sep + urllib.parse.urlencode(query), read_capped(MAX_API_BYTES, method),
                           rule=self.rule, limiter=self.limiter, timeout=self.timeout, retries=self.retries,
                           what=method, status=self.status)
        except RefusedDownload as e:  # e.g. the API redirected somewhere it must not
            raise FlickrError(f"{self.api_url} cannot be used for {method}: {e.detail}") from None
        self.calls.append((self.limiter.times[-1], method))
        data = _parse_json(body)
        if data is None:
            raise FlickrError(f"{self.api_url} did not answer {method} with JSON; is --api-url right?")
        if not isinstance(data, dict):
            raise FlickrError(f"{self.api_url} answered {method} with unexpected JSON")
        if data.get("stat") != "ok":
            message = clean_text(data.get("message") or "no message", 200).strip().rstrip(".")
            raise FlickrError(f"Flickr refused {method}: {message} (error code {clean_text(data.get('code', '?'), 20)})")
        return data


# ----------------------------------------------------------------------------- licences

def fetch_licences(client: FlickrClient) -> dict[int, Licence]:
    """The licence table from ``flickr.photos.licenses.getInfo``."""
    data = client.call("flickr.photos.licenses.getInfo")
    try:
        rows = data["licenses"]["license"]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise TypeError
        return {int(r["id"]): Licence(int(r["id"]), clean_text(r.get("name", ""), 200), clean_text(r.get("url", ""), 300))
                for r in rows}
    except (KeyError, TypeError, ValueError, OverflowError):
        raise FlickrError("Flickr's licence table has an unexpected shape") from None


def resolve_licences(spec: str, table: dict[int, Licence]) -> list[int]:
    """``modifications``, ``commercial`` or a comma list of ids -> the licence ids to search for."""
    s = spec.strip().lower()
    if s in ("modifications", "modification", "derivatives"):
        wanted = list(MODIFICATIONS_LICENCES)
    elif s == "commercial":
        wanted = list(COMMERCIAL_LICENCES)
    else:
        try:
            wanted = [int(p) for p in s.split(",") if p.strip()]
        except ValueError:
            raise UsageError(f"--licence must be modifications, commercial or licence ids like 4,5,9; got {spec!r}") from None
        unknown = [i for i in wanted if i not in table]
        if unknown or not wanted:
            known = ", ".join(f"{i} ({table[i].name})" for i in sorted(table))
            raise UsageError(f"unknown Flickr licence id(s) {unknown or spec!r}; Flickr knows {known}")
    ids = [i for i in wanted if i in table]
    if not ids:
        raise FlickrError("none of the wanted licences is in Flickr's licence table")
    return sorted(set(ids))


# ----------------------------------------------------------------------------- options & state

def _parse_day(value: str | int | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    try:
        d = date.fromisoformat(str(value))
    except ValueError:
        raise UsageError(f"{name} must be a date like 2015-06-30, got {value!r}") from None
    return int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp())


@dataclass
class FlickrOptions:
    """Options of ``neuralbrush dataset flickr`` (the CLI reads its defaults from here)."""

    query: str = option("", "Search text (or comma-separated tags with --tags).")
    licence: str = option("modifications", "modifications (licences allowing derivative works), commercial (also "
                                           "commercial use) or licence ids such as 4,5,9.", flag=("--licence", "--license"))
    min_size: int = option(800, "Skip photos whose largest offered size has a shorter side below this (px).", min=0)
    limit: int = option(100, "Stop when the folder holds this many photos.", min=1)
    api_url: str = option(FLICKR_API_URL, "Flickr REST endpoint (http/https). Photos are fetched only from Flickr's "
                                          "static photo hosts or from this endpoint's own host and port.")
    tags: bool = option(False, "Treat --query as comma-separated tags (all must match).", flag="--tags")
    sort: Literal["relevance", "date-posted-desc", "date-posted-asc", "date-taken-desc", "date-taken-asc",
                  "interestingness-desc", "interestingness-asc"] = option(
        "relevance", "relevance, date-posted-desc/asc, date-taken-desc/asc or interestingness-desc/asc.")
    prefer: Literal["largest", "smallest"] = option("largest", "Which size to take among those >= --min-size: "
                                                               "largest or smallest.")
    per_page: int = option(MAX_PER_PAGE, "Results per search call.", min=1, max=MAX_PER_PAGE)
    since: str | None = option(None, "Only photos uploaded on or after this day (YYYY-MM-DD; default: all).")
    until: str | None = option(None, "Only photos uploaded on or before this day (YYYY-MM-DD; default: today, "
                                     "fixed at the first run and kept on resume).")
    api_interval: float = option(1.0, "Seconds between API calls (at least 1).", min=1.0)
    download_interval: float = option(0.5, "Seconds between image downloads.", min=0.0)
    timeout: float = option(30.0, "Seconds to wait for any answer (connect, headers, each read) before trying "
                                  "again.", min=0.001, max=MAX_TIMEOUT)
    retries: int = option(3, "Extra tries after HTTP 429/5xx, a timeout or a dropped connection, with a growing "
                             "pause.", min=0, max=MAX_RETRIES)
    max_photo_mb: float = option(100.0, "Refuse a photo larger than this many MB (it never reaches disk in full).",
                                 min=0.001, max=MAX_PHOTO_MB)

    def validate(self) -> None:
        """Check every option before anything is created or requested."""
        if not isinstance(self.query, str) or not self.query.strip():
            raise UsageError("--query must not be empty")
        if self.sort not in SORTS:
            raise UsageError(f"unknown --sort {self.sort!r}; use one of {', '.join(SORTS)}")
        if self.prefer not in ("largest", "smallest"):
            raise UsageError(f"--prefer must be largest or smallest, got {self.prefer!r}")
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            raise UsageError(f"--per-page must be between 1 and {MAX_PER_PAGE}, got {self.per_page}")
        if self.limit < 1:
            raise UsageError(f"--limit must be at least 1, got {self.limit}")
        if self.min_size < 0:
            raise UsageError(f"--min-size must not be negative, got {self.min_size}")
        if not math.isfinite(self.api_interval) or self.api_interval < 1.0:
            raise UsageError("--api-interval must be at least 1 second (Flickr allows about 3600 calls an hour)")
        if not math.isfinite(self.download_interval) or self.download_interval < 0:
            raise UsageError("--download-interval must not be negative")
        if not (math.isfinite(self.timeout) and 0 < self.timeout <= MAX_TIMEOUT):
            raise UsageError(f"--timeout must be more than 0 and at most {MAX_TIMEOUT:g} seconds, got {self.timeout}")
        if not 0 <= self.retries <= MAX_RETRIES:
            raise UsageError(f"--retries must be between 0 and {MAX_RETRIES}, got {self.retries}")
        if not (math.isfinite(self.max_photo_mb) and 0 < self.max_photo_mb <= MAX_PHOTO_MB):
            raise UsageError(f"--max-photo-mb must be more than 0 and at most {MAX_PHOTO_MB:g}, got {self.max_photo_mb}")
        check_api_url(self.api_url)
        since, until = _parse_day(self.since, "--since"), _parse_day(self.until, "--until")
        if since is not None and until is not None and since > until:
            raise UsageError(f"--since {self.since} is after --until {self.until}")

    @property
    def max_photo_bytes(self) -> int:
        return max(1, int(self.max_photo_mb * (1 << 20)))




@dataclass
class FlickrResult:
    out: Path
    downloaded: list[str]  # ids downloaded by this run
    kept: int  # ids already present and verified
    rejected: list[dict]  # {"id", "reason", "detail"} for every search result skipped
    api_calls: int
    windows: int  # upload-date windows searched

    @property
    def total(self) -> int:
        return self.kept + len(self.downloaded)


# ----------------------------------------------------------------------------- search

class _Search:
    """Walks the result windows of one search, splitting windows Flickr would truncate."""

    def __init__(self, client: FlickrClient, params: dict, state: State, per_page: int) -> None:
        self.client = client
        self.params = params
        self.state = state
        self.per_page = per_page
        self.windows_seen = 0
        self.truncated: list[str] = []

    def _page(self, lo: int, hi: int, page: int) -> dict:
        data = self.client.call("flickr.photos.search", **self.params, min_upload_date=lo, max_upload_date=hi,
                                per_page=self.per_page, page=page)
        photos = data.get("photos")
        if not isinstance(photos, dict):
            raise FlickrError("Flickr's search answer has no 'photos'")
        return photos

    def pages(self, lo: int, hi: int) -> Iterator[tuple[str, int, list[dict]]]:
        """Yield ``(window, page, photos)``; a page counts as done once the consumer asks for the next."""
        pending = [(lo, hi)]
        max_pages = math.ceil(MAX_RESULTS_PER_QUERY / self.per_page)
        while pending:
            lo, hi = pending.pop(0)
            key = f"{lo}-{hi}"
            w = self.state.windows.get(key)
            if w is not None and w.get("split"):
                pending[:0] = [tuple(c) for c in w["split"]]
                continue
            if w is not None and w.get("done"):
                continue
            first = None
            if w is None:
                first = self._page(lo, hi, 1)
                total = as_int(first.get("total"))
                if total > MAX_RESULTS_PER_QUERY and hi > lo and len(self.state.windows) < MAX_WINDOWS:
                    mid = (lo + hi) // 2
                    children = [[lo, mid], [mid + 1, hi]]
                    self.state.windows[key] = {"split": children, "total": total}
                    self.state.save()
                    pending[:0] = [tuple(c) for c in children]
                    continue
                if total > MAX_RESULTS_PER_QUERY:
                    self.truncated.append(key)
                w = {"total": total, "pages": min(max(as_int(first.get("pages")), 1), max_pages), "pages_done": []}
                self.state.windows[key] = w
                self.state.save()
            self.windows_seen += 1
            for page in range(1, w["pages"] + 1):
                if page in w["pages_done"]:
                    continue
                data = first if (page == 1 and first is not None) else self._page(lo, hi, page)
                photos = data.get("photo")
                if photos is None:
                    photos = []
                if not isinstance(photos, list):
                    raise FlickrError("Flickr's search answer has a 'photo' that is not a list")
                yield key, page, photos
                w["pages_done"].append(page)
                self.state.save()
                if not photos:
                    break
            w["done"] = True
            self.state.save()


# ----------------------------------------------------------------------------- main entry

def _missing_parents(path: Path) -> list[Path]:
    """``path`` and its ancestors that do not exist yet, deepest first."""
    missing = []
    p = path.absolute()
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    return missing


def download_flickr(out: str | os.PathLike, api_key: str, options: FlickrOptions, *,
                    clock: Callable[[], float] | None = None, sleep: Callable[[float], None] | None = None,
                    progress: ProgressFn | None = None) -> FlickrResult:
    """Search Flickr and download up to ``options.limit`` photos into ``out`` (resumable).

    ``clock`` / ``sleep`` drive the rate limiters (tests pass a fake clock). ``progress``
    receives a ProgressEvent (``step``: photos in the folder so far, ``total``: the limit,
    ``message``: what it is doing now) before every request and after every photo. Files are
    written only directly inside ``out``; search results that are malformed or unsafe are
    skipped and listed in ``result.rejected`` and ``flickr-report.json``. A failure of the API
    itself raises :class:`FlickrError`; when that happens before anything was downloaded, the
    folders this call created are removed again.
    """
    from ..core.checkpoint import write_json

    opts = options
    opts.validate()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o {out} exists and is not a folder")
    done = [0]  # photos in the folder, for progress events

    with presenting(progress, "flickr") as show:
        def status(message: str) -> None:
            show(ProgressEvent(done[0], opts.limit, message, task="flickr"))

        api_limiter = RateLimiter(opts.api_interval, clock=clock, sleep=sleep)
        dl_limiter = RateLimiter(opts.download_interval, clock=clock, sleep=sleep)
        client = FlickrClient(api_key, opts.api_url, limiter=api_limiter, timeout=opts.timeout, retries=opts.retries,
                              status=status)
        table = fetch_licences(client)  # before anything is created: a refused key leaves no folder
        licences = resolve_licences(opts.licence, table)
        lo = _parse_day(opts.since, "--since") or FLICKR_START
        until = _parse_day(opts.until, "--until")
        hi = until + 86399 if until is not None else None  # --until is inclusive (the whole day)

        created = _missing_parents(out)
        out.mkdir(parents=True, exist_ok=True)
        out_real = Path(os.path.realpath(out))
        remove_partials(out_real)
        state = State(out_real)
        signature = {"query": opts.query, "tags": opts.tags, "licences": licences, "sort": opts.sort,
                     "since": lo, "until": hi, "per_page": opts.per_page}
        if state.data.get("search") != signature:  # a different search: its windows do not apply
            state.data.update(search=signature, windows={}, bounds=None)
        if state.data.get("bounds") is None:
            state.data["bounds"] = [lo, hi if hi is not None else int(time.time())]
        lo, hi = state.data["bounds"]
        kept = state.verify(out_real)
        done[0] = kept

        downloaded: list[str] = []
        rejected: list[dict] = []
        search = _Search(client, _search_params(opts, licences), state, opts.per_page)
        photo_rule = HostRule.for_api(opts.api_url, photos=True)

        def report(error: str | None = None) -> None:
            rep = {"query": opts.query, "licences": {i: asdict(table[i]) for i in licences}, "photos": done[0],
                   "downloaded_this_run": len(downloaded), "already_present": kept, "api_calls": len(client.calls),
                   "windows_searched": search.windows_seen, "windows_truncated": search.truncated, "rejected": rejected}
            if error:
                rep["error"] = error
            write_json(out_real / "flickr-report.json", rep)
            options_json = asdict(opts)
            options_json["api_key"] = "(not stored)"
            write_json(out_real / "flickr-options.json", options_json)

        try:
            state.save()
            if done[0] < opts.limit:
                _walk(search, lo, hi, opts, state, done, downloaded, rejected,
                      lambda photo, pid: fetch_photo(photo, pid, out_real, opts, table, licences, dl_limiter,
                                                     photo_rule, status), status)
                status("finished")
        except FlickrError as e:
            if not downloaded and created:  # nothing to keep: leave the disk as it was
                (out_real / STATE_FILE).unlink(missing_ok=True)
                for folder in created:
                    try:
                        folder.rmdir()
                    except OSError:
                        break
            else:
                report(str(e))
            raise
        report()
        return FlickrResult(out, downloaded, kept, rejected, len(client.calls), search.windows_seen)


def _search_params(opts: FlickrOptions, licences: Sequence[int]) -> dict[str, Any]:
    params: dict[str, Any] = {"license": ",".join(map(str, licences)), "extras": EXTRAS, "sort": opts.sort,
                              "media": "photos", "content_type": 1}
    if opts.tags:
        params.update(tags=opts.query, tag_mode="all")
    else:
        params["text"] = opts.query
    return params


def _walk(search: _Search, lo: int, hi: int, opts: FlickrOptions, state: State, done: list[int],
          downloaded: list[str], rejected: list[dict], process: Callable[[dict, str], dict], status: Status) -> None:
    """Take search results until the folder holds ``opts.limit`` photos or the search ends."""
    seen: set[str] = set()
    pages = search.pages(lo, hi)
    try:
        for _window, _page, photos in pages:
            for photo in photos:
                if done[0] >= opts.limit:
                    break
                if not isinstance(photo, dict):
                    rejected.append({"id": shown_id(photo), "reason": "bad-entry",
                                     "detail": f"a search result that is a {type(photo).__name__}, not an object"})
                    continue
                raw = photo.get("id")
                pid = photo_id(raw)
                if pid is None:
                    rejected.append({"id": shown_id(raw), "reason": "unsafe-id" if raw else "bad-entry",
                                     "detail": "the photo id is missing" if not raw else
                                     "the photo id is not a decimal number, so no file is named after it"})
                    continue
                if pid in seen:
                    continue
                seen.add(pid)
                if pid in state.downloaded:
                    continue  # verified above
                rec = process(photo, pid)
                if "reason" in rec:
                    rejected.append(rec)
                    continue
                state.downloaded[pid] = rec
                state.save()
                downloaded.append(pid)
                done[0] += 1
                status(f"saved photo {pid}")
            if done[0] >= opts.limit:
                break
    finally:
        pages.close()
