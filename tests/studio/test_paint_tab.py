"""Paint tab in the real page: style transfer updating live (random VGG said explicitly), effect
previews that follow the sliders, full-size Apply, a folder as a job, a bad upload's message."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from neuralbrush.datasets.samples import skimage_photo


@pytest.fixture(scope="module")
def photos(studio):
    folder = studio.workspace.images / "photos"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in ("chelsea", "coffee", "astronaut"):
        paths[name] = folder / f"{name}.png"
        skimage_photo(name).resize((96, 64) if name != "astronaut" else (160, 120)).save(paths[name])
    return paths


def _set_number(page, elem_id: str, value) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def _img_src(page, elem_id: str) -> str | None:
    img = page.locator(f"#{elem_id} img")
    return img.first.get_attribute("src") if img.count() else None


def test_style_transfer_updates_live_with_random_vgg_said(studio, photos, page, ui, screenshot):
    ui.open(page, studio.url)
    ui.select_tab(page, "Paint")
    assert "No VGG-19 in the weights store" in page.locator("#paint-vgg-note").inner_text()
    page.locator("#paint-content-upload input[type=file]").set_input_files(str(photos["chelsea"]))
    page.locator("#paint-styles-upload input[type=file]").set_input_files([str(photos["coffee"])])
    _set_number(page, "paint-size", 64)
    # long enough that a fast machine still shows several live pictures (the page polls every 0.4 s)
    _set_number(page, "paint-initial-iterations", 400)
    _set_number(page, "paint-iterations", 100)
    page.locator("#paint-run").click()  # no weights chosen: random weights are never a silent default
    assert "choose the VGG-19 weights" in ui.toast(page)

    page.get_by_label("random weights (not meaningful art)").check()
    page.locator("#paint-run").click()
    seen: set[str] = set()
    for _ in range(600):
        src = _img_src(page, "paint-live")
        if src:
            seen.add(src)
        if "wrote" in page.locator("#paint-status").inner_text():
            break
        page.wait_for_timeout(150)
    status = page.locator("#paint-status").inner_text()
    assert "wrote art/style/chelsea_styled.png" in status
    assert "not meaningful art" in status
    assert len(seen) >= 3, "the picture did not update while optimising"
    out = studio.workspace.art / "style" / "chelsea_styled.png"
    assert Image.open(out).size == (64, 43)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["vgg"] == "random" and record["initial_iterations"] == 400
    cmd = page.locator("#paint-command textarea").input_value()
    assert cmd.startswith("neuralbrush style images/uploads/chelsea.png ")
    assert "--vgg random" in cmd and "--style images/uploads/coffee.png" in cmd and "-o art/style/chelsea_styled.png" in cmd
    screenshot(page, "paint")


def test_effect_preview_follows_slider_and_apply_is_full_size(studio, photos, page, ui):
    ui.open(page, studio.url)
    ui.select_tab(page, "Paint")
    page.locator("#fx-upload input[type=file]").set_input_files(str(photos["astronaut"]))
    page.wait_for_function("document.querySelector('#fx-command textarea').value.includes('quantize')")
    before = _img_src(page, "fx-preview")
    _set_number(page, "fx-colors", 3)
    page.wait_for_function("document.querySelector('#fx-command textarea').value.includes('--colors 3')")
    page.wait_for_function(f"document.querySelector('#fx-preview img').src !== {before!r}")
    assert "preview" in page.locator("#fx-status").inner_text()
    page.locator("#fx-apply").click()
    page.wait_for_function("document.querySelector('#fx-status').innerText.includes('wrote')")
    out = studio.workspace.art / "effects" / "astronaut-quantize.png"
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape[:2] == (120, 160)  # full size, not the preview's
    assert len(np.unique(img.reshape(-1, 3), axis=0)) <= 3
    assert (studio.workspace.art / "effects" / "astronaut-quantize-options.json").exists()
    assert page.locator("#fx-command textarea").input_value() == (
        "neuralbrush quantize images/uploads/astronaut.png --colors 3 -o art/effects/astronaut-quantize.png")


def test_folder_runs_as_a_job(studio, photos, page, ui):
    ui.open(page, studio.url)
    ui.select_tab(page, "Paint")
    page.locator("#paint-batch-path textarea, #paint-batch-path input").first.fill("images/photos")
    page.locator("#paint-batch-what").get_by_label("superpixels").check()
    page.locator("#paint-batch-run").click()
    page.wait_for_function("document.querySelector('#paint-batch-status').innerText.includes(': done')",
                           timeout=90_000)
    status = page.locator("#paint-batch-status").inner_text()
    assert "neuralbrush superpixels images/photos -o art/effects/photos-superpixels" in status
    outs = sorted(p.name for p in (studio.workspace.art / "effects" / "photos-superpixels").glob("*.png"))
    assert outs == ["astronaut.png", "chelsea.png", "coffee.png"]


def test_bad_upload_is_one_sentence(studio, photos, page, ui, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(photos["chelsea"].read_bytes()[:300])  # a truncated PNG
    ui.open(page, studio.url)
    ui.select_tab(page, "Paint")
    page.locator("#fx-upload input[type=file]").set_input_files(str(broken))
    text = ui.toast(page)
    assert "broken.png" in text and "Traceback" not in text
    assert not (studio.workspace.images / "uploads" / "broken.png").exists()
