"""DDP: two CPU processes under torchrun (gloo) train exactly like one process with the same
global batch. Deterministic settings: no augmentation, constant synthesis noise, no style mixing
or path length (their randomness is per process), mbstd group 1 (a group must not span ranks)."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from neuralbrush.core.runs import snapshot_files
from neuralbrush.datasets.samples import write_blooms
from neuralbrush.gan.presets import TrainOptions
from neuralbrush.gan.snapshot import load_snapshot
from neuralbrush.gan.train import train


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_matches_single_process(tmp_path):
    data = tmp_path / "blooms"
    write_blooms(data, 16, 16, seed=1)
    opts = TrainOptions(data=str(data), cfg="small", batch=8, cbase=256, cmax=32, mbstd=1, kimg=0.032, tick=0.032,
                        snap=1, aug="noaug", style_mixing=0.0, pl_weight=0.0, gamma=1.0, noise_mode="const",
                        metrics="none", grid="2x2", device="cpu", precision="fp32", threads=1, workers=1, seed=3)
    single = train(TrainOptions(**{**opts.to_dict(), "outdir": str(tmp_path / "single")}))
    config = tmp_path / "ddp.json"
    config.write_text(json.dumps({**opts.to_dict(), "outdir": str(tmp_path / "ddp")}))
    env = {**os.environ, "NEURALBRUSH_QUIET": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "neuralbrush", "train", "--config", str(config)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    runs = list((tmp_path / "ddp").iterdir())
    assert len(runs) == 1  # rank 0 alone writes outputs
    doc = json.loads((runs[0] / "training_options.json").read_text())
    assert doc["resolved"]["world_size"] == 2 and doc["resolved"]["batch_per_rank"] == 4
    a = load_snapshot(snapshot_files(single)[-1])
    b = load_snapshot(snapshot_files(runs[0])[-1])
    assert a.meta["cur_nimg"] == b.meta["cur_nimg"] == 32
    for name in ("G", "D", "G_ema"):
        sa, sb = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        moved = 0
        for k in sa:
            assert torch.allclose(sa[k], sb[k], atol=2e-5, rtol=1e-4), f"{name}.{k}"
            moved += 1
        assert moved
    # The Adam moments (i.e. the averaged gradients) agree too.
    for k, v in a.extra_tensors.items():
        if k.startswith("opt_") and k.endswith("exp_avg_sq"):
            assert torch.allclose(v, b.extra_tensors[k], rtol=1e-3, atol=1e-12), k
