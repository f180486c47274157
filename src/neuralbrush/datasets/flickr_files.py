"""The Flickr source's folder: which names may be written there, and its resumable state file.

Names of files come from Flickr's answers, so they are checked, never trusted: a photo's
files are ``<id><ext>`` and ``<id>.json`` where the id must be a decimal number (as every
Flickr photo id is) and the extension is chosen from the downloaded bytes. Anything else is
refused rather than "cleaned", since cleaning could make two photos share a name. Before a
file is written, :func:`file_in` checks once more that the path stays directly inside the
output folder (defence in depth). The state file is read the same way: an entry of the wrong
shape is forgotten, never followed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from .flickr_http import RefusedDownload

STATE_FILE = ".flickr-state.json"
PARTIAL_PREFIX = ".flickr-download-"  # temporary files of downloads in flight
PARTIAL_SUFFIX = ".part"
MAX_TEXT = 1000

_PHOTO_ID = re.compile(r"[0-9]{1,32}")
_OWNER_ID = re.compile(r"[0-9A-Za-z@_-]{1,64}")
_FILE_NAME = re.compile(r"[0-9]{1,32}\.(jpg|png|gif)")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def photo_id(value: Any) -> str | None:
    """The photo id as a safe file-name stem (decimal digits), or None when it is not one."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    return value if isinstance(value, str) and _PHOTO_ID.fullmatch(value) else None


def owner_id(value: Any) -> str | None:
    """A Flickr user id (NSID such as ``12345678@N00``), or None."""
    return value if isinstance(value, str) and _OWNER_ID.fullmatch(value) else None


def clean_text(value: Any, limit: int = MAX_TEXT) -> str:
    """Free text from Flickr for a sidecar: control characters become spaces, length is capped."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return ""
    text = "".join(ch if ch.isprintable() else " " for ch in str(value))
    return text[:limit]


def shown_id(value: Any) -> str:
    """A printable, short rendering of whatever Flickr sent as an id (for reports)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)[:80]
    return "".join(ch if ch.isprintable() else "?" for ch in text)[:80]


def file_in(out_real: Path, name: str) -> Path:
    """``out_real / name`` after checking it is a plain name directly inside ``out_real``
    (an already resolved folder); raises :class:`RefusedDownload` otherwise."""
    bad = (not name or name in (".", "..") or "\0" in name or "/" in name or "\\" in name
           or (os.altsep is not None and os.altsep in name))
    target = out_real / name
    if bad or target.parent != out_real or Path(os.path.realpath(target.parent)) != out_real:
        raise RefusedDownload("unsafe-name", f"the file name {shown_id(name)!r} would leave the output folder")
    return target


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def remove_partials(out_real: Path) -> None:
    """Delete the temporary files a killed run left (``.flickr-download-*.part``)."""
    for p in out_real.glob(f"{PARTIAL_PREFIX}*{PARTIAL_SUFFIX}"):
        if p.is_file() and not p.is_symlink():
            try:
                p.unlink()
            except OSError:
                pass


# ----------------------------------------------------------------------------- state

def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _window_key(key: Any) -> tuple[int, int] | None:
    if not isinstance(key, str):
        return None
    lo, sep, hi = key.partition("-")
    if not sep or not lo.isdigit() or not hi.isdigit() or int(lo) > int(hi):
        return None
    return int(lo), int(hi)


def _clean_window(key: Any, w: Any) -> dict | None:
    bounds = _window_key(key)
    if bounds is None or not isinstance(w, dict):
        return None
    lo, hi = bounds
    split = w.get("split")
    if split is not None:  # two strictly smaller windows inside this one, or the entry is dropped
        ok = (isinstance(split, list) and len(split) == 2
              and all(isinstance(c, list) and len(c) == 2 and all(map(_is_int, c)) and lo <= c[0] <= c[1] <= hi
                      and c[1] - c[0] < hi - lo for c in split))
        return {"split": split, "total": w.get("total")} if ok else None
    pages, done = w.get("pages"), w.get("pages_done")
    if not (_is_int(pages) and 1 <= pages <= 1000 and isinstance(done, list) and all(map(_is_int, done))):
        return None
    clean = {"total": w.get("total") if _is_int(w.get("total")) else 0, "pages": pages, "pages_done": done}
    if w.get("done") is True:
        clean["done"] = True
    return clean


def _clean_record(pid: Any, rec: Any) -> bool:
    return (photo_id(pid) is not None and isinstance(rec, dict) and isinstance(rec.get("file"), str)
            and bool(_FILE_NAME.fullmatch(rec["file"])) and rec["file"].split(".")[0] == pid
            and isinstance(rec.get("sha256"), str) and bool(_SHA256.fullmatch(rec["sha256"])))


class State:
    """The resumable state file: search signature, windows/pages done, files downloaded.

    What is read back is checked piece by piece; a piece of the wrong shape is dropped (a
    window is searched again, a photo downloaded again), so a damaged or edited state file
    costs time, never a crash or a read outside the folder.
    """

    def __init__(self, out: Path) -> None:
        self.path = out / STATE_FILE
        self.data: dict[str, Any] = {"version": 1, "search": None, "bounds": None, "windows": {}, "downloaded": {}}
        if not self.path.is_file():
            return
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError):
            return  # unreadable state: start over (files on disk are re-verified by sha)
        if not isinstance(loaded, dict) or loaded.get("version") != 1:
            return
        if isinstance(loaded.get("search"), dict):
            self.data["search"] = loaded["search"]
        b = loaded.get("bounds")
        if isinstance(b, list) and len(b) == 2 and all(map(_is_int, b)) and 0 <= b[0] <= b[1]:
            self.data["bounds"] = b
        if isinstance(loaded.get("windows"), dict):
            for key, w in loaded["windows"].items():
                clean = _clean_window(key, w)
                if clean is not None:
                    self.data["windows"][key] = clean
        if isinstance(loaded.get("downloaded"), dict):
            self.data["downloaded"] = {pid: {"file": rec["file"], "sha256": rec["sha256"]}
                                       for pid, rec in loaded["downloaded"].items() if _clean_record(pid, rec)}

    def save(self) -> None:
        from ..core.checkpoint import write_json

        write_json(self.path, self.data, indent=1)

    @property
    def windows(self) -> dict[str, dict]:
        return self.data["windows"]

    @property
    def downloaded(self) -> dict[str, dict]:
        return self.data["downloaded"]

    def verify(self, out_real: Path) -> int:
        """Drop entries whose file or sidecar is missing, not a plain file or changed; returns
        how many are intact."""
        ok = 0
        for pid, rec in list(self.downloaded.items()):
            f, side = out_real / rec["file"], out_real / f"{pid}.json"
            intact = False
            if f.is_file() and not f.is_symlink() and side.is_file() and not side.is_symlink():
                try:
                    intact = sha256_file(f) == rec["sha256"]
                except OSError:
                    intact = False
            if intact:
                ok += 1
            else:
                del self.downloaded[pid]
        return ok
