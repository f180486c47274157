"""``--compile auto|on|off`` (neuralbrush.latent.compiled): compiled renders equal eager ones
within the stated tolerance, ``auto`` compiles only a job long enough to repay it, ``off``
never compiles, ``on`` does, and a failing compiler means eager rendering and one message.

Two tests really compile (inductor, a 16 px generator: about 15 s each on a loaded 2-core
machine); the rest replace ``torch.compile`` with a recorder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neuralbrush.cli.main import run
from neuralbrush.core.device import resolve_runtime
from neuralbrush.gan.snapshot import save_snapshot
from neuralbrush.latent import compiled
from neuralbrush.latent.compiled import TOLERANCE, CompiledForward
from neuralbrush.latent.latents import latents_from_seeds
from neuralbrush.latent.render import Renderer

from gan_helpers import small_stylegan  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def G():
    return small_stylegan(16)


@pytest.fixture()
def recorder(monkeypatch):
    """torch.compile replaced by a recorder that returns the module itself (nothing compiles)."""
    calls = []

    def fake_compile(module, **kw):
        calls.append(kw)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    return calls


@pytest.fixture()
def messages(monkeypatch):
    said = []
    monkeypatch.setattr(compiled, "_info", said.append)
    return said


def _ws(G, n=5):
    return latents_from_seeds(G, list(range(n)), psi=0.7).w


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_compiled_equals_eager_within_tolerance(G, precision, messages):
    """5 latents in batches of 4: the partial last batch is padded, so the job compiles once
    (a recompile would raise here)."""
    import torch._dynamo

    torch._dynamo.reset()
    rt = resolve_runtime("cpu", precision)
    ws = _ws(G)
    eager = Renderer(G, rt, batch=4, compile="off")
    fast = Renderer(G, rt, batch=4, compile="on")
    want = torch.cat([eager.images(c, "w") for c in ws.split(4)])
    with torch._dynamo.config.patch(error_on_recompile=True):
        got = torch.cat([fast.images(c, "w") for c in ws.split(4)])
    assert fast.forward.is_compiled and fast.forward.batch == 4 and not eager.forward.is_compiled
    assert got.shape == want.shape == (5, 3, 16, 16)
    diff = (got - want).abs()
    # the tolerance is stated in the [-1, 1] image range (this random network's images reach +-3)
    scale = max(1.0, float(want.abs().max()))
    assert float(diff.max()) <= TOLERANCE[precision] * scale, float(diff.max())
    assert float(diff.mean()) <= TOLERANCE[precision] / 5
    assert any(m.startswith("compiled the generator in") for m in messages)
    torch._dynamo.reset()


def test_auto_on_a_tiny_job_stays_eager(G, recorder, messages):
    r = Renderer(G, resolve_runtime("cpu", "fp32"), batch=4, compile="auto", images_expected=8)
    r.frames(_ws(G, 8), "w")
    assert recorder == [] and not r.forward.is_compiled and messages == []
    assert r.forward.eager_s_per_image is not None  # measured on the first batch
    assert "would save" in r.forward.describe()


def test_auto_compiles_a_job_that_repays_it(G, recorder, messages):
    """The estimate: remaining images x eager s/image x saving > compile seconds."""
    r = Renderer(G, resolve_runtime("cpu", "fp32"), batch=4, compile="auto", images_expected=10**9)
    r.frames(_ws(G, 8), "w")
    assert len(recorder) == 1 and recorder[0]["dynamic"] is False and r.forward.is_compiled
    assert any("--compile auto: compiling" in m for m in messages)
    saving, cost = r.forward.expected()
    assert saving > cost == compiled.COMPILE_SECONDS_FIXED + compiled.COMPILE_SECONDS_PER_CONV * 8


def test_off_never_compiles(G, recorder):
    r = Renderer(G, resolve_runtime("cpu", "fp32"), batch=4, compile="off", images_expected=10**9)
    r.frames(_ws(G, 8), "w")
    assert recorder == [] and not r.forward.is_compiled


def test_on_compiles_from_the_first_batch_and_pads_the_last(G, recorder):
    r = Renderer(G, resolve_runtime("cpu", "fp32"), batch=4, compile="on", images_expected=1)
    frames = r.frames(_ws(G, 6), "w")
    assert len(recorder) == 1 and r.forward.is_compiled and r.forward.batch == 4
    assert frames.shape == (6, 16, 16, 3) and r.forward.done == 6
    want = Renderer(G, resolve_runtime("cpu", "fp32"), batch=6).frames(_ws(G, 6), "w")
    assert np.array_equal(frames, want)  # padding rows never leak into the images


def test_random_noise_renders_eagerly(G, recorder, messages):
    r = Renderer(G, resolve_runtime("cpu", "fp32"), batch=4, compile="on", noise_mode="random")
    r.frames(_ws(G, 4), "w")
    assert recorder == [] and not r.forward.is_compiled
    assert messages and "random noise" in messages[0]


@pytest.mark.parametrize("where", ["wrapping", "first call"])
def test_a_failing_compiler_falls_back_to_eager_with_one_message(G, monkeypatch, messages, where):
    def broken_compile(module, **kw):
        if where == "wrapping":
            raise RuntimeError("inductor is broken\nsecond line of a long traceback")

        def call(*a, **k):
            raise RuntimeError("C++ compile failed: g++ exited with 1")
        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    rt = resolve_runtime("cpu", "fp32")
    r = Renderer(G, rt, batch=4, compile="on")
    got = r.frames(_ws(G, 6), "w")
    assert np.array_equal(got, Renderer(G, rt, batch=4).frames(_ws(G, 6), "w"))
    assert not r.forward.is_compiled and len(messages) == 1
    assert messages[0].startswith("--compile on: rendering eagerly, torch.compile failed (RuntimeError:")
    assert "\n" not in messages[0]


def test_no_cpp_compiler_means_eager(G, monkeypatch, recorder, messages):
    import torch._inductor.cpp_builder as cpp_builder

    def no_compiler():
        raise RuntimeError("no working C++ compiler found")

    monkeypatch.setattr(cpp_builder, "get_cpp_compiler", no_compiler)
    rt = resolve_runtime("cpu", "fp32")
    assert "no C++ compiler" in compiled.unavailable(rt)
    r = Renderer(G, rt, batch=4, compile="auto", images_expected=10**9)
    r.frames(_ws(G, 8), "w")
    assert recorder == [] and not r.forward.is_compiled
    assert messages == ["--compile auto: rendering eagerly, no C++ compiler found (torch.compile needs g++ or "
                        "clang++ for CPU code)"]


def test_dcgan_forward_is_wrapped_too(recorder):
    from neuralbrush.gan.dcgan import DCGANGenerator

    torch.manual_seed(0)
    dc = DCGANGenerator(z_dim=16, img_resolution=16, ngf=8).eval().requires_grad_(False)
    rt = resolve_runtime("cpu", "fp32")
    z = torch.randn(5, 16)
    got = Renderer(dc, rt, batch=4, compile="on").frames(z, "z")
    assert len(recorder) == 1 and np.array_equal(got, Renderer(dc, rt, batch=4).frames(z, "z"))


def test_bad_mode_is_a_usage_error(G):
    from neuralbrush.core.errors import UsageError

    with pytest.raises(UsageError, match="--compile must be auto, on or off"):
        CompiledForward(G.synthesis, resolve_runtime("cpu", "fp32"), "fast")


def test_cli_compile_option(tmp_path, recorder, capsys):
    model = tmp_path / "network-snapshot-000000.safetensors"
    save_snapshot(model, arch="stylegan2", G=small_stylegan(16), G_ema=small_stylegan(16))
    assert run(["generate", str(model), "--compile", "on", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["options"]["compile"] == "on"
    assert run(["generate", str(model), "--seeds", "0-4", "--batch", "4", "--compile", "on", "-o", str(tmp_path / "g"),
                "--device", "cpu", "--precision", "fp32"]) == 0
    assert len(recorder) == 1 and len(list((tmp_path / "g").glob("seed*.png"))) == 5
    assert run(["video", "walk", str(model), "--frames", "4", "--compile", "off", "-o", str(tmp_path / "w.gif"),
                "--device", "cpu", "--precision", "fp32"]) == 0
    assert len(recorder) == 1
    assert run(["generate", str(model), "--compile", "fast"]) != 0


def test_auto_expects_the_saving_measured_for_this_kind_of_cpu(monkeypatch):
    import neuralbrush.core.device as device

    for amx, table in ((True, compiled.EXPECTED_SAVING_AMX), (False, compiled.EXPECTED_SAVING)):
        monkeypatch.setattr(device, "cpu_has_amx", lambda amx=amx: amx)
        for p in ("fp32", "bf16"):
            assert compiled.expected_saving(resolve_runtime("cpu", p)) == table[p]
    # AMX's compiled code saves more, so auto compiles shorter jobs there
    assert all(compiled.EXPECTED_SAVING_AMX[p] > compiled.EXPECTED_SAVING[p] for p in ("fp32", "bf16"))


def test_cpu_compiles_frozen_while_the_first_call_compiles(G, monkeypatch):
    """Inductor's freezing (weights as constants, pre-packed) is on while the compiled code is
    built and called, and off again outside it."""
    import torch._inductor.config as inductor_config

    seen = []

    def fake_compile(module, **kw):
        def run(*a, **k):
            seen.append(inductor_config.freezing)
            return module(*a, **k)
        return run

    monkeypatch.setattr(torch, "compile", fake_compile)
    r = Renderer(G, resolve_runtime("cpu", "fp32"), batch=4, compile="on")
    r.frames(_ws(G, 4), "w")
    assert seen == [True] and inductor_config.freezing is False
    monkeypatch.setattr(compiled, "FREEZE_ON_CPU", False)
    r = Renderer(G, resolve_runtime("cpu", "fp32"), batch=4, compile="on")
    r.frames(_ws(G, 4), "w")
    assert seen == [True, False]
