"""The latent demo stage and the worked storyboard of docs/latent.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from neuralbrush.datasets.samples import write_blooms
from neuralbrush.gan.networks import Generator
from neuralbrush.gan.snapshot import save_snapshot
from neuralbrush.latent.demo import run_demo
from neuralbrush.latent.storyboard import parse_storyboard, timeline

from gan_helpers import small_stylegan  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

REPO = Path(__file__).resolve().parents[1]


def _snapshot(path: Path) -> Path:
    return save_snapshot(path, arch="stylegan2", G=small_stylegan(16))


def test_demo_without_a_generator_returns_nothing(tmp_path):
    assert run_demo(tmp_path, full=False, context={}) == []


def test_demo_fast_makes_every_gallery_item(tmp_path):
    ckpt = _snapshot(tmp_path / "net.safetensors")
    write_blooms(tmp_path / "blooms", 3, 32)
    items = run_demo(tmp_path / "out", full=False, context={"gan_checkpoint": str(ckpt),
                                                            "dataset": str(tmp_path / "blooms")})
    titles = [i["title"] for i in items]
    assert titles == ["Seed grid", "Truncation sweep", "Style mixing", "Latent walk (slerp loop)", "Noise loops",
                      "Projection of a dataset image", "Neighbours of the projection", "Storyboard film"]
    for it in items:
        p = tmp_path / "out" / it["path"]
        assert p.is_file() and p.stat().st_size > 100 and it["caption"]
        assert it["caption"].endswith("(model: the model net.safetensors)")
        assert it["path"].startswith("latent/")


def test_docs_storyboard_example_parses_to_30_seconds(tmp_path):
    text = (REPO / "docs" / "latent.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n# story.yaml\n(.*?)```", text, re.S).group(1)
    (tmp_path / "drawings").mkdir()
    write_blooms(tmp_path / "drawings", 1, 32)
    (tmp_path / "drawings" / "bloom_00000.png").rename(tmp_path / "drawings" / "flower.png")
    (tmp_path / "out" / "nb").mkdir(parents=True)
    (tmp_path / "out" / "nb" / "keyframe_37.npz").write_bytes(b"")
    story = tmp_path / "story.yaml"
    story.write_text(block, encoding="utf-8")
    sb = parse_storyboard(story)
    assert [k.kind for k in sb.keyframes] == ["seed", "image", "latent"]
    assert sb.keyframes[2].loop["sigma"] == 0.5 and sb.keyframes[2].transition["easing"] == "ease-out"
    lat = [torch.zeros(6, 32) for _ in range(3)]
    g = Generator(z_dim=32, w_dim=32, img_resolution=16, mapping_kwargs=dict(num_layers=1),
                  synthesis_kwargs=dict(channel_base=512, channel_max=32)).eval()
    path = timeline(g, sb, lat)
    assert len(path) / sb.fps == 30
