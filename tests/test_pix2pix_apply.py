"""Applying pix2pix: any image size, input derived as in training, dropout noise, video with resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from neuralbrush.cli.main import run
from neuralbrush.core.media import read_video, video_info, write_video
from neuralbrush.datasets.samples import bloom, skimage_photo, write_blooms
from neuralbrush.pix2pix.apply import Pix2PixModel, apply_paths
from neuralbrush.pix2pix.junyanz import junyanz_key_map
from neuralbrush.pix2pix.networks import UNetConfig, UNetGenerator
from neuralbrush.pix2pix.options import ApplyOptions, TrainOptions, VideoOptions
from neuralbrush.pix2pix.train import train
from neuralbrush.pix2pix.video import apply_video, cache_dir_for


@pytest.fixture(scope="module")
def model_run(tmp_path_factory):
    """A briefly trained unet_64 (ngf 8; it has one dropout level) on edges of blooms."""
    root = tmp_path_factory.mktemp("p2p")
    write_blooms(root / "blooms", 6, 64, seed=5)
    opts = TrainOptions(data=str(root / "blooms"), input="edges", size=64, ngf=8, ndf=8, batch=2, epochs=1,
                        epochs_decay=0, snap_minutes=0, precision="fp32", device="cpu", outdir=str(root / "runs"))
    return train(opts).run_dir


def test_apply_odd_size_photo_keeps_its_size(model_run, tmp_path):
    photo = skimage_photo("astronaut").crop((100, 20, 177, 65))  # 77 x 45
    src = tmp_path / "odd.png"
    photo.save(src)
    result = apply_paths(model_run, [src], tmp_path / "out.png", ApplyOptions(side_by_side=True, precision="fp32"))
    assert result.outputs == [tmp_path / "out.png"] and result.side_by_side == [tmp_path / "out_side_by_side.png"]
    assert result.skipped == [] and result.options_file == tmp_path / "out.pix2pix-apply.json"
    out = Image.open(result.outputs[0])
    assert out.size == (77, 45)
    row = Image.open(tmp_path / "out_side_by_side.png")
    assert row.size == (3 * 77, 45)
    # the middle third is the edge map: mostly white paper with dark lines
    middle = np.asarray(row.convert("L"))[:, 77:154]
    assert (middle > 200).mean() > 0.6 and (middle < 60).any()
    assert (tmp_path / "out.pix2pix-apply.json").exists()


def test_input_is_derived_as_in_training(model_run):
    m = Pix2PixModel(model_run, precision="fp32")
    assert m.input_kind == "edges" and m.size == 64 and m.multiple == 64
    t = m.translate(np.asarray(bloom(100, 1)))
    assert t.output.size == (100, 100) and t.input.size == (100, 100)
    assert set(np.unique(np.asarray(t.input))) <= {0, 255}


def test_dropout_noise_is_seeded(model_run):
    photo = bloom(64, 2)
    plain = np.asarray(Pix2PixModel(model_run, precision="fp32").translate(photo).output)
    noisy1 = np.asarray(Pix2PixModel(model_run, dropout=True, seed=1, precision="fp32").translate(photo).output)
    noisy1b = np.asarray(Pix2PixModel(model_run, dropout=True, seed=1, precision="fp32").translate(photo).output)
    noisy2 = np.asarray(Pix2PixModel(model_run, dropout=True, seed=2, precision="fp32").translate(photo).output)
    assert np.array_equal(noisy1, noisy1b)
    assert not np.array_equal(noisy1, noisy2) and not np.array_equal(plain, noisy1)


def test_cli_apply_folder_skips_broken_files(model_run, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    bloom(50, 1).save(photos / "a.png")
    skimage_photo("chelsea").resize((90, 60)).save(photos / "b.jpg")
    (photos / "broken.png").write_bytes(b"not an image")
    assert run(["pix2pix", "apply", str(model_run), str(photos), "-o", str(tmp_path / "out"), "--size", "64"]) == 0
    assert Image.open(tmp_path / "out" / "b.png").size == (90, 60)
    assert not (tmp_path / "out" / "broken.png").exists()
    assert run(["pix2pix", "apply", str(tmp_path / "nothing"), str(photos), "-o", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_apply_junyanz_file_directly(tmp_path):
    cfg = UNetConfig("unet_32", ngf=4)
    g = UNetGenerator(cfg.arch, ngf=4)
    flat = g.state_dict()
    pth = tmp_path / "net.pth"
    torch.save({src: flat[dst] for src, dst in junyanz_key_map(cfg).items()}, pth)
    m = Pix2PixModel(pth, precision="fp32")
    assert m.input_kind is None and m.size == 32
    assert m.translate(bloom(40, 0)).output.size == (40, 40)


def _synthetic_video(path, n=6):
    frames = [np.roll(np.asarray(bloom(48, 7)), 4 * i, axis=1) for i in range(n)]
    write_video(frames, path, fps=8)


def test_video_blends_streams_and_resumes(model_run, tmp_path, monkeypatch):
    src = tmp_path / "in.mp4"
    _synthetic_video(src)
    opts = VideoOptions(blend=0.3, precision="fp32", size=64, side_by_side=True)
    full = apply_video(model_run, src, tmp_path / "full.mp4", opts)
    assert full.frames == 6 and full.reused == 0 and full.fps == 8
    assert video_info(tmp_path / "full.mp4")["size"] == (3 * 48, 48)  # original | input | output
    assert not cache_dir_for(tmp_path / "full.mp4").exists()  # removed once complete

    # interrupt a second run after three frames, then run it again
    calls = {"n": 0}
    original = Pix2PixModel.translate

    def flaky(self, photo):
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt
        return original(self, photo)

    monkeypatch.setattr(Pix2PixModel, "translate", flaky)
    with pytest.raises(KeyboardInterrupt):
        apply_video(model_run, src, tmp_path / "again.mp4", opts)
    assert not (tmp_path / "again.mp4").exists()
    assert len(list(cache_dir_for(tmp_path / "again.mp4").glob("frame_*.png"))) == 3
    monkeypatch.setattr(Pix2PixModel, "translate", original)
    again = apply_video(model_run, src, tmp_path / "again.mp4", opts)
    assert again.reused == 3 and again.frames == 6
    a = list(read_video(tmp_path / "full.mp4"))
    b = list(read_video(tmp_path / "again.mp4"))
    assert len(a) == len(b) == 6 and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_video_frame_folder_to_folder(model_run, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        bloom(40, i).save(frames / f"f{i:03d}.png")
    res = apply_video(model_run, frames, tmp_path / "outframes", VideoOptions(side_by_side=True, precision="fp32"))
    files = sorted((tmp_path / "outframes").glob("frame_*.png"))
    assert res.frames == 3 and len(files) == 3 and Image.open(files[0]).size == (120, 40)


def test_video_cache_of_other_options_is_refused_and_restart_redoes_it(model_run, tmp_path, monkeypatch, capsys):
    src = tmp_path / "in.mp4"
    _synthetic_video(src, n=4)
    out, cache = tmp_path / "v.mp4", tmp_path / "frames"
    original = Pix2PixModel.translate
    calls = {"n": 0}

    def killed_after_two(self, photo):
        calls["n"] += 1
        if calls["n"] > 2:
            raise KeyboardInterrupt
        return original(self, photo)

    monkeypatch.setattr(Pix2PixModel, "translate", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        apply_video(model_run, src, out, VideoOptions(precision="fp32", device="cpu", seed=0), cache=cache)
    monkeypatch.setattr(Pix2PixModel, "translate", original)
    kept = {p.name: p.read_bytes() for p in cache.glob("frame_*.png")}
    assert len(kept) == 2
    base = ["pix2pix", "video", str(model_run), str(src), "-o", str(out), "--cache", str(cache), "--device", "cpu",
            "--precision", "fp32"]
    capsys.readouterr()
    assert run([*base, "--seed", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1 and "seed" in err and "--restart" in err
    assert {p.name: p.read_bytes() for p in cache.glob("frame_*.png")} == kept and not out.exists()
    assert run([*base, "--seed", "1", "--restart"]) == 0
    assert "4 frames (0 from the cache)" in capsys.readouterr().err
    assert video_info(out)["frames"] == 4 and not cache.exists()


@pytest.mark.slow
def test_demo_stage_writes_gallery_items(tmp_path):
    from neuralbrush.pix2pix import demo

    write_blooms(tmp_path / "blooms", 24, 64, seed=1)
    photo = tmp_path / "chelsea.png"
    skimage_photo("chelsea").resize((120, 80)).save(photo)
    context = {"dataset": str(tmp_path / "blooms"), "photos": {"chelsea": str(photo)}}
    items = demo.run_demo(tmp_path / "out", full=False, context=context)
    # the fast demo uses the bundled model (checked on unseen blooms) and trains nothing
    assert context["pix2pix_model"].endswith("blooms64-pix2pix-edges.safetensors")
    assert "pix2pix_checkpoint" not in context
    assert [i["title"] for i in items][0].startswith("Bundled model on blooms it never saw")
    assert "mean bloom" in items[0]["caption"] and len(items) == 3
    for item in items:
        assert (tmp_path / "out" / item["path"]).exists() and item["title"] and item["caption"]


@pytest.mark.slow
def test_video_sharded_over_two_processes_matches_one(model_run, tmp_path):
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "torchrun"
    cli = shutil.which("neuralbrush", path=str(Path(sys.executable).parent))
    if not exe.exists() or cli is None:
        pytest.skip("torchrun or the neuralbrush script is not installed next to this Python")
    src = tmp_path / "in.mp4"
    _synthetic_video(src)
    apply_video(model_run, src, tmp_path / "one.mp4", VideoOptions(blend=0.3, precision="fp32", device="cpu"))
    proc = subprocess.run([str(exe), "--nproc_per_node", "2", cli, "pix2pix", "video", str(model_run), str(src), "-o",
                           str(tmp_path / "two.mp4"), "--blend", "0.3", "--precision", "fp32", "--device", "cpu"],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    a, b = list(read_video(tmp_path / "one.mp4")), list(read_video(tmp_path / "two.mp4"))
    assert len(a) == len(b) == 6 and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_norm_stats_batch_is_the_train_mode_batch_norm_forward(tmp_path):
    """--norm-stats batch (junyanz test.py without --eval) normalises with the image's own
    statistics: it differs from the running statistics and equals the train-mode BN forward,
    and it leaves the stored statistics untouched."""
    import copy

    from neuralbrush.core.checkpoint import save_checkpoint
    from neuralbrush.core.imageio import to_pil, to_tensor
    from neuralbrush.pix2pix.train import FORMAT

    g = UNetGenerator("unet_32", ngf=4, norm="batch")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # running statistics far from any one image's own
        for m in g.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen))
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) * 4 + 0.5)
    path = save_checkpoint(tmp_path / "g.safetensors", {f"G.{k}": v for k, v in g.state_dict().items()},
                           {"format": FORMAT, "generator": g.config.to_dict(), "input": None, "size": 32})
    photo = bloom(32, 4)
    running = Pix2PixModel(path, precision="fp32", device="cpu")
    batch = Pix2PixModel(path, precision="fp32", device="cpu", norm_stats="batch")
    out_running = np.asarray(running.translate(photo).output)
    out_batch = np.asarray(batch.translate(photo).output)
    assert np.abs(out_running.astype(int) - out_batch.astype(int)).mean() > 2

    reference = copy.deepcopy(g).train()  # BN on batch statistics; this U-Net's 32 px has no dropout level
    with torch.no_grad():
        expected = to_pil(reference(to_tensor(photo)[None])[0])
    assert np.abs(np.asarray(expected).astype(int) - out_batch.astype(int)).max() <= 1
    for (name, before), after in zip(g.state_dict().items(), batch.G.state_dict().values()):
        assert torch.equal(before, after.cpu()), name  # the stored statistics are untouched
    with pytest.raises(Exception, match="norm-stats"):
        Pix2PixModel(path, norm_stats="median")
