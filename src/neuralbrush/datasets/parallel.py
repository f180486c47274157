"""Ordered, bounded, crash-tolerant process pools for per-file work (``dataset build --workers``)."""

from __future__ import annotations

import os
from collections import deque
from typing import Any, Callable, Iterable, Iterator, Sequence


def worker_init() -> None:
    os.environ["NEURALBRUSH_QUIET"] = "1"
    try:
        import cv2

        cv2.setNumThreads(1)
    except Exception:
        pass


def ordered_map(fn: Callable, items: Iterable, workers: int, window: int,
                on_crash: Callable[[Any], Any] | None = None, preload: Sequence[str] = ()) -> Iterator:
    """``map`` over worker processes, results in input order, at most ``window`` in flight.

    If a worker process dies (a decoder crashing hard, the OOM killer), the items that were in
    flight are retried one at a time in fresh single-worker pools; the one that kills its worker
    again gives ``on_crash(item)`` instead of a result (or raises when ``on_crash`` is None).
    """
    if workers <= 1:
        for a in items:
            yield fn(a)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # forkserver: workers fork from a clean server that imported ``preload`` once (fork from a
    # process running progress-bar threads is unsafe; spawn would import everything per worker)
    methods = mp.get_all_start_methods()
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(list(preload))
    else:
        ctx = mp.get_context("spawn")

    def pool(n: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(n, mp_context=ctx, initializer=worker_init)

    def isolated(a: Any) -> Any:
        solo = pool(1)
        try:
            return solo.submit(fn, a).result()
        except BrokenProcessPool:
            if on_crash is None:
                raise
            return on_crash(a)
        finally:
            solo.shutdown(wait=True, cancel_futures=True)

    ex = pool(workers)
    try:
        it = iter(items)
        pending: deque = deque()
        for a in it:
            pending.append((a, ex.submit(fn, a)))
            if len(pending) >= window:
                break
        while pending:
            a, fut = pending.popleft()
            try:
                res = fut.result()
            except BrokenProcessPool:
                ex.shutdown(wait=False, cancel_futures=True)
                retry = [a] + [b for b, _ in pending]
                pending.clear()
                for b in retry[:-1]:
                    yield isolated(b)
                res = isolated(retry[-1])
                ex = pool(workers)
            for a2 in it:
                pending.append((a2, ex.submit(fn, a2)))
                break
            yield res
    finally:
        ex.shutdown(wait=True, cancel_futures=True)
