"""The whole studio flow in the real page, from an empty workspace: sample data -> dataset built ->
a short StyleGAN2 training whose grid updates in the page -> explore (a slider changes the image,
clicking a seed selects it, the tray) -> project -> a neighbour picked into the tray -> storyboard
quick preview -> style transfer (random VGG, said in the page) -> quantize preview -> pix2pix apply.
Screenshots of every tab go to docs/images/studio-<tab>.png (the docs' pictures) when the run sets
NEURALBRUSH_SCREENSHOTS=1; otherwise to a temporary folder.

Tiny sizes throughout (32 px, a 30-second training) so it runs in CI in a few minutes. The pix2pix
model is the one piece not made in the page: a few-second pix2pix run written by the library into
the workspace's runs/ (training pix2pix in the page is the Train tab's own test).
"""

from __future__ import annotations

import json
import time

from PIL import Image


def fill(page, elem_id: str, value, key: str = "Enter") -> None:
    box = page.locator(f"#{elem_id} input:not([type=file]):not([type=checkbox]):not([type=radio]), "
                       f"#{elem_id} textarea").first
    box.fill(str(value))
    box.press(key)


def src(page, selector: str) -> str:
    loc = page.locator(selector)
    return (loc.first.get_attribute("src") or "") if loc.count() else ""


def wait_src_change(page, selector: str, old: str, timeout: float = 60_000) -> str:
    page.wait_for_function(
        """([sel, old]) => { const img = document.querySelector(sel);
                             return img && img.src && img.src !== old && img.complete && img.naturalWidth > 0; }""",
        arg=[selector, old], timeout=timeout)
    return src(page, selector)


def wait_text(page, elem_id: str, text: str, timeout: float = 60_000) -> str:
    page.wait_for_function("([id, t]) => (document.getElementById(id)?.innerText || '').includes(t)",
                           arg=[elem_id, text], timeout=timeout)
    return page.locator(f"#{elem_id}").inner_text()


def wait_value(page, selector: str, text: str, timeout: float = 60_000) -> str:
    """The value of a textbox once it contains ``text`` (the command box updates in its own event,
    which may land after the preview image on a loaded machine)."""
    page.wait_for_function("([sel, t]) => (document.querySelector(sel)?.value || '').includes(t)",
                           arg=[selector, text], timeout=timeout)
    return page.locator(selector).input_value()


def gallery_count(page, elem_id: str) -> int:
    return page.locator(f"#{elem_id} img").count()


def wait_gallery(page, elem_id: str, at_least: int, timeout: float = 60_000) -> None:
    page.wait_for_function("([id, n]) => document.querySelectorAll('#' + id + ' img').length >= n",
                           arg=[elem_id, at_least], timeout=timeout)


def finished_job(ws, kind_prefix: str) -> dict | None:
    for p in sorted(ws.jobs_dir.glob("*.json")):
        job = json.loads(p.read_text())
        if job["kind"].startswith(kind_prefix) and job["status"] in ("done", "stopped"):
            return job
    return None


def test_whole_flow_from_an_empty_workspace(studio_server, page, ui, screenshot, tmp_path):
    server = studio_server()
    ws = server.workspace
    ui.open(page, server.url)

    # sample data
    page.locator("#sample-data").click()
    wait_text(page, "sample-data-status", "Sample data written")
    assert (ws.images / "photos" / "chelsea.png").exists()

    # dataset
    ui.select_tab(page, "Datasets")
    fill(page, "ds-folder", "images/blooms")
    fill(page, "ds-name", "blooms32", "Tab")
    fill(page, "ds-opt-size", "32", "Tab")
    page.locator("#ds-build").click()
    wait_text(page, "ds-status", "Done", timeout=120_000)
    page.wait_for_selector("#ds-contact-sheet img")
    assert (ws.datasets / "blooms32.zip").exists()
    screenshot(page, "datasets")

    # a short training whose grid updates in the page
    ui.select_tab(page, "Train")
    fill(page, "train-dataset", "datasets/blooms32.zip")
    fill(page, "train-gan-minutes", "0.5", "Tab")
    fill(page, "train-gan-tick", "0.02", "Tab")
    fill(page, "train-gan-snap", "1", "Tab")
    fill(page, "train-gan-metrics", "none", "Tab")
    # each field's change is a server round trip: under a loaded machine (a 2-core CI box running the
    # suite beside training processes) the command line can take longer than playwright's 30 s default
    page.wait_for_function("() => (document.querySelector('#train-command textarea')?.value || '')"
                           ".includes('--metrics none')", timeout=120_000)
    page.locator("#train-start").click()
    first = wait_src_change(page, "#train-grid img", "", timeout=120_000)
    wait_src_change(page, "#train-grid img", first, timeout=120_000)
    screenshot(page, "train")
    deadline = time.time() + 180
    while finished_job(ws, "train") is None and time.time() < deadline:
        time.sleep(1)
    assert finished_job(ws, "train") is not None, "the training job did not finish"
    run = next(p for p in ws.runs.iterdir() if p.is_dir())
    assert sorted(run.glob("network-snapshot-*.safetensors"))
    run_rel = ws.relative(run)

    # explore: load the run, show seeds, click one, move the truncation slider, keep it
    ui.select_tab(page, "Explore")
    fill(page, "explore-model", run_rel)
    page.locator("#explore-load").click()
    wait_text(page, "explore-model-info", "px")
    fill(page, "explore-seeds", "0-3", "Tab")
    page.locator("#explore-show").click()
    wait_gallery(page, "explore-grid", 4)
    before = page.locator("#explore-selected").inner_text()
    page.locator("#explore-grid img").nth(1).click()
    page.wait_for_function("old => document.getElementById('explore-selected').innerText !== old", arg=before)
    focus = wait_src_change(page, "#explore-focus img", "")
    fill(page, "explore-trunc", "0.3")
    wait_src_change(page, "#explore-focus img", focus)
    page.locator("#explore-keep").click()
    wait_gallery(page, "explore-tray", 1)
    screenshot(page, "explore")
    page.locator("#explore-grid").scroll_into_view_if_needed()
    screenshot(page, "explore-view", full_page=False)  # the README's gallery row

    # project a picture, then pick a neighbour into the tray
    ui.select_tab(page, "Project")
    fill(page, "project-model", run_rel)
    target = tmp_path / "painting.png"
    Image.open(next((ws.images / "blooms").glob("*.png"))).convert("RGB").resize((32, 32)).save(target)
    page.locator("#project-target input[type=file]").set_input_files(str(target))
    fill(page, "project-steps", "20", "Tab")
    fill(page, "project-every", "5", "Tab")
    page.locator("#project-run").click()
    page.wait_for_selector("#project-result img", timeout=120_000)
    fill(page, "project-nb-count", "6", "Tab")
    page.locator("#project-neighbours-run").click()
    wait_gallery(page, "project-neighbours", 6, timeout=120_000)
    in_tray = gallery_count(page, "project-tray")
    page.locator("#project-neighbours img").nth(2).click()
    wait_gallery(page, "project-tray", in_tray + 1)
    screenshot(page, "project")

    # storyboard: two tray items as keyframes, quick preview
    ui.select_tab(page, "Storyboard")
    page.locator("#storyboard-refresh").click()
    wait_gallery(page, "storyboard-tray", 2)
    page.locator("#storyboard-tray img").nth(0).click()
    wait_text(page, "storyboard-status", "keyframe 1")
    page.locator("#storyboard-tray img").nth(1).click()
    wait_text(page, "storyboard-status", "keyframe 2")
    page.locator("#storyboard-preview").click()
    page.wait_for_selector("#storyboard-preview-img img, #storyboard-preview-img video", timeout=120_000)
    screenshot(page, "storyboard")

    # paint: style transfer with random VGG weights (said in the page), then a quantize preview
    ui.select_tab(page, "Paint")
    page.locator("#paint-content-upload input[type=file]").set_input_files(str(ws.images / "photos" / "chelsea.png"))
    page.locator("#paint-styles-upload input[type=file]").set_input_files([str(ws.images / "photos" / "coffee.png")])
    page.get_by_label("random weights (not meaningful art)").check()
    fill(page, "paint-size", 48)
    fill(page, "paint-initial-iterations", 20)
    fill(page, "paint-iterations", 10)
    page.locator("#paint-run").click()
    status = wait_text(page, "paint-status", "wrote", timeout=120_000)
    assert "not meaningful art" in status
    page.locator("#fx-upload input[type=file]").set_input_files(str(ws.images / "photos" / "astronaut.png"))
    preview = wait_src_change(page, "#fx-preview img", "")
    fill(page, "fx-colors", 4)
    wait_src_change(page, "#fx-preview img", preview)
    assert "--colors 4" in wait_value(page, "#fx-command textarea", "--colors 4")
    screenshot(page, "paint")
    page.locator("#paint-run").scroll_into_view_if_needed()
    screenshot(page, "paint-view", full_page=False)  # the README's gallery row

    # pix2pix apply (the model: a few-second pix2pix run written by the library)
    from neuralbrush.pix2pix.options import TrainOptions
    from neuralbrush.pix2pix.train import train

    p2p = train(TrainOptions(data=str(ws.images / "blooms"), input="edges", size=32, ngf=4, ndf=4, batch=4, epochs=1,
                             epochs_decay=0, snap_minutes=0, precision="fp32", device="cpu", outdir=str(ws.runs),
                             max_images=16)).run_dir
    ui.select_tab(page, "pix2pix")
    fill(page, "p2p-model", ws.relative(p2p))
    page.locator("#p2p-photo-upload input[type=file]").set_input_files(str(ws.images / "photos" / "rocket.png"))
    page.locator("#p2p-apply").click()
    wait_text(page, "p2p-status", "wrote", timeout=60_000)
    page.wait_for_selector("#p2p-side img")
    assert (ws.art / "pix2pix" / "rocket-pix2pix.png").exists()
    screenshot(page, "pix2pix")
