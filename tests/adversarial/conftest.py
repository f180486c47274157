"""Adversarial suite: every command against hostile inputs (see adversarial_harness.py)."""

from __future__ import annotations

import pytest


@pytest.fixture()
def in_tmp(tmp_path, monkeypatch):
    """Run from an empty folder so default outputs (runs/, *.png) land where the test watches."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
