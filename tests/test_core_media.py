"""Grids, side-by-side rows, GIF and MP4 writers produce files a person can open."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from neuralbrush.core.errors import UsageError
from neuralbrush.core.media import (VideoWriter, auto_grid_size, make_grid, read_gif, read_video, side_by_side,
                                    video_info, write_video)
from neuralbrush.datasets.samples import blooms


def test_auto_grid_rule_matches_nvlabs():
    assert auto_grid_size(1024, 1024) == (7, 4)
    assert auto_grid_size(256, 256) == (30, 16)
    assert auto_grid_size(64, 64) == (32, 32)
    cols, rows = auto_grid_size(64, 64, count=10)
    assert cols * rows >= 10 and abs(cols - rows) <= 1


def test_grid_places_images_in_order_with_labels():
    ims = list(blooms(6, 32, seed=1))
    g = make_grid(ims, (3, 2), pad=2)
    assert g.size == (3 * 32 + 4 * 2, 2 * 32 + 3 * 2)
    cell = np.asarray(g)[2 + 32 + 2: 2 + 64 + 2, 2 + 32 + 2: 2 + 64 + 2]  # row 1, col 1 -> image 4
    assert np.array_equal(cell, np.asarray(ims[4]))
    labelled = make_grid(ims, (3, 2), labels=[str(i) for i in range(6)])
    assert not np.array_equal(np.asarray(labelled)[:32, :32], np.asarray(ims[0]))


def test_grid_from_tensor_batch_value_range():
    t = torch.full((4, 3, 8, 8), -1.0)
    t[1] = 1.0
    g = np.asarray(make_grid(t, (4, 1)))
    assert g[:, :8].max() == 0 and g[:, 8:16].min() == 255


def test_side_by_side_scales_to_common_height():
    a, b = Image.new("RGB", (20, 10), "red"), Image.new("RGB", (10, 20), "blue")
    row = side_by_side([a, b])
    assert row.size == (20 + 5, 10)


def test_mp4_streaming_roundtrip_odd_size(tmp_path):
    frames = [np.full((33, 47, 3), i * 20, np.uint8) for i in range(10)]
    p = write_video(frames, tmp_path / "v.mp4", fps=12)
    info = video_info(p)
    assert info["size"] == (48, 34) and info["frames"] == 10 and abs(info["fps"] - 12) < 0.01
    back = list(read_video(p))
    assert len(back) == 10
    assert abs(float(back[5][:33, :47].mean()) - 100) < 4


def test_read_video_gives_each_stored_frame_once(tmp_path):
    # 6 fps rounds to 170 ms GIF frames; ffmpeg's constant-rate output would repeat them (30 frames)
    frames = [np.full((24, 32, 3), i * 40, np.uint8) for i in range(6)]
    p = write_video(frames, tmp_path / "odd.gif", fps=6)
    back = list(read_video(p))
    assert len(back) == video_info(p)["frames"] == 6
    assert [int(f.mean()) for f in back] == [0, 40, 80, 120, 160, 200]


def test_gif_writer_and_abort(tmp_path):
    ims = list(blooms(5, 24))
    p = write_video(ims, tmp_path / "a.gif", fps=10)
    frames = read_gif(p)
    assert len(frames) == 5 and frames[0].size == (24, 24)
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "b.mp4", 10) as w:
            w.append(ims[0])
            raise RuntimeError("killed")
    assert not (tmp_path / "b.mp4").exists()
    assert not list(tmp_path.glob(".b.partial*"))


def test_bad_video_names_are_user_errors(tmp_path):
    with pytest.raises(UsageError):
        VideoWriter(tmp_path / "x.avi")
    with pytest.raises(UsageError):
        video_info(tmp_path / "missing.mp4")
