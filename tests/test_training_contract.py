"""The training-run contract every trainer keeps (core/training.py), over stylegan2, dcgan and pix2pix:
the files of a run folder, keep=N retention, kill -9 then ``--resume latest`` losing at most one
snapshot, and one ``--resume`` meaning (``latest``, the newest run of this trainer with a snapshot,
or a run folder of this trainer: continued in place, the command line may change only run length and
device; a snapshot file: a new run from its weights)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neuralbrush.cli.main import run
from neuralbrush.core.checkpoint import read_meta
from neuralbrush.core.progress import ProgressEvent
from neuralbrush.core.runs import read_stats, snapshot_files
from neuralbrush.core.training import TrainEvent
from neuralbrush.datasets.samples import write_blooms

ARCHS = ("stylegan2", "dcgan", "pix2pix")
UNIT = {"stylegan2": "kimg", "dcgan": "kimg", "pix2pix": "step"}
WIDTH = {"kimg": 6, "step": 7}
GAN_TINY = ["--cfg", "small", "--res", "16", "--batch", "4", "--tick", "0.008", "--snap", "1", "--grid", "2x2",
            "--metrics", "none", "--aug", "noaug", "--workers", "1", "--threads", "1"]
ARCH_ARGS = {
    "stylegan2": ["--cbase", "256", "--cmax", "16", "--mbstd", "2"],
    "dcgan": ["--arch", "dcgan"],
}
P2P_TINY = ["--input", "edges", "--size", "32", "--ngf", "4", "--ndf", "4", "--batch", "2", "--snap-epochs", "1",
            "--snap-minutes", "0", "--holdout", "0.1"]
CPU = ["--device", "cpu", "--precision", "fp32"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("contract-data")
    write_blooms(root / "blooms16", 8, 16, seed=0)
    write_blooms(root / "blooms32", 6, 32, seed=1)  # pix2pix: 5 training images, 1 held out
    return {"gan": root / "blooms16", "pix2pix": root / "blooms32"}


def _command(arch: str, data: dict[str, Path], outdir: Path, length: list[str]) -> list[str]:
    if arch == "pix2pix":
        return ["pix2pix", "train", str(data["pix2pix"]), *P2P_TINY, *length, "--outdir", str(outdir), *CPU]
    return ["train", str(data["gan"]), *GAN_TINY, *ARCH_ARGS[arch], *length, "--outdir", str(outdir), *CPU]


def _count(path: Path) -> int:
    return int(re.findall(r"\d+", path.stem)[-1])


def _train_library(arch: str, data: dict[str, Path], outdir: Path, events: list) -> Path:
    """A tiny run through the library (with ``progress=`` and keep=1) that writes two snapshots."""
    if arch == "pix2pix":
        from neuralbrush.pix2pix.options import TrainOptions
        from neuralbrush.pix2pix.train import train

        opts = TrainOptions(data=str(data["pix2pix"]), input="edges", size=32, ngf=4, ndf=4, batch=2, epochs=2,
                            epochs_decay=0, snap_epochs=1, snap_minutes=0, keep=1, outdir=str(outdir), device="cpu",
                            precision="fp32")
        return train(opts, progress=events.append).run_dir
    from neuralbrush.gan.presets import TrainOptions
    from neuralbrush.gan.train import train

    extra = dict(cbase=256, cmax=16, mbstd=2) if arch == "stylegan2" else dict(arch="dcgan", ngf=8, ndf=8)
    # ticks (each with a snapshot) at 512 and 1024 images: kimg 0 and 1, two names
    opts = TrainOptions(data=str(data["gan"]), outdir=str(outdir), cfg="small", res=16, batch=32, tick=0.5, snap=1,
                        kimg=1.0, grid="2x2", metrics="none", aug="noaug", keep=1, device="cpu", precision="fp32",
                        workers=1, threads=1, **extra)
    return train(opts, progress=events.append)


@pytest.fixture(scope="module")
def tiny_runs(data, tmp_path_factory) -> dict[str, tuple[Path, list]]:
    """One finished run per trainer, two snapshots written with keep=1."""
    out = {}
    for arch in ARCHS:
        events: list = []
        out[arch] = (_train_library(arch, data, tmp_path_factory.mktemp(f"runs-{arch}"), events), events)
    return out


@pytest.mark.parametrize("arch", ARCHS)
def test_run_folder_files_and_retention(tiny_runs, arch):
    run_dir, events = tiny_runs[arch]
    unit = UNIT[arch]
    doc = json.loads((run_dir / "training_options.json").read_text())
    assert doc["trainer"] == ("pix2pix" if arch == "pix2pix" else "gan") and doc["resumed"] == []
    assert isinstance(doc["resolved"], dict) and doc["keep"] == 1
    for name in ("log.txt", "stats.jsonl", "fakes_init.png", "progress.gif", "progress.mp4"):
        assert (run_dir / name).is_file(), name
    assert not (run_dir / "fakes-init.png").exists() and (run_dir / "log.txt").read_text().strip()
    snaps = snapshot_files(run_dir)
    grids = sorted(run_dir.glob("fakes[0-9]*.png"))
    for path in snaps + grids:  # one pattern, one number width per unit
        assert len(re.findall(r"\d+", path.stem)[-1]) == WIDTH[unit], path.name
    # keep=1: two snapshots were written, the newest is on disk; grids stay (the run's history)
    written = [e for e in events if e.kind == "snapshot"]
    assert len({e.snapshot.name for e in written}) == 2 == len(grids)
    assert [p.name for p in snaps] == [written[-1].snapshot.name]
    assert all(isinstance(e, TrainEvent) and isinstance(e, ProgressEvent) and e.unit == unit for e in events)
    assert all(e.preview is not None and e.run_dir == run_dir for e in written)
    steps = [e.step for e in events if e.kind == "step"]
    assert steps == sorted(steps) and steps[-1] >= events[-1].total > 0


@pytest.mark.parametrize("arch", ARCHS)
def test_resume_latest_refuses_changed_shape_and_picks_its_own_trainer(tiny_runs, data, arch, capsys, tmp_path):
    run_dir, _ = tiny_runs[arch]
    before = sorted(p.name for p in run_dir.iterdir())
    shape = ["--size", "64"] if arch == "pix2pix" else ["--cfg", "paper256"]
    cmd = ["pix2pix", "train"] if arch == "pix2pix" else ["train"]
    assert run([*cmd, "--resume", "latest", "--outdir", str(run_dir.parent), *shape, *CPU]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and shape[0] in err and "cannot change when a run continues" in err
    assert sorted(p.name for p in run_dir.iterdir()) == before
    # The run folder itself means the same as latest: the same refusal.
    assert run([*cmd, "--resume", str(run_dir), *shape, *CPU]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and shape[0] in err and "cannot change when a run continues" in err
    assert sorted(p.name for p in run_dir.iterdir()) == before
    # The other trainer finds no run of its own in this folder, even though one has a snapshot.
    other = ["train"] if arch == "pix2pix" else ["pix2pix", "train"]
    assert run([*other, "--resume", "latest", "--outdir", str(run_dir.parent), *CPU]) == 2
    assert "has a snapshot to resume from" in capsys.readouterr().err


@pytest.mark.parametrize("arch", ARCHS)
def test_resume_run_folder_continues_it_and_a_snapshot_file_starts_a_new_run(tiny_runs, data, arch, tmp_path):
    """One --resume meaning for every trainer: a run folder of this trainer continues that run in
    place (DATA may be left out, as with latest); a snapshot file starts a new run from its weights."""
    src, _ = tiny_runs[arch]
    outdir = tmp_path / "runs"
    run_dir = Path(shutil.copytree(src, outdir / src.name))
    snap = snapshot_files(run_dir)[-1]
    count = "step" if arch == "pix2pix" else "cur_nimg"
    before = read_meta(snap)[count]
    cmd = ["pix2pix", "train"] if arch == "pix2pix" else ["train"]
    more = ["--epochs", "3", "--epochs-decay", "0"] if arch == "pix2pix" else ["--kimg", "1.5"]
    assert run([*cmd, "--resume", str(run_dir), *more, *CPU]) == 0  # no DATA, no --outdir
    assert [p.name for p in outdir.iterdir()] == [run_dir.name]  # continued in place
    (record,) = json.loads((run_dir / "training_options.json").read_text())["resumed"]
    assert record["from"] == snap.name and read_meta(snapshot_files(run_dir)[-1])[count] > before
    # A snapshot file (not its folder) starts a new run from those weights: the count restarts.
    start = ["--epochs", "1", "--epochs-decay", "0"] if arch == "pix2pix" else ["--kimg", "0.008"]
    assert run([*_command(arch, data, outdir, start), "--resume", str(snapshot_files(run_dir)[-1])]) == 0
    (new,) = [p for p in outdir.iterdir() if p != run_dir]
    assert json.loads((new / "training_options.json").read_text())["resumed"] == []
    assert read_meta(snapshot_files(new)[-1])[count] == (2 if arch == "pix2pix" else 8)
    if arch != "pix2pix":
        assert (new / "transfer_report.json").is_file()


def _wait_for(predicate, timeout: float) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("arch", ARCHS)
def test_kill_then_resume_latest_loses_at_most_one_snapshot(data, arch, tmp_path):
    """A real process killed with SIGKILL after its first snapshots; ``--resume latest`` (without
    DATA) continues the run in place from its newest snapshot."""
    outdir = tmp_path / "runs"
    env = {**os.environ, "NEURALBRUSH_QUIET": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "neuralbrush", *_command(arch, data, outdir, ["--minutes", "10"])],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        ok = _wait_for(lambda: proc.poll() is not None or outdir.is_dir() and any(
            len(read_stats(r)) >= 2 and snapshot_files(r) for r in outdir.iterdir()), 120) and proc.poll() is None
        assert ok, proc.stderr.read().decode() if proc.poll() is not None else "no snapshots in time"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (run_dir,) = list(outdir.iterdir())
    killed_at = snapshot_files(run_dir)[-1]
    count = _count(killed_at)
    meta = read_meta(killed_at)
    progress = meta["step"] if arch == "pix2pix" else meta["cur_nimg"]
    # What the killed process recorded past its newest snapshot is less than one snapshot interval.
    interval = 5 // 2 if arch == "pix2pix" else 8  # one epoch of steps, one tick of images
    recorded = [r["step"] for r in read_stats(run_dir)]
    assert max(recorded) <= progress + interval
    if arch == "pix2pix":
        epochs = meta["epoch"] // 2 + 2  # as many constant + decaying epochs: past the kill point
        length = ["--epochs", str(epochs)]
    else:
        length = ["--kimg", str((progress + 16) / 1000)]
    # The newest run of the folder that another trainer made is not this trainer's "latest".
    decoy = outdir / f"00009-decoy-{'small' if arch == 'pix2pix' else 'pix2pix'}"
    decoy.mkdir()
    (decoy / "training_options.json").write_text(json.dumps({"trainer": "gan" if arch == "pix2pix" else "pix2pix"}))
    (decoy / killed_at.name).write_bytes(b"never read")
    cmd = ["pix2pix", "train"] if arch == "pix2pix" else ["train"]
    code = run([*cmd, "--resume", "latest", "--outdir", str(outdir), *length, *CPU])  # no DATA
    assert code == 0
    assert sorted(p.name for p in outdir.iterdir()) == sorted([run_dir.name, decoy.name])  # continued in place
    doc = json.loads((run_dir / "training_options.json").read_text())
    (record,) = doc["resumed"]
    assert record["from"] == killed_at.name and record["unit"] == UNIT[arch]
    key = length[0].lstrip("-")
    assert record["overrides"] == {key: json.loads(length[1]), "device": "cpu", "precision": "fp32"}
    assert doc[key] == json.loads(length[1]) and doc["minutes"] is None  # the run length given replaces the saved one
    assert f"{killed_at.name}" in (run_dir / "log.txt").read_text()
    final = read_meta(snapshot_files(run_dir)[-1])
    if arch == "pix2pix":
        assert final["step"] > progress and record["at"] == count
    else:
        assert final["cur_nimg"] == progress + 16 and record["at"] == progress / 1000
