"""Device/precision policy, seeds and parsing helpers."""

from __future__ import annotations

import pytest
import torch

from neuralbrush.core.device import Adam, Runtime, cpu_has_native_bf16, resolve_runtime, seed_everything
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


@pytest.mark.parametrize("options", [{"fused": True}, {"foreach": True}, {"foreach": False, "amsgrad": True}])
def test_adam_steps_channels_last_weights_like_torch(options):
    """The trainers' Adam hands channels_last weights to torch's kernel as contiguous views: the
    numbers must be torch's own, the layouts kept, and the state keep the parameters' shapes."""
    g = torch.Generator().manual_seed(0)
    conv = torch.nn.Conv2d(4, 6, 3).to(memory_format=torch.channels_last)
    tconv = torch.nn.ConvTranspose2d(6, 3, 4, 2, 1).to(memory_format=torch.channels_last)
    ours = torch.nn.Sequential(conv, tconv)
    theirs = torch.nn.Sequential(torch.nn.Conv2d(4, 6, 3), torch.nn.ConvTranspose2d(6, 3, 4, 2, 1))
    theirs.load_state_dict(ours.state_dict())  # same numbers, default layout
    assert not conv.weight.is_contiguous() and theirs[0].weight.is_contiguous()
    opt_ours = Adam(ours.parameters(), lr=0.05, betas=(0.5, 0.99), **options)
    opt_theirs = torch.optim.Adam(theirs.parameters(), lr=0.05, betas=(0.5, 0.99), **options)
    x = torch.randn(2, 4, 9, 9, generator=g)
    start = conv.weight.detach().clone()
    for _ in range(4):
        for net, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad()
            net(x.contiguous(memory_format=torch.channels_last)).square().mean().backward()
            opt.step()
    for (name, a), b in zip(ours.named_parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
        state = opt_ours.state[a]
        assert state["exp_avg"].shape == a.shape and state["exp_avg_sq"].shape == a.shape
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()
    assert (conv.weight - start).abs().min() > 0  # every weight moved
