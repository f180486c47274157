"""Device/precision policy, seeds and parsing helpers."""

from __future__ import annotations

import pytest
import torch

from neuralbrush.core.device import cpu_has_native_bf16, resolve_runtime, seed_everything
from neuralbrush.core.errors import UsageError
from neuralbrush.core.seeds import parse_float_sweep, parse_grid, parse_int_list


def test_auto_on_this_cpu():
    rt = resolve_runtime("cpu", "auto")
    assert rt.device.type == "cpu"
    if cpu_has_native_bf16():
        assert rt.precision == "bf16" and rt.channels_last
        with rt.autocast():
            y = torch.nn.functional.conv2d(torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3, 3))
        assert y.dtype == torch.bfloat16
    else:
        assert rt.precision == "fp32"


def test_auto_can_be_pinned_by_environment(monkeypatch):
    monkeypatch.setenv("NEURALBRUSH_PRECISION", "fp32")
    assert resolve_runtime("cpu", "auto").precision == "fp32"
    assert resolve_runtime("cpu", "bf16").precision == "bf16"  # explicit choices still win


def test_fp32_is_plain():
    rt = resolve_runtime("cpu", "fp32")
    assert rt.autocast_dtype is None and not rt.channels_last
    with rt.autocast():
        assert torch.randn(2, 2).matmul(torch.randn(2, 2)).dtype == torch.float32


def test_bad_options_are_user_errors():
    with pytest.raises(UsageError):
        resolve_runtime("tpu")
    with pytest.raises(UsageError):
        resolve_runtime("cpu", "fp8")
    with pytest.raises(UsageError):
        resolve_runtime("cpu", "fp16")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="no CUDA"):
            resolve_runtime("cuda")


def test_seeds_are_deterministic():
    seed_everything(3)
    a = torch.randn(5)
    seed_everything(3)
    assert torch.equal(a, torch.randn(5))


def test_parsers():
    assert parse_int_list("0-3,7") == [0, 1, 2, 3, 7]
    assert parse_int_list("-2,5") == [-2, 5]
    assert parse_float_sweep("0.3:1.2:4") == pytest.approx([0.3, 0.6, 0.9, 1.2])
    assert parse_float_sweep("0.7") == [0.7]
    assert parse_grid("7x4") == (7, 4) and parse_grid("auto") is None
    for bad, fn in (("3-1", parse_int_list), ("a", parse_int_list), ("1:2", parse_float_sweep), ("7by4", parse_grid)):
        with pytest.raises(UsageError):
            fn(bad)
