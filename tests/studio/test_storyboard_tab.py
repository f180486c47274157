"""Storyboard tab in the real page: tray items become ordered keyframes, the YAML the page saves is
the CLI's format (the library's storyboard loader opens it), the quick preview renders, and the full
film renders as a job whose video appears in the player."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RUN = "runs/00000-tiny-small"


@pytest.fixture(scope="module")
def tray_items(studio):
    """A tiny StyleGAN2 run and two tray items made from it (seeds 1 and 2)."""
    from gan_helpers import small_stylegan

    from neuralbrush.core.device import resolve_runtime
    from neuralbrush.gan.snapshot import save_snapshot, snapshot_name
    from neuralbrush.latent.latents import latents_from_seeds
    from neuralbrush.latent.render import Renderer
    from neuralbrush.studio.tray import Tray

    ws = studio.workspace
    run = ws.root / RUN
    run.mkdir(parents=True)
    G = small_stylegan(res=32, dim=32)
    save_snapshot(run / snapshot_name(0), arch="stylegan2", G=G, G_ema=G)
    tray = Tray(ws.tray_dir)
    r = Renderer(G, resolve_runtime("cpu", "fp32"))
    for seed in (1, 2):
        lat = latents_from_seeds(G, [seed])
        tray.add(lat, r.frames(lat.w, "w")[0], label=f"seed {seed}", model=RUN)
    return tray


def wait_text(page, elem: str, text: str, timeout: float = 30_000) -> str:
    page.wait_for_function("([id, t]) => document.getElementById(id).innerText.includes(t)", arg=[elem, text],
                           timeout=timeout)
    return page.locator(f"#{elem}").inner_text()


def test_keyframes_yaml_preview_and_film(studio, tray_items, page, ui):
    from neuralbrush.latent.storyboard_file import film_frames, parse_storyboard
    from neuralbrush.studio.jobs import JobRunner

    ws = studio.workspace
    ui.open(page, studio.url)
    ui.select_tab(page, "Storyboard")
    page.locator("#storyboard-save").click()
    text = ui.toast(page)
    assert "no keyframes yet" in text and "Traceback" not in text

    tray = page.locator("#storyboard-tray button.thumbnail-item")
    tray.nth(0).click()
    wait_text(page, "storyboard-status", "keyframe 1")
    tray.nth(1).click()
    wait_text(page, "storyboard-status", "keyframe 2")
    assert page.locator("#storyboard-model input").input_value() == RUN  # taken from the tray item
    page.locator("#storyboard-row input").fill("2")
    page.locator("#storyboard-up").click()  # seed 2 first
    page.wait_for_function("() => { const t = document.getElementById('storyboard-keyframes').innerText; "
                           "return t.indexOf('seed 2') >= 0 && t.indexOf('seed 2') < t.indexOf('seed 1'); }")
    page.locator("#storyboard-name input, #storyboard-name textarea").first.fill("film")
    page.locator("#storyboard-save").click()
    wait_text(page, "storyboard-files", "Saved")

    # the CLI's format: the library's loader opens it, keyframes in the page's order, the model found
    story = ws.art / "storyboards" / "film.yaml"
    sb = parse_storyboard(story)
    assert [k.kind for k in sb.keyframes] == ["latent", "latent"]
    assert [Path(k.value).resolve() for k in sb.keyframes] == [ws.tray_dir / "001.npz", ws.tray_dir / "000.npz"]
    assert Path(sb.model).resolve() == (ws.root / RUN).resolve()
    assert all(k.loop is not None and k.loop["stops"] == 3 for k in sb.keyframes)
    assert page.locator("#storyboard-command textarea").input_value() == (
        "neuralbrush video storyboard art/storyboards/film.yaml -o art/storyboards/film.mp4")

    page.locator("#storyboard-preview").click()
    wait_text(page, "storyboard-status", "frames at 12 fps", timeout=120_000)
    page.wait_for_selector("#storyboard-preview-img img")
    gif = ws.art / "storyboards" / "film.preview.gif"
    frames = Image.open(gif).n_frames
    assert 2 <= frames <= 60 < film_frames(sb)  # the quick preview is a short version of the film

    page.locator("#storyboard-render").click()
    page.wait_for_selector("#storyboard-video video", timeout=180_000)
    film = ws.art / "storyboards" / "film.mp4"
    assert film.is_file() and film.stat().st_size > 0
    jobs = JobRunner(ws, autostart=False).jobs(["storyboard"])
    assert jobs[-1].status == "done" and jobs[-1].command.endswith("-o art/storyboards/film.mp4")
