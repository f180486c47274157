"""`dataset flickr` against a hostile Flickr: an API and photo server on 127.0.0.1 that answers
with traversal ids, NUL bytes, absolute paths, file:// and foreign URLs, redirects to file://,
HTML posing as JPEG, oversized bodies and decompression bombs, 500/429 bursts, slow answers and
malformed JSON. Every case checks: no file outside ``-o``, no payload bytes copied in, the good
photos still downloaded, the bad ones reported, and the exit code (0 with the skipped list, or
2 with one ``error:`` line for a fatal API failure).

All traffic stays on 127.0.0.1 (two servers on port 0: the API/photo host and a "foreign" host
that must never be contacted); the rate limiters run on a fake clock, and the only real waits
are socket timeouts of a quarter second.
"""

from __future__ import annotations

import io
import json
import re
import struct
import tempfile
import threading
import time
import urllib.parse
import zlib
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adversarial_harness import assert_ok, assert_refused, run_cli
from neuralbrush.datasets import flickr
from neuralbrush.core.progress import ProgressEvent
from neuralbrush.datasets.flickr import FlickrOptions, download_flickr
from neuralbrush.datasets.flickr_http import HostRule
from neuralbrush.datasets.samples import bloom

MARKER = b"NB-HOSTILE-PAYLOAD-41c9"  # inside every body that must never land in the dataset
TIMEOUT, RETRIES = 0.25, 2
SLOW = 1.0  # seconds a "slow" answer takes: several times TIMEOUT
LICENCES = [{"id": 0, "name": "All Rights Reserved", "url": ""},
            {"id": 4, "name": "Attribution License", "url": "https://creativecommons.org/licenses/by/2.0/"},
            {"id": 9, "name": "Public Domain Dedication (CC0)", "url": "https://creativecommons.org/publicdomain/zero/1.0/"}]


def _jpeg(w: int, h: int, seed: int, comment: bytes = b"") -> bytes:
    buf = io.BytesIO()
    bloom(max(w, h), seed=seed).crop((0, 0, w, h)).save(buf, format="JPEG", quality=85, comment=comment)
    return buf.getvalue()


def _png_bomb(side: int = 30_000) -> bytes:
    """A tiny PNG whose header claims side x side pixels (refused before decoding)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


GOOD = _jpeg(96, 72, 1)
GOOD_PNG = (lambda b: (bloom(96, seed=2).save(b, format="PNG"), b.getvalue())[1])(io.BytesIO())
EVIL = _jpeg(96, 72, 3, comment=MARKER)  # a perfectly valid photo carrying the marker
JUNK = b"\xff\xd8\xff\xe0" + MARKER + b"\0" * 2000
HUGE = b"\xff\xd8\xff\xe0" + MARKER + b"\0" * 300_000  # three times the 0.1 MB cap


@dataclass
class Case:
    photos: list = field(default_factory=list)
    api: str = "ok"  # how every API call is answered
    search: str = "ok"  # how photos.search is answered (when api is ok)
    payload: str = ""  # a local file that file:// URLs point at


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # clients hang up on refused bodies
        pass


class HostileFlickr:
    """The API + photo host (``/<case>/services/rest/``, ``/<case>/img/<kind>/<name>``) and a
    foreign host that counts every request it gets."""

    def __init__(self) -> None:
        self.cases: dict[str, Case] = {}
        self.hits: Counter = Counter()
        self.foreign_hits = 0
        self.lock = threading.Lock()
        self.server = QuietServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.foreign = QuietServer(("127.0.0.1", 0), self._foreign_handler())
        self.foreign_base = f"http://127.0.0.1:{self.foreign.server_address[1]}"
        for s in (self.server, self.foreign):
            threading.Thread(target=s.serve_forever, daemon=True).start()

    def add(self, name: str, case: Case) -> str:
        self.cases[name] = case
        return f"{self.base}/{name}/services/rest/"

    def img(self, name: str, kind: str, stem: str = "p") -> str:
        return f"{self.base}/{name}/img/{kind}/{stem}.jpg"

    def close(self) -> None:
        for s in (self.server, self.foreign):
            s.shutdown()
            s.server_close()

    def _foreign_handler(self):
        hostile = self

        class Foreign(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                with hostile.lock:
                    hostile.foreign_hits += 1
                _send(self, 200, EVIL, "image/jpeg")

        return Foreign

    def _handler(self):
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                parts = url.path.strip("/").split("/")
                case = hostile.cases.get(parts[0])
                if case is None or len(parts) < 3:
                    return _send(self, 404, b"no such case", "text/plain")
                with hostile.lock:
                    hostile.hits[(parts[0], parts[2] if parts[1] == "img" else "api")] += 1
                    count = hostile.hits[(parts[0], parts[2] if parts[1] == "img" else "api")]
                if parts[1] == "services":
                    q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
                    return hostile.api(self, case, q)
                return hostile.image(self, parts[0], case, parts[2], count)

        return Handler

    def api(self, h: BaseHTTPRequestHandler, case: Case, q: dict) -> None:
        mode = case.api if case.api != "ok" else (case.search if q.get("method") == "flickr.photos.search" else "ok")
        if mode in ("500", "429"):
            return _send(h, int(mode), b"busy", "text/plain", {"Retry-After": "86400"})
        if mode == "slow":
            time.sleep(SLOW)
        if mode == "badjson":
            return _send(h, 200, b"<html>" + MARKER + b"</html>", "application/json")
        if mode == "nested":
            return _send(h, 200, b"[" * 100_000 + b"]" * 100_000, "application/json")
        if mode == "redirect-file":
            return _send(h, 302, b"", "text/plain", {"Location": f"file://{case.payload}"})
        if mode == "fail":
            return _json(h, {"stat": "fail", "code": 100, "message": "Invalid API Key (Key has invalid format)"})
        if q.get("method") == "flickr.photos.licenses.getInfo":
            rows = ["cc-by", 4, None] if mode == "licences-shape" else LICENCES
            return _json(h, {"licenses": {"license": rows}, "stat": "ok"})
        if mode == "photos-not-dict":
            return _json(h, {"photos": "none today", "stat": "ok"})
        if mode == "endless":  # claims a billion matches in every window, and serves none
            return _json(h, {"photos": {"page": 1, "pages": 1, "perpage": 500, "total": 10**9, "photo": []},
                             "stat": "ok"})
        if mode == "photo-not-list":
            return _json(h, {"photos": {"page": 1, "pages": 1, "total": 1, "photo": {"id": "1"}}, "stat": "ok"})
        return _json(h, {"photos": {"page": 1, "pages": 1, "perpage": 500, "total": len(case.photos),
                                    "photo": case.photos}, "stat": "ok"})

    def image(self, h: BaseHTTPRequestHandler, name: str, case: Case, kind: str, count: int) -> None:
        if kind == "good" or (kind == "flaky" and count > 2):
            return _send(h, 200, GOOD, "image/jpeg")
        if kind == "png":
            return _send(h, 200, GOOD_PNG, "application/octet-stream")
        if kind == "flaky":
            return _send(h, 500, b"oops", "text/plain")
        if kind == "busy":
            return _send(h, 429, b"slow down", "text/plain", {"Retry-After": "86400"})
        if kind == "slow":
            time.sleep(SLOW)
            return _send(h, 200, GOOD, "image/jpeg")
        if kind == "small":
            return _send(h, 200, _jpeg(30, 20, 5), "image/jpeg")
        if kind == "html":
            return _send(h, 200, b"<html>" + MARKER + b"</html>", "text/html")
        if kind == "html-as-jpeg":
            return _send(h, 200, b"<!doctype html><p>" + MARKER, "image/jpeg")
        if kind == "corrupt":
            return _send(h, 200, JUNK, "image/jpeg")
        if kind == "huge":
            return _send(h, 200, HUGE, "image/jpeg")
        if kind == "huge-unannounced":
            return _send(h, 200, HUGE, "image/jpeg", length=False)
        if kind == "bomb":
            return _send(h, 200, _png_bomb() + MARKER, "image/png")
        targets = {"redirect-file": f"file://{case.payload}", "redirect-foreign": f"{self.foreign_base}/p.jpg",
                   "redirect-ftp": "ftp://127.0.0.1/p.jpg", "redirect-loop": f"/{name}/img/redirect-loop/p.jpg",
                   "redirect-good": f"/{name}/img/good/p.jpg", "redirect-data": "data:image/jpeg;base64,/9j/4AAQ"}
        if kind in targets:
            return _send(h, 302, b"", "text/plain", {"Location": targets[kind]})
        return _send(h, 200, EVIL, "image/jpeg")  # "evil": a URL that must never be requested


def _send(h: BaseHTTPRequestHandler, code: int, body: bytes, ctype: str, headers: dict | None = None,
          length: bool = True) -> None:
    try:
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        if length:
            h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)
    except OSError:
        pass  # the client refused the body and hung up


def _json(h: BaseHTTPRequestHandler, obj) -> None:
    _send(h, 200, json.dumps(obj).encode(), "application/json")


@pytest.fixture(scope="module")
def hostile():
    server = HostileFlickr()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def fake_clock_no_proxy(monkeypatch):
    """Rate limits and back-off pauses on a fake clock; no proxy between us and 127.0.0.1."""
    now = [1000.0]

    def sleep(dt: float) -> None:
        now[0] += dt

    monkeypatch.setattr(flickr, "default_clock", lambda: now[0])
    monkeypatch.setattr(flickr, "default_sleep", sleep)
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


def entry(pid, url: str, **extra) -> dict:
    """A search result as Flickr sends it (the extras the client asks for)."""
    e = {"id": pid, "owner": "12345678@N00", "secret": "abc123", "server": "65535", "farm": 66, "title": "a bloom",
         "license": "4", "ownername": "A. Gardener", "dateupload": "1500000000", "datetaken": "2017-07-14 02:40:00",
         "url_o": url, "width_o": 96, "height_o": "72"}
    e.update(extra)
    return e


def _argv(api: str, out: Path, *more: str) -> list[str]:
    return ["dataset", "flickr", "--query", "bloom", "--api-key", "k", "--api-url", api, "-o", str(out),
            "--licence", "4,9", "--min-size", "40", "--limit", "20", "--timeout", str(TIMEOUT),
            "--retries", str(RETRIES), "--max-photo-mb", "0.1", "--download-interval", "0", *more]


def _payload(root: Path) -> Path:
    p = root / "payload" / "secret.jpg"  # a valid local photo: if it were copied, nothing else would stop it
    p.parent.mkdir()
    p.write_bytes(EVIL)
    return p


def _marker_files(root: Path, payload: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and p != payload and MARKER in p.read_bytes()]


def _outside(new_files: list[str], out_rel: str) -> list[str]:
    return [f for f in new_files if f != out_rel and not f.startswith(out_rel + "/")
            and not out_rel.startswith(f + "/")]  # the folders leading to -o are fine


# ----------------------------------------------------------------------------- skipped, reported, exit 0

# (case, builds the hostile entry from (server, case name, tmp, payload), reason reported, kind never requested)
SKIPPED = [
    ("id-traversal", lambda h, n, t, p: entry("../../escaped", h.img(n, "evil")), "unsafe-id", "evil"),
    ("id-deep-traversal", lambda h, n, t, p: entry("123/../../../escaped", h.img(n, "evil")), "unsafe-id", "evil"),
    ("id-absolute", lambda h, n, t, p: entry(str(t / "abs-escaped"), h.img(n, "evil")), "unsafe-id", "evil"),
    ("id-nul", lambda h, n, t, p: entry("123\x00456", h.img(n, "evil")), "unsafe-id", "evil"),
    ("id-dotdot", lambda h, n, t, p: entry("..", h.img(n, "evil")), "unsafe-id", "evil"),
    ("id-float", lambda h, n, t, p: entry(12.5, h.img(n, "evil")), "unsafe-id", "evil"),
    ("id-bool", lambda h, n, t, p: entry(True, h.img(n, "evil")), "unsafe-id", "evil"),
    ("id-object", lambda h, n, t, p: entry({"id": "1"}, h.img(n, "evil")), "unsafe-id", "evil"),
    ("id-unicode-digits", lambda h, n, t, p: entry("١٢٣", h.img(n, "evil")), "unsafe-id", "evil"),
    ("id-missing", lambda h, n, t, p: {k: v for k, v in entry("1", h.img(n, "evil")).items() if k != "id"},
     "bad-entry", "evil"),
    ("entry-string", lambda h, n, t, p: "../../escaped", "bad-entry", "evil"),
    ("entry-number", lambda h, n, t, p: 42, "bad-entry", "evil"),
    ("entry-null", lambda h, n, t, p: None, "bad-entry", "evil"),
    ("entry-list", lambda h, n, t, p: [h.img(n, "evil")], "bad-entry", "evil"),
    ("owner-traversal", lambda h, n, t, p: entry("301", h.img(n, "evil"), owner="../../escaped"), "bad-entry", "evil"),
    ("owner-missing", lambda h, n, t, p: {k: v for k, v in entry("302", h.img(n, "evil")).items() if k != "owner"},
     "bad-entry", "evil"),
    ("licence-not-asked", lambda h, n, t, p: entry("303", h.img(n, "evil"), license="0"), "licence", "evil"),
    ("width-infinite", lambda h, n, t, p: entry("304", h.img(n, "evil"), width_o=float("inf")), "too-small", "evil"),
    ("url-not-a-string", lambda h, n, t, p: entry("305", {"href": h.img(n, "evil")}), "too-small", "evil"),
    ("url-file", lambda h, n, t, p: entry("306", f"file://{p}"), "unsafe-url", "evil"),
    ("url-ftp", lambda h, n, t, p: entry("307", "ftp://127.0.0.1/p.jpg"), "unsafe-url", "evil"),
    ("url-data", lambda h, n, t, p: entry("308", "data:image/jpeg;base64,/9j/4AAQ"), "unsafe-url", "evil"),
    ("url-relative", lambda h, n, t, p: entry("309", f"/{n}/img/evil/p.jpg"), "unsafe-url", "evil"),
    ("url-foreign-host", lambda h, n, t, p: entry("310", f"{h.foreign_base}/p.jpg"), "unsafe-url", "evil"),
    ("url-credentials", lambda h, n, t, p: entry("311", h.img(n, "evil").replace("http://", "http://u:pw@")),
     "unsafe-url", "evil"),
    ("url-control-chars", lambda h, n, t, p: entry("312", h.img(n, "evil") + "\r\nX-Evil: 1"), "unsafe-url", "evil"),
    ("body-html", lambda h, n, t, p: entry("320", h.img(n, "html")), "not-an-image", None),
    ("body-html-as-jpeg", lambda h, n, t, p: entry("321", h.img(n, "html-as-jpeg")), "not-an-image", None),
    ("body-corrupt-jpeg", lambda h, n, t, p: entry("322", h.img(n, "corrupt")), "download-", None),
    ("body-oversized", lambda h, n, t, p: entry("323", h.img(n, "huge")), "too-large", None),
    ("body-oversized-unannounced", lambda h, n, t, p: entry("324", h.img(n, "huge-unannounced")), "too-large", None),
    ("body-decompression-bomb", lambda h, n, t, p: entry("325", h.img(n, "bomb")), "download-too-large", None),
    ("body-smaller-than-promised", lambda h, n, t, p: entry("326", h.img(n, "small")), "too-small", None),
    ("redirect-to-file", lambda h, n, t, p: entry("330", h.img(n, "redirect-file")), "unsafe-redirect", None),
    ("redirect-to-foreign-host", lambda h, n, t, p: entry("331", h.img(n, "redirect-foreign")), "unsafe-redirect",
     None),
    ("redirect-to-ftp", lambda h, n, t, p: entry("332", h.img(n, "redirect-ftp")), "unsafe-redirect", None),
    ("redirect-to-data", lambda h, n, t, p: entry("333", h.img(n, "redirect-data")), "unsafe-redirect", None),
    ("redirect-loop", lambda h, n, t, p: entry("334", h.img(n, "redirect-loop")), "download-failed", None),
    ("429-forever", lambda h, n, t, p: entry("340", h.img(n, "busy")), "download-failed", None),
    ("slow-photo", lambda h, n, t, p: entry("341", h.img(n, "slow")), "download-failed", None),
]


@pytest.mark.parametrize("case, make, reason, never", SKIPPED, ids=[c[0] for c in SKIPPED])
def test_a_hostile_search_result_is_skipped_and_reported(hostile, in_tmp, case, make, reason, never):
    payload = _payload(in_tmp)
    out_rel = "a/b/out"  # deep, so that ../../x from -o still lands in the watched folder
    bad = make(hostile, case, in_tmp, payload)
    api = hostile.add(case, Case(photos=[entry("1001", hostile.img(case, "good")), bad,
                                         entry("1002", hostile.img(case, "png"))], payload=str(payload)))
    t0 = time.monotonic()
    o = run_cli(_argv(api, in_tmp / out_rel), watch=in_tmp)
    assert_ok(o)
    assert time.monotonic() - t0 < 10, "a hostile answer kept the command waiting"
    assert _outside(o.new_files, out_rel) == [], o.describe()
    assert _marker_files(in_tmp, payload) == [], o.describe()
    out = in_tmp / out_rel
    assert sorted(p.name for p in out.iterdir()) == [".flickr-state.json", "1001.jpg", "1001.json", "1002.json",
                                                      "1002.png", "flickr-options.json", "flickr-report.json"]
    assert (out / "1001.jpg").read_bytes() == GOOD and (out / "1002.png").read_bytes() == GOOD_PNG
    rejected = json.loads((out / "flickr-report.json").read_text())["rejected"]
    assert len(rejected) == 1 and rejected[0]["reason"].startswith(reason), rejected
    assert "skipped: 1 " + reason in o.err, o.describe()
    if never:
        assert hostile.hits[(case, never)] == 0, "a refused URL was requested anyway"
    assert hostile.foreign_hits == 0
    if case in ("429-forever", "slow-photo"):
        assert hostile.hits[(case, "busy" if case == "429-forever" else "slow")] == RETRIES + 1  # bounded


# (case, the entry, the file it becomes)
KEPT = [
    ("hostile-fields", lambda h, n: entry("2001", h.img(n, "good"), secret="../../escaped", server="/etc",
                                          farm="..\x00..", title="../../escaped\x00\r\nEvil: yes",
                                          ownername="\x1b[31mred", datetaken={"$gt": ""}), "2001.jpg"),
    ("numeric-id", lambda h, n: entry(2002, h.img(n, "good")), "2002.jpg"),
    ("same-host-redirect", lambda h, n: entry("2003", h.img(n, "redirect-good")), "2003.jpg"),
    ("500-burst-then-ok", lambda h, n: entry("2004", h.img(n, "flaky")), "2004.jpg"),
]


@pytest.mark.parametrize("case, make, name", KEPT, ids=[c[0] for c in KEPT])
def test_a_good_photo_with_odd_fields_is_still_downloaded_under_its_id(hostile, in_tmp, case, make, name):
    api = hostile.add(case, Case(photos=[make(hostile, case)]))
    o = run_cli(_argv(api, in_tmp / "out"), watch=in_tmp)
    assert_ok(o)
    assert _outside(o.new_files, "out") == [], o.describe()
    pid = name.split(".")[0]
    assert (in_tmp / "out" / name).read_bytes() == GOOD
    meta = json.loads((in_tmp / "out" / f"{pid}.json").read_text())
    assert meta["id"] == pid and meta["file"] == name and meta["page_url"].endswith(f"/12345678@N00/{pid}")
    assert all(ch.isprintable() for v in meta.values() if isinstance(v, str) for ch in v)
    if case == "hostile-fields":
        assert meta["title"].startswith("../../escaped") and meta["date_taken"] is None
    if case == "500-burst-then-ok":
        assert hostile.hits[(case, "flaky")] == 3


def test_a_whole_hostile_page_at_once(hostile, in_tmp):
    """Every hostile entry in one answer: all skipped, each with its reason, the good ones kept."""
    payload = _payload(in_tmp)
    name = "everything"
    bad = [make(hostile, name, in_tmp, payload) for _, make, _, _ in SKIPPED if _ not in ("slow-photo",)]
    good = [entry(str(5000 + i), hostile.img(name, "good")) for i in range(3)]
    api = hostile.add(name, Case(photos=good[:1] + bad + good[1:], payload=str(payload)))
    o = run_cli(_argv(api, in_tmp / "x/y/out", "--retries", "0"), watch=in_tmp)
    assert_ok(o)
    assert _outside(o.new_files, "x/y/out") == [] and _marker_files(in_tmp, payload) == [], o.describe()
    report = json.loads((in_tmp / "x/y/out/flickr-report.json").read_text())
    assert report["photos"] == 3 and len(report["rejected"]) == len(bad)
    assert sorted(p.name for p in (in_tmp / "x/y/out").glob("*.jpg")) == ["5000.jpg", "5001.jpg", "5002.jpg"]
    assert hostile.hits[(name, "evil")] == 0 and hostile.foreign_hits == 0


# ----------------------------------------------------------------------------- a damaged or edited folder

SIGNATURE = {"query": "bloom", "tags": False, "licences": [4, 9], "sort": "relevance", "since": flickr.FLICKR_START,
             "until": None, "per_page": 500}
LO, HI = flickr.FLICKR_START, flickr.FLICKR_START + 1000


def _state(obj):
    def setup(out: Path, root: Path) -> None:
        (out / ".flickr-state.json").write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return setup


def _outside_file_claimed(out: Path, root: Path) -> None:
    """The state says photo 1001 is ../outside.jpg (which exists and matches): never trusted."""
    import hashlib

    (root / "outside.jpg").write_bytes(EVIL)
    (out / "1001.json").write_text("{}")
    _state({"version": 1, "search": SIGNATURE, "bounds": [LO, HI], "windows": {},
            "downloaded": {"1001": {"file": "../outside.jpg", "sha256": hashlib.sha256(EVIL).hexdigest()}}})(out, root)


def _symlinks_planted(out: Path, root: Path) -> None:
    """1001.jpg and 1001.json already exist as links to files outside: replaced, never written through."""
    for name in ("outside.jpg", "outside.json"):
        (root / name).write_bytes(EVIL)
    (out / "1001.jpg").symlink_to(root / "outside.jpg")
    (out / "1001.json").symlink_to(root / "outside.json")


STATES = [
    ("not-json", _state("{{{ not json")),
    ("absurdly-nested", _state("[" * 100_000)),
    ("a-list", _state([1, 2, 3])),
    ("wrong-types", _state({"version": 1, "search": "x", "bounds": ["a", None], "windows": [], "downloaded": 7})),
    ("traversal-entry", _state({"version": 1, "downloaded": {"../../x": {"file": "../../x.jpg", "sha256": "0" * 64}}})),
    ("window-cycle", _state({"version": 1, "search": SIGNATURE, "bounds": [LO, HI],
                             "windows": {f"{LO}-{HI}": {"split": [[LO, HI], [LO, HI]]}}, "downloaded": {}})),
    ("window-garbage", _state({"version": 1, "search": SIGNATURE, "bounds": [LO, HI],
                               "windows": {f"{LO}-{HI}": {"pages": "many", "pages_done": None}}, "downloaded": {}})),
    ("outside-file-claimed", _outside_file_claimed),
    ("symlinks-planted", _symlinks_planted),
]


@pytest.mark.parametrize("case, setup", STATES, ids=[c[0] for c in STATES])
def test_a_damaged_folder_costs_a_download_not_a_crash_or_an_escape(hostile, in_tmp, case, setup):
    out = in_tmp / "out"
    out.mkdir()
    setup(out, in_tmp)
    outside_before = {p.name: p.read_bytes() for p in in_tmp.glob("outside.*")}
    api = hostile.add(f"state-{case}", Case(photos=[entry("1001", hostile.img(f"state-{case}", "good"))]))
    o = run_cli(_argv(api, out), watch=in_tmp)
    assert_ok(o)
    assert _outside(o.new_files, "out") == [], o.describe()
    assert not (out / "1001.jpg").is_symlink() and (out / "1001.jpg").read_bytes() == GOOD
    assert json.loads((out / "1001.json").read_text())["sha256"] == json.loads(
        (out / ".flickr-state.json").read_text())["downloaded"]["1001"]["sha256"]
    assert {p.name: p.read_bytes() for p in in_tmp.glob("outside.*")} == outside_before


# ----------------------------------------------------------------------------- fatal: exit 2, one line

# (case, Case or None for an --api-url given as is, --api-url, words of the error line)
FATAL = [
    ("api-url-not-a-url", None, "notaurl", "--api-url"),
    ("api-url-file", None, "file:///etc/passwd", "--api-url"),
    ("api-url-ftp", None, "ftp://127.0.0.1/services/rest/", "--api-url"),
    ("api-url-no-host", None, "http:///services/rest/", "--api-url"),
    ("api-url-bad-port", None, "http://127.0.0.1:99999/services/rest/", "--api-url"),
    ("api-url-credentials", None, "http://u:pw@127.0.0.1:1/services/rest/", "--api-url"),
    ("api-url-newline", None, "http://127.0.0.1:1/rest/\nHost: evil", "--api-url"),
    ("api-500-always", Case(api="500"), None, "HTTP 500"),
    ("api-429-always", Case(api="429"), None, "HTTP 429"),
    ("api-slow", Case(api="slow"), None, "timed out"),
    ("api-not-json", Case(api="badjson"), None, "JSON"),
    ("api-absurdly-nested-json", Case(api="nested"), None, "JSON"),
    ("api-stat-fail", Case(api="fail"), None, "Invalid API Key"),
    ("api-redirects-to-file", Case(api="redirect-file"), None, "refused"),
    ("licence-table-malformed", Case(api="licences-shape"), None, "licence table"),
    ("search-500-always", Case(search="500"), None, "HTTP 500"),
    ("search-not-json", Case(search="badjson"), None, "JSON"),
    ("search-photos-not-an-object", Case(search="photos-not-dict"), None, "photos"),
    ("search-photo-not-a-list", Case(search="photo-not-list"), None, "not a list"),
]


@pytest.mark.parametrize("case, behaviour, api_url, match", FATAL, ids=[c[0] for c in FATAL])
def test_a_failing_api_is_one_error_line_and_leaves_nothing(hostile, in_tmp, case, behaviour, api_url, match):
    payload = _payload(in_tmp)
    if behaviour is not None:
        behaviour.payload = str(payload)
        api_url = hostile.add(case, behaviour)
    t0 = time.monotonic()
    o = run_cli(_argv(api_url, in_tmp / "deep/out"), watch=in_tmp)
    assert_refused(o, match=match, markers=[in_tmp / "deep"])
    assert time.monotonic() - t0 < 10
    assert _marker_files(in_tmp, payload) == []
    if behaviour is not None and behaviour.api in ("500", "429", "slow"):
        assert hostile.hits[(case, "api")] == RETRIES + 1  # bounded tries, then the error


def test_status_events_explain_the_waiting(hostile, tmp_path):
    """A presenter gets a status before every request and while pausing between tries."""
    api = hostile.add("status", Case(photos=[entry("4001", hostile.img("status", "flaky"))]))
    events: list[ProgressEvent] = []
    opts = FlickrOptions(query="bloom", licence="4", min_size=40, limit=5, api_url=api, timeout=TIMEOUT,
                         retries=RETRIES, download_interval=0)
    res = download_flickr(tmp_path / "out", "k", opts, progress=events.append)
    assert res.downloaded == ["4001"]
    messages = [e.message for e in events]
    assert any("flickr.photos.licenses.getInfo" in m for m in messages)
    assert sum("HTTP 500; trying again" in m for m in messages) == 2
    assert events[-1].step == 1 and events[-1].total == 5


# ----------------------------------------------------------------------------- the host rule itself

HOSTS = [  # (url, photos?, allowed?) with the API at 127.0.0.1:8080; no request is made
    ("https://live.staticflickr.com/65535/1_abc_o.jpg", True, True),
    ("http://farm66.staticflickr.com/1/2_x_b.jpg", True, True),
    ("https://farm3.static.flickr.com/1/2_x_b.jpg", True, True),
    ("http://127.0.0.1:8080/img/1.jpg", True, True),
    ("https://live.staticflickr.com/65535/1_abc_o.jpg", False, False),
    ("https://live.staticflickr.com:8443/1.jpg", True, False),
    ("https://staticflickr.com.evil.example/1.jpg", True, False),
    ("https://evilstaticflickr.com/1.jpg", True, False),
    ("https://live.staticflickr.com@evil.example/1.jpg", True, False),
    ("http://127.0.0.1:8081/img/1.jpg", True, False),
    ("http://localhost:8080/img/1.jpg", True, False),
    ("file:///etc/passwd", True, False),
    ("ftp://live.staticflickr.com/1.jpg", True, False),
    ("https://live.staticflickr.com/a b.jpg", True, False),
    ("https://live.staticflickr.com/a\x00.jpg", True, False),
    ("https://live.staticflickr.com:notaport/1.jpg", True, False),
    ("//live.staticflickr.com/1.jpg", True, False),
]


@pytest.mark.parametrize("url, photos, allowed", HOSTS)
def test_host_rule(url, photos, allowed):
    rule = HostRule.for_api("http://127.0.0.1:8080/services/rest/", photos=photos)
    assert (rule.problem(url) is None) == allowed, rule.problem(url)


# ----------------------------------------------------------------------------- generated names

_NAME = st.lists(st.sampled_from(list("0123456789./\\\x00:~ aZ@_") + ["..", "%2e", "\u0661", "\n"]),
                 max_size=8).map("".join)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pid=st.one_of(st.from_regex(r"[0-9]{1,12}", fullmatch=True), _NAME), title=_NAME,
       owner=st.one_of(st.just("12345678@N00"), _NAME), secret=_NAME)
def test_generated_names_never_leave_the_folder(hostile, pid, title, owner, secret):
    name = f"gen{abs(hash((pid, title, owner, secret)))}"
    api = hostile.add(name, Case(photos=[entry(pid, hostile.img(name, "good"), title=title, owner=owner,
                                               secret=secret, server=secret)]))
    with tempfile.TemporaryDirectory() as root:
        out = Path(root) / "a" / "b" / "out"
        res = download_flickr(out, "k", FlickrOptions(query="bloom", licence="4", min_size=40, limit=3, api_url=api,
                                                      timeout=TIMEOUT, retries=0, download_interval=0))
        outside = [p for p in Path(root).rglob("*") if out not in p.parents and p not in (out, *out.parents)]
        assert outside == []
        names = {p.name for p in out.iterdir()}
        ok = re.fullmatch(r"[0-9]{1,32}", pid) is not None and re.fullmatch(r"[0-9A-Za-z@_-]{1,64}", owner)
        assert res.downloaded == ([pid] if ok else [])
        extra = {f"{pid}.jpg", f"{pid}.json"} if ok else set()
        assert names == {".flickr-state.json", "flickr-report.json", "flickr-options.json"} | extra


def test_an_answer_that_claims_endless_matches_splits_a_bounded_number_of_windows(hostile, in_tmp, monkeypatch):
    """A server that claims 10^9 matches in every date window, with empty pages, must not make the
    search split windows without end: past MAX_WINDOWS the windows are taken as truncated."""
    monkeypatch.setattr(flickr, "MAX_WINDOWS", 16)
    api = hostile.add("endless", Case(search="endless"))
    o = run_cli(_argv(api, in_tmp / "out"), watch=in_tmp)
    assert not o.escaped and o.code in (0, 2) and "Traceback" not in o.err, o.describe()
    searches = hostile.hits[("endless", "api")]
    assert 16 <= searches <= 2 * 16 + 8, searches  # licences + one search per window, bounded
    state_file = in_tmp / "out" / ".flickr-state.json"
    if state_file.exists():
        assert len(json.loads(state_file.read_text()).get("windows", {})) <= 2 * 16 + 1  # splits + leaves
