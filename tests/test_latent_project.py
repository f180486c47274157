"""Projection: the NVIDIA schedule recovers images the model made; w+ beats w; LPIPS; resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from neuralbrush.core.device import resolve_runtime
from neuralbrush.core.errors import UsageError, WeightsMissingError
from neuralbrush.gan.dcgan import DCGANGenerator
from neuralbrush.latent.latents import latents_from_seeds, w_stats
from neuralbrush.latent.lpips import LPIPS
from neuralbrush.latent.options import ProjectOptions
from neuralbrush.latent.project import _lr_at, fit_target, noise_regularization, project, psnr
from neuralbrush.latent.render import Renderer

from gan_helpers import small_stylegan  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

RT = resolve_runtime("cpu", "fp32")


@pytest.fixture(scope="module")
def G():
    return small_stylegan(16, 64, cbase=1024, cmax=64, w_avg_samples=2000).requires_grad_(False)


def test_schedule_matches_nvidia():
    o = ProjectOptions(steps=1000)
    assert _lr_at(0.0, o) == 0.0
    assert _lr_at(0.05, o) == pytest.approx(0.1)  # end of the 5 % linear ramp-up
    assert _lr_at(0.5, o) == pytest.approx(0.1)
    assert _lr_at(0.875, o) == pytest.approx(0.05)  # halfway down the cosine over the last 25 %
    assert _lr_at(0.999, o) < 1e-4


def test_noise_regularization_prefers_white_noise():
    g = torch.Generator().manual_seed(0)
    white = {"a": torch.randn(32, 32, generator=g)}
    smooth = {"a": torch.nn.functional.avg_pool2d(torch.randn(1, 1, 34, 34, generator=g), 3, 1)[0, 0] * 3}
    assert noise_regularization(white) < noise_regularization(smooth) / 10


def test_fit_target_crop_and_pad():
    im = Image.new("RGB", (60, 20), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, 20, 20))
    crop = fit_target(im, 16, "crop")
    assert crop.shape == (16, 16, 3) and crop[8, 8, 2] > 200  # the centre square is blue
    pad = fit_target(im, 16, "pad", (0, 255, 0))
    assert pad[0, 8, 1] > 200 and pad[8, 1, 0] > 200  # green bars, the red square at the left edge


def test_projection_recovers_generated_images_and_w_plus_beats_w(G):
    lat = latents_from_seeds(G, [7], psi=0.7)
    target = Renderer(G, RT).frames(lat.w, "w")[0]
    start = Renderer(G, RT).frames(w_stats(G).w_avg.view(1, 1, -1).repeat(1, G.num_ws, 1), "w")[0]
    baseline = psnr(start, target)
    results = {}
    for space in ("w", "w+"):
        r = project(G, target, ProjectOptions(steps=150, loss="mse", space=space, w_avg_samples=2000), RT)
        assert r.latent.shape == (1, G.num_ws, 64)
        assert r.history[-1] < r.history[0] / 5
        results[space] = r.psnr
    assert results["w"] > baseline + 6
    assert results["w+"] > results["w"]


def test_projection_resumes_from_saved_state(G, tmp_path):
    lat = latents_from_seeds(G, [3], psi=0.7)
    target = Renderer(G, RT).frames(lat.w, "w")[0]
    opts = ProjectOptions(steps=10, loss="mse", space="w", w_avg_samples=500, checkpoint_every=4)
    full = project(G, target, opts, RT)
    state = tmp_path / "state.safetensors"

    class Killed(Exception):
        pass

    def die(event):
        if event.step == 7:  # 7 steps done: the state saved after step 4 survives
            raise Killed

    with pytest.raises(Killed):
        project(G, target, opts, RT, progress=die, state_path=state)
    assert state.exists()
    seen = []
    resumed = project(G, target, opts, RT, progress=lambda s: seen.append(s.step), state_path=state)
    assert seen[0] == 5  # continued after the 4 saved steps, not from scratch
    assert torch.allclose(resumed.latent, full.latent, atol=1e-4)
    other = ProjectOptions(steps=10, loss="mse", space="w+", w_avg_samples=500, checkpoint_every=4)
    seen.clear()
    project(G, target, other, RT, progress=lambda s: seen.append(s.step), state_path=state)
    assert seen[0] == 1  # a state saved for other options is not reused


def test_projection_space_rules(G):
    target = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(UsageError, match="must be 16x16"):
        project(G, np.zeros((8, 8, 3), np.uint8), ProjectOptions(steps=1, loss="mse"), RT)
    with pytest.raises(UsageError, match="--loss must be one of"):
        project(G, target, ProjectOptions(steps=1, loss="l1"), RT)
    torch.manual_seed(1)
    dc = DCGANGenerator(z_dim=16, img_resolution=16, ngf=8).eval().requires_grad_(False)
    with pytest.raises(UsageError, match="--space z"):
        project(dc, target, ProjectOptions(steps=1, loss="mse"), RT)
    want = Renderer(dc, RT).frames(torch.from_numpy(np.random.RandomState(2).randn(1, 16)).float(), "z")[0]
    r = project(dc, want, ProjectOptions(steps=60, loss="mse", space="z"), RT)
    assert r.latent.shape == (1, 16) and r.history[-1] < r.history[0]


def _fake_lpips_states():
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    vgg = {f"features.{k}": v for k, v in make_layers(cfgs["D"]).state_dict().items()}
    lin = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate((64, 128, 256, 512, 512))}
    return vgg, lin


def test_lpips_distance_properties_and_missing_weights(G):
    vgg, lin = _fake_lpips_states()
    lp = LPIPS(vgg, lin)
    assert torch.equal(lp.lins[2].weight, lin["lin2.model.1.weight"])
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    y = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    d_xx, d_xy, d_yx = lp(x, x), lp(x, y), lp(y, x)
    assert d_xx.shape == (2,) and torch.allclose(d_xx, torch.zeros(2), atol=1e-6)
    assert (d_xy > 0).all() and torch.allclose(d_xy, d_yx, rtol=1e-4)
    assert (lp(x, x + 0.05 * torch.randn(x.shape, generator=g)) < d_xy).all()
    with pytest.raises(WeightsMissingError, match="vgg16.*lpips-vgg.*--loss mse"):
        LPIPS.from_store()
    # the projector runs with an LPIPS distance (random calibration here; the real one comes from the store)
    target = Renderer(G, RT).frames(latents_from_seeds(G, [1]).w, "w")[0]
    r = project(G, target, ProjectOptions(steps=3, loss="both", w_avg_samples=200), RT, lpips=lp)
    assert len(r.history) == 3 and np.isfinite(r.history).all()


def test_lpips_loss_from_the_weights_store_through_the_cli(G, tmp_path):
    """With vgg16 + lpips-vgg files in the store, `project --loss lpips` runs end to end."""
    from neuralbrush.cli.main import run
    from neuralbrush.gan.snapshot import save_snapshot
    from neuralbrush.weights import store

    vgg, lin = _fake_lpips_states()  # random stand-ins written where the real files go
    store.path_for("vgg16").parent.mkdir(parents=True, exist_ok=True)
    torch.save(vgg, store.path_for("vgg16"))
    torch.save(lin, store.path_for("lpips-vgg"))
    assert isinstance(LPIPS.from_store(), LPIPS)
    snap = save_snapshot(tmp_path / "net.safetensors", arch="stylegan2", G=G)
    target = tmp_path / "t.png"
    Image.fromarray(Renderer(G, RT).frames(latents_from_seeds(G, [2]).w, "w")[0]).save(target)
    assert run(["project", str(snap), str(target), "--steps", "3", "--loss", "lpips", "-o", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "projected_w.npz").exists()
