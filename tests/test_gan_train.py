"""Training: presets, losses, a tiny run's outputs, resume after kill -9, transfer learning, CLI."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from neuralbrush.cli.main import run
from neuralbrush.core.errors import UsageError
from neuralbrush.core.progress import ProgressEvent
from neuralbrush.core.runs import read_stats, snapshot_files
from neuralbrush.datasets.samples import write_blooms
from neuralbrush.gan import build_discriminator, build_generator
from neuralbrush.gan.loss import GANLoss, pair_group
from neuralbrush.gan.presets import PRESETS, TrainOptions, auto_preset, lazy_optimizer_kwargs, resolve
from neuralbrush.gan.snapshot import load_snapshot
from neuralbrush.gan.train import train
from neuralbrush.gan.trainer_state import discriminator_layers, frozen_parameters

TINY = dict(cfg="small", batch=4, cbase=256, cmax=32, mbstd=2, tick=0.008, snap=1, grid="3x2", metric_images=16,
            device="cpu", precision="fp32", threads=1, workers=1)


@pytest.fixture(scope="module")
def blooms16(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data") / "blooms16"
    write_blooms(folder, 24, 16, seed=0)
    return folder


def test_presets_match_reference_table():
    assert (PRESETS["stylegan2"].mb, PRESETS["stylegan2"].gamma, PRESETS["stylegan2"].map) == (32, 10, 8)
    assert (PRESETS["paper256"].mb, PRESETS["paper256"].mbstd, PRESETS["paper256"].fmaps, PRESETS["paper256"].ema) \
        == (64, 8, 0.5, 20)
    assert (PRESETS["paper512"].gamma, PRESETS["paper512"].lrate) == (0.5, 0.0025)
    assert (PRESETS["paper1024"].mb, PRESETS["paper1024"].gamma, PRESETS["paper1024"].lrate) == (32, 2, 0.002)
    c = PRESETS["cifar"]
    assert (c.ref_gpus, c.kimg, c.mb, c.mbstd, c.gamma, c.ema, c.ramp, c.map) == (2, 100000, 64, 32, 0.01, 500, 0.05, 2)
    a = auto_preset(256, gpus=1)
    assert (a.mb, a.mbstd, a.fmaps, a.lrate, a.ema, a.ramp, a.map) == (16, 4, 0.5, 0.0025, 5.0, 0.05, 2)
    assert a.gamma == pytest.approx(0.0002 * 256 ** 2 / 16)
    a8 = auto_preset(1024, gpus=8)
    assert (a8.mb, a8.mbstd, a8.fmaps, a8.lrate) == (32, 4, 1, 0.002)
    cfg = resolve(TrainOptions(cfg="paper256"), res=256)
    assert cfg.G_kwargs["synthesis_kwargs"]["channel_base"] == 16384 and cfg.G_kwargs["mapping_kwargs"]["num_layers"] == 8
    assert cfg.G_opt == dict(lr=0.0025, betas=(0.0, 0.99), eps=1e-8) and cfg.ema_ramp is None
    # the CPU preset chosen by issue 14's study: lr 0.005, R1 gamma 1, DiffAugment through --aug auto
    small = resolve(TrainOptions(cfg="small"), res=64)
    assert small.G_opt["lr"] == small.D_opt["lr"] == 0.005 and small.r1_gamma == 4.0 and small.aug == "diffaugment"
    assert (small.batch, small.pl_weight, small.style_mixing) == (16, 0.0, 0.0)
    # the minibatch standard deviation over the whole minibatch; the preset's group shrinks to the largest
    # divisor of a smaller or odd per-process batch, while an explicit --mbstd must divide it
    assert small.D_kwargs["mbstd_group_size"] == 16
    groups = {b: resolve(TrainOptions(cfg="small", batch=b), res=64).D_kwargs["mbstd_group_size"]
              for b in (12, 24, 7, 32)}
    assert groups == {12: 12, 24: 12, 7: 7, 32: 16}
    assert resolve(TrainOptions(cfg="small", batch=16), res=64, world=2).D_kwargs["mbstd_group_size"] == 8
    with pytest.raises(UsageError, match="mbstd"):
        resolve(TrainOptions(cfg="small", batch=24, mbstd=16), res=64)
    assert resolve(TrainOptions(cfg="small", aug="ada"), res=64).aug == "ada"  # an explicit --aug wins
    assert {resolve(TrainOptions(cfg=c, arch=a), res=64).aug for c, a in
            (("auto", "stylegan2"), ("paper256", "stylegan2"), ("small", "dcgan"), ("small", "lite"))} == {"ada"}
    cifar = resolve(TrainOptions(cfg="cifar"), res=32)
    assert cifar.pl_weight == 0 and cifar.style_mixing == 0 and cifar.D_kwargs["architecture"] == "orig"
    # Every option overrides the preset.
    o = resolve(TrainOptions(cfg="stylegan2", batch=8, gamma=3, glr=0.01, dlr=0.02, map_depth=3, cbase=4096, cmax=64,
                             mbstd=2, kimg=7), res=64)
    assert (o.batch, o.r1_gamma, o.G_opt["lr"], o.D_opt["lr"], o.total_kimg) == (8, 3, 0.01, 0.02, 7)
    assert o.G_kwargs["mapping_kwargs"]["num_layers"] == 3 and o.D_kwargs["mbstd_group_size"] == 2
    assert o.G_kwargs["synthesis_kwargs"]["channel_base"] == 4096 and o.D_kwargs["channel_max"] == 64
    # the mapping network's learning-rate multiplier (config only): NVIDIA's 0.01 unless given
    assert "lr_multiplier" not in o.G_kwargs["mapping_kwargs"]
    m = resolve(TrainOptions(cfg="small", map_lr_mul=0.1), res=64).G_kwargs
    assert m["mapping_kwargs"]["lr_multiplier"] == 0.1
    fc = build_generator("stylegan2", **m).mapping.fc0
    assert fc.weight_gain == pytest.approx(0.1 / np.sqrt(fc.in_features))
    for bad in (0, -0.5, 2):
        with pytest.raises(UsageError, match="map_lr_mul"):
            TrainOptions(cfg="small", map_lr_mul=bad).validate()
    # the first block's input (config only): NVIDIA's constant unless g_input="w"
    assert "input_mode" not in o.G_kwargs["synthesis_kwargs"]
    with pytest.raises(UsageError, match="g_input"):
        TrainOptions(cfg="small", g_input="noise").validate()
    # Transfer learning: ADA speed 100 kimg, EMA ramp off.
    t = resolve(TrainOptions(cfg="auto"), res=64, transfer=True)
    assert t.ada_kimg == 100 and t.ema_ramp is None
    dc = resolve(TrainOptions(arch="dcgan"), res=64)
    assert dc.G_opt["betas"] == (0.5, 0.999) and dc.G_opt["lr"] == 2e-4 and dc.batch == 64 and dc.pl_weight == 0


def test_lazy_regularisation_optimizer_scaling():
    kw = lazy_optimizer_kwargs(dict(lr=0.002, betas=(0.0, 0.99), eps=1e-8), 16)
    r = 16 / 17
    assert kw["lr"] == pytest.approx(0.002 * r) and kw["betas"][1] == pytest.approx(0.99 ** r)


def test_losses_and_regularisers_give_gradients():
    torch.manual_seed(0)
    G = build_generator("stylegan2", z_dim=16, w_dim=16, img_resolution=16, img_channels=3,
                        mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=256, channel_max=16))
    D = build_discriminator("stylegan2", img_resolution=16, channel_base=256, channel_max=16, mbstd_group_size=2)
    loss = GANLoss(G, D, r1_gamma=1.0, pl_weight=2.0, style_mixing_prob=0.9)
    real = torch.rand(4, 3, 16, 16) * 2 - 1
    z, c = torch.randn(4, 16), torch.zeros(4, 0)
    for phase, module in (("Gmain", G), ("Greg", G), ("Dmain", D), ("Dreg", D)):
        module.requires_grad_(True)
        module.zero_grad(set_to_none=True)
        loss.accumulate(phase, real, c, z, c, gain=4)
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads), phase
        module.requires_grad_(False)
    assert {"loss/G", "loss/D", "loss/pl_penalty", "loss/r1_penalty"} <= set(loss.stats.values)
    assert float(loss.pl_mean) > 0


def test_bf16_autocast_trains():
    """The autocast (bf16 + channels_last) path: finite losses and gradients."""
    from neuralbrush.core.device import resolve_runtime

    rt = resolve_runtime("cpu", "bf16")
    torch.manual_seed(0)
    G = rt.module(build_generator("stylegan2", z_dim=16, w_dim=16, img_resolution=16, mapping_kwargs=dict(num_layers=2),
                                  synthesis_kwargs=dict(channel_base=256, channel_max=16)))
    D = rt.module(build_discriminator("stylegan2", img_resolution=16, channel_base=256, channel_max=16,
                                      mbstd_group_size=2))
    from neuralbrush.gan.augment import make_augment_pipe

    loss = GANLoss(G, D, augment_pipe=make_augment_pipe("fixed", 0.5), r1_gamma=1.0, autocast=rt.autocast)
    real = rt.tensor(torch.rand(4, 3, 16, 16) * 2 - 1)
    z, c = torch.randn(4, 16), torch.zeros(4, 0)
    for phase, module in (("Gboth", G), ("Dboth", D)):
        module.requires_grad_(True)
        loss.accumulate(phase, real, c, z, c, gain=1)
        assert all(torch.isfinite(p.grad).all() for p in module.parameters() if p.grad is not None)
        module.requires_grad_(False)
    assert all(torch.isfinite(torch.tensor(v)) for v in loss.stats.values.values())


def test_freeze_d_counts_from_highest_resolution():
    D = build_discriminator("stylegan2", img_resolution=16, channel_base=256, channel_max=16)
    layers = discriminator_layers(D)
    assert layers[0][0] is D.b16.fromrgb.weight and layers[1][0] is D.b16.conv0.weight
    frozen = frozen_parameters(D, 4)
    assert id(D.b16.skip.weight) in frozen and id(D.b8.conv0.weight) not in frozen


def test_tiny_training_run_writes_everything(blooms16, tmp_path):
    opts = TrainOptions(data=str(blooms16), outdir=str(tmp_path / "runs"), kimg=0.024, aug="ada", **TINY)
    events = []
    run_dir = train(opts, progress=events.append)
    ticks = [e for e in events if e.kind == "tick"]
    assert run_dir.name == "00000-blooms16-small"
    for name in ("training_options.json", "reals.png", "fakes_init.png", "fakes000000.png", "stats.jsonl",
                 "metrics.jsonl", "log.txt", "progress.gif", "progress.mp4"):
        assert (run_dir / name).is_file(), name
    doc = json.loads((run_dir / "training_options.json").read_text())
    assert doc["resolved"]["batch"] == 4 and doc["cfg"] == "small"
    snaps = snapshot_files(run_dir)
    assert snaps
    snap = load_snapshot(snaps[-1])
    assert snap.meta["cur_nimg"] >= 24 and snap.G_ema is not None and snap.D is not None
    assert {"augment.p", "rng.torch", "rng.data", "opt_G.0.exp_avg_sq", "opt_D.0.exp_avg"} <= set(snap.extra_tensors)
    stats = read_stats(run_dir)
    assert any("sec_per_kimg" in r for r in stats) and any("metrics/swd" in r for r in stats)
    assert len(ticks) == 3 and ticks[-1].snapshot is not None
    snaps_seen = [e for e in events if e.kind == "snapshot"]
    assert snaps_seen and snaps_seen[-1].preview is not None and snaps_seen[-1].snapshot == snaps[-1]
    assert all(isinstance(e, ProgressEvent) for e in events) and events[-1].run_dir == run_dir
    from PIL import Image

    assert Image.open(run_dir / "fakes_init.png").size == (3 * 16, 2 * 16)
    # One animation frame per grid even when snapshots share a kimg file name.
    assert len(list((run_dir / "progress").glob("*.png"))) == 4
    from neuralbrush.core.media import read_gif

    assert len(read_gif(run_dir / "progress.gif")) == 4
    # The same JSON re-runs it (through the CLI's --config).
    assert run(["train", "--config", str(run_dir / "training_options.json"), "--kimg", "0.008"]) == 0
    assert (tmp_path / "runs" / "00001-blooms16-small" / "fakes000000.png").is_file()


def test_dcgan_run_and_transfer_learning(blooms16, tmp_path):
    opts = TrainOptions(data=str(blooms16), outdir=str(tmp_path / "runs"), arch="dcgan", kimg=0.008, ngf=8, ndf=8,
                        **{k: v for k, v in TINY.items() if k not in ("cbase", "cmax", "mbstd")})
    first = train(opts)
    assert first.name.endswith("-dcgan") and snapshot_files(first)
    # Transfer learning from that run's snapshot file into a wider D: matching layers load, the rest
    # are reported. (A run folder continues that run instead, as in pix2pix: below.)
    opts2 = TrainOptions(**{**opts.to_dict(), "resume": str(snapshot_files(first)[-1]), "ndf": 16, "freezed": 1})
    second = train(opts2)
    assert second != first
    report = json.loads((second / "transfer_report.json").read_text())
    assert len(report["loaded"]["G"]) > 0 and len(report["skipped"]["G"]) == 0
    assert len(report["skipped"]["D"]) > 0
    assert load_snapshot(snapshot_files(second)[-1]).meta["cur_nimg"] == 8  # kimg restarts for transfer
    # --resume RUN_DIR continues that run in place, like --resume latest: kimg carries on.
    third = train(TrainOptions(**{**opts.to_dict(), "resume": str(first), "kimg": 0.016}))
    assert third == first and not (first / "transfer_report.json").exists()
    assert load_snapshot(snapshot_files(first)[-1]).meta["cur_nimg"] == 16
    assert json.loads((first / "training_options.json").read_text())["resumed"][-1]["at"] == 0.008


def test_cli_rejects_bad_input(tmp_path, capsys, blooms16):
    assert run(["train", str(tmp_path / "missing"), "--outdir", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert run(["train", str(blooms16), "--cfg", "huge", "--outdir", str(tmp_path)]) == 2
    assert "--cfg" in capsys.readouterr().err
    assert run(["train", str(blooms16), "--batch", "6", "--mbstd", "4", "--outdir", str(tmp_path)]) == 2
    assert "mbstd" in capsys.readouterr().err
    assert run(["train", "--resume", "latest", "--outdir", str(tmp_path / "none")]) == 2


def _wait_for(predicate, timeout: float) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def test_kill_then_resume_latest_restores_kimg_and_p(blooms16, tmp_path):
    """kill -9 during training, then --resume latest: kimg, augment p, optimiser and RNG carry on."""
    outdir = tmp_path / "runs"
    args = [sys.executable, "-m", "neuralbrush", "train", str(blooms16), "--outdir", str(outdir), "--minutes", "10",
            "--aug", "ada", "--p", "0.5", "--ada-kimg", "0.5", "--metrics", "none"]
    for k, v in TINY.items():
        if k not in ("metric_images",):
            args += [f"--{k.replace('_', '-')}", str(v)]
    env = {**os.environ, "NEURALBRUSH_QUIET": "1"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        run_dir = outdir / "00000-blooms16-small"
        ok = _wait_for(lambda: len(read_stats(run_dir)) >= 3 and snapshot_files(run_dir), 150)
        assert ok, proc.stderr.read().decode() if proc.poll() is not None else "no snapshot in time"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    snap = load_snapshot(snapshot_files(run_dir)[-1])
    nimg, p, killed_at = snap.meta["cur_nimg"], snap.meta["augment_p"], snap.path.name
    assert 0 < p < 1  # ada starts at 0.5 and moves one step every 4 minibatches (16 images / 500 per step)
    events = []
    resumed = train(TrainOptions(resume="latest", outdir=str(outdir), kimg=(nimg + 16) / 1000), progress=events.append)
    ticks = [e for e in events if e.kind == "tick"]
    assert resumed == run_dir  # continues in place
    assert not (outdir / "00001-blooms16-small").exists()
    log = (run_dir / "log.txt").read_text()
    assert f"at kimg {nimg / 1000:.1f}, augment p {p:.3f}" in log
    final = load_snapshot(snapshot_files(run_dir)[-1])
    assert final.meta["cur_nimg"] == nimg + 16  # 4 more minibatches of 4
    # One ADA update per 4 minibatches of 4 images: p moved exactly one step from where it stopped.
    assert abs(final.meta["augment_p"] - p) == pytest.approx(16 / 500, abs=1e-6)
    assert ticks and ticks[0].count > nimg / 1000 and ticks[0].unit == "kimg"
    doc = json.loads((run_dir / "training_options.json").read_text())
    assert doc["trainer"] == "gan" and doc["kimg"] == (nimg + 16) / 1000 and doc["minutes"] is None
    assert doc["resumed"][-1]["from"] == killed_at and doc["resumed"][-1]["at"] == nimg / 1000


def test_snapshots_by_the_clock_survive_kill_9_and_resume_exactly(blooms16, tmp_path):
    """--snap-minutes: snapshots come by the clock (--snap is far away), ticks by the clock too
    (no --tick); a run killed with SIGKILL mid-interval keeps a snapshot no older than the cadence
    plus one snapshot write, and --resume latest from it ends exactly where an unbroken run ends."""
    cadence_s = 3.0
    outdir = tmp_path / "runs"
    tiny = {k: v for k, v in TINY.items() if k not in ("tick", "snap", "metric_images")}
    args = [sys.executable, "-m", "neuralbrush", "train", str(blooms16), "--outdir", str(outdir), "--minutes", "10",
            "--snap-minutes", str(cadence_s / 60), "--snap", "1000", "--tick-minutes", "0.02", "--aug", "ada",
            "--p", "0.5", "--ada-kimg", "0.5", "--metrics", "none"]
    for k, v in tiny.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    run_dir = outdir / "00000-blooms16-small"

    def written() -> list[Path]:  # one progress frame per snapshot (named by its image count), after the init grid
        return sorted((run_dir / "progress").glob("[0-9]*.png"))[1:]

    proc = subprocess.Popen(args, env={**os.environ, "NEURALBRUSH_QUIET": "1", "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        ok = _wait_for(lambda: proc.poll() is not None or len(written()) >= 3, 150) and proc.poll() is None
        assert ok, proc.stderr.read().decode() if proc.poll() is not None else "no snapshots by the clock in time"
        time.sleep(cadence_s / 2)  # mid-interval
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed = time.time()
    frames = written()
    times = [f.stat().st_mtime for f in frames]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps and min(gaps) >= cadence_s - 0.05  # by the clock: no sooner than the cadence...
    write_s = max(g - cadence_s for g in gaps)  # ...and later only by a snapshot write (and a minibatch)
    assert write_s < 10
    assert killed - times[-1] <= cadence_s + write_s + 1.0
    ticks = read_stats(run_dir)
    assert len(ticks) >= len(frames)  # a tick ends at every snapshot, and by the clock in between
    snap = load_snapshot(snapshot_files(run_dir)[-1])
    nimg = snap.meta["cur_nimg"]
    assert nimg >= int(frames[-1].stem) and snap.meta["tick"] >= 3
    assert "ada.sums" in snap.extra_tensors  # ADA's statistics since its last p update carry over
    resumed = train(TrainOptions(resume="latest", outdir=str(outdir), kimg=(nimg + 24) / 1000))
    assert resumed == run_dir
    final = load_snapshot(snapshot_files(run_dir)[-1])
    assert final.meta["cur_nimg"] == nimg + 24
    # An unbroken run of the same length ends with the same weights, p and optimiser state.
    whole = train(TrainOptions(data=str(blooms16), outdir=str(tmp_path / "whole"), kimg=(nimg + 24) / 1000,
                               snap_minutes=0, aug="ada", p=0.5, ada_kimg=0.5, metrics="none",
                               **TINY | {"tick": 1.0, "snap": 1000}))
    ref = load_snapshot(snapshot_files(whole)[-1])
    assert ref.meta["cur_nimg"] == nimg + 24 and ref.meta["augment_p"] == final.meta["augment_p"]
    for name in ("G", "D", "G_ema"):
        a, b = getattr(final, name).state_dict(), getattr(ref, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert all(torch.equal(final.extra_tensors[k], ref.extra_tensors[k]) for k in ref.extra_tensors
               if k.startswith("opt_"))


def test_transfer_with_freeze_d_keeps_top_layers(blooms16, tmp_path):
    """StyleGAN2 transfer learning: matching tensors load, Freeze-D keeps the first layers fixed."""
    base = TrainOptions(data=str(blooms16), outdir=str(tmp_path / "runs"), kimg=0.008, aug="noaug", metrics="none",
                        **{k: v for k, v in TINY.items() if k != "metric_images"})
    src_run = train(base)
    src = load_snapshot(snapshot_files(src_run)[-1])
    # A different mapping depth: mapping.fc2 is new (reported as skipped), the rest loads.
    opts = TrainOptions(**{**base.to_dict(), "resume": str(snapshot_files(src_run)[-1]), "freezed": 2, "map_depth": 3})
    dst_run = train(opts)
    report = json.loads((dst_run / "transfer_report.json").read_text())
    assert [name for name, _ in report["skipped"]["G"]] == ["mapping.fc2.weight", "mapping.fc2.bias"]
    assert report["skipped"]["D"] == []
    dst = load_snapshot(snapshot_files(dst_run)[-1])
    s, d = src.D.state_dict(), dst.D.state_dict()
    for frozen in ("b16.fromrgb.weight", "b16.conv0.weight"):
        assert torch.equal(s[frozen], d[frozen]), frozen  # loaded and frozen
    assert not torch.equal(s["b8.conv0.weight"], d["b8.conv0.weight"])  # loaded, then trained
    assert "transfer learning from" in (dst_run / "log.txt").read_text()


def test_transfer_from_nvidia_pickle(tmp_path):
    """--resume with an NVIDIA-format .pkl (built by the importer's tests, no NVIDIA code): read by
    the allowlisting importer; tensors of matching shape load, the rest are reported."""
    from test_gan_nvidia_pkl import small_networks, write_nvidia_pkl  # the importer's own fixture builder

    G, D, G_ema = small_networks()
    pkl = write_nvidia_pkl(tmp_path / "source.pkl", {"G": G, "D": D, "G_ema": G_ema})
    data = tmp_path / "blooms32"
    write_blooms(data, 8, 32, seed=2)
    # Same widths as the pickle, but the small preset's w_dim 256 (theirs: 32): affines cannot load.
    opts = TrainOptions(data=str(data), outdir=str(tmp_path / "runs"), cfg="small", cbase=512, cmax=32, mbstd=4,
                        z_dim=32, batch=4, kimg=0.004, tick=0.004, snap=1, grid="2x2", metrics="none", aug="noaug",
                        resume=str(pkl), device="cpu", precision="fp32", threads=1, workers=1)
    run_dir = train(opts)
    report = json.loads((run_dir / "transfer_report.json").read_text())
    # every tensor of their D loads; the small preset's reconstruction decoders have no source and start fresh
    assert len(report["loaded"]["D"]) == len(D.state_dict())
    assert report["skipped"]["D"] and all(k.startswith(("dec_whole.", "dec_part.")) and why == "not in source"
                                          for k, why in report["skipped"]["D"])
    assert "synthesis.b32.conv1.weight" in report["loaded"]["G_ema"]
    skipped = dict(report["skipped"]["G_ema"])
    assert "synthesis.b32.conv1.affine.weight" in skipped and "shape" in skipped["synthesis.b32.conv1.affine.weight"]
    snap = load_snapshot(snapshot_files(run_dir)[-1])
    assert snap.meta["cur_nimg"] == 4


def test_resume_latest_removes_stale_snapshot_temporaries(blooms16, tmp_path, monkeypatch):
    """A kill -9 during a snapshot write leaves the hidden temporary (a full snapshot's size):
    resume removes it and says how many and how much came back."""
    import neuralbrush.core.progress as progress

    base = TrainOptions(data=str(blooms16), outdir=str(tmp_path / "runs"), kimg=0.004, aug="noaug", metrics="none",
                        **{k: v for k, v in TINY.items() if k != "metric_images"})
    run_dir = train(base)
    stale = run_dir / ".network-snapshot-000000.safetensors.q8w_2kz0.tmp.safetensors"
    stale.write_bytes(b"\x00" * (5 << 20))
    keep = run_dir / "notes.tmp.safetensors"  # not a temporary of ours: left alone
    keep.write_bytes(b"x")
    said: list[str] = []
    monkeypatch.setattr(progress, "info", said.append)
    train(TrainOptions(resume="latest", outdir=str(tmp_path / "runs"), kimg=0.008))
    assert not stale.exists() and keep.exists()
    assert any("removed 1 unfinished snapshot " in s and "5.0 MB freed" in s for s in said), said


def test_disk_full_while_writing_a_snapshot_keeps_the_previous_one(tmp_path, monkeypatch):
    """ENOSPC from the writer: one sentence naming the intact previous snapshot; nothing replaced,
    no temporary left."""
    import errno

    import neuralbrush.core.checkpoint as ckpt
    from neuralbrush.core.errors import CheckpointError
    from neuralbrush.gan.snapshot import save_snapshot

    from gan_helpers import small_stylegan

    G = small_stylegan(16)
    first = save_snapshot(tmp_path / "network-snapshot-000004.safetensors", arch="stylegan2", G=G, G_ema=G)
    before = first.read_bytes()

    def full(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\x00" * 100)
        raise OSError(errno.ENOSPC, "No space left on device", filename)

    monkeypatch.setattr(ckpt, "save_file", full)
    for name in ("network-snapshot-000008.safetensors", "network-snapshot-000004.safetensors"):
        with pytest.raises(CheckpointError, match="disk full") as e:
            save_snapshot(tmp_path / name, arch="stylegan2", G=G, G_ema=G)
        assert "network-snapshot-000004.safetensors" in str(e.value) and "--resume latest" in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["network-snapshot-000004.safetensors"]
    assert first.read_bytes() == before and load_snapshot(first).G is not None


def test_a_continued_run_keeps_its_preset_values_after_the_preset_changes(blooms16, tmp_path, monkeypatch):
    """Issue 14 changed `small` (lr, R1 gamma, --aug auto): a run started before keeps what it started
    with, because resume pins the rates, gamma and augmentation from the run record."""
    import dataclasses

    from neuralbrush.core.checkpoint import read_json
    from neuralbrush.gan import presets

    old = dataclasses.replace(presets.PRESETS["small"], lrate=0.0025, gamma=0.05, aug="ada", mbstd=2, recon=0.0,
                              color_p=1.0)
    monkeypatch.setitem(presets.PRESETS, "small", old)
    data = tmp_path / "blooms32"  # 32 px: D's decoders could be added
    write_blooms(data, 24, 32, seed=0)
    tiny = {k: v for k, v in TINY.items() if k != "mbstd"}
    first = train(TrainOptions(data=str(data), outdir=str(tmp_path), kimg=0.008, metrics="none",
                               **dict(tiny, snap=1)))
    started = read_json(first / "training_options.json")
    assert started["aug"] == "auto" and started["glr"] is None and started["resolved"]["aug"] == "ada"
    monkeypatch.setitem(presets.PRESETS, "small", dataclasses.replace(old, lrate=0.005, gamma=1.0, aug="diffaugment",
                                                                      mbstd=4, recon=1.0, color_p=0.5))
    assert train(TrainOptions(resume="latest", outdir=str(tmp_path), kimg=0.016)) == first
    after = read_json(first / "training_options.json")["resolved"]
    assert after["G_opt"]["lr"] == after["D_opt"]["lr"] == 0.0025
    assert after["r1_gamma"] == 0.05 and after["aug"] == "ada"
    assert after["D_kwargs"]["mbstd_group_size"] == 2 and "recon_channels" not in after["D_kwargs"]
    assert after["recon_weight"] == 0.0 and after["color_p"] == 1.0


def test_d_recon_option_trains_and_resumes_exactly(tmp_path):
    """--d-recon: StyleGAN2's D gets decoders (recorded in D_kwargs), D's loss its reconstruction error;
    a run continued from a snapshot ends as an unbroken one does (the quadrant drawn each minibatch comes
    from the saved RNG state). Refused for lite and DCGAN and below 32 px."""
    data = tmp_path / "blooms32"
    write_blooms(data, 24, 32, seed=0)
    opts = dict(TINY, data=str(data), d_recon=1.0, metrics="none", snap=1)
    first = train(TrainOptions(outdir=str(tmp_path / "a"), kimg=0.008, **opts))
    snap = load_snapshot(snapshot_files(first)[-1])
    assert snap.D.init_kwargs["recon_channels"] > 0 and hasattr(snap.D, "dec_whole")
    assert "loss/recon" in read_stats(first)[-1]
    train(TrainOptions(resume="latest", outdir=str(tmp_path / "a"), kimg=0.016))
    whole = train(TrainOptions(outdir=str(tmp_path / "b"), kimg=0.016, **opts))
    a, b = load_snapshot(snapshot_files(first)[-1]), load_snapshot(snapshot_files(whole)[-1])
    assert a.meta["cur_nimg"] == b.meta["cur_nimg"] == 16
    for name in ("G", "D"):
        sa, sb = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa), name
    for arch in ("lite", "dcgan"):
        with pytest.raises(UsageError, match="--d-recon is for --arch stylegan2"):
            resolve(TrainOptions(arch=arch, d_recon=1.0).validate(), res=64)
    with pytest.raises(UsageError, match="32 px"):
        resolve(TrainOptions(cfg="small", d_recon=1.0).validate(), res=16)
    with pytest.raises(UsageError, match="--d-recon"):
        TrainOptions(d_recon=-1.0).validate()
    small = resolve(TrainOptions(cfg="small").validate(), res=64)  # the preset's since issue 14's 14th round
    assert small.D_kwargs["recon_channels"] > 0 and small.recon_weight == 1.0 and small.color_p == 0.5
    off = resolve(TrainOptions(cfg="small", d_recon=0.0).validate(), res=64)
    assert "recon_channels" not in off.D_kwargs and off.recon_weight == 0.0
    assert "recon_channels" not in resolve(TrainOptions(cfg="small").validate(), res=16).D_kwargs  # dropped < 32 px
    assert "recon_channels" not in resolve(TrainOptions(cfg="paper256").validate(), res=256).D_kwargs


def test_the_plain_loop_keeps_the_baseline_paths_and_both_loops_train_alike(blooms16, tmp_path):
    """lean=False is the benchmarks' baseline (the loop as it was); the lean loop differs only in
    how it computes: with the same weights and seed, every phase (R1 and path length through the
    augmentation included, D's main phase in one call against two) gives the same gradients to
    float rounding."""
    from neuralbrush.gan.train import _Loop

    opts = TrainOptions(data=str(blooms16), outdir=str(tmp_path / "runs"), kimg=0.024, aug="ada", p=0.5,
                        pl_weight=2.0, style_mixing=0.9, metrics="none", **TINY)
    opts.validate()
    loops = {lean: _Loop(opts, progress=None, lean=lean) for lean in (True, False)}
    folds = {lean: {m.fold_gain for net in (lp.G, lp.D, lp.G_ema) for m in net.modules() if hasattr(m, "fold_gain")}
             for lean, lp in loops.items()}
    assert folds == {True: {True}, False: {False}}
    assert (loops[True].pipe.resample, loops[True].pipe.sampler) == ("matrix", "grid")
    assert (loops[False].pipe.resample, loops[False].pipe.sampler) == ("conv", "gather")
    loops[False].G.load_state_dict(loops[True].G.state_dict())
    loops[False].D.load_state_dict(loops[True].D.state_dict())
    real, real_c = loops[True]._batch()
    assert loops[True].loss.pair_d and not loops[False].loss.pair_d
    assert pair_group(loops[True].D, real.shape[0]) is not None  # the lean Dmain scores both halves in one call
    z = torch.randn(real.shape[0], loops[True].G.z_dim, generator=torch.Generator().manual_seed(3))
    for phase in ("Gmain", "Greg", "Dmain", "Dreg"):
        grads = {}
        for lean, lp in loops.items():
            lp.G.requires_grad_(phase.startswith("G"))
            lp.D.requires_grad_(phase.startswith("D"))
            net = lp.G if phase.startswith("G") else lp.D
            net.zero_grad(set_to_none=True)
            torch.manual_seed(11)  # the same augmentation and noise draws in both
            lp.loss.accumulate(phase, real, real_c, z, real_c, 1.0)
            grads[lean] = [p.grad for p in net.parameters() if p.grad is not None]
        assert len(grads[True]) == len(grads[False]) > 0, phase
        for a, b in zip(grads[True], grads[False]):
            assert torch.allclose(a, b, rtol=1e-3, atol=1e-5), phase
