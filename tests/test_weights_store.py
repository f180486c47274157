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
    """An LPIPS v0.1 linear-layer file: the real names and shapes (what a store check looks for)."""
    g = torch.Generator().manual_seed(0)
    buf = io.BytesIO()
    torch.save({f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=g)
                for i, c in enumerate((64, 128, 256, 512, 512))}, buf)
    return buf.getvalue()


def _vgg19_file(path):
    """torchvision's VGG-19 names and shapes in a tiny file (every tensor a stride-0 view of one zero)."""
    from torchvision.models.vgg import VGG, cfgs, make_layers

    with torch.device("meta"):
        ref = VGG(make_layers(cfgs["E"]), init_weights=False).state_dict()
    torch.save({k: torch.zeros(1).expand(v.shape) for k, v in ref.items()}, path)
    return path


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
        assert (e.bundled or e.url.startswith("http")) and e.licence and e.filename
    assert {e.name for e in store.list_entries() if e.bundled} == {"blooms64-stylegan2", "blooms64-lite",
                                                                   "blooms64-pix2pix-edges"}


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
    good = replace(store.CATALOGUE["lpips-vgg"], name="t-good", url=f"{base}/good.pth", filename="good.pth",
                   sha256=digest[:8])
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
    entry = replace(store.CATALOGUE["lpips-vgg"], name="t-imp", filename="imp.pth", sha256=None)
    monkeypatch.setitem(store.CATALOGUE, "t-imp", entry)
    assert store.import_file("t-imp", f).read_bytes() == f.read_bytes()
    junk = tmp_path / "junk.pth"
    junk.write_text("hello")
    with pytest.raises(WeightsMissingError, match="not a readable PyTorch file"):
        store.import_file("t-imp", junk)
    # an LPIPS file is not a VGG-19, whatever its name says
    with pytest.raises(WeightsMissingError, match="LPIPS linear layers.*not torchvision's VGG-19"):
        store.import_file("vgg19", f)
    # a VGG-19 of the right architecture still has to be torchvision's file: it pins a sha256 prefix
    with pytest.raises(WeightsMissingError, match="different or damaged"):
        store.import_file("vgg19", _vgg19_file(tmp_path / "vgg19.pth"))
    assert store.find("vgg19") is None


def test_cli_weights(capsys):
    assert run(["weights", "list"]) == 0
    assert "ffhq256" in capsys.readouterr().err
    assert run(["weights", "path", "vgg19"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: weights 'vgg19' are not in the store") and err.count("\n") == 1
