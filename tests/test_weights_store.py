"""The weights store: catalogue, offline errors that say where to put the file, fetch with
verification against a local HTTP server, import of a file obtained elsewhere."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
from dataclasses import replace

import pytest
import torch

from neuralbrush.cli.main import run
from neuralbrush.core.errors import UsageError, WeightsMissingError
from neuralbrush.weights import store


def _pth_bytes() -> bytes:
    buf = io.BytesIO()
    torch.save({"w": torch.arange(6.0)}, buf)
    return buf.getvalue()


@pytest.fixture()
def server():
    payload = _pth_bytes()
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            if self.path == "/good.pth":
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            else:
                self.send_error(404)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", payload, hits
    srv.shutdown()


def test_catalogue_covers_the_families():
    names = set(store.CATALOGUE)
    assert {"vgg19", "vgg16", "lpips-vgg", "ffhq", "metfaces", "afhqcat", "afhqdog", "afhqwild", "brecahad",
            "cifar10", "ffhq256", "pix2pix-edges2shoes", "pix2pix-facades-label2photo"} <= names
    assert store.CATALOGUE["ffhq256"].url.endswith("transfer-learning-source-nets/ffhq-res256-mirror-paper256-noaug.pkl")
    for e in store.list_entries():
        assert e.url.startswith("http") and e.licence and e.filename


def test_missing_weights_message_names_url_and_path():
    with pytest.raises(WeightsMissingError) as ei:
        store.require("vgg19")
    msg = str(ei.value)
    assert "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in msg
    assert str(store.store_dir() / "vgg19-dcbb9e9d.pth") in msg
    with pytest.raises(UsageError, match="did you mean"):
        store.require("vgg")


def test_fetch_verifies_and_stores(server, monkeypatch):
    base, payload, hits = server
    digest = hashlib.sha256(payload).hexdigest()
    good = replace(store.CATALOGUE["vgg19"], name="t-good", url=f"{base}/good.pth", filename="good.pth", sha256=digest[:8])
    bad = replace(good, name="t-bad", filename="bad.pth", sha256="00000000")
    gone = replace(good, name="t-gone", url=f"{base}/gone.pth", filename="gone.pth")
    monkeypatch.setitem(store.CATALOGUE, "t-good", good)
    monkeypatch.setitem(store.CATALOGUE, "t-bad", bad)
    monkeypatch.setitem(store.CATALOGUE, "t-gone", gone)
    p = store.fetch("t-good")
    assert p.read_bytes() == payload and store.find("t-good") == p
    store.fetch("t-good")
    assert hits.count("/good.pth") == 1  # already stored: no second download
    with pytest.raises(WeightsMissingError, match="different or damaged"):
        store.fetch("t-bad")
    assert store.find("t-bad") is None
    with pytest.raises(WeightsMissingError, match="could not be downloaded"):
        store.fetch("t-gone")


def test_import_checks_the_file(tmp_path, monkeypatch):
    f = tmp_path / "vgg.pth"
    f.write_bytes(_pth_bytes())
    entry = replace(store.CATALOGUE["vgg16"], name="t-imp", filename="imp.pth", sha256=None)
    monkeypatch.setitem(store.CATALOGUE, "t-imp", entry)
    assert store.import_file("t-imp", f).read_bytes() == f.read_bytes()
    junk = tmp_path / "junk.pth"
    junk.write_text("hello")
    with pytest.raises(WeightsMissingError, match="not a PyTorch weights file"):
        store.import_file("t-imp", junk)
    # the torchvision entry pins a sha256 prefix: a different file is refused
    with pytest.raises(WeightsMissingError, match="different or damaged"):
        store.import_file("vgg19", f)


def test_cli_weights(capsys):
    assert run(["weights", "list"]) == 0
    assert "ffhq256" in capsys.readouterr().err
    assert run(["weights", "path", "vgg19"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: weights 'vgg19' are not in the store") and err.count("\n") == 1
