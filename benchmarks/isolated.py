"""A baseline that runs in its own process, step by step on request, so it can be interleaved with
the contenders of the benchmark that started it while its memory allocator stays untouched.

Every neuralbrush runtime sets the ``keep`` allocator policy for its process (freed tensor memory
stays in the process; ``neuralbrush.core.allocator``), and glibc's own knobs cannot be put back
once set: a baseline measured in the same process would run on a heap that the contenders have
already grown and faulted in (measured: a batch-8 fp32 generator call 15-30 % faster than in an
untouched process). Issue 15's baselines are "our fp32 eager as it was", which ran with the C
library's malloc as it behaves unasked; here each one gets a fresh interpreter (``spawn``) with
``NEURALBRUSH_ALLOCATOR=glibc``, so no runtime in it touches malloc.

    base = Isolated("bench_pix2pix:baseline_step", 256, threads=torch.get_num_threads())
    seconds, output = base.step()   # one timed unit of work in the child; output if the builder returns one
    base.close()

``policy="keep"`` gives a fresh process with neuralbrush's allocator policy instead (what
bench_allocator.py sets against the untouched one). The builder (``module:function`` importable
from benchmarks/) returns a callable that does one
unit of the measured work and returns None or a value to send back (numpy arrays, numbers).
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _serve(conn, target: str, args: tuple, threads: int | None, policy: str) -> None:
    # before neuralbrush is imported: with glibc no runtime touches malloc
    os.environ["NEURALBRUSH_ALLOCATOR"] = policy
    sys.path.insert(0, str(HERE))
    import torch

    if threads:
        torch.set_num_threads(threads)
    module, name = target.split(":")
    step = getattr(importlib.import_module(module), name)(*args)
    from neuralbrush.core import allocator

    conn.send(("ready", allocator.policy(), torch.get_num_threads()))
    while True:
        msg = conn.recv()
        if msg is None:
            break
        t = time.perf_counter()
        out = step()
        dt = time.perf_counter() - t
        conn.send((dt, out if msg == "output" else None))
    conn.close()


class Isolated:
    """One baseline in a spawned process; :meth:`step` runs one unit there and returns (seconds, output)."""

    def __init__(self, target: str, *args: Any, threads: int | None = None, policy: str = "glibc") -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, target, args, threads, policy), daemon=True)
        self._proc.start()
        ready, self.policy, self.threads = self._conn.recv()
        assert ready == "ready" and self.policy in (None, policy), f"isolated process: {ready} {self.policy}"

    def step(self, output: bool = False) -> tuple[float, Any]:
        self._conn.send("output" if output else "time")
        return self._conn.recv()

    def close(self) -> None:
        if self._proc.is_alive():
            self._conn.send(None)
            self._proc.join(timeout=30)

    def __enter__(self) -> Isolated:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
