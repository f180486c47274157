"""Device/precision policy, seeds and parsing helpers."""

from __future__ import annotations

import pytest
import torch

from neuralbrush.core.device import Runtime, cpu_has_native_bf16, resolve_runtime, seed_everything
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


def test_library_default_is_auto_auto(monkeypatch):
    monkeypatch.delenv("NEURALBRUSH_PRECISION", raising=False)
    assert Runtime.default() == resolve_runtime("auto", "auto")
    monkeypatch.setenv("NEURALBRUSH_PRECISION", "fp32")  # the session pin reaches library calls too
    assert Runtime.default().precision == "fp32"


def test_no_library_function_falls_back_to_a_fixed_device():
    """Every ``runtime`` parameter is typed, and no library call pins a device literally:
    ``runtime=None`` means Runtime.default() (auto/auto), never a hard-coded cpu/fp32 pair."""
    import ast
    from pathlib import Path

    import neuralbrush

    root = Path(neuralbrush.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                for arg in a.posonlyargs + a.args + a.kwonlyargs:
                    if arg.arg == "runtime" and arg.annotation is None:
                        offenders.append(f"{where} untyped runtime")
            elif (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "resolve_runtime"
                  and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value != "auto"):
                offenders.append(f"{where} resolve_runtime({node.args[0].value!r}, ...)")
    assert not offenders, offenders


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
