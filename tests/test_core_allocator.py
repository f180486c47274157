"""The CPU allocator policy: freed tensor memory stays in the process (no page faults next step)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from neuralbrush.core import allocator
from neuralbrush.core.errors import UsageError

pytestmark = pytest.mark.skipif(not allocator.supported(), reason="the allocator policies need glibc")

# After a warm-up, allocates, writes and frees a 64 MiB tensor ten times (as a training step does with its large
# activations) and prints the page faults taken. Each run is its own process: the policy is global.
_PROBE = textwrap.dedent("""
    import resource, sys
    import torch
    from neuralbrush.core import allocator
    from neuralbrush.core.device import resolve_runtime
    arg = sys.argv[1]
    if arg == "runtime":
        resolve_runtime("cpu", "fp32")
    elif arg == "glibc-then-runtime":  # an explicit choice (a benchmark's baseline) outlives new runtimes
        allocator.use("glibc")
        resolve_runtime("cpu", "fp32")
    elif arg != "none":
        allocator.use(arg)
    for _ in range(20):  # the first few land beside the small blocks carved from the last one freed
        torch.empty(16 * 2**20).fill_(1.0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        torch.empty(16 * 2**20).fill_(1.0)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, allocator.policy())
""")


def _faults(arg: str, **env: str) -> tuple[int, str]:
    environ = {k: v for k, v in os.environ.items() if k != "NEURALBRUSH_ALLOCATOR"} | env
    out = subprocess.run([sys.executable, "-c", _PROBE, arg], capture_output=True, text=True, check=True,
                         env=environ).stdout.split()
    return int(out[0]), out[1]


def test_keep_stops_the_page_faults_that_glibc_takes_on_every_large_tensor():
    pages = 10 * 64 * 2**20 // os.sysconf("SC_PAGE_SIZE")
    glibc, _ = _faults("glibc")
    untouched, _ = _faults("none")
    keep, name = _faults("keep")
    assert name == "keep"
    # glibc maps each 64 MiB block afresh and faults every page in; keep reuses the freed block
    assert glibc > 0.9 * pages and untouched > 0.9 * pages
    assert keep <= 0.2 * pages  # at most two of the ten blocks still laid out afresh


def test_every_runtime_sets_keep_unless_the_environment_says_glibc():
    faults, name = _faults("runtime")
    assert name == "keep" and faults <= 0.2 * 10 * 64 * 2**20 // os.sysconf("SC_PAGE_SIZE")
    faults, name = _faults("runtime", NEURALBRUSH_ALLOCATOR="glibc")
    assert name == "glibc" and faults > 10_000
    faults, name = _faults("glibc-then-runtime")
    assert name == "glibc" and faults > 10_000


def test_unknown_policy_is_a_usage_error(monkeypatch):
    with pytest.raises(UsageError, match="allocator policy 'lots'"):
        allocator.use("lots")
    monkeypatch.setenv("NEURALBRUSH_ALLOCATOR", "jemalloc")
    with pytest.raises(UsageError, match="NEURALBRUSH_ALLOCATOR"):
        allocator.use()


def test_release_hands_free_heap_memory_back():
    script = textwrap.dedent("""
        import torch
        from neuralbrush.core import allocator
        allocator.use("keep")
        def rss():
            return int(open("/proc/self/statm").read().split()[1])
        x = torch.empty(64 * 2**20).fill_(1.0)  # 256 MiB
        del x
        kept = rss()
        released = allocator.release()
        print(kept - rss(), int(released))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    pages = 256 * 2**20 // os.sysconf("SC_PAGE_SIZE")
    assert int(out[1]) == 1 and int(out[0]) > 0.9 * pages
