"""The one device and precision policy.

``--device auto`` picks cuda > mps > cpu. ``--precision auto`` picks bf16 autocast with
channels_last memory format on CPUs with native bf16 arithmetic, AMX-BF16 or AVX512-BF16 (there
it runs convolutions several times faster than fp32; see docs/benchmarks), bf16 autocast on CUDA devices that support it (fp16 otherwise), and
fp32 everywhere else. This is the only module allowed to name a device type literally.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from . import allocator
from .errors import UsageError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    """The CPU feature flags from /proc/cpuinfo (empty where it does not exist)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="ignore") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_kind() -> str:
    """What decides the CPU's bf16 speed-up: AMX tiles, AVX512-BF16 alone, or neither."""
    return "AMX-BF16" if cpu_has_amx() else "AVX512-BF16" if cpu_has_native_bf16() else "no native bf16"


def cpu_has_amx() -> bool:
    """True when the CPU advertises AMX-BF16."""
    return "amx_bf16" in _cpu_flags()


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AMX-BF16 or AVX512-BF16)."""
    return bool({"amx_bf16", "avx512_bf16"} & _cpu_flags())


def resolve_device(name: str = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda|mps|cuda:N`` into a :class:`torch.device`, checking availability."""
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    base = name.split(":")[0]
    if base not in DEVICE_CHOICES:
        raise UsageError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if base == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for but no CUDA GPU is available; use --device auto or cpu")
    if base == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError("--device mps was asked for but Apple MPS is not available; use --device auto or cpu")
    if base == "cuda" and ":" not in name:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device(name)


@dataclass(frozen=True)
class Runtime:
    """Where and how to compute: the device, the autocast dtype (None = fp32) and layout."""

    device: torch.device
    precision: str  # resolved: fp32 | bf16 | fp16
    channels_last: bool

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[self.precision]

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast context for the hot path (a no-op for fp32)."""
        dtype = self.autocast_dtype
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def module(self, m: torch.nn.Module) -> torch.nn.Module:
        """Move a module to the device (and channels_last layout when the policy says so)."""
        m = m.to(self.device)
        if self.channels_last:
            m = m.to(memory_format=torch.channels_last)
        return m

    def tensor(self, x: torch.Tensor) -> torch.Tensor:
        """Move an image batch to the device in the preferred layout."""
        x = x.to(self.device)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    @classmethod
    def default(cls) -> Runtime:
        """The library default when no runtime is given: ``--device auto --precision auto``.

        Library functions take ``runtime: Runtime | None = None`` and use this for None, so a
        notebook call without a runtime gets the same device and precision as the command line.
        """
        return resolve_runtime("auto", "auto")

    def describe(self) -> str:
        layout = ", channels_last" if self.channels_last else ""
        return f"{self.device} {self.precision}{layout}"


def resolve_precision(precision: str, device: torch.device) -> tuple[str, bool]:
    """Resolve ``auto|fp32|bf16|fp16`` for a device; returns (precision, channels_last)."""
    precision = (precision or "auto").lower()
    if precision == "auto" and os.environ.get("NEURALBRUSH_PRECISION"):
        # a session-wide choice for 'auto', e.g. fp32 for bit-reproducible renders across batch sizes
        precision = os.environ["NEURALBRUSH_PRECISION"].lower()
    if precision not in PRECISION_CHOICES:
        raise UsageError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISION_CHOICES)}")
    if precision == "auto":
        if device.type == "cuda":
            return ("bf16" if torch.cuda.is_bf16_supported() else "fp16"), True
        if device.type == "cpu" and cpu_has_native_bf16():
            return "bf16", True
        return "fp32", False
    if precision == "fp16" and device.type == "cpu":
        raise UsageError("fp16 autocast is not supported on the CPU; use --precision bf16 or fp32")
    return precision, precision != "fp32" and device.type in ("cpu", "cuda")


def resolve_runtime(device: str = "auto", precision: str = "auto") -> Runtime:
    """The single entry point: ``resolve_runtime('auto', 'auto')`` -> Runtime."""
    dev = resolve_device(device)
    prec, channels_last = resolve_precision(precision, dev)
    allocator.ensure()  # freed tensors stay in the process for the next step (core/allocator.py)
    return Runtime(device=dev, precision=prec, channels_last=channels_last)


def fused_optimizer_kwargs(device: torch.device) -> dict:
    """``{"fused": True}`` where torch has fused Adam kernels (CPU, CUDA), else ``{}`` (the foreach path)."""
    return {"fused": True} if device.type in ("cpu", "cuda") else {}


def channels_last_only(t: torch.Tensor) -> bool:
    """A 4-D tensor laid out channels_last and so not contiguous in the default layout."""
    return t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last)


class Adam(torch.optim.Adam):
    """torch's Adam, stepping channels_last weights through their contiguous NHWC views.

    The fused CPU kernel copies every tensor that is not contiguous in the default layout out
    and back, which on a channels_last conv weight makes the step ~3.5x slower (issue 15: a
    1024x512x4x4 weight, 30 ms -> 9 ms). Adam is elementwise, so giving the kernel the same
    permutation of a parameter, its gradient and its moments updates the same numbers in place;
    the optimiser's state (and so every snapshot) keeps the parameters' own shapes.
    """

    def _init_group(self, group, params, grads, *lists):
        # torch fills parallel lists, one entry per parameter with a gradient: the parameters,
        # their gradients, moments (and max moments with amsgrad) and 0-d step counters
        has_complex = super()._init_group(group, params, grads, *lists)
        layouts = [channels_last_only(p) for p in params]
        for tensors in (params, grads, *lists):
            if isinstance(tensors, list) and len(tensors) == len(layouts):
                tensors[:] = [t.permute(0, 2, 3, 1) if cl and t.dim() == 4 else t for t, cl in zip(tensors, layouts)]
        return has_complex


def distributed_backend(device: torch.device) -> str:
    """The torch.distributed backend for a device: nccl on CUDA, gloo elsewhere."""
    return "nccl" if device.type == "cuda" else "gloo"


def bind_device(device: torch.device) -> None:
    """Make ``device`` the current one for its process (CUDA needs this under torchrun)."""
    if device.type == "cuda":
        torch.cuda.set_device(device)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; returns a CPU generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def empty_cache(device: torch.device) -> None:
    """Hand cached memory back after a job: CUDA's caching allocator, or the CPU heap kept by ``keep``."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    allocator.release()


@contextlib.contextmanager
def num_threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (None leaves it alone)."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
