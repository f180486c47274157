"""Breeding: crossover by layers or blend, mutation, the contact sheet, saved latents, --pick."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from neuralbrush.cli.main import run
from neuralbrush.core.device import resolve_runtime
from neuralbrush.core.errors import UsageError
from neuralbrush.gan.snapshot import save_snapshot
from neuralbrush.latent.breed import breed, breed_latents
from neuralbrush.latent.latents import Latents, latent_scale, latents_from_seeds, load_latents, save_latents
from neuralbrush.latent.render import Renderer
from neuralbrush.latent.steer_options import BreedOptions

from gan_helpers import small_stylegan  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

RT = resolve_runtime("cpu", "fp32")


@pytest.fixture(scope="module")
def G():
    return small_stylegan(16).requires_grad_(False)


@pytest.fixture(scope="module")
def parent_files(G, tmp_path_factory):
    d = tmp_path_factory.mktemp("parents")
    lat = latents_from_seeds(G, [1, 2, 3], psi=0.8)
    return [save_latents(d / f"p{i}.npz", lat.select(i)) for i in range(3)]


@pytest.mark.parametrize("crossover", ["layers", "blend"])
def test_identical_parents_without_mutation_give_the_parent(G, crossover):
    p = latents_from_seeds(G, [4], psi=1.0).w
    for parents in (torch.cat([p, p]), torch.cat([p, p, p])):
        kids = breed_latents(parents, children=6, mutation=0.0, crossover=crossover, seed=3)
        assert kids.w.shape == (6, G.num_ws, G.w_dim)
        assert all(torch.equal(k, p[0]) for k in kids.w)


def test_crossover_by_layers_takes_each_layer_from_one_parent(G):
    parents = latents_from_seeds(G, [1, 2, 3], psi=1.0).w
    kids = breed_latents(parents, children=12, mutation=0.0, crossover="layers", seed=0)
    assert kids.layer_parent.shape == (12, G.num_ws)
    for c in range(12):
        for layer in range(G.num_ws):
            src = int(kids.layer_parent[c, layer])
            assert torch.equal(kids.w[c, layer], parents[src, layer])
            others = [j for j in range(3) if not torch.equal(parents[j, layer], parents[src, layer])]
            assert all(not torch.equal(kids.w[c, layer], parents[j, layer]) for j in others)
    assert set(np.unique(kids.layer_parent)) == {0, 1, 2}  # every parent contributes somewhere
    assert len({tuple(r) for r in kids.layer_parent}) > 1  # and the children differ


def test_blend_is_a_convex_mix_and_mutation_is_shared_across_layers(G):
    parents = latents_from_seeds(G, [1, 2], psi=1.0).w
    kids = breed_latents(parents, children=5, mutation=0.0, crossover="blend", seed=1)
    assert np.allclose(kids.blend_weights.sum(1), 1) and (kids.blend_weights >= 0).all()
    ref = torch.einsum("cp,pld->cld", torch.from_numpy(kids.blend_weights).float(), parents)
    assert torch.allclose(kids.w, ref, atol=1e-5)
    scale = latent_scale(G, "w")
    mutated = breed_latents(parents, children=400, mutation=0.5, crossover="layers", seed=2, scale=scale)
    plain = breed_latents(parents, children=400, mutation=0.0, crossover="layers", seed=2, scale=scale)
    assert np.array_equal(mutated.layer_parent, plain.layer_parent)  # mutation does not change the crossover
    off = mutated.w - plain.w
    assert torch.allclose(off, off[:, :1].expand_as(off), atol=1e-6)  # the same offset on every layer
    assert float(off[:, 0].std()) == pytest.approx(0.5 * scale, rel=0.05)


def test_breed_writes_sheet_latents_and_pick(G, parent_files, tmp_path):
    opts = BreedOptions(parents=[str(p) for p in parent_files], children=6, mutation=0.2, pick=4, seed=5)
    res = breed(G, tmp_path / "sheet.png", opts, RT, model="test")
    with Image.open(res.sheet) as im:
        assert im.size == (3 * 128 + 4 * 2, 2 * 128 + 3 * 2)  # 6 children, near-square 3x2, 16 px shown at 128
    allk = load_latents(res.latents, G)
    assert allk.w.shape == (6, G.num_ws, G.w_dim)
    assert np.load(res.latents)["layer_parent"].shape == (6, G.num_ws)
    for i in range(6):
        assert torch.equal(load_latents(res.folder / f"{i:03d}.npz", G).w[0], allk.w[i])
    key = load_latents(tmp_path / "keyframe_4.npz", G)
    assert torch.equal(key.w[0], allk.w[4])
    with Image.open(tmp_path / "keyframe_4.png") as im:
        frame = np.asarray(im.convert("RGB"))
    assert np.array_equal(frame, Renderer(G, RT).frames(allk.w[4:5], "w")[0])
    assert json.loads((tmp_path / "breed.json").read_text())["pick"] == 4
    # the same options give the same children (pick after looking)
    again = breed(G, tmp_path / "again" / "sheet.png", opts, RT)
    assert torch.equal(load_latents(again.latents, G).w, allk.w)


def test_breed_refuses_mistakes_before_work(G, parent_files, tmp_path):
    two = [str(p) for p in parent_files[:2]]
    cases = [
        (BreedOptions(parents=two[:1]), "at least two parents"),
        (BreedOptions(parents=two, children=0), "at least 1"),
        (BreedOptions(parents=two, mutation=-1), "not be negative"),
        (BreedOptions(parents=two, mutation=float("nan")), "finite"),
        (BreedOptions(parents=two, crossover="zip"), "must be one of layers, blend"),
        (BreedOptions(parents=two, children=20_000), "at most"),
        (BreedOptions(parents=two, children=4, pick=4), "numbered 0-3"),
        (BreedOptions(parents=[two[0], str(tmp_path / "missing.npz")]), "does not exist"),
    ]
    for opts, match in cases:
        with pytest.raises(UsageError, match=match):
            breed(G, tmp_path / "out" / "sheet.png", opts, RT)
    with pytest.raises(UsageError, match="image file"):
        breed(G, tmp_path / "out" / "sheet.txt", BreedOptions(parents=two), RT)
    other = small_stylegan(16, dim=16)
    with pytest.raises(UsageError, match="model expects"):
        breed(other, tmp_path / "out" / "sheet.png", BreedOptions(parents=two), RT)
    assert not (tmp_path / "out").exists()


def test_breed_command(G, parent_files, tmp_path, capsys):
    snap = tmp_path / "network-snapshot-000000.safetensors"
    save_snapshot(snap, arch="stylegan2", G=G, G_ema=G)
    sheet = tmp_path / "b" / "sheet.png"
    parents = ",".join(str(p) for p in parent_files)
    assert run(["breed", str(snap), "--parents", parents, "--children", "4", "--mutation", "0.3",
                "--crossover", "blend", "--pick", "1", "-o", str(sheet), "--device", "cpu", "--precision", "fp32"]) == 0
    assert sheet.is_file() and (sheet.parent / "keyframe_1.npz").is_file()
    assert "blend_weights" in np.load(sheet.parent / "children.npz").files
    code = run(["breed", str(snap), "--parents", f"{parent_files[0]},{tmp_path / 'nope.npz'}", "-o", str(sheet)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error:") and "nope.npz does not exist" in err and len(err.splitlines()) == 1
    w_only = save_latents(tmp_path / "z.npz", Latents(z=torch.zeros(1, G.z_dim)))
    assert run(["breed", str(snap), "--parents", f"{parent_files[0]},{w_only}", "-o", str(sheet)]) == 2
    assert "holds only z" in capsys.readouterr().err
