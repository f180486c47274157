"""Explore tab in the real page: a tiny random-weight StyleGAN2 snapshot in a workspace run; the
seed grid, click-to-select, truncation and direction sliders changing the picture, the tray (files
in the CLI's latent format), breeding of the selection, and a model that is not one refused."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RUN = "runs/00000-tiny-small"  # where conftest's model_run fixture puts the tiny model


def thumbs(page, elem: str):
    return page.locator(f"#{elem} button.thumbnail-item")


def src(page, selector: str) -> str:
    loc = page.locator(selector)
    return loc.get_attribute("src") if loc.count() else ""


def wait_src_change(page, selector: str, old: str, timeout: float = 30_000) -> str:
    page.wait_for_function("([sel, old]) => { const i = document.querySelector(sel); "
                           "return i && i.src && i.src !== old; }", arg=[selector, old], timeout=timeout)
    return src(page, selector)


def wait_text(page, elem: str, text: str, timeout: float = 30_000) -> str:
    page.wait_for_function("([id, t]) => document.getElementById(id).innerText.includes(t)", arg=[elem, text],
                           timeout=timeout)
    return page.locator(f"#{elem}").inner_text()


def set_slider(page, elem: str, value: str) -> None:
    page.locator(f"#{elem} input[type=range]").fill(value)


def load_model(page, ui, url):
    ui.open(page, url)
    ui.select_tab(page, "Explore")
    box = page.locator("#explore-model input")
    box.fill(RUN)
    box.press("Enter")
    page.locator("#explore-load").click()
    wait_text(page, "explore-model-info", "32 px")


def test_grid_select_sliders_and_tray(studio, model_run, page, ui):
    from neuralbrush.latent.latents import load_latents
    from neuralbrush.studio.tray import Tray

    ws = studio.workspace
    load_model(page, ui, studio.url)
    page.locator("#explore-seeds input, #explore-seeds textarea").first.fill("0-5")
    page.locator("#explore-show").click()
    page.wait_for_function("document.querySelectorAll('#explore-grid button.thumbnail-item').length == 6")
    assert page.locator("#explore-command textarea").input_value() == (
        f"neuralbrush generate {RUN} --seeds 0-5 -o art/explore/00000-seeds")
    assert (ws.art / "explore" / "00000-seeds" / "seed0002.npz").is_file()

    # clicking a seed selects it and makes it the focus
    thumbs(page, "explore-grid").nth(2).click()
    assert "seed 2" in wait_text(page, "explore-selected", "seed 2")
    first = wait_src_change(page, "#explore-focus img", "")
    wait_text(page, "explore-focus-info", "seed 2")

    # truncation: a new picture (gradio names served files by content: a new src is new pixels)
    set_slider(page, "explore-trunc", "0.4")
    truncated = wait_src_change(page, "#explore-focus img", first)
    wait_text(page, "explore-focus-info", "0.4")
    assert "--seeds 2 --trunc 0.4" in page.locator("#explore-command textarea").input_value()

    # directions computed once (the CLI's dirs.npz in the workspace), then a slider edits the focus
    page.locator("#explore-directions").click()
    wait_text(page, "explore-directions-info", "sefa) computed", timeout=60_000)
    dirs = list((ws.art / "directions").glob("*-sefa/dirs.npz"))
    assert len(dirs) == 1
    set_slider(page, "explore-dir-1", "2.5")
    wait_src_change(page, "#explore-focus img", truncated)
    cmd = page.locator("#explore-command textarea").input_value()
    assert f"--edit {ws.relative(dirs[0])}:1:+2.5" in cmd

    # keep: the tray shows it; its latent is the CLI's format with the edit history
    page.locator("#explore-keep").click()
    page.wait_for_function("document.querySelectorAll('#explore-tray button.thumbnail-item').length == 1")
    items = Tray(ws.tray_dir).items()
    assert [i.label for i in items] == ["seed 2 ψ0.4 edited"] and items[0].model == RUN
    index = json.loads((ws.tray_dir / "tray.json").read_text())
    assert index["format"] == "neuralbrush.tray" and index["items"][0]["latent"] == "000.npz"
    lat = load_latents(ws.tray_dir / "000.npz")
    assert lat.w.shape[0] == 1 and lat.seeds == [2]
    with np.load(ws.tray_dir / "000.npz") as data:
        assert "w_base" in data.files and list(data["edit_amount"]) == [2.5]
    assert (ws.tray_dir / "000.png").is_file()


def test_breed_selection_and_bad_model(studio, model_run, page, ui):
    ws = studio.workspace
    load_model(page, ui, studio.url)
    page.locator("#explore-seeds input, #explore-seeds textarea").first.fill("3,4,5")
    page.locator("#explore-show").click()
    page.wait_for_function("document.querySelectorAll('#explore-grid button.thumbnail-item').length == 3")
    page.locator("#explore-breed").click()
    assert "at least two" in ui.toast(page)

    thumbs(page, "explore-grid").nth(0).click()
    wait_text(page, "explore-selected", "seed 3")
    thumbs(page, "explore-grid").nth(2).click()
    wait_text(page, "explore-selected", "seed 3, seed 5")
    page.locator("#explore-children input").fill("4")
    page.locator("#explore-breed").click()
    page.wait_for_function("document.querySelectorAll('#explore-grid button.thumbnail-item').length == 4 && "
                           "document.getElementById('explore-grid').innerText.includes('child 3')")
    cmd = page.locator("#explore-command textarea").input_value()
    assert cmd.startswith(f"neuralbrush breed {RUN} --parents art/explore/")
    assert "seed0003.npz," in cmd and "--children 4" in cmd
    breed_dir = sorted((ws.art / "explore").glob("*-breed"))[-1]
    assert sorted(p.name for p in (breed_dir / "children").glob("*.npz")) == [f"00{i}.npz" for i in range(4)]
    assert (breed_dir / "sheet.png").is_file() and (breed_dir / "breed.json").is_file()

    # a model that is not one: one sentence in the page
    box = page.locator("#explore-model input")
    box.fill("runs/no-such-run")
    box.press("Enter")
    page.locator("#explore-load").click()
    toast = page.locator("[data-testid=toast-body]", has_text="no-such-run")
    toast.last.wait_for(state="visible")  # (the breed refusal's toast may still be showing)
    text = toast.last.inner_text()
    assert "does not exist" in text and "Traceback" not in text
