"""One Flickr search result -> a verified photo file and its licence sidecar.

Every field of the search result is treated as untrusted: the owner must look like a Flickr
user id, the licence must be one that was asked for, the URL must pass the download
:class:`~neuralbrush.datasets.flickr_http.HostRule`, the body must be an image within the byte cap
(checked while it streams into a temporary file), it must decode with the studio's image
loader at the promised size, and only then is it renamed to ``<id><ext>`` (the extension
chosen from the bytes) with ``<id>.json`` beside it. Free text (title, owner name, dates) is
stored with control characters replaced and its length capped.
"""

from __future__ import annotations

import os
import tempfile
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..core.errors import ImageLoadError
from .flickr_files import PARTIAL_PREFIX, PARTIAL_SUFFIX, clean_text, file_in, owner_id, shown_id
from .flickr_http import FlickrError, HostRule, RefusedDownload, Status, request, save_image_body, short_url

if TYPE_CHECKING:
    from .flickr import FlickrOptions, RateLimiter

SIZE_KEYS = ("o", "k", "h", "b")  # original, 2048, 1600, 1024 px on the longer side


@dataclass(frozen=True)
class Licence:
    id: int
    name: str
    url: str


def as_int(v: Any) -> int:
    """An integer from whatever Flickr sent (ints, numeric strings); 0 for anything else."""
    if isinstance(v, bool):
        return 0
    try:
        return int(v)
    except (TypeError, ValueError, OverflowError):
        return 0


def choose_size(photo: dict, min_size: int, prefer: str = "largest") -> dict | None:
    """The size to download: among url_o/k/h/b whose shorter side is >= ``min_size``, the
    largest (or, with ``prefer='smallest'``, the smallest). None when no size is big enough."""
    options = []
    for key in SIZE_KEYS:
        url = photo.get(f"url_{key}")
        if not isinstance(url, str) or not url:
            continue
        w = as_int(photo.get(f"width_{key}")) or (as_int(photo.get("o_width")) if key == "o" else 0)
        h = as_int(photo.get(f"height_{key}")) or (as_int(photo.get("o_height")) if key == "o" else 0)
        if w > 0 and h > 0 and min(w, h) >= min_size:
            options.append({"key": key, "url": url, "width": w, "height": h})
    if not options:
        return None
    pick = max if prefer == "largest" else min
    return pick(options, key=lambda o: o["width"] * o["height"])


def _iso(ts: Any) -> str | None:
    t = as_int(ts)
    try:
        return datetime.fromtimestamp(t, tz=timezone.utc).isoformat().replace("+00:00", "Z") if t else None
    except (OverflowError, OSError, ValueError):
        return None


def fetch_photo(photo: dict, pid: str, out_real: Path, opts: FlickrOptions, table: dict[int, Licence],
                licences: Sequence[int], limiter: RateLimiter, rule: HostRule, status: Status) -> dict:
    """Download one search result. Returns its state record, or a rejection with a ``reason``."""
    from ..core.checkpoint import atomic_path, write_json
    from ..core.imageio import load_image

    def reject(reason: str, detail: str) -> dict:
        return {"id": pid, "reason": reason, "detail": detail}

    owner = owner_id(photo.get("owner"))
    if owner is None:
        return reject("bad-entry", f"the owner {shown_id(photo.get('owner'))!r} is not a Flickr user id")
    lic = as_int(photo.get("license", -1)) if str(photo.get("license", "")).strip() != "" else -1
    if lic not in licences:
        return reject("licence", f"licence {lic} is not among {list(licences)}")
    size = choose_size(photo, opts.min_size, opts.prefer)
    if size is None:
        return reject("too-small", f"no size with a shorter side of {opts.min_size} px")
    problem = rule.problem(size["url"])
    if problem:  # checked before the rate limiter: a refused URL costs no wait
        return reject("unsafe-url", f"{short_url(size['url'])} is refused: {problem}")
    fd, tmp_name = tempfile.mkstemp(prefix=PARTIAL_PREFIX, suffix=PARTIAL_SUFFIX, dir=out_real)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            body = request(size["url"], save_image_body(tmp, opts.max_photo_bytes), rule=rule, limiter=limiter,
                           timeout=opts.timeout, retries=opts.retries, what=f"photo {pid}", status=status)
        except RefusedDownload as e:
            return reject(e.reason, e.detail)
        except FlickrError as e:
            return reject("download-failed", str(e))
        if "photo_unavailable" in body.final_url:
            return reject("unavailable", "Flickr served its 'photo unavailable' placeholder")
        try:
            img = load_image(tmp, name=f"photo {pid}")
        except ImageLoadError as e:
            return reject(f"download-{e.reason}", e.detail)
        if min(img.size) < opts.min_size:
            return reject("too-small", f"the file is {img.width}x{img.height}")
        try:
            image_path = file_in(out_real, f"{pid}{body.extension}")
            sidecar_path = file_in(out_real, f"{pid}.json")
        except RefusedDownload as e:
            return reject(e.reason, e.detail)
        with atomic_path(image_path) as final_tmp:
            os.replace(tmp, final_tmp)
    finally:
        tmp.unlink(missing_ok=True)
    licence = table.get(lic, Licence(lic, "", ""))
    sidecar = {
        "id": pid,
        "title": clean_text(photo.get("title", "")),
        "owner": owner,
        "owner_name": clean_text(photo.get("ownername", ""), 200),
        "page_url": f"https://www.flickr.com/photos/{urllib.parse.quote(owner, safe='@')}/{pid}",
        "licence": {"id": licence.id, "name": licence.name, "url": licence.url},
        "date_upload": _iso(photo.get("dateupload")),
        "date_taken": clean_text(photo.get("datetaken"), 40) or None,
        "source_url": size["url"],
        "size": size["key"],
        "width": img.width,
        "height": img.height,
        "file": image_path.name,
        "bytes": body.bytes,
        "sha256": body.sha256,
        "query": opts.query,
        "downloaded_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "modifications": [],
    }
    write_json(sidecar_path, sidecar)
    return {"file": image_path.name, "sha256": body.sha256}
