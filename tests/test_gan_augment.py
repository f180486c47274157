"""ADA pipeline: shapes, identity at p=0, exact geometry, probabilities, R1 through it, adaptive p."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neuralbrush.datasets.samples import blooms
from neuralbrush.gan.augment import (BGC, AdaController, AugmentPipe, bilinear_sample, downsample2x,
                                     lowpass_filter, make_augment_pipe, rotate2d, scale2d, translate2d, upsample2x)


@pytest.fixture(scope="module")
def images():
    arr = np.stack([np.array(b) for b in blooms(8, 32, seed=3)])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 127.5 - 1


def test_identity_at_p0_and_shapes(images):
    pipe = make_augment_pipe("ada", 0.0)
    assert torch.equal(pipe(images), images)
    pipe.p.fill_(1.0)
    out = pipe(images)
    assert out.shape == images.shape and out.dtype == images.dtype
    assert torch.isfinite(out).all()
    assert not torch.allclose(out, images)
    assert make_augment_pipe("noaug") is None
    with pytest.raises(ValueError):
        make_augment_pipe("bogus")


def test_geometric_resampling_is_aligned(images):
    """Identity, flips, quarter turns and integer shifts through the full pad/upsample/sample/
    downsample path reproduce the exact operations up to the low-pass (no half-pixel drift)."""
    pipe = AugmentPipe(**BGC)
    n = images.shape[0]
    ident = pipe.apply_geometric(images, torch.eye(3).expand(n, 3, 3))
    base_err = (ident - images).abs().mean()
    assert base_err < 0.03  # only the anti-aliasing filter differs
    flip = pipe.apply_geometric(images, scale2d(-torch.ones(n), torch.ones(n)))
    assert (flip - images.flip(3)).abs().mean() <= base_err * 1.05
    rot = pipe.apply_geometric(images, rotate2d(torch.full((n,), -math.pi / 2)))
    assert min((rot - torch.rot90(images, k, (2, 3))).abs().mean() for k in (1, 3)) <= base_err * 1.05
    shift = pipe.apply_geometric(images, translate2d(torch.full((n,), -3.0), torch.zeros(n)))
    assert (shift[..., 3:] - images[..., :-3]).abs().mean() <= base_err * 1.1
    # A half-pixel error would be several times larger than the filter's own error.
    half = pipe.apply_geometric(images, translate2d(torch.full((n,), -0.5), torch.zeros(n)))
    assert (half - images).abs().mean() > 2 * base_err


def test_each_op_fires_with_probability_p():
    torch.manual_seed(0)
    pipe = AugmentPipe(xflip=1)
    pipe.p.fill_(0.5)
    g = pipe.geometric_matrix(4000, 32, 32, "cpu")
    flipped = (g[:, 0, 0] < 0).float().mean().item()
    assert abs(flipped - 0.25) < 0.03  # applied with p=0.5, and then a coin flip decides the flip
    pipe = AugmentPipe(brightness=1)
    pipe.p.fill_(0.3)
    c = pipe.color_matrix(4000, "cpu")
    assert abs((c[:, 0, 3] != 0).float().mean().item() - 0.3) < 0.03
    # Two rotation steps each with 1 - sqrt(1 - p): at least one fires with probability p.
    pipe = AugmentPipe(rotate=1)
    pipe.p.fill_(0.4)
    g = pipe.geometric_matrix(4000, 32, 32, "cpu")
    rotated = (g[:, 0, 1].abs() > 1e-6).float().mean().item()
    assert abs(rotated - 0.4) < 0.03


def test_color_ops_keep_grey_grey_without_hue_saturation():
    pipe = AugmentPipe(brightness=1, contrast=1)
    pipe.p.fill_(1.0)
    grey = torch.full((6, 3, 8, 8), 0.2)
    out = pipe(grey)
    assert torch.allclose(out[:, 0], out[:, 1]) and torch.allclose(out[:, 1], out[:, 2])


@pytest.mark.parametrize("sampler", ["grid", "gather"])
def test_bilinear_sample_matches_grid_sample(sampler):
    torch.manual_seed(1)
    img = torch.randn(2, 3, 9, 11)
    x = torch.rand(2, 5, 7) * 13 - 1.5  # some samples outside the image: borders clamp
    y = torch.rand(2, 5, 7) * 11 - 1.5
    ours = bilinear_sample(img, x, y, sampler)
    grid = torch.stack([(x + 0.5) / 11 * 2 - 1, (y + 0.5) / 9 * 2 - 1], dim=-1)
    ref = torch.nn.functional.grid_sample(img, grid, mode="bilinear", align_corners=False, padding_mode="border")
    assert torch.allclose(ours, ref, atol=1e-5)
    with pytest.raises(ValueError, match="unknown sampler"):
        bilinear_sample(img, x, y, "nearest")


def test_grid_sampler_differentiates_to_any_order_like_the_gathers():
    """grid_sample's own formula has no double backward; ours goes through the transpose. Its first
    and second derivatives equal the gather sampler's, and gradcheck / gradgradcheck pass."""
    torch.manual_seed(2)
    img = torch.randn(2, 3, 6, 7, dtype=torch.float64)
    x = torch.rand(2, 4, 5, dtype=torch.float64) * 9 - 1
    y = torch.rand(2, 4, 5, dtype=torch.float64) * 8 - 1
    assert torch.autograd.gradcheck(lambda im: bilinear_sample(im, x, y), (img.clone().requires_grad_(),))
    assert torch.autograd.gradgradcheck(lambda im: bilinear_sample(im, x, y), (img.clone().requires_grad_(),))

    def second(sampler: str) -> tuple[torch.Tensor, torch.Tensor]:
        im = img.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(bilinear_sample(im, x, y, sampler).square().sum(), im, create_graph=True)
        (gg,) = torch.autograd.grad(g.square().sum(), im)
        return g.detach(), gg

    (g_grid, gg_grid), (g_gather, gg_gather) = second("grid"), second("gather")
    assert torch.allclose(g_grid, g_gather, atol=1e-10) and torch.allclose(gg_grid, gg_gather, atol=1e-10)
    assert gg_grid.abs().sum() > 0
    # reduced precision in, the same dtype out (sampled in fp32)
    out = bilinear_sample(img.to(torch.bfloat16), x.float(), y.float())
    assert out.dtype == torch.bfloat16
    assert torch.allclose(out.double(), bilinear_sample(img, x, y), atol=0.05)


def test_r1_through_geometric_augmentation(images):
    """grad(create_graph=True) through augment -> D, then backward of the penalty: the case
    that grid_sample's own formula cannot do on current PyTorch. Checked against finite differences."""
    pipe = make_augment_pipe("fixed", 1.0)
    torch.manual_seed(0)
    D = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Softplus(), torch.nn.Flatten(),
                            torch.nn.Linear(4 * 32 * 32, 1))
    real = images[:4]

    def penalty() -> torch.Tensor:
        torch.manual_seed(5)  # the same augmentation parameters every call
        with torch.enable_grad():
            x = real.clone().requires_grad_(True)
            (grads,) = torch.autograd.grad(D(pipe(x)).sum(), x, create_graph=True)
            return grads.square().sum([1, 2, 3]).mean()

    D.zero_grad()
    penalty().backward()
    w = D[0].weight
    assert w.grad is not None and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0
    direction = torch.randn_like(w)
    analytic = (w.grad * direction).sum().item()
    eps = 1e-2
    with torch.no_grad():
        w += eps * direction
        plus = penalty().item()
        w -= 2 * eps * direction
        minus = penalty().item()
        w += eps * direction
    numeric = (plus - minus) / (2 * eps)
    assert analytic == pytest.approx(numeric, rel=0.05, abs=1e-4)


def test_ada_update_rule():
    pipe = make_augment_pipe("ada", 0.0)
    ada = AdaController(target=0.6, ada_kimg=500, interval=4)
    batch = 32
    for idx in range(8):  # D is overconfident on reals: sign mean 1 > 0.6 -> p rises
        ada.accumulate(torch.ones(batch, 1))
        changed = ada.update(pipe, batch, idx)
        assert changed == ((idx + 1) % 4 == 0)
    step = batch * 4 / (500 * 1000)
    assert float(pipe.p) == pytest.approx(2 * step, rel=1e-6)
    assert ada.last_rt == pytest.approx(1.0)
    for idx in range(8, 100):  # D unsure: p falls, but never below zero
        ada.accumulate(-torch.ones(batch, 1))
        ada.update(pipe, batch, idx)
    assert float(pipe.p) == 0.0


@pytest.mark.parametrize("pad", [(0, 0, 0, 0), (5, 7, 3, 11)])
def test_matrix_resampling_equals_the_direct_convolutions(images, pad):
    f = lowpass_filter(12)
    x = images[:, :, :, :24].contiguous()  # not square: H and W use their own matrices
    up = upsample2x(x, f, pad)
    assert up.shape == (x.shape[0], 3, 2 * (x.shape[2] + pad[2] + pad[3]), 2 * (x.shape[3] + pad[0] + pad[1]))
    assert torch.allclose(up, upsample2x(x, f, pad, method="conv"), atol=1e-5)
    down = downsample2x(up, f)
    assert torch.allclose(down, downsample2x(up, f, method="conv"), atol=1e-5)
    # the low-pass round trip keeps a smooth image: the padded interior comes back
    inner = down[:, :, pad[2]:pad[2] + x.shape[2], pad[0]:pad[0] + x.shape[3]]
    assert (inner - x).abs().mean() < 0.05
    # gradients flow to the input like the convolutions'
    xg = x.clone().requires_grad_(True)
    xr = x.clone().requires_grad_(True)
    g = torch.randn_like(down)
    (downsample2x(upsample2x(xg, f, pad), f) * g).sum().backward()
    (downsample2x(upsample2x(xr, f, pad, method="conv"), f, method="conv") * g).sum().backward()
    assert torch.allclose(xg.grad, xr.grad, atol=1e-4)


def test_pipe_resamples_alike_by_matrix_and_by_convolution(images):
    """The fast pipe (matrix products, grid_sample's kernel) and the plain loop's (convolutions,
    gathers) give the same images."""
    pipe = make_augment_pipe("ada", 1.0)
    out = {}
    for resample, sampler in (("matrix", "grid"), ("conv", "gather"), ("matrix", "gather")):
        pipe.resample, pipe.sampler = resample, sampler
        torch.manual_seed(5)
        out[resample, sampler] = pipe(images)
    fast = out["matrix", "grid"]
    assert not torch.allclose(fast, images, atol=0.1)  # the operations did fire
    assert torch.allclose(fast, out["conv", "gather"], atol=1e-4)
    assert torch.allclose(fast, out["matrix", "gather"], atol=1e-5)
