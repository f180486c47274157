"""Train tab in a real page: bad starts say what is missing; a tiny DCGAN starts as a worker job,
its sample grid updates in the page, the view comes back after the studio restarts, Stop writes a
snapshot, and the run folder is the CLI's (the command shown is what the CLI reads)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

from neuralbrush.datasets.build import build_dataset
from neuralbrush.datasets.build_options import BuildOptions
from neuralbrush.datasets.samples import write_blooms
from neuralbrush.studio.workspace import Workspace


def set_text(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} input, #{elem_id} textarea").first
    box.fill(value)
    box.press("Enter" if elem_id in ("train-dataset", "train-run") else "Tab")


def grid_src(page) -> str:
    loc = page.locator("#train-grid img")
    return loc.get_attribute("src") if loc.count() else ""


def wait_new_grid(page, old: str, timeout: float = 60_000) -> str:
    page.wait_for_function(
        """old => { const img = document.querySelector('#train-grid img');
                    return img && img.src && img.src !== old && img.complete && img.naturalWidth > 0; }""",
        arg=old or "", timeout=timeout)
    return grid_src(page)


def status(page) -> str:
    return page.locator("#train-status").inner_text()


def wait_status(page, text: str, timeout: float = 60_000) -> str:
    page.wait_for_function("t => (document.querySelector('#train-status')?.innerText || '').includes(t)",
                           arg=text, timeout=timeout)
    return status(page)


def wait_toast(page, text: str, timeout: float = 20_000) -> None:
    """Wait until a toast in the page says ``text`` (toasts of earlier clicks may still be shown)."""
    page.wait_for_function(
        "t => [...document.querySelectorAll('[data-testid=toast-body]')].some(e => e.innerText.includes(t))",
        arg=text, timeout=timeout)


def tiny_workspace(root) -> Workspace:
    ws = Workspace(root)
    write_blooms(ws.images / "blooms", 24, size=32, seed=1)
    build_dataset([ws.images / "blooms"], ws.datasets / "tiny.zip", BuildOptions(size=32, min_size=0),
                  progress=lambda e: None)
    return ws


def test_tiny_training_live_view_restart_and_stop(studio_server, page, ui, tmp_path):
    server = studio_server(tiny_workspace(tmp_path / "ws"))
    ws = server.workspace
    ui.open(page, server.url)
    ui.select_tab(page, "Train")
    wait_status(page, "No runs in this workspace yet", timeout=10_000)

    # starts that cannot work say why in one sentence, and start nothing
    page.locator("#train-start").click()
    wait_toast(page, "choose a dataset")
    set_text(page, "train-dataset", "../../etc")
    page.locator("#train-start").click()
    wait_toast(page, "outside the workspace")
    page.get_by_role("radio", name="transfer from a model").check()
    set_text(page, "train-dataset", "datasets/tiny.zip")
    set_text(page, "train-source", "no-such-model-anywhere")
    page.locator("#train-start").click()
    wait_toast(page, "no-such-model-anywhere")
    page.locator("#train-stop").click()
    wait_toast(page, "nothing to stop")
    assert not list(ws.runs.iterdir()) and not list(ws.jobs_dir.glob("*.json"))
    page.get_by_role("radio", name="from scratch").check()

    page.get_by_role("radio", name="DCGAN").check()
    set_text(page, "train-dataset", "datasets/tiny.zip")
    set_text(page, "train-gan-minutes", "")
    set_text(page, "train-gan-kimg", "500")  # long enough: the test stops it
    set_text(page, "train-gan-tick", "0.05")
    set_text(page, "train-gan-snap", "1")
    set_text(page, "train-gan-metrics", "none")
    page.wait_for_function("() => (document.querySelector('#train-command textarea')?.value || '')"
                           ".includes('--metrics none')")
    page.locator("#train-start").click()

    # the job starts and its grids replace each other in the page
    wait_status(page, "Training")
    first = wait_new_grid(page, "")
    second = wait_new_grid(page, first)
    assert second != first
    assert "kimg" in status(page) and "ETA" in status(page)
    page.wait_for_selector("#train-loss canvas, #train-loss svg", timeout=30_000)
    command = page.locator("#train-command textarea").input_value()
    assert command == ("neuralbrush train datasets/tiny.zip --outdir runs --arch dcgan --cfg small --kimg 500.0 --tick 0.05 "
                       "--snap 1 --metrics none"), command

    # the CLI reads the command the page shows as the options the run saved
    dry = subprocess.run([sys.executable, "-m", "neuralbrush", *shlex.split(command)[1:], "--dry-run"],
                         cwd=ws.root, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    run = next(ws.runs.iterdir())
    saved = json.loads((run / "training_options.json").read_text())
    for key, value in json.loads(dry.stdout)["options"].items():
        if key not in ("data", "outdir"):
            assert saved[key] == value, key
    assert saved["data"] == str(ws.datasets / "tiny.zip") and saved["outdir"] == str(ws.runs)

    # a restarted studio shows the running job's live view again, from the run folder
    server.restart()
    ui.open(page, server.url)
    ui.select_tab(page, "Train")
    wait_status(page, "Training", timeout=30_000)
    again = wait_new_grid(page, "", timeout=30_000)
    wait_new_grid(page, again)  # and it keeps updating

    # stop: the trainer writes a snapshot, then ends
    page.locator("#train-stop").click()
    wait_status(page, "Stopped")
    snaps = sorted(run.glob("network-snapshot-*.safetensors"))
    assert snaps, sorted(p.name for p in run.iterdir())
    assert f"newest snapshot: {snaps[-1].name}" in status(page)
    for name in ("training_options.json", "stats.jsonl", "log.txt", "reals.png", "fakes_init.png", "progress.gif"):
        assert (run / name).is_file(), name
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert rows[-1]["kimg"] < 500  # stopped long before its length
