"""pix2pix training: run directory, snapshots, exact resume, paired data, fine-tuning, CLI errors."""

from __future__ import annotations

import json

import pytest
import torch

from neuralbrush.cli.main import run
from neuralbrush.core.checkpoint import load_checkpoint, read_meta, unprefixed
from neuralbrush.core.runs import read_stats, snapshot_files
from neuralbrush.datasets.samples import write_blooms
from neuralbrush.pix2pix.data import PairSampler, load_training_pairs
from neuralbrush.pix2pix.junyanz import junyanz_key_map
from neuralbrush.pix2pix.networks import UNetConfig, UNetGenerator
from neuralbrush.pix2pix.options import TrainOptions
from neuralbrush.pix2pix.train import lr_factor, train

TINY = dict(size=32, ngf=8, ndf=8, batch=2, precision="fp32", device="cpu", snap_minutes=0)


@pytest.fixture(scope="module")
def blooms_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("blooms")
    write_blooms(d, 10, 32, seed=3)
    return d


def test_training_writes_run_directory(blooms_dir, tmp_path):
    opts = TrainOptions(data=str(blooms_dir), input="edges", epochs=1, epochs_decay=1, outdir=str(tmp_path), **TINY)
    result = train(opts)
    run_dir = result.run_dir
    assert run_dir.name == "00000-" + blooms_dir.name + "-pix2pix"
    saved = json.loads((run_dir / "training_options.json").read_text())
    assert saved["input"] == "edges" and saved["resolved"]["generator"]["arch"] == "unet_32"
    assert saved["resolved"]["val_images"] == 1 and saved["trainer"] == "pix2pix" and saved["resumed"] == []
    assert (run_dir / "fakes_init.png").exists() and (run_dir / f"fakes{result.step:07d}.png").exists()
    assert (run_dir / "log.txt").is_file() and (run_dir / "progress.gif").is_file()
    assert result.step == 2 * (9 // 2)  # (1 constant + 1 decay epoch) x 4 steps of batch 2
    tensors, meta = load_checkpoint(result.snapshot, expect_format="neuralbrush.pix2pix")
    assert meta["input"] == "edges" and meta["size"] == 32 and meta["step"] == result.step
    assert any(k.startswith("opt_G.") for k in tensors) and any(k.startswith("opt_D.") for k in tensors)
    assert "rng.torch" in tensors
    g = UNetGenerator("unet_32", ngf=8)
    g.load_state_dict(unprefixed(tensors, "G"))
    rows = read_stats(run_dir)
    assert rows[-1]["val_L1"] == pytest.approx(result.val_l1) and rows[-1]["mean_image_L1"] > 0
    assert 0 < result.val_l1 < 2


def test_killed_run_resumes_exactly(blooms_dir, tmp_path):
    common = dict(data=str(blooms_dir), input="clusters", clusters=4, epochs=2, epochs_decay=1, snap_epochs=1,
                  keep=0, **TINY)
    full = train(TrainOptions(outdir=str(tmp_path / "a"), **common))
    snaps = snapshot_files(full.run_dir)
    assert len(snaps) >= 3
    # "kill" the run after its second snapshot: the later ones never got written
    interrupted = train(TrainOptions(outdir=str(tmp_path / "b"), **common))
    for p in snapshot_files(interrupted.run_dir)[2:]:
        p.unlink()
    resumed = train(TrainOptions(outdir=str(tmp_path / "b"), resume="latest", **common))
    assert resumed.run_dir == interrupted.run_dir and resumed.step == full.step
    a, _ = load_checkpoint(full.snapshot)
    b, _ = load_checkpoint(resumed.snapshot)
    for k in unprefixed(a, "G"):
        torch.testing.assert_close(a[f"G.{k}"], b[f"G.{k}"], rtol=0, atol=0, msg=k)
    record = json.loads((resumed.run_dir / "training_options.json").read_text())["resumed"]
    assert [r["from"] for r in record] == [snaps[1].name] and record[0]["at"] == int(snaps[1].stem.split("-")[-1])


def test_snapshot_file_starts_a_new_run_from_its_weights(blooms_dir, tmp_path):
    """--resume SNAPSHOT.safetensors means what it means for `train` (transfer learning): a new run
    that starts from those weights at step 0 with fresh optimisers, not a copy of the old run's state."""
    first = train(TrainOptions(data=str(blooms_dir), input="edges", epochs=1, epochs_decay=0,
                               outdir=str(tmp_path), **TINY))
    second = train(TrainOptions(data=str(blooms_dir), input="edges", epochs=0, epochs_decay=0,
                                resume=str(first.snapshot), outdir=str(tmp_path), **TINY))
    assert second.run_dir != first.run_dir and second.step == 0
    a, _ = load_checkpoint(first.snapshot)
    b, meta = load_checkpoint(second.snapshot)
    assert meta["step"] == 0 and not any(k.startswith("opt_") for k in b)  # no Adam state carried over
    for k in unprefixed(a, "G"):
        assert torch.equal(a[f"G.{k}"], b[f"G.{k}"]), k
    assert f"starting from the weights of {first.snapshot.name}" in (second.run_dir / "log.txt").read_text()


def test_generator_only_file_starts_a_new_run_with_a_fresh_discriminator(blooms_dir, tmp_path):
    """A weights-store export holds G only (the bundled demo model): --resume starts a new run from that
    G, in float32, with a fresh D of the run's --ndf (fine-tuning with other losses, e.g. lambda_L1)."""
    from neuralbrush.core.checkpoint import save_checkpoint

    first = train(TrainOptions(data=str(blooms_dir), input="edges", epochs=1, epochs_decay=0,
                               outdir=str(tmp_path), **TINY))
    tensors, meta = load_checkpoint(first.snapshot)
    g_only = tmp_path / "g-only.safetensors"
    keep = ("format", "version", "generator", "input", "clusters", "size", "step", "elapsed_s", "sampler")
    save_checkpoint(g_only, {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()
                             if k.startswith("G.")},
                    {k: meta[k] for k in keep})
    second = train(TrainOptions(data=str(blooms_dir), input="edges", epochs=0, epochs_decay=0, resume=str(g_only),
                                outdir=str(tmp_path), **dict(TINY, ndf=4)))
    b, meta2 = load_checkpoint(second.snapshot)
    assert second.step == 0 and meta2["discriminator"]["ndf"] == 4
    for k, v in unprefixed(tensors, "G").items():
        expect = v.half().float() if v.is_floating_point() else v
        assert b[f"G.{k}"].dtype == v.dtype and torch.equal(b[f"G.{k}"], expect), k
    assert "starting from the generator of g-only.safetensors" in (second.run_dir / "log.txt").read_text()


def test_paired_dataset_and_same_augmentation_on_both_sides(tmp_path, blooms_dir):
    from neuralbrush.datasets.pairs import PairsOptions, build_pairs

    pairs = tmp_path / "pairs"
    build_pairs([blooms_dir], pairs, PairsOptions(input="edges", size=32, val_fraction=0.2))
    train_set, val_set = load_training_pairs(pairs, input_kind=None, size=32)
    assert len(train_set) == 8 and len(val_set) == 2
    # A and B get the same crop/flip: with A == B the augmented halves stay equal
    same = type(train_set)(train_set.b, train_set.b, train_set.names)
    sampler = PairSampler(same, size=32, batch=4, seed=1)
    for _ in range(3):
        a, b = sampler.next_batch()
        assert torch.equal(a, b)
    result = train(TrainOptions(data=str(pairs), epochs=1, epochs_decay=0, outdir=str(tmp_path / "runs"), **TINY))
    assert read_meta(result.snapshot)["input"] is None


def test_lr_schedule_constant_then_linear():
    assert lr_factor(0.0, 0.5) == 1.0 and lr_factor(0.49, 0.5) == 1.0
    assert lr_factor(0.75, 0.5) == pytest.approx(0.5) and lr_factor(1.0, 0.5) == 0.0


def _junyanz_file(path, cfg: UNetConfig) -> UNetGenerator:
    g = UNetGenerator(cfg.arch, ngf=cfg.ngf, norm=cfg.norm)
    flat = g.state_dict()
    torch.save({src: flat[dst] for src, dst in junyanz_key_map(cfg).items()}, path)
    return g


def test_finetune_from_junyanz_generator(blooms_dir, tmp_path):
    pth = tmp_path / "latest_net_G.pth"
    g = _junyanz_file(pth, UNetConfig("unet_32", ngf=8, norm="instance"))
    opts = TrainOptions(data=str(blooms_dir), input="edges", epochs=0, epochs_decay=0, resume=str(pth),
                        outdir=str(tmp_path / "runs"), **TINY)
    result = train(opts)  # zero epochs: the snapshot holds the imported weights
    tensors, meta = load_checkpoint(result.snapshot)
    assert meta["generator"]["norm"] == "instance" and meta["discriminator"]["norm"] == "instance"
    for k, v in g.state_dict().items():
        assert torch.equal(tensors[f"G.{k}"], v)


def test_cli_errors_are_one_line(blooms_dir, tmp_path, capsys):
    pth = tmp_path / "g.pth"
    _junyanz_file(pth, UNetConfig("unet_32", ngf=8))
    code = run(["pix2pix", "train", str(blooms_dir), "--input", "edges", "--size", "64", "--arch", "unet_64",
                "--ngf", "8", "--resume", str(pth), "--outdir", str(tmp_path), "--epochs", "0"])
    err = capsys.readouterr().err
    assert code == 2 and "expected unet_64 with batch norm" in err and "found unet_32" in err
    code = run(["pix2pix", "train", str(blooms_dir), "--size", "32", "--outdir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "--input edges" in err and "Traceback" not in err
    code = run(["pix2pix", "train", str(blooms_dir), "--input", "edges", "--size", "48", "--outdir", str(tmp_path)])
    assert code == 2 and "multiple of 32" in capsys.readouterr().err
    code = run(["pix2pix", "train", str(blooms_dir), "--input", "edges", "--resume", "pix2pix-edges2shoes",
                "--outdir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "pix2pix_edges2shoes.pth" in err


@pytest.mark.slow
def test_torchrun_two_processes(blooms_dir, tmp_path):
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "torchrun"
    cli = shutil.which("neuralbrush", path=str(Path(sys.executable).parent))
    if not exe.exists() or cli is None:
        pytest.skip("torchrun or the neuralbrush script is not installed next to this Python")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([str(exe), "--nproc_per_node", "2", cli, "pix2pix", "train", str(blooms_dir), "--input",
                           "edges", "--size", "32", "--ngf", "8", "--ndf", "8", "--batch", "4", "--epochs", "1",
                           "--epochs-decay", "0", "--snap-minutes", "0", "--device", "cpu", "--outdir", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    saved = json.loads((run_dir / "training_options.json").read_text())
    assert saved["resolved"]["world_size"] == 2
    meta = read_meta(snapshot_files(run_dir)[-1])
    assert meta["step"] == 9 // 4  # 9 training images, 2 per process per step


def test_cli_train_prints_where_it_went(blooms_dir, tmp_path, capsys):
    code = run(["pix2pix", "train", str(blooms_dir), "--input", "edges", "--size", "32", "--ngf", "4", "--ndf", "4",
                "--batch", "2", "--epochs", "1", "--epochs-decay", "0", "--precision", "fp32", "--outdir", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "held-out L1" in captured.err and "network-snapshot-0000004.safetensors" in captured.err


def test_holdout_zero_records_no_nan(blooms_dir, tmp_path, capsys):
    """Without held-out images there is nothing to validate: the run says so and stores no NaN."""
    code = run(["pix2pix", "train", str(blooms_dir), "--input", "edges", "--size", "32", "--ngf", "4", "--ndf", "4",
                "--batch", "2", "--epochs", "1", "--epochs-decay", "0", "--holdout", "0", "--precision", "fp32",
                "--outdir", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "no held-out images" in captured.err and "nan" not in captured.err.lower()
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    text = (run_dir / "stats.jsonl").read_text()
    assert "NaN" not in text and "val_L1" not in text
    meta = read_meta(snapshot_files(run_dir)[-1])
    assert "val_L1" not in meta and "mean_image_L1" not in meta
    assert json.loads((run_dir / "training_options.json").read_text())["resolved"]["val_images"] == 0


def test_run_made_before_the_unified_names_still_resumes(blooms_dir, tmp_path):
    """Older runs: a flat options file, fakes-init.png, optG.*/optD.*/rng_torch tensors and
    optX_groups metadata. They continue in place, and apply reads their snapshots."""
    from neuralbrush.core.checkpoint import save_checkpoint
    from neuralbrush.pix2pix.apply import load_generator
    from neuralbrush.pix2pix.train import resume

    first = train(TrainOptions(data=str(blooms_dir), input="edges", epochs=1, epochs_decay=0, outdir=str(tmp_path),
                               keep=0, **TINY))
    run_dir = first.run_dir
    doc = json.loads((run_dir / "training_options.json").read_text())
    old_doc = {k: v for k, v in doc.items() if k not in ("resolved", "resumed", "trainer")}
    (run_dir / "training_options.json").write_text(json.dumps({**old_doc, **doc["resolved"]}))
    (run_dir / "fakes_init.png").rename(run_dir / "fakes-init.png")
    tensors, meta = load_checkpoint(first.snapshot)
    legacy = {}
    for k, v in tensors.items():
        k = k.replace("opt_G.", "optG.", 1).replace("opt_D.", "optD.", 1)
        if not k.startswith("rng."):
            legacy[k] = v
    legacy["rng_torch"] = tensors["rng.torch"]
    save_checkpoint(first.snapshot, legacy, {**meta, "optG_groups": [], "optD_groups": []})
    load_generator(run_dir)
    resumed = resume(run_dir, epochs=2, epochs_decay=0)
    assert resumed.run_dir == run_dir and resumed.step == 2 * first.step
    saved = json.loads((run_dir / "training_options.json").read_text())
    assert saved["resumed"][0]["from"] == first.snapshot.name and saved["epochs"] == 2
    assert not any(k.startswith("optG.") for k in load_checkpoint(resumed.snapshot)[0])
