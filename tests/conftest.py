"""Shared test fixtures: quiet output, an isolated weights store, small sample images."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("NEURALBRUSH_QUIET", "1")
# Before torch loads: OpenMP's default spin-waiting makes small ops crawl when the cores are
# shared (tests that start subprocesses, a busy CI machine); passive waiting costs little.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture()
def one_thread():
    """Small convolutions run far faster single-threaded when the CPU is shared."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path_factory, monkeypatch):
    """Every test gets its own empty weights store so nothing leaks between tests."""
    home = tmp_path_factory.mktemp("nbhome")
    monkeypatch.setenv("NEURALBRUSH_HOME", str(home))
    yield home
