"""benchmarks/isolated.py: a baseline measured in its own process, with malloc left as the C library
sets it, does the same work as the same baseline here."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from isolated import Isolated  # noqa: E402

from neuralbrush.core import allocator  # noqa: E402


@pytest.mark.skipif(not allocator.supported(), reason="the allocator policies need glibc")
def test_isolated_baseline_runs_untouched_and_gives_the_same_images(monkeypatch, tmp_path):
    # bench_latent_compile sets these with setdefault when imported; keep them out of later tests
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    monkeypatch.setenv("OMP_WAIT_POLICY", os.environ.get("OMP_WAIT_POLICY", "ACTIVE"))
    from bench_latent_compile import baseline_step

    here = baseline_step(32, 2)()  # this process: a runtime has set keep
    assert allocator.policy() == "keep"
    with Isolated("bench_latent_compile:baseline_step", 32, 2, threads=1) as base:
        assert base.policy == "glibc" and base.threads == 1
        seconds, images = base.step(output=True)
        again, nothing = base.step()
    assert seconds > 0 and again > 0 and nothing is None
    assert images.shape == here.shape == (2, 3, 32, 32)
    np.testing.assert_allclose(images, here, rtol=0, atol=1e-4)  # same seeded weights and latents
