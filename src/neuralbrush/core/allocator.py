"""Where freed tensor memory goes on the CPU: kept in the process, not handed back and faulted in again.

PyTorch's CPU tensors come from the C library's malloc. glibc serves every block above its mmap
threshold (128 KiB at start, adjusted up to at most 32 MiB) with a fresh ``mmap`` and unmaps it
when it is freed, and trims freed memory at the top of the heap back to the kernel. A network's
activations, gradients and autocast weight copies are exactly such blocks, allocated and freed
again every step, so each step page-faults all of them in anew: measured on the 2-core CPU
(docs/benchmarks/allocator.md), ~98,000 faults in one fp32 pix2pix 256 px step, ~394,000 in one
fp32 512 px Gatys evaluation (75,000 in bf16) and 1.65 million in one fp32 batch-8 256 px
generator call (300,000 in bf16), which cost up to half of its time. The ``keep`` policy makes malloc keep what is freed for the next step (no mmap, no
trimming), the way PyTorch's CUDA caching allocator does on the GPU. The memory goes back when the
process ends (studio jobs each run in a worker process); :func:`release` hands the free part back
at once (a notebook after a big job).

Only glibc has these knobs (``mallopt``); elsewhere the functions do nothing and return None.
``NEURALBRUSH_ALLOCATOR=glibc`` keeps the C library's own behaviour.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

POLICIES = ("keep", "glibc")
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
_INT_MAX = 2**31 - 1
# Back from keep to glibc in one process (the knobs cannot be unset): glibc's own adjusted ceiling
# (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit) with its trim threshold at twice it, as its dynamic
# adjustment leaves them after the first large frees. On a heap keep has grown this still runs
# 15-30 % faster than an untouched process, so the benchmarks run their baselines in a process of
# their own instead (benchmarks/isolated.py).
_GLIBC_MMAP_THRESHOLD = 32 * 1024 * 1024
_GLIBC_MMAP_MAX = 65536

_policy: str | None = None


@functools.lru_cache(maxsize=1)
def _libc():
    """glibc's handle with mallopt/malloc_trim, or None (musl, macOS, Windows)."""
    try:
        name = ctypes.util.find_library("c")
        lib = ctypes.CDLL(name) if name else None
    except OSError:
        lib = None
    if lib is None or not hasattr(lib, "mallopt") or not hasattr(lib, "malloc_trim"):
        return None
    gnu = getattr(lib, "gnu_get_libc_version", None)
    if gnu is None:
        return None
    lib.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.mallopt.restype = ctypes.c_int
    lib.malloc_trim.argtypes = [ctypes.c_size_t]
    lib.malloc_trim.restype = ctypes.c_int
    return lib


def supported() -> bool:
    """True where the C library is glibc (the policies take effect)."""
    return _libc() is not None


def policy() -> str | None:
    """The policy set in this process (None before the first :func:`use`)."""
    return _policy


def use(name: str | None = None) -> str | None:
    """Set the allocator policy for this process: ``keep`` or ``glibc``; returns what is in force.

    ``None`` takes ``NEURALBRUSH_ALLOCATOR`` or ``keep``. Returns None where the C library is not
    glibc (nothing to set).
    """
    global _policy
    name = (name or os.environ.get("NEURALBRUSH_ALLOCATOR") or "keep").lower()
    if name not in POLICIES:
        from .errors import UsageError

        raise UsageError(f"unknown allocator policy {name!r} (NEURALBRUSH_ALLOCATOR); choose keep or glibc")
    lib = _libc()
    if lib is None:
        return None
    if name == _policy:
        return _policy
    if name == "keep":
        ok = lib.mallopt(_M_MMAP_MAX, 0) and lib.mallopt(_M_TRIM_THRESHOLD, _INT_MAX)
    elif _policy is None:  # never changed in this process: the C library's behaviour is untouched
        ok = True
    else:  # back from keep: glibc's thresholds as its own adjustment leaves them (the knobs cannot be unset)
        ok = (lib.mallopt(_M_MMAP_THRESHOLD, _GLIBC_MMAP_THRESHOLD) and lib.mallopt(_M_MMAP_MAX, _GLIBC_MMAP_MAX)
              and lib.mallopt(_M_TRIM_THRESHOLD, 2 * _GLIBC_MMAP_THRESHOLD))
    if not ok:  # glibc refused a value: leave the policy unknown rather than claim it
        return None
    _policy = name
    return _policy


def ensure() -> str | None:
    """The policy in force, setting the default (:func:`use` with None) if none has been chosen yet:
    every runtime calls this, so an explicit :func:`use` (a benchmark's baseline) is never undone."""
    return _policy if _policy is not None else use(None)


def release() -> bool:
    """Give free heap memory back to the kernel (``malloc_trim``); True when some was returned."""
    lib = _libc()
    return bool(lib.malloc_trim(0)) if lib is not None else False
