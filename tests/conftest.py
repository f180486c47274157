"""Shared test fixtures: quiet output, an isolated weights store, small sample images."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("NEURALBRUSH_QUIET", "1")


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path_factory, monkeypatch):
    """Every test gets its own empty weights store so nothing leaks between tests."""
    home = tmp_path_factory.mktemp("nbhome")
    monkeypatch.setenv("NEURALBRUSH_HOME", str(home))
    yield home
