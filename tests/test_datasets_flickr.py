"""Flickr source against a local server speaking Flickr's JSON API (no network, no real sleeping)."""

from __future__ import annotations

import hashlib
import io
import json
import math
import threading
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from neuralbrush.cli.main import run
from neuralbrush.core.imageio import load_image
from neuralbrush.datasets import flickr
from neuralbrush.datasets.flickr import (COMMERCIAL_LICENCES, MODIFICATIONS_LICENCES, FlickrError, FlickrOptions,
                                         RateLimiter, choose_size, download_flickr)
from neuralbrush.datasets.samples import bloom

LICENCES = [
    (0, "All Rights Reserved", ""),
    (1, "Attribution-NonCommercial-ShareAlike License", "https://creativecommons.org/licenses/by-nc-sa/2.0/"),
    (2, "Attribution-NonCommercial License", "https://creativecommons.org/licenses/by-nc/2.0/"),
    (3, "Attribution-NonCommercial-NoDerivs License", "https://creativecommons.org/licenses/by-nc-nd/2.0/"),
    (4, "Attribution License", "https://creativecommons.org/licenses/by/2.0/"),
    (5, "Attribution-ShareAlike License", "https://creativecommons.org/licenses/by-sa/2.0/"),
    (6, "Attribution-NoDerivs License", "https://creativecommons.org/licenses/by-nd/2.0/"),
    (7, "No known copyright restrictions", "https://www.flickr.com/commons/usage/"),
    (8, "United States Government Work", "http://www.usa.gov/copyright.shtml"),
    (9, "Public Domain Dedication (CC0)", "https://creativecommons.org/publicdomain/zero/1.0/"),
    (10, "Public Domain Mark", "https://creativecommons.org/publicdomain/mark/1.0/"),
    (11, "CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/"),
    (12, "CC BY-SA 4.0", "https://creativecommons.org/licenses/by-sa/4.0/"),
    (13, "CC BY-ND 4.0", "https://creativecommons.org/licenses/by-nd/4.0/"),
    (14, "CC BY-NC 4.0", "https://creativecommons.org/licenses/by-nc/4.0/"),
    (15, "CC BY-NC-SA 4.0", "https://creativecommons.org/licenses/by-nc-sa/4.0/"),
    (16, "CC BY-NC-ND 4.0", "https://creativecommons.org/licenses/by-nc-nd/4.0/"),
]
START = 1262304000  # 2010-01-01
STEP = 35_000  # 9000 photos over ~10 years
N_PHOTOS = 9000
CORRUPT_INDEX = 97 * 12
SHRUNK_INDEX = 97 * 15  # advertises 160x120 but serves a 60x45 file


def _photo(i: int) -> dict:
    """The synthetic catalogue: most photos offer only small sizes; every 97th offers big ones."""
    pid = str(50_000_000 + i)
    owner = f"{1000 + i % 37}@N0{i % 9}"
    p = {"id": pid, "owner": owner, "secret": "abc", "server": "65535", "farm": 66, "title": f"flower {i}",
         "ispublic": 1, "isfriend": 0, "isfamily": 0, "license": str(i % 17), "ownername": f"Gardener {i % 37}",
         "dateupload": str(START + i * STEP), "datetaken": "2009-05-01 10:11:12", "datetakengranularity": 0,
         "datetakenunknown": "0"}
    sizes = {"b": (64, 48, "jpg")}
    if i % 97 == 0:  # big: original PNG 160x120, 2048-class 128x96
        sizes.update(o=(160, 120, "png"), k=(128, 96, "jpg"), h=(100, 75, "jpg"))
    elif i % 97 == 50:  # medium: the largest has a shorter side of 96
        sizes.update(k=(128, 96, "jpg"), h=(100, 75, "jpg"))
    elif i % 97 == 60:  # only a 100x75 (shorter side 75): too small at --min-size 80
        sizes.update(h=(100, 75, "jpg"))
    for key, (w, h, ext) in sizes.items():
        served = "60x45" if (i == SHRUNK_INDEX and key == "o") else f"{w}x{h}"
        p[f"url_{key}"] = f"/img/{pid}_{key}_{served}.{ext}"
        p[f"width_{key}"] = w
        p[f"height_{key}"] = str(h)  # Flickr mixes ints and strings
    if "o" in sizes:
        p["o_width"], p["o_height"] = "160", "120"
    return p


CATALOGUE = [_photo(i) for i in range(N_PHOTOS)]
_IMAGE_CACHE: dict[tuple[int, int, str], bytes] = {}


def _image_bytes(w: int, h: int, ext: str) -> bytes:
    key = (w, h, ext)
    if key not in _IMAGE_CACHE:
        im = bloom(max(w, h), seed=w * 7 + h).crop((0, 0, w, h))
        buf = io.BytesIO()
        im.save(buf, format="PNG" if ext == "png" else "JPEG", quality=90)
        _IMAGE_CACHE[key] = buf.getvalue()
    return _IMAGE_CACHE[key]


class FlickrStub:
    """A ThreadingHTTPServer answering licenses.getInfo, photos.search and image requests."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.api_methods: list[str] = []
        self.beyond_cap: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                stub.hits[url.path] += 1
                if url.path == "/services/rest/":
                    q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
                    self._json(stub.api(q))
                elif url.path.startswith("/img/"):
                    name = url.path.rsplit("/", 1)[1]
                    pid, key, dims = name.split(".")[0].split("_")
                    if int(pid) - 50_000_000 == CORRUPT_INDEX and key == "o":
                        body = b"\x89PNG\r\n\x1a\n" + b"\0" * 40  # a broken download
                    else:
                        w, h = map(int, dims.split("x"))
                        body = _image_bytes(w, h, name.rsplit(".", 1)[1])
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_error(404)

            def _json(self, obj: dict) -> None:
                body = json.dumps(obj).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.api_url = self.base + "/services/rest/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def api(self, q: dict) -> dict:
        self.api_methods.append(q.get("method", ""))
        if q.get("format") != "json" or q.get("nojsoncallback") != "1":
            return {"stat": "fail", "code": 111, "message": "Format \"rest\" not found"}
        if q.get("api_key") != "good-key":
            return {"stat": "fail", "code": 100, "message": "Invalid API Key (Key has invalid format)"}
        if q["method"] == "flickr.photos.licenses.getInfo":
            return {"licenses": {"license": [{"id": i, "name": n, "url": u} for i, n, u in LICENCES]}, "stat": "ok"}
        if q["method"] != "flickr.photos.search":
            return {"stat": "fail", "code": 112, "message": f"Method \"{q['method']}\" not found"}
        lic = {int(x) for x in q["license"].split(",")} if q.get("license") else set(range(17))
        lo, hi = int(q.get("min_upload_date", 0)), int(q.get("max_upload_date", 2**40))
        text = q.get("text") or q.get("tags") or ""
        matches = [p for p in CATALOGUE if int(p["license"]) in lic and lo <= int(p["dateupload"]) <= hi
                   and all(w in p["title"] for w in text.replace(",", " ").split())]
        per_page = min(int(q.get("per_page", 100)), 500)
        page = int(q.get("page", 1))
        total = len(matches)
        if page * per_page > 4000:  # Flickr serves nothing new past 4000 results: it repeats
            self.beyond_cap.append(q)
            page = 4000 // per_page
        extras = set(q.get("extras", "").split(","))
        rows = []
        for p in matches[:4000][(page - 1) * per_page: page * per_page]:
            row = {k: v for k, v in p.items() if not k.startswith(("url_", "width_", "height_", "o_"))
                   and k not in ("license", "ownername", "dateupload", "datetaken")}
            if "license" in extras:
                row["license"] = p["license"]
            if "owner_name" in extras:
                row["ownername"] = p["ownername"]
            if "date_upload" in extras:
                row["dateupload"] = p["dateupload"]
            if "date_taken" in extras:
                row["datetaken"] = p["datetaken"]
            for key in "okhb":
                if f"url_{key}" in extras and f"url_{key}" in p:
                    row[f"url_{key}"] = self.base + p[f"url_{key}"]
                    row[f"width_{key}"], row[f"height_{key}"] = p[f"width_{key}"], p[f"height_{key}"]
            if "o_dims" in extras and "o_width" in p:
                row["o_width"], row["o_height"] = p["o_width"], p["o_height"]
            rows.append(row)
        return {"photos": {"page": page, "pages": math.ceil(total / per_page), "perpage": per_page,
                           "total": total if total % 2 else str(total), "photo": rows}, "stat": "ok"}

    def image_hits(self) -> int:
        return sum(n for path, n in self.hits.items() if path.startswith("/img/"))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def stub():
    s = FlickrStub()
    yield s
    s.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, dt: float) -> None:
        self.sleeps.append(dt)
        self.now += dt


def _expected_ids(licences, min_size: int) -> set[str]:
    out = set()
    for i, p in enumerate(CATALOGUE):
        if int(p["license"]) not in licences or i in (CORRUPT_INDEX, SHRUNK_INDEX):
            continue
        if choose_size(p, min_size) is not None:
            out.add(p["id"])
    return out


def test_rate_limiter_spaces_events_on_an_injected_clock():
    clock = FakeClock()
    lim = RateLimiter(1.0, clock=clock, sleep=clock.sleep)
    lim.wait()
    clock.now += 0.3  # some work happened
    lim.wait()
    lim.wait()
    clock.now += 5.0
    lim.wait()
    assert [round(s, 6) for s in clock.sleeps] == [0.7, 1.0]
    assert [round(t - 1000.0, 6) for t in lim.times] == [0.0, 1.0, 2.0, 7.0]


def test_choose_size_takes_the_largest_big_enough():
    big = CATALOGUE[0]
    assert choose_size(big, 80)["key"] == "o"
    assert choose_size(big, 80, prefer="smallest")["key"] == "k"
    assert choose_size(big, 121) is None
    assert choose_size(CATALOGUE[50], 80)["key"] == "k"
    assert choose_size(CATALOGUE[60], 80) is None and choose_size(CATALOGUE[60], 75)["key"] == "h"


def test_search_splits_windows_and_downloads_only_allowed_photos(stub, tmp_path):
    clock = FakeClock()
    stub.beyond_cap.clear()
    before = stub.image_hits()
    opts = FlickrOptions(query="flower", licence="commercial", min_size=80, limit=10_000, api_url=stub.api_url)
    res = download_flickr(tmp_path, "good-key", opts, clock=clock, sleep=clock.sleep)

    expected = _expected_ids(COMMERCIAL_LICENCES, 80)
    assert set(res.downloaded) == expected and len(expected) > 20
    assert res.windows >= 2 and not stub.beyond_cap  # 4235 matches > 4000: split, never truncated
    # one image request per downloaded photo plus the corrupt and the shrunk one; none for small photos
    assert stub.image_hits() - before == len(expected) + 2
    shrunk = [r for r in res.rejected if r["id"] == CATALOGUE[SHRUNK_INDEX]["id"]]
    assert shrunk == [{"id": CATALOGUE[SHRUNK_INDEX]["id"], "reason": "too-small", "detail": "the file is 60x45"}]
    reasons = Counter(r["reason"] for r in res.rejected)
    broken = [r for r in res.rejected if r["reason"] in ("download-corrupt", "download-truncated",
                                                          "download-not-an-image")]
    assert [r["id"] for r in broken] == [CATALOGUE[CORRUPT_INDEX]["id"]], reasons
    assert reasons["too-small"] > 1000 and "licence" not in reasons
    corrupt_id = CATALOGUE[CORRUPT_INDEX]["id"]
    assert not list(tmp_path.glob(f"{corrupt_id}.*"))

    table = {i: (n, u) for i, n, u in LICENCES}
    for pid in res.downloaded:
        i = int(pid) - 50_000_000
        src = CATALOGUE[i]
        meta = json.loads((tmp_path / f"{pid}.json").read_text())
        assert int(src["license"]) in COMMERCIAL_LICENCES
        assert meta["licence"] == {"id": int(src["license"]), "name": table[int(src["license"])][0],
                                   "url": table[int(src["license"])][1]}
        assert meta["owner"] == src["owner"] and meta["owner_name"] == src["ownername"]
        assert meta["page_url"] == f"https://www.flickr.com/photos/{src['owner']}/{pid}"
        key = "o" if i % 97 == 0 else "k"
        assert meta["size"] == key and meta["source_url"] == stub.base + src[f"url_{key}"]
        assert meta["modifications"] == [] and meta["date_taken"] == src["datetaken"]
        assert meta["date_upload"].startswith(("2010", "2011", "2012", "2013", "2014", "2015", "2016", "2017",
                                               "2018", "2019", "2020"))
        data = (tmp_path / meta["file"]).read_bytes()
        assert meta["file"] == f"{pid}.{'png' if key == 'o' else 'jpg'}"
        assert hashlib.sha256(data).hexdigest() == meta["sha256"]
        img = load_image(data)
        assert min(img.size) >= 80 and [img.width, img.height] == [meta["width"], meta["height"]]

    report = json.loads((tmp_path / "flickr-report.json").read_text())
    assert report["api_calls"] == res.api_calls and report["downloaded_this_run"] == len(expected)
    assert "good-key" not in (tmp_path / "flickr-options.json").read_text()


def test_api_calls_are_spaced_a_second_apart(stub, tmp_path, monkeypatch):
    clock = FakeClock()
    seen: list[flickr.FlickrClient] = []
    real_init = flickr.FlickrClient.__init__

    def spy(self, *a, **kw):
        real_init(self, *a, **kw)
        seen.append(self)

    monkeypatch.setattr(flickr.FlickrClient, "__init__", spy)
    opts = FlickrOptions(query="flower", licence="modifications", min_size=80, limit=12, per_page=100,
                         api_url=stub.api_url)
    download_flickr(tmp_path, "good-key", opts, clock=clock, sleep=clock.sleep)
    calls = seen[0].calls
    assert calls[0][1] == "flickr.photos.licenses.getInfo" and len(calls) >= 4
    gaps = [b[0] - a[0] for a, b in zip(calls, calls[1:])]
    assert min(gaps) >= 1.0 - 1e-9
    assert sum(clock.sleeps) > 0  # the limiter really waited (on the fake clock)


def test_limit_and_resume_skip_what_is_there(stub, tmp_path):
    clock = FakeClock()
    opts = FlickrOptions(query="flower", licence="4,5,9", min_size=80, limit=5, api_url=stub.api_url)
    h0 = stub.image_hits()
    res = download_flickr(tmp_path, "good-key", opts, clock=clock, sleep=clock.sleep)
    assert len(res.downloaded) == 5 and stub.image_hits() - h0 == 5
    assert len(list(tmp_path.glob("5*.json"))) == 5 and (tmp_path / ".flickr-state.json").exists()
    for pid in res.downloaded:
        assert int(json.loads((tmp_path / f"{pid}.json").read_text())["licence"]["id"]) in (4, 5, 9)

    h1 = stub.image_hits()
    again = download_flickr(tmp_path, "good-key", opts, clock=clock, sleep=clock.sleep)
    assert again.downloaded == [] and again.kept == 5 and stub.image_hits() == h1
    assert again.api_calls == 1  # only the licence table: the limit is already met

    more = download_flickr(tmp_path, "good-key", FlickrOptions(**{**opts.__dict__, "limit": 8}),
                           clock=clock, sleep=clock.sleep)
    assert more.kept == 5 and len(more.downloaded) == 3 and stub.image_hits() - h1 == 3
    assert not set(more.downloaded) & set(res.downloaded)

    # a damaged file fails its sha256 check and is downloaded again; the others are kept
    victim = tmp_path / json.loads((tmp_path / f"{res.downloaded[0]}.json").read_text())["file"]
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")
    h2 = stub.image_hits()
    fixed = download_flickr(tmp_path, "good-key", FlickrOptions(**{**opts.__dict__, "limit": 8}),
                            clock=clock, sleep=clock.sleep)
    assert fixed.downloaded == [res.downloaded[0]] and fixed.kept == 7 and stub.image_hits() - h2 == 1
    meta = json.loads((tmp_path / f"{res.downloaded[0]}.json").read_text())
    assert hashlib.sha256(victim.read_bytes()).hexdigest() == meta["sha256"]


def test_errors_from_flickr_are_one_clean_line(stub, tmp_path, capsys, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(flickr, "default_clock", clock)
    monkeypatch.setattr(flickr, "default_sleep", clock.sleep)
    code = run(["dataset", "flickr", "--query", "flower", "--api-key", "bad", "--api-url", stub.api_url,
                "-o", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "Invalid API Key" in err and "code 100" in err and "Traceback" not in err
    code = run(["dataset", "flickr", "--query", "flower", "--api-key", "good-key", "--api-url", stub.api_url,
                "--licence", "4,99", "-o", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "99" in err and len(err.splitlines()) == 1
    with pytest.raises(FlickrError, match="cannot reach"):
        download_flickr(tmp_path / "y", "good-key", FlickrOptions(query="flower", api_url="http://127.0.0.1:9/", retries=0),
                        clock=clock, sleep=clock.sleep)


def test_cli_downloads_with_progress_and_summary(stub, tmp_path, capsys, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(flickr, "default_clock", clock)
    monkeypatch.setattr(flickr, "default_sleep", clock.sleep)
    out = tmp_path / "flowers"
    assert run(["dataset", "flickr", "--query", "flower", "--api-key", "good-key", "--api-url", stub.api_url,
                "--licence", "modifications", "--min-size", "90", "--limit", "3", "--tags", "--sort",
                "date-posted-desc", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "3 photos" in err
    sidecars = [json.loads(p.read_text()) for p in out.glob("5*.json")]
    assert len(sidecars) == 3
    assert all(s["licence"]["id"] in MODIFICATIONS_LICENCES and min(s["width"], s["height"]) >= 90 for s in sidecars)
    options = json.loads((out / "flickr-options.json").read_text())
    assert options["tags"] is True and options["sort"] == "date-posted-desc" and options["api_key"] == "(not stored)"


def test_a_search_without_results_ends_cleanly(stub, tmp_path):
    clock = FakeClock()
    res = download_flickr(tmp_path, "good-key", FlickrOptions(query="volcano", api_url=stub.api_url),
                          clock=clock, sleep=clock.sleep)
    assert res.total == 0 and res.api_calls == 2 and res.rejected == []
