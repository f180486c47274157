"""The workspace: its layout, safe paths (traversal, absolute paths, symlink escapes), checked
uploads, the equivalent CLI command text, and the empty workspace's sample-data offer in the page."""

from __future__ import annotations

import io
import shlex

import pytest
from PIL import Image

from neuralbrush.core.errors import UsageError
from neuralbrush.studio.commands import command_text
from neuralbrush.studio.workspace import BadUpload, OutsideWorkspace, Workspace


def test_layout_is_the_clis(tmp_path):
    ws = Workspace(tmp_path / "new" / "ws")
    for area in ("images", "datasets", "runs", "art"):
        assert (ws.root / area).is_dir()
    assert ws.jobs_dir.is_dir() and ws.jobs_dir.parent == ws.root / ".studio"
    assert ws.is_empty()
    (ws.runs / "00000-blooms-small").mkdir()
    assert not ws.is_empty()
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file, not a folder"):
        Workspace(tmp_path / "file")


def test_paths_stay_inside(workspace, tmp_path):
    ws = workspace
    (ws.datasets / "blooms").mkdir()
    assert ws.resolve("datasets/blooms") == ws.datasets / "blooms"
    assert ws.resolve(ws.datasets / "blooms") == ws.datasets / "blooms"
    assert ws.resolve("datasets/../runs") == ws.runs          # .. that stays inside is fine
    assert ws.relative(ws.datasets / "blooms") == "datasets/blooms"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"x")
    (ws.art / "link").symlink_to(outside)
    (ws.art / "file-link.png").symlink_to(outside / "secret.png")
    (ws.art / "inner-link").symlink_to(ws.datasets)
    assert ws.resolve("art/inner-link") == ws.datasets         # a symlink within the workspace is fine
    for bad in ("../outside", "../../etc/passwd", "/etc/passwd", str(outside), "art/link/secret.png",
                "art/file-link.png", "art/link", "datasets/../../outside", "~/.ssh/id_rsa"):
        with pytest.raises(OutsideWorkspace, match="outside the workspace"):
            ws.resolve(bad)
        assert not ws.contains(bad)
    with pytest.raises(UsageError, match="no path given"):
        ws.resolve("")
    with pytest.raises(UsageError, match="does not exist"):
        ws.resolve("datasets/nothing", must_exist=True)


def test_uploads_are_checked_like_dataset_inputs(workspace, tmp_path):
    good = tmp_path / "good.png"
    Image.new("RGB", (40, 30), (10, 20, 30)).save(good)
    assert workspace.check_upload(good).size == (40, 30)
    kept = workspace.keep_upload(good, "images/uploads", name="my photo.png")
    again = workspace.keep_upload(good, "images/uploads", name="my photo.png")
    assert kept.name == "my photo.png" and again.name == "my photo-1.png" and kept.parent == workspace.images / "uploads"

    text = tmp_path / "notes.png"
    text.write_text("just text")
    with pytest.raises(BadUpload, match="notes.png.*not-an-image"):
        workspace.check_upload(text)
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buf, "PNG")
    cut = tmp_path / "cut.png"
    cut.write_bytes(buf.getvalue()[:60])
    with pytest.raises(BadUpload, match="cut.png"):
        workspace.check_upload(cut)
    with pytest.raises(BadUpload, match="more than the studio's upload limit"):
        workspace.check_upload(good, max_bytes=10)
    with pytest.raises(BadUpload, match="too-large"):
        workspace.check_upload(good, max_pixels=100)
    with pytest.raises(OutsideWorkspace):
        workspace.keep_upload(good, "../elsewhere")
    with pytest.raises(BadUpload):
        workspace.keep_upload(text, "images/uploads")
    assert sorted(p.name for p in (workspace.images / "uploads").iterdir()) == ["my photo-1.png", "my photo.png"]


def test_command_text_is_the_cli_for_the_options(workspace):
    from neuralbrush.gan.presets import TrainOptions

    opts = TrainOptions(data=str(workspace.datasets / "blooms 32"), outdir=str(workspace.runs), cfg="small",
                        minutes=1.5, mirror=True, map_depth=4, metrics="none")
    text = command_text("train", opts, workspace=workspace)
    words = shlex.split(text)
    assert words[:3] == ["neuralbrush", "train", "datasets/blooms 32"]
    assert words[3:] == ["--outdir", "runs", "--cfg", "small", "--mirror", "--minutes", "1.5", "--map", "4",
                         "--metrics", "none"]
    assert command_text("train", TrainOptions(data="d")) == "neuralbrush train d"  # defaults are left out
    more = command_text("generate", args=["runs/00000-x"], extra={"-o": workspace.art / "seeds", "--seeds": "0-7"},
                        workspace=workspace)
    assert more == "neuralbrush generate runs/00000-x -o art/seeds --seeds 0-7"

    # the text parses back to the same options through the real command line
    from neuralbrush.cli.main import run

    import json
    import contextlib

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert run([*words[1:], "--dry-run"]) == 0
    parsed = json.loads(out.getvalue())["options"]
    assert parsed["cfg"] == "small" and parsed["minutes"] == 1.5 and parsed["mirror"] is True
    assert parsed["map_depth"] == 4 and parsed["metrics"] == "none" and parsed["outdir"] == "runs"


def test_empty_workspace_offers_sample_data_in_the_page(studio, ui, page, screenshot):
    ws = studio.workspace
    assert ws.is_empty()
    ui.open(page, studio.url)
    assert "0 image folder(s)" in page.locator("#workspace-summary").inner_text()
    button = page.locator("#sample-data")
    button.wait_for()
    button.click()
    page.locator("#sample-data-status").get_by_text("Sample data written").wait_for(timeout=120_000)
    assert button.is_hidden()
    assert "2 image folder(s)" in page.locator("#workspace-summary").inner_text()
    blooms = sorted((ws.images / "blooms").glob("*.png"))
    photos = sorted(p.name for p in (ws.images / "photos").glob("*.png"))
    assert len(blooms) >= 64 and photos == ["astronaut.png", "chelsea.png", "coffee.png", "rocket.png"]
    assert Image.open(blooms[0]).size == (64, 64)
    page.reload()
    page.wait_for_selector("#studio-tabs")
    # offered only while the workspace is empty: the page's load event hides it (it may show for a moment)
    page.locator("#sample-data").wait_for(state="hidden", timeout=30_000)
    screenshot(page, "workspace", full_page=False)
