"""The studio's safety rules, against a real server and in a real browser: files only from the
workspace (traversal URLs, symlinks), no listening off loopback without a password, and uploads
validated like `dataset build` inputs with a clear message in the page."""

from __future__ import annotations

import io
import os
import pickle
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

SECRET = "TOP-SECRET-NOT-IN-WORKSPACE"


def _png_bomb(path: Path, side: int = 40000) -> Path:
    """A small PNG file (a few hundred kB) that claims side x side pixels of 1-bit grey."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + side // 8)
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def _bad_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)

    class Boom:  # what a malicious pickle would carry; never unpickled here
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    files = {"pickle": folder / "portrait.png", "truncated": folder / "cut.png", "bomb": folder / "bomb.png",
             "good": folder / "fine.png"}
    files["pickle"].write_bytes(pickle.dumps(Boom()))
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    files["truncated"].write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    _png_bomb(files["bomb"])
    Image.new("RGB", (48, 40), (200, 30, 90)).save(files["good"])
    return files


def test_traversal_and_outside_urls_are_refused(studio, ui, tmp_path):
    ws = studio.workspace
    (ws.art / "note.txt").write_text("inside the workspace")
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    (ws.art / "escape.txt").symlink_to(secret)
    (ws.art / "escape-dir").symlink_to(tmp_path)

    status, body = ui.get(f"{studio.url}gradio_api/file={ws.art / 'note.txt'}")
    assert status == 200 and body == b"inside the workspace"  # the rule does not block the workspace itself

    rel_up = "../" * (len(ws.root.parts) + 2)
    urls = [
        "file=../../etc/passwd",
        "gradio_api/file=../../etc/passwd",
        "gradio_api/file=/etc/passwd",
        f"gradio_api/file={rel_up}etc/passwd",
        "gradio_api/file=%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        f"gradio_api/file={ws.root}/../../../../etc/passwd",
        f"gradio_api/file={secret}",
        f"gradio_api/file={ws.art / 'escape.txt'}",                # symlink to a file outside
        f"gradio_api/file={ws.art / 'escape-dir' / 'secret.txt'}",  # through a symlinked folder
        f"file={ws.art / 'escape.txt'}",
    ]
    for url in urls:
        status, body = ui.get(studio.url + url)
        assert status in (400, 403, 404), (url, status)
        assert b"root:" not in body and SECRET.encode() not in body, url


def test_non_loopback_bind_without_auth_is_refused(tmp_path):
    for host in ("0.0.0.0", "192.168.1.20", "::"):
        r = subprocess.run([sys.executable, "-m", "neuralbrush", "studio", str(tmp_path / "ws"), "--host", host,
                            "--port", "0"], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
        assert r.returncode == 2, (host, r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "--auth" in lines[0] and host in lines[0]
        assert "Traceback" not in r.stderr and "http://" not in r.stdout
    r = subprocess.run([sys.executable, "-m", "neuralbrush", "studio", str(tmp_path / "ws"), "--auth", "nopassword"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.startswith("error: --auth must be USER:PASS")


def test_auth_guards_the_page_and_the_files(studio_server, ui, page):
    server = studio_server(extra_args=["--auth", "ada:lovelace"])
    (server.workspace.art / "note.txt").write_text("inside")
    status, body = ui.get(f"{server.url}gradio_api/file={server.workspace.art / 'note.txt'}")
    assert status in (401, 403) and b"inside" not in body
    page.goto(server.url)
    page.get_by_label("username").fill("ada")
    page.get_by_label("password").fill("wrong")
    page.get_by_role("button", name="Login").click()
    page.get_by_text("Incorrect Credentials").wait_for(timeout=20_000)
    assert page.locator("#studio-tabs").count() == 0
    page.get_by_label("username").fill("ada")
    page.get_by_label("password").fill("lovelace")
    page.get_by_role("button", name="Login").click()
    page.wait_for_selector("#studio-tabs", timeout=60_000)


def _fill_folder(page, text: str) -> None:
    """Type the upload folder and wait until the page holds it (a fill can race the page's
    hydration under load, leaving the default in place)."""
    box = page.locator("#upload-folder textarea, #upload-folder input").first
    for _ in range(3):
        box.fill(text)
        box.press("Tab")
        if box.input_value() == text:
            return
        page.wait_for_timeout(500)
    assert box.input_value() == text


def test_malicious_uploads_get_a_clear_message_in_the_page(studio, ui, page, tmp_path):
    files = _bad_files(tmp_path / "uploads")
    ui.open(page, studio.url)
    page.locator("#upload-panel").get_by_text("Add images to the workspace").click()
    _fill_folder(page, "mixed")
    page.locator("#upload-files input[type=file]").set_input_files([str(p) for p in files.values()])
    for p in files.values():
        page.locator("#upload-files").get_by_text(p.stem, exact=True).first.wait_for(timeout=60_000)
    page.locator("#upload-add").click()
    status = page.locator("#upload-status")
    status.get_by_text("Not added").wait_for(timeout=60_000)
    text = status.inner_text()
    assert "Added 1 image(s) to images/mixed" in text
    assert "portrait.png" in text and "unrecognised format" in text            # the pickle named .png
    assert "cut.png" in text and "truncated" in text.lower()                    # half a PNG
    assert "bomb.png" in text and "too-large" in text and "exceeds" in text     # the decompression bomb
    assert "Traceback" not in ui.text(page) and "pwned" not in ui.text(page)
    assert "3 file(s) refused" in ui.toast(page)
    kept = sorted(p.name for p in (studio.workspace.images / "mixed").iterdir())
    assert kept == ["fine.png"]


def test_upload_outside_images_is_refused_in_the_page(studio, ui, page, tmp_path):
    good = tmp_path / "ok.png"
    Image.new("RGB", (16, 16), (0, 0, 0)).save(good)
    ui.open(page, studio.url)
    page.locator("#upload-panel").get_by_text("Add images to the workspace").click()
    _fill_folder(page, "../../../../outside")
    page.locator("#upload-files input[type=file]").set_input_files([str(good)])
    page.locator("#upload-files").get_by_text("ok", exact=True).first.wait_for(timeout=60_000)
    page.locator("#upload-add").click()
    assert "outside the workspace" in ui.toast(page)
    assert not (studio.workspace.root.parent.parent / "outside").exists()
