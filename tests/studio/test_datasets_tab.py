"""Datasets tab in a real page: a build from a workspace folder shows its contact sheet and the
rejected files with reasons and writes what `neuralbrush dataset build` writes; pairs from
uploaded photos; a build without sources says what to do."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import zipfile

import pytest

from neuralbrush.datasets.samples import write_blooms



def set_text(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} input, #{elem_id} textarea").first
    box.fill(value)
    box.press("Enter" if "folder" in elem_id else "Tab")


def wait_done(page, status_id: str = "ds-status", timeout: float = 90_000) -> str:
    page.wait_for_function(
        f"""() => {{ const t = document.querySelector('#{status_id}')?.innerText || '';
                    return t.includes('Done') || t.includes('Failed') || t.includes('Cancelled'); }}""",
        timeout=timeout)
    return page.locator(f"#{status_id}").inner_text()


def dry_run(command: str, cwd) -> dict:
    """What the CLI makes of the command the page shows (its --dry-run JSON), run from the workspace."""
    words = shlex.split(command)
    assert words[0] == "neuralbrush"
    out = subprocess.run([sys.executable, "-m", "neuralbrush", *words[1:], "--dry-run"], cwd=cwd,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def contact_sheet_loaded(page) -> bool:
    return page.locator("#ds-contact-sheet img").evaluate("img => img.complete && img.naturalWidth > 0")


def test_build_from_folder_shows_contact_sheet_and_rejections(studio, page, ui):
    ws = studio.workspace
    src = ws.images / "blooms"
    write_blooms(src, 10, size=48, seed=3)
    (src / "notes-renamed.png").write_bytes(b"this is a text file, not a picture")
    ui.open(page, studio.url)
    ui.select_tab(page, "Datasets")
    set_text(page, "ds-folder", "images/blooms")
    set_text(page, "ds-name", "tiny")
    set_text(page, "ds-opt-size", "32")
    page.locator("#ds-build").click()
    status = wait_done(page)
    assert "Done" in status, status

    # the contact sheet is in the page, and the rejected file is listed with its reason
    page.wait_for_selector("#ds-contact-sheet img")
    assert contact_sheet_loaded(page)
    table = page.locator("#ds-rejected").inner_text()
    assert "notes-renamed.png" in table and "not-an-image" in table, table
    assert "10 of 11 images accepted" in page.locator("#ds-summary").inner_text()

    # the equivalent command, and the files the CLI writes
    command = page.locator("#ds-command textarea, #ds-command input").first.input_value()
    assert command == "neuralbrush dataset build images/blooms --size 32 --min-size 0 -o datasets/tiny.zip"
    assert dry_run(command, ws.root)["options"] == {
        k: v for k, v in json.loads((ws.datasets / "tiny-report" / "options.json").read_text()).items()
        if k not in ("sources", "output")}
    out = ws.datasets / "tiny.zip"
    with zipfile.ZipFile(out) as z:
        assert sorted(n for n in z.namelist() if n.endswith(".png")) == [
            f"00000/img{i:08d}.png" for i in range(10)]
    report = ws.datasets / "tiny-report"
    for name in ("contact_sheet.png", "rejected.csv", "summary.json", "options.json", "preview.gif"):
        assert (report / name).is_file(), name
    assert json.loads((report / "options.json").read_text())["size"] == 32

    # building the same name again is refused with a sentence, nothing overwritten
    mtime = out.stat().st_mtime_ns
    page.locator("#ds-build").click()
    assert "already exists" in ui.toast(page)
    assert out.stat().st_mtime_ns == mtime


def test_pairs_from_uploads_and_missing_sources(studio, page, ui, tmp_path):
    ui.open(page, studio.url)
    ui.select_tab(page, "Datasets")
    # nothing to build from: one sentence, no job
    set_text(page, "ds-name", "empty")
    page.locator("#ds-build").click()
    assert "upload images or a zip" in ui.toast(page)

    photos = tmp_path / "photos"
    write_blooms(photos, 4, size=40, seed=9)
    bad = photos / "truncated.png"
    bad.write_bytes((photos / next(iter(sorted(p.name for p in photos.iterdir())))).read_bytes()[:60])
    page.get_by_role("tab", name="pix2pix pairs").click()
    page.locator("#pairs-upload input[type=file]").set_input_files(sorted(str(p) for p in photos.iterdir()))
    page.wait_for_function("() => (document.querySelector('#pairs-upload')?.innerText || '').includes('truncated')")
    set_text(page, "pairs-name", "edges40")
    set_text(page, "pairs-opt-size", "32")
    page.locator("#pairs-build").click()
    status = wait_done(page)
    assert "Done" in status, status
    page.wait_for_selector("#ds-contact-sheet img")
    assert contact_sheet_loaded(page)
    table = page.locator("#ds-rejected").inner_text()
    assert "truncated.png" in table, table
    assert "4 training" in page.locator("#ds-summary").inner_text()
    out = studio.workspace.datasets / "edges40"
    assert len(list((out / "train").glob("*.png"))) == 4
    doc = json.loads((out / "dataset.json").read_text())
    assert doc["format"] == "neuralbrush-pairs" and doc["size"] == 32
    # the uploads were kept in the workspace, where the command shown reads them
    command = page.locator("#ds-command textarea, #ds-command input").first.input_value()
    assert command.startswith("neuralbrush dataset pairs images/edges40-upload --size 32"), command
    assert dry_run(command, studio.workspace.root)["options"]["size"] == 32
    assert (studio.workspace.images / "edges40-upload" / "truncated.png").is_file()
