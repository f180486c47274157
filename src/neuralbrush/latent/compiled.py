"""Compiled generator inference for the latent tools: ``--compile auto|on|off``.

A :class:`CompiledForward` runs the generator's image network (StyleGAN2's synthesis network,
or the whole DCGAN / lite generator) for one :class:`~neuralbrush.latent.render.Renderer`,
either eagerly or through ``torch.compile`` (inductor, ``dynamic=False``):

* ``off``: always eager.
* ``on``: compiled from the first batch.
* ``auto`` (the commands' default): the first batch runs eagerly and is timed; the rest of the
  job is compiled only when the time compiling is expected to save repays it::

      remaining_images * eager_s_per_image * expected_saving(runtime) > compile_seconds(net)

  so a grid of eight images never waits for a compiler, and a long walk or storyboard does.

A compiled forward is specialised to one batch size, the first it runs; a smaller batch (the
last, partial one) is padded up to it and a larger one split, so the job compiles once (a
second compile for the partial batch costs as much as the first; padding costs a few images:
docs/benchmarks/latent-compile.md). Random noise (``--noise-mode random``) always renders
eagerly, because compiled code draws different random numbers than eager code. On the CPU the
compiled StyleGAN2 synthesis runs its modulated convolutions unfused (activations scaled around
one shared convolution: the same maths, compiled as fast or faster there at every batch size).

Where compiling is impossible (no C++ compiler for inductor's CPU code, no Triton on a GPU, or
torch.compile raising for any reason) the job renders eagerly after one info line, never a
traceback. Compiled images equal eager ones within ``TOLERANCE`` (in the [-1, 1] image range).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import time
from typing import Any, Callable

import torch

from ..core.device import Runtime
from ..core.errors import UsageError

COMPILE_CHOICES = ("auto", "on", "off")

# What ``auto`` believes, from benchmarks/bench_latent_compile.py on this project's 2-core
# AVX512-BF16 CPU under load (docs/benchmarks/latent-compile.md, one torch thread):
#
# * compiling the 256 px NVlabs-auto synthesis network (20 convolution layers) into an empty
#   inductor cache took 59 s for the first compile of a process and 35-37 s for each later one
#   (another batch size or precision); the 16 px test network (8 layers) took 14-18 s. Compile
#   time grows with the number of layers more than with their width: the estimate is a fixed
#   part plus a part per convolution layer, 15 + 2.2 * 20 = 59 s at 256 px (the first compile),
#   33 s at 16 px. From a warm cache (the same model compiled before) it took 2.2 s; the
#   estimate ignores that, so ``auto`` errs towards rendering eagerly (``--compile on`` then).
COMPILE_SECONDS_FIXED = 15.0
COMPILE_SECONDS_PER_CONV = 2.2
# * the fraction of the eager time a compiled forward saves, per autocast precision: the
#   smaller of the batch-1 and batch-8 savings at 256 px, rounded down. Since eager keeps its
#   freed memory (core/allocator.py, docs/benchmarks/latent-compile-keep.md) eager is faster and
#   compiling saves less: fp32 19 % at batch 1, 31 % at batch 8; bf16 27 % and 10 % (it was 27 %
#   and 35 % while eager page-faulted its activations in at every call). fp16 (CUDA only) is
#   unmeasured, assumed like bf16. With these, 256 px bf16 at batch 8 (0.17 s per image eager)
#   compiles for jobs of about 3,500 images or more; the measured break-even was 2,169.
EXPECTED_SAVING = {"fp32": 0.15, "bf16": 0.10, "fp16": 0.10}
# * on CPUs with AMX tiles, measured with the frozen compiled code (docs/benchmarks/
#   latent-compile-amx.md, 256 px, 1 thread): bf16 saves 41 % at batch 8 and 72 % at batch 1,
#   fp32 71 % and 56 %; the smaller of each pair, rounded down. 256 px bf16 at batch 8 then
#   compiles for jobs of about 500 images (measured break-even: 606). The figures above stay for
#   every other CPU (AVX512-BF16 alone was measured before freezing; freezing is not measured
#   there, so ``auto`` stays cautious).
EXPECTED_SAVING_AMX = {"fp32": 0.55, "bf16": 0.40, "fp16": 0.40}
# * compiled code on the CPU is frozen (the weights as constants, pre-packed for oneDNN; see
#   CompiledForward._inductor_options). False compiles without freezing (tests check both).
FREEZE_ON_CPU = True
# * compiled images equal eager ones within these absolute differences, in units of the image
#   range (max(1, max |eager image|); a trained model's images lie in [-1, 1]). Measured at
#   256 px: fp32 2.2e-5 of images reaching +-9.4 (2e-6 of the range), bf16 0.18 (0.02 of the
#   range; bf16 eager differs from fp32 eager by 0.13 there). tests/test_latent_compile.py
#   checks them on a 16 px network.
TOLERANCE = {"fp32": 1e-4, "bf16": 0.06, "fp16": 0.06}


def check_mode(mode: Any) -> str:
    if mode not in COMPILE_CHOICES:
        raise UsageError(f"--compile must be auto, on or off, not {mode!r}")
    return mode


def conv_layers(module: torch.nn.Module) -> int:
    """Layers with a 4-D weight (convolutions, modulated or not): what compile time grows with."""
    return sum(1 for m in module.modules()
               if isinstance(getattr(m, "weight", None), torch.Tensor) and m.weight.dim() == 4)


def expected_saving(runtime: Runtime) -> float:
    """The fraction of the eager time ``auto`` expects a compiled forward to save on ``runtime``."""
    from ..core.device import cpu_has_amx

    table = EXPECTED_SAVING_AMX if runtime.device.type == "cpu" and cpu_has_amx() else EXPECTED_SAVING
    return table.get(runtime.precision, 0.0)


def compile_seconds(module: torch.nn.Module) -> float:
    """The estimated cost of compiling ``module`` (see ``COMPILE_SECONDS_*``)."""
    return COMPILE_SECONDS_FIXED + COMPILE_SECONDS_PER_CONV * conv_layers(module)


def unavailable(runtime: Runtime) -> str | None:
    """Why ``torch.compile`` cannot run on ``runtime`` (None: it may; the first call tells)."""
    if not callable(getattr(torch, "compile", None)):
        return f"torch {torch.__version__} has no torch.compile"
    if runtime.is_cuda:
        try:
            from torch.utils._triton import has_triton
        except ImportError:
            return None
        return None if has_triton() else "Triton, which torch.compile needs on a GPU, is not installed"
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler
    except ImportError:
        return None
    try:
        get_cpp_compiler()
    except Exception:  # noqa: BLE001 - InvalidCxxCompiler and friends: no usable compiler
        return "no C++ compiler found (torch.compile needs g++ or clang++ for CPU code)"
    return None


def one_line(e: BaseException, width: int = 160) -> str:
    lines = [s for s in str(e).strip().splitlines() if s.strip()]
    text = f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__
    return text if len(text) <= width else text[:width - 3] + "..."


@contextlib.contextmanager
def _quiet_compiler() -> Any:
    """Silence the warnings torch's C++ tooling logs while compiling (e.g. 'No CUDA runtime is
    found' on a CPU machine): the user asked for images, not a build log."""
    logger = logging.getLogger("torch.utils.cpp_extension")
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(old)


def _info(message: str) -> None:
    from ..core.progress import info

    info(message)


class CompiledForward:
    """``module(*inputs, **kwargs)`` for one renderer: eager or compiled by ``mode``.

    ``inputs`` are tensors whose first dimension is the batch. ``compiled_kwargs`` are added
    to ``kwargs`` for the compiled call only (the same maths, a faster form). ``random``: the
    forward draws random numbers, so it stays eager. ``images_expected``: how many images the
    job renders in all (``auto``'s estimate; None: unknown, so ``auto`` stays eager).
    """

    def __init__(self, module: torch.nn.Module, runtime: Runtime, mode: str = "off", *,
                 images_expected: int | None = None, kwargs: dict | None = None,
                 compiled_kwargs: dict | None = None, random: bool = False,
                 log: Callable[[str], None] | None = None):
        self.module, self.runtime, self.mode = module, runtime, check_mode(mode)
        self.images_expected = images_expected
        self.kwargs = dict(kwargs or {})
        self.compiled_kwargs = {**self.kwargs, **(compiled_kwargs or {})}
        self.log = log or _info
        self.done = 0  # images rendered so far
        self.compiled: Callable | None = None
        self.batch: int | None = None  # the batch size the compiled code is specialised to
        self.compile_s: float | None = None  # seconds of the first compiled call (compiling included)
        self.eager_s_per_image: float | None = None  # auto's measurement
        self.state = {"off": "eager", "on": "compile", "auto": "measure"}[mode]
        self.why_eager = "--compile off" if mode == "off" else ""
        if random and self.state != "eager":
            self.why_eager = "random noise renders eagerly (compiled code draws other random numbers)"
            if mode == "on":
                self.log(f"--compile on: {self.why_eager}")
            self.state = "eager"

    @property
    def is_compiled(self) -> bool:
        """True once the forward runs compiled."""
        return self.state == "compile" and self.compiled is not None

    def describe(self) -> str:
        if self.is_compiled:
            return f"compiled (batch {self.batch}, first call {self.compile_s:.1f} s)"
        if self.state == "compile":
            return "compiling at the next batch"
        return "eager" + (f": {self.why_eager}" if self.why_eager else "")

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        n = int(inputs[0].shape[0])
        if self.state == "compile":
            out = self._compiled(inputs)
        elif self.state == "measure":
            t0 = time.perf_counter()
            out = self._eager(inputs)
            self._sync()
            self.eager_s_per_image = (time.perf_counter() - t0) / max(n, 1)
            self.done += n
            self._decide()
            return out
        else:
            out = self._eager(inputs)
        self.done += n
        return out

    # -- the two paths ---------------------------------------------------------------------------
    def _eager(self, inputs: tuple) -> torch.Tensor:
        return self.module(*inputs, **self.kwargs)

    def _sync(self) -> None:
        if self.runtime.is_cuda:
            torch.cuda.synchronize(self.runtime.device)

    def _compiled(self, inputs: tuple) -> torch.Tensor:
        if self.compiled is None:
            why = unavailable(self.runtime)
            if why is not None:
                return self._fall_back(why, inputs)
            try:
                self.compiled = torch.compile(self.module, dynamic=False)
            except Exception as e:  # noqa: BLE001 - e.g. a Python version torch.compile does not support
                return self._fall_back(f"torch.compile failed ({one_line(e)})", inputs)
            self.batch = int(inputs[0].shape[0])
        n, b = int(inputs[0].shape[0]), self.batch
        outs = []
        for start in range(0, n, b):
            chunk = [x[start:start + b] for x in inputs]
            k = int(chunk[0].shape[0])
            if k < b:  # pad the partial batch with copies of its last row: one compiled shape
                chunk = [torch.cat([x, x[-1:].expand(b - k, *x.shape[1:])]) for x in chunk]
            first = self.compile_s is None
            t0 = time.perf_counter()
            try:
                with _quiet_compiler() if first else contextlib.nullcontext(), self._inductor_options():
                    out = self.compiled(*chunk, **self.compiled_kwargs)
            except Exception as e:  # noqa: BLE001 - any compiler failure: render eagerly instead
                return self._fall_back(f"torch.compile failed ({one_line(e)})", inputs)
            if first:
                self._sync()
                self.compile_s = time.perf_counter() - t0
                self.log(f"compiled the generator in {self.compile_s:.0f} s (batch {b})")
            outs.append(out[:k])
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    def _inductor_options(self) -> Any:
        """On the CPU, inductor's *freezing*: the weights become constants of the compiled code,
        folded and pre-packed into oneDNN's blocked layouts once instead of reordered at every call
        (bf16 256 px at batch 1 on an AMX CPU: 0.156 -> 0.076 s per image; docs/latent.md). The
        renderer's generator does not change during a job, and inference runs under no_grad, which
        freezing needs. The option is read when the first call compiles."""
        if self.runtime.is_cuda or not FREEZE_ON_CPU:
            return contextlib.nullcontext()
        import torch._inductor.config as inductor_config

        return inductor_config.patch(freezing=True)

    def _fall_back(self, why: str, inputs: tuple) -> torch.Tensor:
        self.log(f"--compile {self.mode}: rendering eagerly, {why}")
        self.state, self.compiled, self.why_eager = "eager", None, why
        return self._eager(inputs)

    # -- auto ------------------------------------------------------------------------------------
    def expected(self) -> tuple[float, float]:
        """(seconds compiling would save on the rest of the job, seconds it would cost)."""
        remaining = max((self.images_expected or 0) - self.done, 0)
        saving = remaining * (self.eager_s_per_image or 0.0) * expected_saving(self.runtime)
        return saving, compile_seconds(self.module)

    def _decide(self) -> None:
        saving, cost = self.expected()
        if saving <= cost:
            self.state = "eager"
            self.why_eager = (f"--compile auto: compiling (about {cost:.0f} s) would save about {saving:.0f} s "
                              "on this job")
            return
        why = unavailable(self.runtime)
        if why is not None:
            self.state, self.why_eager = "eager", why
            self.log(f"--compile auto: rendering eagerly, {why}")
            return
        remaining = (self.images_expected or 0) - self.done
        self.log(f"--compile auto: compiling the generator for the remaining {remaining} images (about "
                 f"{cost:.0f} s to save about {saving:.0f} s; --compile off skips this)")
        self.state = "compile"


def generator_forward(G: torch.nn.Module, runtime: Runtime, mode: str = "off", *, noise_mode: str = "const",
                      images_expected: int | None = None) -> CompiledForward:
    """The image network of ``G`` as a :class:`CompiledForward`: StyleGAN2's synthesis network
    (called with ``ws``), or the whole generator for DCGAN and lite (called with ``z, c``)."""
    from .latents import has_w

    if has_w(G):
        synthesis = G.synthesis
        fast = {}
        if not runtime.is_cuda and "fused_modconv" in inspect.signature(synthesis.forward).parameters:
            fast = {"fused_modconv": False}  # measured faster compiled on the CPU (module doc)
        return CompiledForward(synthesis, runtime, mode, images_expected=images_expected,
                               kwargs={"noise_mode": noise_mode}, compiled_kwargs=fast,
                               random=noise_mode == "random")
    return CompiledForward(G, runtime, mode, images_expected=images_expected)
