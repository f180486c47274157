"""pix2pix tab in the real page: a workspace run picked as the model, a photo translated side by
side (the files `pix2pix apply --side-by-side` writes), and a model that is not one refused in a sentence."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from neuralbrush.datasets.samples import skimage_photo, write_blooms


@pytest.fixture(scope="module")
def p2p_run(studio):
    from neuralbrush.pix2pix.options import TrainOptions
    from neuralbrush.pix2pix.train import train

    ws = studio.workspace
    write_blooms(ws.images / "blooms", 6, 32, seed=1)
    opts = TrainOptions(data=str(ws.images / "blooms"), input="edges", size=32, ngf=4, ndf=4, batch=2, epochs=1,
                        epochs_decay=0, snap_minutes=0, precision="fp32", device="cpu", outdir=str(ws.runs))
    return train(opts).run_dir


def test_photo_side_by_side(studio, p2p_run, page, ui, tmp_path, screenshot):
    photo = tmp_path / "cat.png"
    skimage_photo("chelsea").resize((90, 60)).save(photo)
    ui.open(page, studio.url)
    ui.select_tab(page, "pix2pix")
    rel = studio.workspace.relative(p2p_run)
    box = page.locator("#p2p-model input")
    box.fill("runs/nothing-here")
    box.press("Enter")
    page.locator("#p2p-photo-upload input[type=file]").set_input_files(str(photo))
    page.locator("#p2p-apply").click()
    text = ui.toast(page)
    assert "nothing-here" in text and "Traceback" not in text

    box.fill(rel)
    box.press("Enter")
    page.locator("#p2p-apply").click()
    page.wait_for_function("document.querySelector('#p2p-status').innerText.includes('wrote')", timeout=60_000)
    for elem in ("p2p-original", "p2p-output", "p2p-side"):
        assert page.locator(f"#{elem} img").count() == 1
    out = studio.workspace.art / "pix2pix" / "cat-pix2pix.png"
    assert Image.open(out).size == (90, 60)
    assert Image.open(out.with_name("cat-pix2pix_side_by_side.png")).width > 90 * 3 - 1
    record = json.loads(out.with_name("cat-pix2pix.pix2pix-apply.json").read_text())
    assert record["resolved_input"] == "edges"
    assert page.locator("#p2p-command textarea").input_value() == (
        f"neuralbrush pix2pix apply {rel} images/uploads/cat.png --side-by-side -o art/pix2pix/cat-pix2pix.png")
    screenshot(page, "pix2pix")
