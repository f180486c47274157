"""Every latent command from the CLI on a small random-weight generator saved as a snapshot."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from neuralbrush.cli.main import run
from neuralbrush.core.media import video_info
from neuralbrush.gan.dcgan import DCGANGenerator
from neuralbrush.gan.networks import Generator
from neuralbrush.gan.snapshot import save_snapshot

from gan_helpers import small_stylegan  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def _fp32(monkeypatch):
    """These tests compare renders made in different batch sizes, which only fp32 makes bit-stable."""
    monkeypatch.setenv("NEURALBRUSH_PRECISION", "fp32")


def small_generator(res: int = 16) -> Generator:
    return small_stylegan(res)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "network-snapshot-000000.safetensors"
    save_snapshot(path, arch="stylegan2", G=small_generator(), G_ema=small_generator())
    return path


@pytest.fixture(scope="module")
def dcgan_snapshot(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("dcgan") / "network-snapshot-000000.safetensors"
    save_snapshot(path, arch="dcgan", G=DCGANGenerator(z_dim=16, img_resolution=16, ngf=8).eval())
    return path


def _png(path):
    with Image.open(path) as im:
        im.load()
        return np.asarray(im.convert("RGB"))


def test_generate_seeds_grid_and_latents(snapshot, tmp_path):
    out = tmp_path / "gen"
    assert run(["generate", str(snapshot), "--seeds", "0-2,7", "--trunc", "0.7", "-o", str(out), "--device", "cpu",
                "--precision", "fp32"]) == 0
    for s in (0, 1, 2, 7):
        assert _png(out / f"seed{s:04d}.png").shape == (16, 16, 3)
        data = np.load(out / f"seed{s:04d}.npz")
        assert data["w"].shape == (1, 6, 32) and data["z"].shape == (1, 32)
        assert np.allclose(data["z"], np.random.RandomState(s).randn(1, 32))
    grid = _png(out / "grid.png")
    assert grid.shape[0] > 16 and grid.shape[1] > 32
    opts = json.loads((out / "options.json").read_text())
    assert opts["trunc"] == "0.7" and opts["seeds"] == "0-2,7"
    # deterministic: the same seed renders the same picture again; --w reuses the saved latent
    again = tmp_path / "again"
    assert run(["generate", str(snapshot), "--w", str(out / "seed0007.npz"), "-o", str(again), "--precision", "fp32"]) == 0
    assert np.abs(_png(again / "w0000.png").astype(int) - _png(out / "seed0007.png").astype(int)).max() <= 1


def test_generate_truncation_sweep_is_a_seeds_by_psi_grid(snapshot, tmp_path):
    out = tmp_path / "sweep"
    assert run(["generate", str(snapshot), "--seeds", "1,2", "--trunc", "0.3:1.2:4", "-o", str(out)]) == 0
    assert len(list(out.glob("seed*-psi*.png"))) == 8
    grid = _png(out / "grid.png")
    assert grid.shape[1] > grid.shape[0]  # 4 columns (psi) x 2 rows (seeds)
    low, high = _png(out / "seed0001-psi0.30.png"), _png(out / "seed0002-psi0.30.png")
    far_low, far_high = _png(out / "seed0001-psi1.20.png"), _png(out / "seed0002-psi1.20.png")
    # truncation pulls different seeds toward the same average image
    assert np.abs(low.astype(int) - high).mean() < np.abs(far_low.astype(int) - far_high).mean()


def test_generate_user_errors(snapshot, tmp_path, capsys):
    assert run(["generate", str(snapshot), "--class", "2", "-o", str(tmp_path)]) == 2
    assert "unconditional" in capsys.readouterr().err
    assert run(["generate", str(snapshot), "--seeds", "3-1", "-o", str(tmp_path)]) == 2
    assert run(["generate", str(tmp_path / "nope.safetensors"), "-o", str(tmp_path)]) == 2
    assert run(["generate", str(snapshot), "--noise-mode", "loud", "-o", str(tmp_path)]) == 2
    assert "--noise-mode" in capsys.readouterr().err


def test_mix_grid_with_headers(snapshot, tmp_path):
    out = tmp_path / "mix"
    assert run(["mix", str(snapshot), "--rows", "1,2", "--cols", "3,4,5", "--styles", "0-2", "-o", str(out)]) == 0
    grid = _png(out / "grid.png")
    assert grid.shape == (3 * 128 + 4 * 2, 4 * 128 + 5 * 2, 3)  # header row/col + 2x3 mixes (16 px shown 8x), padding
    assert len(list(out.glob("mix-*.png"))) == 6
    assert run(["mix", str(snapshot), "--styles", "0-40", "-o", str(out)]) == 2


def test_walk_mp4_gif_and_grid(snapshot, tmp_path):
    mp4 = tmp_path / "walk.mp4"
    assert run(["video", "walk", str(snapshot), "--seeds", "1,2", "--kind", "slerp", "--frames", "6", "--loop",
                "--easing", "ease-in-out", "-o", str(mp4)]) == 0
    info = video_info(mp4)
    assert info["frames"] == 12 and info["fps"] == 30
    gif = tmp_path / "loop.gif"
    assert run(["video", "walk", str(snapshot), "--seeds", "3,4", "--kind", "noise-loop", "--space", "w",
                "--frames", "8", "--grid", "2x1", "--fps", "10", "-o", str(gif)]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 8 and im.size == (32, 16)
    meta = json.loads((tmp_path / "loop.walk.json").read_text())
    assert meta["kind"] == "noise-loop" and meta["frames"] == 8
    assert run(["video", "walk", str(snapshot), "--kind", "circular", "--frames", "4", "-o", str(tmp_path / "x.avi")]) == 2


def test_dcgan_generate_and_walk_in_z(dcgan_snapshot, tmp_path, capsys):
    out = tmp_path / "g"
    assert run(["generate", str(dcgan_snapshot), "--seeds", "0-1", "-o", str(out)]) == 0
    assert set(np.load(out / "seed0000.npz").files) >= {"z"} and "w" not in np.load(out / "seed0000.npz").files
    assert run(["video", "walk", str(dcgan_snapshot), "--kind", "circular", "--frames", "4",
                "-o", str(tmp_path / "c.gif")]) == 0
    assert run(["video", "walk", str(dcgan_snapshot), "--space", "w", "-o", str(tmp_path / "w.gif")]) == 2
    assert "no w space" in capsys.readouterr().err
    assert run(["mix", str(dcgan_snapshot), "-o", str(tmp_path / "m")]) == 2


def test_project_mse_writes_files_and_video(snapshot, tmp_path):
    gen = tmp_path / "gen"
    assert run(["generate", str(snapshot), "--seeds", "5", "-o", str(gen)]) == 0
    out = tmp_path / "proj"
    assert run(["project", str(snapshot), str(gen / "seed0005.png"), "--steps", "12", "--loss", "mse",
                "--space", "w+", "--save-video", "-o", str(out)]) == 0
    w = np.load(out / "projected_w.npz")["w"]
    assert w.shape == (1, 6, 32)
    assert _png(out / "proj.png").shape == (16, 16, 3) and _png(out / "target.png").shape == (16, 16, 3)
    assert video_info(out / "proj.mp4")["frames"] == 12
    summary = json.loads((out / "projection.json").read_text())
    assert summary["steps"] == 12 and np.isfinite(summary["psnr"])
    assert not (out / "projection-state.safetensors").exists()


def test_project_lpips_without_weights_says_which_are_missing(snapshot, tmp_path, capsys):
    img = tmp_path / "t.png"
    Image.new("RGB", (40, 20), (200, 30, 30)).save(img)
    assert run(["project", str(snapshot), str(img), "--steps", "2", "-o", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "'vgg16'" in err and "'lpips-vgg'" in err and "--loss mse" in err
    # a non-square target is padded as asked
    assert run(["project", str(snapshot), str(img), "--steps", "2", "--loss", "mse", "--fit", "pad",
                "-o", str(tmp_path / "p")]) == 0
    t = _png(tmp_path / "p" / "target.png")
    assert t[0, 8].sum() < 30 and t[8, 8, 0] > 150  # black bars above, red in the middle


def test_neighbours_sheet_and_pick(snapshot, tmp_path):
    gen = tmp_path / "gen"
    assert run(["generate", str(snapshot), "--seeds", "9", "-o", str(gen)]) == 0
    sheet = tmp_path / "nb" / "sheet.png"
    assert run(["neighbours", str(snapshot), "--w", str(gen / "seed0009.npz"), "--count", "6", "--sigma", "0.5",
                "--pick", "4", "-o", str(sheet)]) == 0
    assert _png(sheet).shape[0] >= 32
    allw = np.load(tmp_path / "nb" / "neighbours.npz")["w"]
    assert allw.shape == (6, 6, 32)
    one = np.load(tmp_path / "nb" / "neighbours" / "004.npz")["w"]
    kf = np.load(tmp_path / "nb" / "keyframe_4.npz")["w"]
    assert np.allclose(one[0], allw[4]) and np.allclose(kf, one)
    src = np.load(gen / "seed0009.npz")["w"]
    assert not np.allclose(allw[0], src[0])
    # the picked keyframe renders like the neighbour on the sheet
    again = tmp_path / "again"
    assert run(["generate", str(snapshot), "--w", str(tmp_path / "nb" / "keyframe_4.npz"), "-o", str(again)]) == 0
    assert np.abs(_png(again / "w0000.png").astype(int) - _png(tmp_path / "nb" / "keyframe_4.png")).max() <= 1
    assert run(["neighbours", str(snapshot), "--w", str(gen / "seed0009.npz"), "--count", "3", "--pick", "5",
                "-o", str(sheet)]) == 2


def test_nvidia_pkl_and_weights_store_name_as_model(tmp_path):
    """MODEL may be an NVIDIA .pkl (read without running its code) or a weights-store name."""
    nv = pytest.importorskip("test_gan_nvidia_pkl", reason="the NVIDIA pickle writer of the GAN tests")
    from neuralbrush import weights

    G, D, G_ema = nv.small_networks()
    pkl = nv.write_nvidia_pkl(tmp_path / "network-snapshot-000100.pkl", {"G": G, "D": D, "G_ema": G_ema})
    assert run(["generate", str(pkl), "--seeds", "3", "-o", str(tmp_path / "a")]) == 0
    weights.import_file("cifar10", pkl)  # any stylegan2-pkl catalogue entry
    assert run(["generate", "cifar10", "--seeds", "3", "-o", str(tmp_path / "b")]) == 0
    assert run(["video", "walk", "cifar10", "--seeds", "3,4", "--frames", "3", "-o", str(tmp_path / "w.gif")]) == 0
    a, b = _png(tmp_path / "a" / "seed0003.png"), _png(tmp_path / "b" / "seed0003.png")
    assert a.shape == (32, 32, 3) and np.array_equal(a, b)
    with torch.no_grad():  # the image is G_ema's for NVIDIA's z of seed 3
        z = torch.from_numpy(np.random.RandomState(3).randn(1, 32)).float()
        ref = ((G_ema(z, None, noise_mode="const")[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    assert np.abs(a.astype(int) - ref).max() <= 1
