"""The bundled demo models: present in the package, loadable by name everywhere, honest records."""

from __future__ import annotations

import json

import pytest
import torch

from neuralbrush.core.errors import UsageError
from neuralbrush.weights import store

NAMES = [e.name for e in store.BUNDLED]


@pytest.mark.parametrize("name", NAMES)
def test_bundled_file_is_in_the_package_with_a_record_that_matches_it(name):
    path = store.require(name)  # no download, no store: the package's own file
    # small enough to ship in the wheel (the largest, pix2pix ngf 32, is 14 MB in float16)
    assert path.parent == store.BUNDLED_DIR and path.stat().st_size < 16 * 2**20
    rec = store.bundled_record(name)
    assert rec["sha256"] == store.sha256_file(path)
    assert store.verify(name) == rec["sha256"]
    assert rec["commands"] and all(c.startswith(("neuralbrush ", "python ", "OMP_NUM_THREADS")) for c in rec["commands"])
    assert rec["run_record"]["trainer"] in ("gan", "pix2pix")
    assert store.fetch(name) == path  # fetch of a bundled model is the file itself


def test_bundled_models_cannot_be_replaced_by_an_import(tmp_path):
    f = tmp_path / "x.safetensors"
    f.write_bytes(store.require(NAMES[0]).read_bytes())
    with pytest.raises(UsageError, match="bundled"):
        store.import_file(NAMES[0], f)


@pytest.mark.parametrize("name", ["blooms64-stylegan2", "blooms64-lite"])
def test_bundled_gans_load_by_name_and_draw_blooms_not_noise(name, one_thread):
    from neuralbrush.gan.loading import load_generator
    from neuralbrush.gan.trainer_state import generate_images

    G = load_generator(name)
    assert G.img_resolution == 64 and next(G.parameters()).dtype == torch.float32
    z = torch.randn(16, G.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        x = generate_images(G, z, torch.zeros(16, 0))
    assert x.shape == (16, 3, 64, 64) and torch.isfinite(x).all()
    # a trained bloom model: the centre differs from the corners (a flower on a ground), and the
    # images differ from each other (no collapse to one picture)
    centre = x[:, :, 24:40, 24:40].mean((2, 3))
    corners = torch.cat([x[:, :, :8, :8], x[:, :, -8:, -8:]], 2).mean((2, 3))
    assert (centre - corners).abs().mean() > 0.1
    assert x.std(0).mean() > 0.1
    rec = store.bundled_record(name)
    # recorded: lite 34.7 from 205 at start, StyleGAN2 small 94.5 from 153 (noise floor 10.7)
    assert rec["scores"]["swd"] < 0.7 * rec["scores"]["swd_start"]


def test_bundled_pix2pix_beats_the_mean_bloom_on_unseen_blooms(tmp_path, one_thread):
    from neuralbrush.core.device import resolve_runtime
    from neuralbrush.pix2pix.apply import Pix2PixModel, load_generator
    from neuralbrush.pix2pix.evaluate import unseen_blooms_check

    G, meta = load_generator("blooms64-pix2pix-edges")
    assert meta["input"] == "edges" and meta["size"] == 64
    check = unseen_blooms_check(G, resolve_runtime("cpu", "fp32"), tmp_path, count=32, baseline_count=64)
    # recorded on 64 unseen blooms: L1 0.305 vs 0.343 for the mean bloom, luma 0.236 vs 0.272
    assert check["val_L1"] < 0.95 * check["mean_image_L1"]
    assert check["val_L1_luma"] < 0.92 * check["mean_image_L1_luma"]
    model = Pix2PixModel("blooms64-pix2pix-edges", device="cpu", precision="fp32")
    from neuralbrush.datasets.samples import skimage_photo

    out = model.translate(skimage_photo("chelsea").resize((96, 64)))
    assert out.output.size == (96, 64)


def test_export_writes_a_generator_only_half_precision_copy_and_its_record(tmp_path, one_thread):
    from neuralbrush.core.checkpoint import read_meta
    from neuralbrush.gan.loading import load_gan, load_generator
    from neuralbrush.weights.export import export_model

    src = store.require("blooms64-lite")  # a bundled file is itself a valid source
    out = export_model("blooms64-lite", src, commands=["neuralbrush train x"], scores={"swd": 1.0},
                       dest_dir=tmp_path)
    meta = read_meta(out)
    assert meta["networks"] == ["G_ema"] and meta["dtype"] == "float16"
    snap = load_gan(out)
    assert snap.D is None and snap.G is None
    a, b = load_generator(src), load_generator(out)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    rec = json.loads(out.with_name(out.name + ".json").read_text())
    assert rec["commands"] == ["neuralbrush train x"] and rec["sha256"] == store.sha256_file(out)


def test_gan_demo_shows_the_bundled_models_and_hands_the_stylegan2_on(tmp_path, one_thread):
    from neuralbrush.gan.demo import bundled_models

    stage = tmp_path / "gan"
    stage.mkdir()
    context: dict = {}
    items = bundled_models(tmp_path, stage, context)
    assert [i["title"] for i in items] == ["Real species blooms (what the bundled models learned from)",
                                          "Bundled blooms64-stylegan2 (fixed seeds)", "Bundled blooms64-lite (fixed seeds)"]
    assert all((tmp_path / i["path"]).is_file() for i in items)
    assert "CPU minutes" in items[1]["caption"] and "made by `neuralbrush train" in items[1]["caption"]
    assert context["gan_checkpoint"] == str(store.require("blooms64-stylegan2"))
    assert context["gan_model_caption"].startswith("the bundled")
