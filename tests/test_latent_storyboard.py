"""Storyboard films: parsing, timeline, cached projections, resume after a kill, rank sharding."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from neuralbrush.cli.main import run
from neuralbrush.core.errors import UsageError
from neuralbrush.core.media import video_info
from neuralbrush.gan.networks import Generator
from neuralbrush.gan.snapshot import save_snapshot
from neuralbrush.latent.storyboard import parse_storyboard, render_storyboard

from gan_helpers import small_stylegan  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def _fp32(monkeypatch):
    """These tests compare renders made in different batch sizes, which only fp32 makes bit-stable."""
    monkeypatch.setenv("NEURALBRUSH_PRECISION", "fp32")

REPO = Path(__file__).resolve().parents[1]


def small_generator(res: int = 16, cbase: int = 512) -> Generator:
    return small_stylegan(res, cbase=cbase, cmax=64)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "network-snapshot-000000.safetensors"
    save_snapshot(path, arch="stylegan2", G=small_generator())
    return path


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_parse_defaults_and_mistakes(tmp_path):
    sb = parse_storyboard(_write(tmp_path / "s.yaml", "keyframes: [{seed: 1}, 2]\n"))
    assert [k.value for k in sb.keyframes] == [1, 2]
    assert sb.keyframes[0].loop == {"stops": 7, "frames_per_stop": 30, "sigma": 0.3, "easing": "linear",
                                    "kind": "linear"}
    assert sb.keyframes[0].transition["frames"] == 150 and sb.fps == 30
    bad = {
        "keyframes: []\n": "non-empty list",
        "keyframes: [{seed: 1}]\nfilm: 3\n": "unknown key",
        "keyframes: [{seed: 1, image: a.png}]\n": "exactly one of",
        "keyframes: [{image: missing.png}]\n": "does not exist",
        "keyframes: [{seed: 1, transition: {easing: wobble}}]\n": "keyframe 1 transition easing must be one of",
        "keyframes: [{seed: 1, loop: {stops: 0}}]\n": "keyframe 1 loop stops must be at least 2",
        "keyframes: [{seed: 1, loop: {speed: 2}}]\n": "keyframe 1 loop: unknown option",
        "keyframes: [{seed: 1}\n": "not valid YAML",
    }
    for text, msg in bad.items():
        with pytest.raises(UsageError, match=msg):
            parse_storyboard(_write(tmp_path / "b.yaml", text))


def test_storyboard_all_keyframe_kinds_with_cached_projection(snapshot, tmp_path):
    assert run(["generate", str(snapshot), "--seeds", "4,6", "-o", str(tmp_path / "gen")]) == 0
    story = _write(tmp_path / "story.yaml", f"""
model: {snapshot}
fps: 10
space: w
seed: 3
project: {{steps: 5, loss: mse, space: w+}}
loop: {{stops: 3, frames_per_stop: 2, sigma: 0.4}}
transition: {{frames: 4, easing: ease-in-out}}
keyframes:
  - seed: 1
  - image: gen/seed0004.png
    loop: false
  - latent: gen/seed0006.npz
    transition: {{frames: 3, kind: linear}}
""")
    out = tmp_path / "film.mp4"
    res = render_storyboard(story, out)
    # loop 6 + transition 4, transition 4 (no loop), loop 6 + closing transition 3
    assert res.frames == 23 and res.rendered == 23 and res.cached == 0
    info = video_info(out)
    assert info["frames"] == 23 and info["fps"] == 10
    assert len(list((tmp_path / "film.cache" / "projections").glob("*/projected_w.npz"))) == 1
    # a second render finds every frame (and the projection) in the cache
    res2 = render_storyboard(story, out)
    assert res2.rendered == 0 and res2.cached == 23
    # the first frame is the seed keyframe itself
    first = np.asarray(Image.open(res.cache / "frame_000000.png").convert("RGB")).astype(int)
    assert run(["generate", str(snapshot), "--seeds", "1", "-o", str(tmp_path / "g1")]) == 0
    seed1 = np.asarray(Image.open(tmp_path / "g1" / "seed0001.png").convert("RGB")).astype(int)
    assert np.abs(first - seed1).max() <= 1


def _story_for_kill(tmp_path: Path, snapshot: Path, frames_per_stop: int) -> Path:
    return _write(tmp_path / "long.yaml", f"""
model: {snapshot}
batch: 1
loop: {{stops: 4, frames_per_stop: {frames_per_stop}, sigma: 0.3}}
transition: {{frames: {frames_per_stop * 2}}}
keyframes: [{{seed: 1}}, {{seed: 2}}]
""")


def test_storyboard_resumes_after_kill_without_rerendering(snapshot, tmp_path):
    story = _story_for_kill(tmp_path, snapshot, frames_per_stop=40)
    total = 2 * (4 * 40 + 80)
    out = tmp_path / "long.mp4"
    env = {**os.environ, "NEURALBRUSH_QUIET": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "neuralbrush", "video", "storyboard", str(story), "-o", str(out),
                             "--device", "cpu", "--precision", "fp32"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 240
    frames_dir = None
    while time.time() < deadline and proc.poll() is None:
        if len(list((tmp_path / "long.cache" / "frames").glob("frame_*.png"))) >= total // 4:
            frames_dir = tmp_path / "long.cache" / "frames"
            break
        time.sleep(0.01)
    assert proc.poll() is None, f"render finished or failed before it could be killed: {proc.stderr.read()[-500:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert frames_dir is not None and not out.exists()
    before = {p.name: p.stat().st_mtime_ns for p in frames_dir.glob("frame_*.png")}
    assert total // 4 <= len(before) < total
    res = render_storyboard(story, out, runtime=None)
    assert res.cached == len(before) and res.rendered == total - len(before)
    after = {p.name: p.stat().st_mtime_ns for p in frames_dir.glob("frame_*.png")}
    assert not list(frames_dir.glob(".*"))  # the half-written frame of the killed run was cleaned up
    assert all(after[n] == t for n, t in before.items())  # finished frames were not rendered again
    assert video_info(out)["frames"] == total


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_storyboard_frames_shard_across_two_ranks(snapshot, tmp_path):
    story = _write(tmp_path / "s.yaml", f"""
model: {snapshot}
loop: {{stops: 2, frames_per_stop: 5}}
transition: {{frames: 6}}
keyframes: [{{seed: 1}}, {{seed: 2}}]
""")
    out = tmp_path / "film.mp4"
    port = _free_port()
    procs = []
    for rank in range(2):
        env = {**os.environ, "NEURALBRUSH_QUIET": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src"),
               "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
        procs.append(subprocess.Popen([sys.executable, "-m", "neuralbrush", "video", "storyboard", str(story), "-o",
                                       str(out), "--device", "cpu"], env=env, stderr=subprocess.PIPE))
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()[-800:]
    assert video_info(out)["frames"] == 32
    single = tmp_path / "single.mp4"
    res = render_storyboard(story, single, cache=tmp_path / "film.cache")
    assert res.cached == 32  # the two ranks together rendered exactly the single-process frames


def test_dcgan_storyboard_in_z(tmp_path):
    from neuralbrush.gan.dcgan import DCGANGenerator

    torch.manual_seed(0)
    snap = save_snapshot(tmp_path / "dc.safetensors", arch="dcgan", G=DCGANGenerator(z_dim=16, img_resolution=16, ngf=8))
    assert run(["generate", str(snap), "--seeds", "5", "-o", str(tmp_path / "g")]) == 0
    story = _write(tmp_path / "s.yaml", f"""
model: {snap.name}
loop: {{stops: 2, frames_per_stop: 3, sigma: 0.5}}
transition: {{frames: 4, kind: slerp}}
close: false
keyframes: [{{seed: 1}}, {{latent: g/seed0005.npz, loop: false}}]
""")
    res = render_storyboard(story, tmp_path / "film.gif")
    assert res.frames == 6 + 4 + 1  # loop, transition, the final keyframe held for one frame
    with Image.open(tmp_path / "film.gif") as im:
        assert im.n_frames == 11
    bad = _write(tmp_path / "w.yaml", f"model: {snap.name}\nspace: w\nkeyframes: [{{seed: 1}}]\n")
    with pytest.raises(UsageError, match="no w space"):
        render_storyboard(bad, tmp_path / "x.mp4")


def test_storyboard_cache_of_another_plan_is_refused_and_restart_redoes_it(snapshot, tmp_path, capsys):
    text = (f"model: {snapshot}\nfps: 5\ntransition: {{frames: 3}}\nclose: false\n"
            "keyframes: [{seed: 1, loop: false}, {seed: 2, loop: false}]\n")
    story = _write(tmp_path / "s.yaml", text)
    out = tmp_path / "film.gif"
    base = ["video", "storyboard", str(story), "-o", str(out), "--device", "cpu"]
    assert run(base) == 0
    frames = tmp_path / "film.cache" / "frames"
    before = {p.name: p.read_bytes() for p in frames.glob("frame_*.png")}
    assert len(before) == 4 and (frames / "cache.json").exists()
    _write(story, text.replace("seed: 2", "seed: 3"))
    capsys.readouterr()
    assert run(base) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1 and "keyframes" in err and "--restart" in err
    assert {p.name: p.read_bytes() for p in frames.glob("frame_*.png")} == before
    assert run([*base, "--restart"]) == 0
    after = {p.name: p.read_bytes() for p in frames.glob("frame_*.png")}
    assert after["frame_000000.png"] == before["frame_000000.png"]  # seed 1 is the same keyframe
    assert after["frame_000003.png"] != before["frame_000003.png"]  # the film now ends on seed 3
