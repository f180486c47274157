"""benchmarks/bench_conv_bound.py: the convolution recorder sees every forward and backward
convolution a step dispatches, and the replay times exactly those calls."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench_conv_bound import ConvRecorder, headline, replay_seconds  # noqa: E402


def _step(net, x):
    net(x).square().mean().backward()


def test_recorder_counts_forward_and_backward_convolutions_and_replays_them():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.ConvTranspose2d(8, 4, 4, 2, 1), torch.nn.Linear(16, 2))
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    rec = ConvRecorder()
    with rec:
        for _ in range(3):  # three identical steps: the same two forwards and two backwards each
            _step(net, x)
    names = sorted(name for name, _, _ in rec.calls)
    assert names == ["convolution.default", "convolution.default", "convolution_backward.default",
                     "convolution_backward.default"]
    assert set(rec.calls.values()) == {3}  # linear layers (addmm) are not recorded
    seconds, per_step = replay_seconds(rec, per=3, reps=2)
    assert per_step == 4 and 0 < seconds < 1

    bf = ConvRecorder()  # a bf16 step records bf16 convolutions, with their layout
    with bf, torch.autocast("cpu", torch.bfloat16):
        _step(net.to(memory_format=torch.channels_last), x.detach().contiguous(memory_format=torch.channels_last))
    fwd = [args for name, args, _ in bf.calls if name == "convolution.default"]
    assert all(a[0][3] == "torch.bfloat16" for a in fwd)
    assert replay_seconds(bf, per=1, reps=1)[1] == 4


def test_headline_names_the_targets_above_their_bound():
    rows = [{"name": "a", "target": 2.0, "bound": 1.5}, {"name": "b", "target": 2.5, "bound": 3.0}]
    value, text = headline({"rows": rows})
    assert value == 1.5 and "targets above their bound: a" in text
