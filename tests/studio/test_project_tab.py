"""Project tab in the real page: a bad upload refused in a sentence, a small painting projected
into a tiny random-weight StyleGAN2 with previews streaming while it converges, the files of
``neuralbrush project``, the neighbours sheet, and a neighbour clicked into the tray."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RUN = "runs/00000-tiny-small"  # where conftest's model_run fixture puts the tiny model


def wait_text(page, elem: str, text: str, timeout: float = 30_000) -> str:
    page.wait_for_function("([id, t]) => document.getElementById(id).innerText.includes(t)", arg=[elem, text],
                           timeout=timeout)
    return page.locator(f"#{elem}").inner_text()


def test_project_neighbours_pick(studio, model_run, page, ui, tmp_path):
    from neuralbrush.latent.latents import load_latents
    from neuralbrush.studio.tray import Tray

    ws = studio.workspace
    evil = tmp_path / "evil.png"
    evil.write_bytes(b"\x80\x04\x95 a pickle, not a picture")
    painting = tmp_path / "painting.png"
    pixels = np.zeros((40, 56, 3), np.uint8)
    pixels[:, :28] = (200, 40, 40)
    pixels[:, 28:] = (30, 60, 220)
    Image.fromarray(pixels).save(painting)

    ui.open(page, studio.url)
    ui.select_tab(page, "Project")
    box = page.locator("#project-model input")
    box.fill(RUN)
    box.press("Enter")
    upload = page.locator("#project-target input[type=file]")
    upload.set_input_files(str(evil))
    text = ui.toast(page)
    assert "evil.png" in text and "Traceback" not in text
    assert "Refused" in wait_text(page, "project-status", "Refused")

    upload.set_input_files(str(painting))
    page.wait_for_selector("#project-target-view img")
    page.locator("#project-steps input").fill("12")
    page.locator("#project-every input").fill("2")
    # record every status text and preview the page shows while the projection runs
    page.evaluate("""() => {
        window.__statuses = []; window.__previews = [];
        const note = () => {
            const t = document.getElementById('project-status').innerText;
            if (!window.__statuses.includes(t)) window.__statuses.push(t);
            const img = document.querySelector('#project-live img');
            if (img && img.src && !window.__previews.includes(img.src)) window.__previews.push(img.src);
        };
        new MutationObserver(note).observe(document.getElementById('project-status'),
                                           {subtree: true, childList: true, characterData: true});
        new MutationObserver(note).observe(document.getElementById('project-live'),
                                           {subtree: true, childList: true, attributes: true});
    }""")
    page.locator("#project-run").click()
    wait_text(page, "project-status", "PSNR", timeout=120_000)
    statuses = page.evaluate("window.__statuses")
    steps = {s for s in statuses if "step " in s}
    assert len(steps) >= 2, statuses  # the page showed the projection converging, not just its end
    assert len(page.evaluate("window.__previews")) >= 2
    page.wait_for_selector("#project-result img")
    out = ws.art / "projections" / "00000-painting"
    for name in ("projected_w.npz", "proj.png", "target.png", "side_by_side.png", "projection.json", "painting.png"):
        assert (out / name).is_file(), name
    assert page.locator("#project-command textarea").input_value() == (
        f"neuralbrush project {RUN} art/projections/00000-painting/painting.png --steps 12 --space w+ --loss mse "
        "-o art/projections/00000-painting")

    page.locator("#project-nb-count input").fill("6")
    page.locator("#project-neighbours-run").click()
    page.wait_for_function("document.querySelectorAll('#project-neighbours button.thumbnail-item').length == 6",
                           timeout=60_000)
    assert (out / "nb" / "sheet.png").is_file()
    before = len(Tray(ws.tray_dir).items())
    page.locator("#project-neighbours button.thumbnail-item").nth(2).click()
    wait_text(page, "project-nb-info", "kept as tray item")
    page.wait_for_function(f"document.querySelectorAll('#project-tray button.thumbnail-item').length == {before + 1}")
    items = Tray(ws.tray_dir).items()
    assert items[-1].label == "neighbour 2 of 00000-painting"
    kept = load_latents(Tray(ws.tray_dir).latent_path(items[-1]))
    picked = load_latents(out / "nb" / "neighbours" / "002.npz")
    assert np.array_equal(kept.w.numpy(), picked.w.numpy())
    assert "--pick 2" in page.locator("#project-command textarea").input_value()
