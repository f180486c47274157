"""Collect openly licensed photos from Flickr, with their licence and owner stored beside each one.

The flow follows Flickr's REST API (``format=json&nojsoncallback=1``):

1. ``flickr.photos.licenses.getInfo`` gives the licence table (id -> name, URL) at run time;
   ``--licence modifications`` / ``commercial`` pick the ids that allow derivative works (and
   commercial use), or the user lists ids.
2. ``flickr.photos.search`` with the licence filter and the size extras, ``per_page`` up to 500.
   Flickr returns at most 4000 results per query, so a query window whose ``total`` is larger
   is split in halves by upload date, recursively, until every window fits.
3. For each photo the largest offered size whose shorter side is at least ``--min-size`` is
   downloaded to ``DIR/<id>.jpg``, checked with the studio's image loader (a corrupt download
   is reported, not kept), and described in ``DIR/<id>.json`` (owner, page URL, licence, dates,
   source URL, sha256, modifications made).

API calls are spaced at least one second apart (Flickr allows about 3600 an hour per key) and
downloads are spaced too. Progress lives in ``DIR/.flickr-state.json``: windows and pages done,
and the files downloaded with their sha256, so an interrupted run resumes where it stopped and
a rerun skips (after verifying) what it already has. Only the standard library talks HTTP.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import math
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ..core.errors import ImageLoadError, NeuralbrushError, UsageError

FLICKR_API_URL = "https://api.flickr.com/services/rest/"
#: Licences that allow modification (REFERENCE.md): BY-NC-SA 2.0, BY-NC 2.0, BY 2.0, BY-SA 2.0,
#: no known copyright restrictions, US government work, CC0, public domain mark, and the 4.0
#: versions of BY, BY-SA, BY-NC, BY-NC-SA.
MODIFICATIONS_LICENCES = (1, 2, 4, 5, 7, 8, 9, 10, 11, 12, 14, 15)
#: Licences that allow modification and commercial use.
COMMERCIAL_LICENCES = (4, 5, 7, 8, 9, 10, 11, 12)
SIZE_KEYS = ("o", "k", "h", "b")  # original, 2048, 1600, 1024 px on the longer side
EXTRAS = "license,owner_name,o_dims,url_o,url_k,url_h,url_b,date_upload,date_taken"
MAX_RESULTS_PER_QUERY = 4000
MAX_PER_PAGE = 500
FLICKR_START = int(datetime(2004, 1, 1, tzinfo=timezone.utc).timestamp())  # nothing was uploaded before
MAX_DOWNLOAD_BYTES = 256 << 20
STATE_FILE = ".flickr-state.json"
USER_AGENT = "neuralbrush-dataset-flickr/0.1 (+https://github.com/neuralbrush)"
SORTS = ("relevance", "date-posted-desc", "date-posted-asc", "date-taken-desc", "date-taken-asc",
         "interestingness-desc", "interestingness-asc")

# the clock and sleep every RateLimiter uses unless given its own (tests replace them)
default_clock: Callable[[], float] = time.monotonic
default_sleep: Callable[[float], None] = time.sleep


class FlickrError(NeuralbrushError):
    """Flickr refused a call or could not be reached."""


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


# ----------------------------------------------------------------------------- HTTP

_TRANSIENT_HTTP = (429, 500, 502, 503, 504)


def _http_get(url: str, *, limiter: RateLimiter, timeout: float, retries: int,
              max_bytes: int = MAX_DOWNLOAD_BYTES, what: str = "") -> tuple[bytes, str]:
    """GET ``url`` politely (rate-limited, a few retries with back-off on transient failures).

    Returns ``(body, final_url)``; raises :class:`FlickrError` with one sentence otherwise.
    """
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    host = urllib.parse.urlsplit(url).netloc
    for attempt in range(retries + 1):
        limiter.wait()
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                body = resp.read(max_bytes + 1)
                if len(body) > max_bytes:
                    raise FlickrError(f"{what or url} is larger than {max_bytes >> 20} MB; not downloaded")
                return body, resp.geturl()
        except urllib.error.HTTPError as e:
            if e.code in _TRANSIENT_HTTP and attempt < retries:
                limiter.sleep(limiter.interval * 2 ** (attempt + 1))
                continue
            raise FlickrError(f"{host} answered HTTP {e.code} ({e.reason}) for {what or url}") from None
        except (OSError, http.client.HTTPException) as e:  # URLError, timeouts, resets, short reads
            if attempt < retries:
                limiter.sleep(limiter.interval * 2 ** (attempt + 1))
                continue
            reason = getattr(e, "reason", None) or str(e) or type(e).__name__
            raise FlickrError(f"cannot reach {host} ({reason}) for {what or url}") from None
    raise AssertionError("unreachable")


class FlickrClient:
    """Calls Flickr REST methods, one call per ``interval`` seconds at most."""

    def __init__(self, api_key: str, api_url: str = FLICKR_API_URL, *, limiter: RateLimiter | None = None,
                 timeout: float = 60.0, retries: int = 3) -> None:
        if not api_key:
            raise UsageError("a Flickr API key is needed (--api-key or the FLICKR_API_KEY environment variable)")
        self.api_key = api_key
        self.api_url = api_url
        self.limiter = limiter or RateLimiter(1.0)
        self.timeout = timeout
        self.retries = retries
        self.calls: list[tuple[float, str]] = []  # (clock time, method) of every call made

    def call(self, method: str, **params: Any) -> dict:
        query = {"method": method, "api_key": self.api_key, "format": "json", "nojsoncallback": "1"}
        query.update({k: str(v) for k, v in params.items() if v is not None})
        sep = "&" if "?" in self.api_url else "?"
        body, _ = _http_get(self.api_url + sep + urllib.parse.urlencode(query), limiter=self.limiter,
                            timeout=self.timeout, retries=self.retries, max_bytes=64 << 20, what=method)
        self.calls.append((self.limiter.times[-1], method))
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise FlickrError(f"{self.api_url} did not answer {method} with JSON; is --api-url right?") from None
        if not isinstance(data, dict):
            raise FlickrError(f"{self.api_url} answered {method} with unexpected JSON")
        if data.get("stat") != "ok":
            message = str(data.get("message") or "no message").strip().rstrip(".")
            raise FlickrError(f"Flickr refused {method}: {message} (error code {data.get('code', '?')})")
        return data


# ----------------------------------------------------------------------------- licences

@dataclass(frozen=True)
class Licence:
    id: int
    name: str
    url: str


def fetch_licences(client: FlickrClient) -> dict[int, Licence]:
    """The licence table from ``flickr.photos.licenses.getInfo``."""
    data = client.call("flickr.photos.licenses.getInfo")
    try:
        rows = data["licenses"]["license"]
        return {int(r["id"]): Licence(int(r["id"]), str(r.get("name", "")), str(r.get("url", ""))) for r in rows}
    except (KeyError, TypeError, ValueError):
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


# ----------------------------------------------------------------------------- photos

def _int(v: Any) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return 0


def choose_size(photo: dict, min_size: int, prefer: str = "largest") -> dict | None:
    """The size to download: among url_o/k/h/b whose shorter side is >= ``min_size``, the
    largest (or, with ``prefer='smallest'``, the smallest). None when no size is big enough."""
    options = []
    for key in SIZE_KEYS:
        url = photo.get(f"url_{key}")
        w = _int(photo.get(f"width_{key}")) or (_int(photo.get("o_width")) if key == "o" else 0)
        h = _int(photo.get(f"height_{key}")) or (_int(photo.get("o_height")) if key == "o" else 0)
        if url and w > 0 and h > 0 and min(w, h) >= min_size:
            options.append({"key": key, "url": str(url), "width": w, "height": h})
    if not options:
        return None
    pick = max if prefer == "largest" else min
    return pick(options, key=lambda o: o["width"] * o["height"])


def _iso(ts: Any) -> str | None:
    t = _int(ts)
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat().replace("+00:00", "Z") if t else None


def _extension(url: str) -> str:
    ext = Path(urllib.parse.urlsplit(url).path).suffix.lower()
    return ".jpg" if ext == ".jpeg" else ext if ext in (".jpg", ".png", ".gif") else ".jpg"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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

    query: str = ""
    licence: str = "modifications"
    min_size: int = 800
    limit: int = 100
    api_url: str = FLICKR_API_URL
    tags: bool = False
    sort: str = "relevance"
    prefer: str = "largest"
    per_page: int = MAX_PER_PAGE
    since: str | None = None  # first upload day (YYYY-MM-DD); default: Flickr's beginning
    until: str | None = None  # last upload day; default: now (fixed at the first run, kept on resume)
    api_interval: float = 1.0
    download_interval: float = 0.5
    timeout: float = 60.0
    retries: int = 3

    def validate(self) -> None:
        if not self.query.strip():
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
        if self.api_interval < 1.0:
            raise UsageError("--api-interval must be at least 1 second (Flickr allows about 3600 calls an hour)")
        if self.download_interval < 0:
            raise UsageError("--download-interval must not be negative")


@dataclass
class FlickrResult:
    out: Path
    downloaded: list[str]  # ids downloaded by this run
    kept: int  # ids already present and verified
    rejected: list[dict]
    api_calls: int
    windows: int  # upload-date windows searched

    @property
    def total(self) -> int:
        return self.kept + len(self.downloaded)


class _State:
    """The resumable state file: search signature, windows/pages done, files downloaded."""

    def __init__(self, out: Path) -> None:
        self.path = out / STATE_FILE
        self.data: dict[str, Any] = {"version": 1, "search": None, "bounds": None, "windows": {}, "downloaded": {}}
        if self.path.exists():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
                if isinstance(loaded, dict) and loaded.get("version") == 1:
                    self.data.update(loaded)
            except (OSError, json.JSONDecodeError):
                pass  # unreadable state: start over (files on disk are re-verified by sha)

    def save(self) -> None:
        from ..core.checkpoint import write_json

        write_json(self.path, self.data, indent=1)

    @property
    def windows(self) -> dict[str, dict]:
        return self.data["windows"]

    @property
    def downloaded(self) -> dict[str, dict]:
        return self.data["downloaded"]


# ----------------------------------------------------------------------------- search

class _Search:
    """Walks the result windows of one search, splitting windows Flickr would truncate."""

    def __init__(self, client: FlickrClient, params: dict, state: _State, per_page: int) -> None:
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
                total = _int(first.get("total"))
                if total > MAX_RESULTS_PER_QUERY and hi > lo:
                    mid = (lo + hi) // 2
                    children = [[lo, mid], [mid + 1, hi]]
                    self.state.windows[key] = {"split": children, "total": total}
                    self.state.save()
                    pending[:0] = [tuple(c) for c in children]
                    continue
                if total > MAX_RESULTS_PER_QUERY:
                    self.truncated.append(key)
                w = {"total": total, "pages": min(max(_int(first.get("pages")), 1), max_pages), "pages_done": []}
                self.state.windows[key] = w
                self.state.save()
            self.windows_seen += 1
            for page in range(1, w["pages"] + 1):
                if page in w["pages_done"]:
                    continue
                data = first if (page == 1 and first is not None) else self._page(lo, hi, page)
                photos = data.get("photo") or []
                yield key, page, list(photos)
                w["pages_done"].append(page)
                self.state.save()
                if not photos:
                    break
            w["done"] = True
            self.state.save()


# ----------------------------------------------------------------------------- main entry

def _verify_existing(out: Path, state: _State) -> int:
    """Drop state entries whose file is missing or changed; returns how many are intact."""
    ok = 0
    for pid, rec in list(state.downloaded.items()):
        f = out / rec["file"]
        if f.exists() and (out / f"{pid}.json").exists() and _sha256_file(f) == rec["sha256"]:
            ok += 1
        else:
            del state.downloaded[pid]
    return ok


def download_flickr(out: str | os.PathLike, api_key: str, options: FlickrOptions, *,
                    clock: Callable[[], float] | None = None, sleep: Callable[[float], None] | None = None,
                    on_progress: Callable[[int, int], None] | None = None) -> FlickrResult:
    """Search Flickr and download up to ``options.limit`` photos into ``out`` (resumable).

    ``clock`` / ``sleep`` drive the rate limiters (tests pass a fake clock). ``on_progress``
    is called with ``(photos in out, limit)`` after each download.
    """
    from ..core.checkpoint import atomic_path, write_json
    from ..core.imageio import load_image

    opts = options
    opts.validate()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    api_limiter = RateLimiter(opts.api_interval, clock=clock, sleep=sleep)
    dl_limiter = RateLimiter(opts.download_interval, clock=clock, sleep=sleep)
    client = FlickrClient(api_key, opts.api_url, limiter=api_limiter, timeout=opts.timeout, retries=opts.retries)

    table = fetch_licences(client)
    licences = resolve_licences(opts.licence, table)
    lo = _parse_day(opts.since, "--since") or FLICKR_START
    until = _parse_day(opts.until, "--until")
    hi = until + 86399 if until is not None else None  # --until is inclusive (the whole day)

    state = _State(out)
    signature = {"query": opts.query, "tags": opts.tags, "licences": licences, "sort": opts.sort,
                 "since": lo, "until": hi, "per_page": opts.per_page}
    if state.data.get("search") != signature:  # a different search: its windows do not apply
        state.data.update(search=signature, windows={}, bounds=None)
    if state.data.get("bounds") is None:
        state.data["bounds"] = [lo, hi if hi is not None else int(time.time())]
    lo, hi = state.data["bounds"]
    kept = _verify_existing(out, state)
    state.save()

    search_params: dict[str, Any] = {"license": ",".join(map(str, licences)), "extras": EXTRAS, "sort": opts.sort,
                                     "media": "photos", "content_type": 1}
    if opts.tags:
        search_params.update(tags=opts.query, tag_mode="all")
    else:
        search_params["text"] = opts.query

    downloaded: list[str] = []
    rejected: list[dict] = []
    seen: set[str] = set()
    search = _Search(client, search_params, state, opts.per_page)

    def total() -> int:
        return kept + len(downloaded)

    if total() < opts.limit:
        pages = search.pages(lo, hi)
        try:
            for _window, _page, photos in pages:
                for photo in photos:
                    if total() >= opts.limit:
                        break
                    pid = str(photo.get("id", ""))
                    if not pid or pid in seen:
                        continue
                    seen.add(pid)
                    if pid in state.downloaded:
                        continue  # verified above
                    rec = _process_photo(photo, out, opts, table, licences, dl_limiter, load_image, atomic_path,
                                         write_json)
                    if "reason" in rec:
                        rejected.append(rec)
                        continue
                    state.downloaded[pid] = rec
                    state.save()
                    downloaded.append(pid)
                    if on_progress:
                        on_progress(total(), opts.limit)
                if total() >= opts.limit:
                    break
        finally:
            pages.close()

    report = {"query": opts.query, "licences": {i: asdict(table[i]) for i in licences}, "photos": total(),
              "downloaded_this_run": len(downloaded), "already_present": kept, "api_calls": len(client.calls),
              "windows_searched": search.windows_seen, "windows_truncated": search.truncated, "rejected": rejected}
    write_json(out / "flickr-report.json", report)
    options_json = asdict(opts)
    options_json["api_key"] = "(not stored)"
    write_json(out / "flickr-options.json", options_json)
    return FlickrResult(out, downloaded, kept, rejected, len(client.calls), search.windows_seen)


def _process_photo(photo: dict, out: Path, opts: FlickrOptions, table: dict[int, Licence], licences: Sequence[int],
                   limiter: RateLimiter, load_image, atomic_path, write_json) -> dict:
    """Download one search result. Returns its state record, or a rejection with a ``reason``."""
    pid = str(photo["id"])
    owner = str(photo.get("owner", ""))
    lic = _int(photo.get("license", -1)) if str(photo.get("license", "")).strip() != "" else -1
    if lic not in licences:
        return {"id": pid, "reason": "licence", "detail": f"licence {lic} is not among {list(licences)}"}
    size = choose_size(photo, opts.min_size, opts.prefer)
    if size is None:
        return {"id": pid, "reason": "too-small", "detail": f"no size with a shorter side of {opts.min_size} px"}
    try:
        data, final_url = _http_get(size["url"], limiter=limiter, timeout=opts.timeout, retries=opts.retries,
                                    what=f"photo {pid}")
    except FlickrError as e:
        return {"id": pid, "reason": "download-failed", "detail": str(e)}
    if "photo_unavailable" in final_url:
        return {"id": pid, "reason": "unavailable", "detail": "Flickr served its 'photo unavailable' placeholder"}
    try:
        img = load_image(data, name=f"photo {pid}")
    except ImageLoadError as e:
        return {"id": pid, "reason": f"download-{e.reason}", "detail": e.detail}
    if min(img.size) < opts.min_size:
        return {"id": pid, "reason": "too-small", "detail": f"the file is {img.width}x{img.height}"}
    fname = f"{pid}{_extension(size['url'])}"
    with atomic_path(out / fname) as tmp:
        tmp.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    licence = table.get(lic, Licence(lic, "", ""))
    sidecar = {
        "id": pid,
        "title": str(photo.get("title", "")),
        "owner": owner,
        "owner_name": str(photo.get("ownername", "")),
        "page_url": f"https://www.flickr.com/photos/{owner}/{pid}",
        "licence": {"id": licence.id, "name": licence.name, "url": licence.url},
        "date_upload": _iso(photo.get("dateupload")),
        "date_taken": photo.get("datetaken") or None,
        "source_url": size["url"],
        "size": size["key"],
        "width": img.width,
        "height": img.height,
        "file": fname,
        "bytes": len(data),
        "sha256": sha,
        "query": opts.query,
        "downloaded_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "modifications": [],
    }
    write_json(out / f"{pid}.json", sidecar)
    return {"file": fname, "sha256": sha}
