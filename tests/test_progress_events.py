"""The progress convention: every long library function reports ProgressEvents to ``progress=``
(steps increasing to the total, a preview where the job has a picture) and no library module
outside core/cli/studio draws a bar itself."""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from neuralbrush.core.device import resolve_runtime
from neuralbrush.core.progress import BarPresenter, ProgressEvent, each, presenting, preview_of
from neuralbrush.datasets.samples import bloom

from gan_helpers import small_stylegan  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

RT = resolve_runtime("cpu", "fp32")
SRC = Path(__file__).resolve().parents[1] / "src" / "neuralbrush"
BAR_CALLS = re.compile(r"make_progress\(|Progress\(|track\(")


class Recorder:
    """A presenter that keeps every event, grouped by task."""

    def __init__(self) -> None:
        self.events: list[ProgressEvent] = []

    def __call__(self, event: ProgressEvent) -> None:
        self.events.append(event)

    def task(self, name: str) -> list[ProgressEvent]:
        return [e for e in self.events if e.task == name]

    def check(self, task: str, *, preview: bool = False) -> list[ProgressEvent]:
        """The task's events are ProgressEvents whose step grows to the total, with a picture if asked."""
        seen = self.task(task)
        assert seen, f"no {task!r} events among {sorted({e.task for e in self.events})}"
        assert all(isinstance(e, ProgressEvent) for e in seen)
        steps = [e.step for e in seen]
        assert steps == sorted(steps) and len(set(steps)) == len(steps), steps
        assert seen[-1].total is not None and steps[-1] == seen[-1].total
        if preview:
            pic = preview_of(seen[-1])
            assert isinstance(pic, np.ndarray) and pic.dtype == np.uint8 and pic.ndim == 3 and pic.shape[2] == 3
        return seen


@pytest.fixture(scope="module")
def G():
    return small_stylegan(16)


# ------------------------------------------------------------------------------ the convention


def test_library_modules_draw_no_bars():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        area = path.relative_to(SRC).parts[0]
        if area in ("core", "cli", "studio"):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if BAR_CALLS.search(line):
                offenders.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    assert offenders == [], "library modules must emit events, not draw bars:\n" + "\n".join(offenders)


def test_presenting_uses_the_given_callable_or_a_closed_default_bar(monkeypatch):
    rec = Recorder()
    with presenting(rec, "x") as report:
        assert report is rec
    opened: list[BarPresenter] = []
    monkeypatch.setattr("neuralbrush.core.progress.default_presenter",
                        lambda d="working": opened.append(BarPresenter(d)) or opened[-1])
    assert list(each(range(3), None, "count")) == [0, 1, 2]
    assert len(opened) == 1 and not opened[0]._started  # closed when the loop ended
    out = list(each(iter("ab"), rec, "letters", total=2))
    assert out == ["a", "b"] and [(e.step, e.total) for e in rec.task("letters")] == [(1, 2), (2, 2)]


def test_deferred_preview_is_made_only_when_asked():
    calls = []
    event = ProgressEvent(1, 1, preview=lambda: calls.append(1) or np.zeros((2, 2, 3), np.uint8))
    assert calls == []
    assert preview_of(event).shape == (2, 2, 3) and calls == [1]
    assert preview_of(ProgressEvent(1, 1)) is None


# ------------------------------------------------------------------------------ latent


def test_latent_functions_report_to_progress(G, tmp_path):
    from neuralbrush.latent.generate import GenerateOptions, GenerateResult, generate
    from neuralbrush.latent.latents import latents_from_seeds, save_latents
    from neuralbrush.latent.mix import MixResult, style_mix
    from neuralbrush.latent.neighbours import NeighboursResult, neighbours_sheet
    from neuralbrush.latent.walk import WalkOptions, WalkResult, render_walk

    rec = Recorder()
    res = generate(G, tmp_path / "gen", GenerateOptions(seeds="0-4", batch=2), RT, progress=rec)
    assert isinstance(res, GenerateResult) and len(res.images) == 5
    rec.check("generate", preview=True)

    rec = Recorder()
    res = style_mix(G, tmp_path / "mix", rows="1,2", cols="3", styles="0-1", runtime=RT, progress=rec)
    assert isinstance(res, MixResult) and res.count == 2
    rec.check("mix", preview=True)

    w = save_latents(tmp_path / "w.npz", latents_from_seeds(G, [3]))
    rec = Recorder()
    res = neighbours_sheet(G, w, tmp_path / "nb" / "sheet.png", count=5, batch=2, pick=1, runtime=RT, progress=rec)
    assert isinstance(res, NeighboursResult) and res.keyframe is not None and res.keyframe.is_file()
    rec.check("neighbours", preview=True)

    rec = Recorder()
    res = render_walk(G, tmp_path / "walk.gif", WalkOptions(seeds="1,2", frames=3, batch=2), RT, progress=rec)
    assert isinstance(res, WalkResult) and res.video.is_file()
    assert rec.check("walk", preview=True)[-1].total == res.frames


def test_projection_reports_steps_with_a_preview(G, tmp_path):
    from neuralbrush.core.imageio import save_image
    from neuralbrush.latent.options import ProjectOptions
    from neuralbrush.latent.project import ProjectFileResult, ProjectionStep, project_file

    target = save_image(bloom(16, seed=1), tmp_path / "t.png")
    rec = Recorder()
    res = project_file(G, target, tmp_path / "proj", ProjectOptions(steps=4, loss="mse", w_avg_samples=200), RT,
                       progress=rec)
    assert isinstance(res, ProjectFileResult) and res.w.is_file() and res.video is None
    steps = rec.check("project", preview=True)
    assert all(isinstance(e, ProjectionStep) for e in steps) and preview_of(steps[0]).shape == (16, 16, 3)


# ------------------------------------------------------------------------------ datasets, effects


def _photos(folder: Path, count: int, size: int = 40) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        bloom(size, seed=i).save(folder / f"p{i}.png")
    return folder


def test_dataset_effect_and_pairs_report_to_progress(tmp_path):
    from neuralbrush.datasets.build import build_dataset
    from neuralbrush.datasets.pairs import PairsOptions, build_pairs
    from neuralbrush.effects.batch import run_effect
    from neuralbrush.effects.quantize import QuantizeOptions
    from neuralbrush.effects.runners import QuantizeEffect

    photos = _photos(tmp_path / "photos", 4)
    (photos / "broken.png").write_bytes(b"not a png")
    rec = Recorder()
    run = run_effect(QuantizeEffect(QuantizeOptions(colors=3)), photos, tmp_path / "q", progress=rec)
    assert len(run.outputs) == 4 and len(run.skipped) == 1
    rec.check("quantize", preview=True)  # the skipped photo counts as a step too

    rec = Recorder()
    build_dataset([photos], tmp_path / "ds.zip", size=32, min_size=32, progress=rec)
    rec.check("build")

    rec = Recorder()
    build_pairs([photos], tmp_path / "pairs", PairsOptions(size=32, val_fraction=0), progress=rec)
    rec.check("making pairs")


# ------------------------------------------------------------------------------ style


@pytest.fixture(scope="module")
def st():
    from neuralbrush.style.transfer import StyleTransfer

    return StyleTransfer(vgg="random", precision="fp32")


def test_style_iterate_and_burst_report_to_progress(st, tmp_path):
    from neuralbrush.style.burst import BurstResult, PhotoEvent, stylize_files
    from neuralbrush.style.options import StyleOptions
    from neuralbrush.style.transfer import StyleIterate

    photos = _photos(tmp_path / "photos", 2, size=32)
    bad = photos / "bad.png"
    bad.write_bytes(b"")
    contents = sorted(photos.glob("*.png"))
    outputs = [tmp_path / "out" / p.name for p in contents]
    rec = Recorder()
    opts = StyleOptions(iterations=3, initial_iterations=3, scales=False, size=32)
    res = stylize_files(contents, [bloom(32, seed=9)], outputs, opts, transfer=st, save_every=2,
                        animate=tmp_path / "burst.gif", record=tmp_path / "out" / "style-options.json", progress=rec)
    assert isinstance(res, BurstResult)
    assert res.outputs == [o for o in outputs if o.stem != "bad"] and all(o.is_file() for o in res.outputs)
    assert [Path(p).name for p, _ in res.skipped] == ["bad.png"]
    assert res.animation is not None and res.animation.is_file() and res.record.is_file()
    assert all(a.is_file() for a in res.animations)
    assert sorted(f.name for f in (tmp_path / "out" / "p0-snapshots").iterdir()) == ["step-000002.png",
                                                                                      "step-000003.png"]
    photos_seen = rec.check("photos", preview=False)
    assert all(isinstance(e, PhotoEvent) for e in photos_seen)
    assert [e.output is None for e in photos_seen] == [True, False, False]  # bad.png sorts first
    iterates = [e for e in rec.task("stylize")]
    assert iterates and all(isinstance(e, StyleIterate) for e in iterates)
    assert [e.step for e in iterates] == [1, 2, 3, 1, 2, 3] and iterates[-1].total == 3
    assert preview_of(iterates[-1]).shape == (32, 32, 3)


def test_a_burst_of_unreadable_photos_is_one_error(st, tmp_path):
    from neuralbrush.core.errors import UsageError
    from neuralbrush.style.burst import stylize_files
    from neuralbrush.style.options import StyleOptions

    bad = tmp_path / "a.png"
    bad.write_bytes(b"")
    with pytest.raises(UsageError, match="none of the 1 photos could be read"):
        stylize_files([bad], [bloom(32)], [tmp_path / "o.png"], StyleOptions(iterations=1), transfer=st,
                      progress=Recorder())
    assert not (tmp_path / "o.png").exists()


def test_the_hook_grep_agrees():
    """The before-stop hook's grep (git grep over src/) finds no bar outside core/cli/studio."""
    root = SRC.parents[1]
    out = subprocess.run(["git", "grep", "-nE", BAR_CALLS.pattern, "--", "src/*.py"], cwd=root,
                         capture_output=True, text=True).stdout
    hits = [line for line in out.splitlines() if not re.match(r"src/neuralbrush/(core|cli|studio)/", line)]
    assert hits == []
