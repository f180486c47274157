"""The demo orchestrator: stage dependencies and the gallery page."""

from __future__ import annotations

import pytest

from neuralbrush.core.errors import UsageError
from neuralbrush.demo import StageResult, resolve_stages, write_index


def test_stage_dependencies_are_pulled_in_in_order():
    assert resolve_stages(["latent"]) == ["datasets", "gan", "latent"]
    assert resolve_stages(["pix2pix", "datasets"]) == ["datasets", "pix2pix"]
    assert resolve_stages(None)[0] == "datasets"
    with pytest.raises(UsageError):
        resolve_stages(["nope"])


def test_index_shows_every_item_and_errors(tmp_path):
    results = [StageResult("datasets", "Data", 1.0, [{"title": "Sheet", "path": "datasets/s.png", "caption": "c<1>"}]),
               StageResult("gan", "GAN", 2.0, [{"title": "Walk", "path": "gan/w.mp4", "caption": ""}]),
               StageResult("latent", "Latent", 0.0, error="skipped: needs gan")]
    page = write_index(tmp_path, results, full=False).read_text()
    assert '<img src="datasets/s.png"' in page and '<video src="gan/w.mp4"' in page
    assert "c&lt;1&gt;" in page and "skipped: needs gan" in page
