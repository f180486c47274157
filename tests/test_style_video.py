"""Temporally coherent video stylisation on a synthetic moving video (random VGG weights, 64 px)."""

from __future__ import annotations

import subprocess
import warnings

import numpy as np
import pytest

from neuralbrush.core.errors import UsageError
from neuralbrush.core.progress import FrameEvent
from neuralbrush.core.imageio import load_image
from neuralbrush.core.media import read_video, video_info, write_video
from neuralbrush.datasets.samples import bloom, skimage_photo
from neuralbrush.style.options import StyleOptions
from neuralbrush.style.transfer import StyleTransfer
from neuralbrush.style.video import (VideoOptions, chunk_range, frame_path, optical_flow, reliability_mask,
                                     stylize_video, warp, warped_difference)

warnings.filterwarnings("ignore", message="using random VGG-19 weights")

N_FRAMES = 6
SHIFT = 2  # pixels per frame


def _frames(n: int = N_FRAMES, size: int = 64) -> list[np.ndarray]:
    """A window panning across a photo, SHIFT px per frame."""
    from PIL import Image

    photo = np.asarray(skimage_photo("astronaut").resize((256, 256), Image.LANCZOS))
    return [np.ascontiguousarray(photo[40:40 + size, 60 + SHIFT * t:60 + SHIFT * t + size]) for t in range(n)]


@pytest.fixture(scope="module")
def moving_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "pan.mp4"
    write_video(_frames(), path, fps=8)
    return path


@pytest.fixture(scope="module")
def st():
    return StyleTransfer(vgg="random")


def test_flow_warp_and_mask_on_a_translation():
    a, b = _frames(2, 64)
    back = optical_flow(b, a)  # frame 1 -> frame 0: content moved left by SHIFT, so flow ~ +SHIFT in x
    fwd = optical_flow(a, b)
    inner = back[8:-8, 8:-8]
    assert abs(float(np.median(inner[..., 0])) - SHIFT) < 0.5 and abs(float(np.median(inner[..., 1]))) < 0.5
    warped = warp(a.astype(np.float32), back)
    err_warped = np.abs(warped[4:-4, 4:-8] - b[4:-4, 4:-8]).mean()
    err_plain = np.abs(a[4:-4, 4:-8].astype(np.float32) - b[4:-4, 4:-8]).mean()
    assert err_warped < 0.5 * err_plain
    mask = reliability_mask(back, fwd)
    assert mask.shape == (64, 64) and set(np.unique(mask)) <= {0.0, 1.0}
    assert mask[8:-8, 8:-8].mean() > 0.8


def test_chunks_are_contiguous_and_cover_everything():
    for count in (1, 7, 10):
        for world in (1, 2, 3):
            ranges = [chunk_range(count, r, world) for r in range(world)]
            assert ranges[0][0] == 0 and ranges[-1][1] == count
            assert all(ranges[i][1] == ranges[i + 1][0] for i in range(world - 1))


def test_coherent_video_flickers_less_than_per_frame(tmp_path, moving_video, st):
    style = [bloom(64, seed=5)]
    contents = list(read_video(moving_video))
    results = {}
    for coherent in (True, False):
        cache = tmp_path / f"cache-{coherent}"
        out = stylize_video(moving_video, style, tmp_path / f"out-{coherent}.mp4", StyleOptions(iterations=30),
                            transfer=st, cache_dir=cache,
                            video=VideoOptions(later_iterations=15, coherent=coherent))
        assert out is not None and video_info(out)["frames"] == N_FRAMES
        frames = [np.asarray(load_image(frame_path(cache, i))) for i in range(N_FRAMES)]
        results[coherent] = warped_difference(frames, contents)
    # measured at 64 px (see docs/style.md): coherent ~1.4, per-frame ~8.5 (0-255 scale)
    assert results[True] < 0.5 * results[False], results


def test_killed_run_resumes_from_the_frame_cache(tmp_path, moving_video, st):
    style = [bloom(48, seed=2)]
    kw = dict(transfer=st, opts=StyleOptions(iterations=3, size=48), cache_dir=tmp_path / "cache",
              video=VideoOptions(later_iterations=2, max_frames=4))
    stylize_video(moving_video, style, tmp_path / "a.mp4", **kw)
    frame_path(tmp_path / "cache", 2).unlink()
    frame_path(tmp_path / "cache", 3).unlink()
    seen = []
    out = stylize_video(moving_video, style, tmp_path / "a.mp4", **kw,
                        progress=lambda e: seen.append((e.index, e.cached)) if isinstance(e, FrameEvent) else None)
    assert seen == [(0, True), (1, True), (2, False), (3, False)]
    assert video_info(out)["frames"] == 4
    with pytest.raises(UsageError, match="other options"):
        stylize_video(moving_video, style, tmp_path / "a.mp4",
                      **{**kw, "opts": StyleOptions(iterations=4, size=48)})


def test_cli_style_video_keeps_audio(tmp_path, moving_video):
    import imageio_ffmpeg

    from neuralbrush.cli.main import run

    with_audio = tmp_path / "with_audio.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(moving_video), "-f", "lavfi",
                    "-i", "sine=frequency=440:duration=1", "-c:v", "copy", "-c:a", "aac", "-shortest", str(with_audio)],
                   check=True)
    assert video_info(with_audio)["audio"]
    style = tmp_path / "style.png"
    bloom(48, seed=1).save(style)
    out = tmp_path / "styled.mp4"
    rc = run(["style-video", str(with_audio), "--style", str(style), "-o", str(out), "--vgg", "random", "--size", "32",
              "--iterations", "2", "--later-iterations", "1", "--max-frames", "3"])
    assert rc == 0
    info = video_info(out)
    assert info["audio"] and info["frames"] == 3
    assert (tmp_path / "styled.json").exists() and (tmp_path / "styled.frames" / "frame_000002.png").exists()


def test_cli_style_video_refuses_a_cache_of_other_options_and_restart_redoes_it(tmp_path, moving_video, capsys):
    import json

    from neuralbrush.cli.main import run

    style = tmp_path / "style.png"
    bloom(32, seed=3).save(style)
    out, cache = tmp_path / "v.gif", tmp_path / "frames"
    base = ["style-video", str(moving_video), "--style", str(style), "-o", str(out), "--cache", str(cache),
            "--vgg", "random", "--size", "32", "--later-iterations", "1", "--max-frames", "2"]
    assert run([*base, "--iterations", "2"]) == 0
    before = {p.name: p.read_bytes() for p in cache.glob("frame_*.png")}
    assert len(before) == 2
    out.unlink()
    capsys.readouterr()
    assert run([*base, "--iterations", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1 and "style_options.iterations" in err and "--restart" in err
    assert not out.exists() and {p.name: p.read_bytes() for p in cache.glob("frame_*.png")} == before
    assert run([*base, "--iterations", "3", "--restart"]) == 0
    assert video_info(out)["frames"] == 2
    assert json.loads((cache / "cache.json").read_text())["style_options"]["iterations"] == 3
    assert {p.name: p.read_bytes() for p in cache.glob("frame_*.png")} != before
