"""The style demo stage (fast mode) writes its sheet, animation and options, with honest captions."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from neuralbrush.core.media import read_gif


@pytest.mark.slow
def test_style_demo_fast(tmp_path):
    from neuralbrush.datasets.samples import skimage_photo
    from neuralbrush.style.demo import run_demo

    photo = tmp_path / "chelsea.png"
    skimage_photo("chelsea").save(photo)
    context = {"photos": {"chelsea": str(photo)}}
    items = run_demo(tmp_path / "demo", full=False, context=context)
    assert [i["path"] for i in items] == ["style/style-sheet.png", "style/becoming-styled.gif"]
    for item in items:
        assert (tmp_path / "demo" / item["path"]).exists()
        assert "RANDOM weights" in item["caption"]  # the test store has no vgg19
    assert Image.open(tmp_path / "demo" / "style" / "chelsea-styled.png").size == (160, 106)
    assert len(read_gif(tmp_path / "demo" / "style" / "becoming-styled.gif")) > 10
    opts = json.loads((tmp_path / "demo" / "style" / "style-options.json").read_text())
    assert opts["vgg"] == "random" and len(opts["loss_at_end_of_each_scale"]) == 2
    assert context["style_output"].endswith("chelsea-styled.png")
