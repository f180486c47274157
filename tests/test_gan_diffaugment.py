"""DiffAugment: differentiable (to second order, for R1), each operation as the paper specifies,
deterministic under a seed, the policy checked, and a few training steps of each architecture."""

import numpy as np
import pytest
import torch

from neuralbrush.cli.main import run
from neuralbrush.core.errors import UsageError
from neuralbrush.core.runs import snapshot_files
from neuralbrush.datasets.samples import blooms, write_blooms
from neuralbrush.gan import diffaugment as da
from neuralbrush.gan.augment import make_augment_pipe
from neuralbrush.gan.diffaugment import DiffAugment, adjust_color, cutout_mask, translate
from neuralbrush.gan.presets import TrainOptions
from neuralbrush.gan.snapshot import load_snapshot
from neuralbrush.gan.train import train


@pytest.fixture(scope="module")
def images():
    arr = np.stack([np.array(b) for b in blooms(8, 32, seed=3)])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 127.5 - 1


def test_policy_order_factory_and_checks():
    assert DiffAugment().ops == ("color", "translation", "cutout")
    assert DiffAugment("cutout, color").ops == ("color", "cutout")  # the paper's order, whatever was named
    assert isinstance(make_augment_pipe("diffaugment"), DiffAugment)
    assert make_augment_pipe("diffaugment", policy="translation").ops == ("translation",)
    for bad in ("color,blur", "", "color,color", " , "):
        with pytest.raises(UsageError, match="--diffaugment"):
            TrainOptions(aug="diffaugment", diffaugment=bad).validate()
    opts = TrainOptions(aug="diffaugment", diffaugment=" translation ,color").validate()
    assert opts.diffaugment == "translation,color"


def test_cli_enforces_aug_choices(tmp_path, capsys):
    data = tmp_path / "d"
    write_blooms(data, 4, 16, seed=0)
    assert run(["train", str(data), "--aug", "diffaug", "--outdir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "--aug" in err and "diffaugment" in err  # the choices are listed
    assert run(["train", str(data), "--aug", "diffaugment", "--diffaugment", "color,zoom",
                "--outdir", str(tmp_path / "runs")]) == 2
    assert "--diffaugment" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_gradients_flow_to_the_input_twice(images):
    """G learns through the augmentation, and R1 (a gradient of a gradient) passes through it."""
    x = images.clone().requires_grad_(True)
    torch.manual_seed(0)
    out = DiffAugment()(x)
    (grad,) = torch.autograd.grad((out * torch.randn_like(out)).sum(), x)
    assert grad.abs().sum() > 0 and torch.isfinite(grad).all()
    conv = torch.nn.Conv2d(3, 4, 3, padding=1)
    x = images.clone().requires_grad_(True)
    logits = conv(DiffAugment()(x)).square().mean(dim=(1, 2, 3))
    (r1,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    r1.square().sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0


def test_deterministic_under_a_seed(images):
    aug = DiffAugment()
    torch.manual_seed(5)
    a = aug(images)
    torch.manual_seed(5)
    b = aug(images)
    torch.manual_seed(6)
    c = aug(images)
    assert torch.equal(a, b) and not torch.equal(a, c)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(aug(images, g1), aug(images, g2))


def test_translation_moves_whole_pixels_with_zeros(images):
    n, _, h, w = images.shape
    moved = translate(images, torch.tensor([2] * n), torch.tensor([-3] * n))
    expect = torch.zeros_like(images)
    expect[:, :, 2:, :w - 3] = images[:, :, :h - 2, 3:]
    assert torch.equal(moved, expect)
    # The module: every image is its input shifted by at most 1/8 of the size (4 px at 32), zero padded.
    torch.manual_seed(0)
    out = DiffAugment("translation")(images.repeat(8, 1, 1, 1))
    shifts = []
    for img, src in zip(out, images.repeat(8, 1, 1, 1)):
        found = [(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)
                 if torch.equal(img, translate(src[None], torch.tensor([dy]), torch.tensor([dx]))[0])]
        assert found, "an output that is not a shift of at most 4 px"
        shifts.append(found[0])
    assert len(set(shifts)) > 10 and any(max(abs(dy), abs(dx)) == 4 for dy, dx in shifts)


def test_cutout_zeroes_one_half_size_square(images):
    ones = torch.ones(64, 3, 32, 32)
    torch.manual_seed(0)
    out = DiffAugment("cutout")(ones)
    assert ((out == 0) | (out == 1)).all()
    full = 0
    for img in out:
        hole = img[0] == 0
        assert torch.equal(hole[None].expand(3, -1, -1), img == 0)  # the same hole in every channel
        ys, xs = hole.nonzero(as_tuple=True)
        assert len(ys) > 0
        height, width = int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1)
        assert height <= 16 and width <= 16 and len(ys) == height * width  # one rectangle, clipped by the border
        full += height == width == 16
    assert full > 10  # most holes lie fully inside: 16x16, half the size
    mask = cutout_mask(1, 8, 8, torch.tensor([4]), torch.tensor([4]), (4, 4))
    assert mask[0, 0, 2:6, 2:6].sum() == 0 and mask.sum() == 64 - 16


def test_colour_ranges_as_in_the_paper(images, monkeypatch):
    x = images[:2]
    # brightness is added; saturation scales the distance to each pixel's channel mean; contrast the
    # distance to the image mean
    same = adjust_color(x, torch.zeros(2), torch.ones(2), torch.ones(2))
    assert torch.allclose(same, x, atol=1e-6)
    assert torch.allclose(adjust_color(x, torch.full((2,), 0.3), torch.ones(2), torch.ones(2)), x + 0.3, atol=1e-6)
    grey = adjust_color(x, torch.zeros(2), torch.zeros(2), torch.ones(2))
    assert torch.allclose(grey, x.mean(dim=1, keepdim=True).expand_as(x), atol=1e-6)
    double = adjust_color(x, torch.zeros(2), torch.full((2,), 2.0), torch.ones(2))
    assert torch.allclose(double - grey, 2 * (x - grey), atol=1e-5)
    half = adjust_color(x, torch.zeros(2), torch.ones(2), torch.full((2,), 0.5))
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    assert torch.allclose(half - mean, 0.5 * (x - mean), atol=1e-5)
    # The module draws brightness in [-0.5, 0.5], saturation in [0, 2], contrast in [0.5, 1.5].
    drawn = []
    real_uniform = da._uniform
    monkeypatch.setattr(da, "_uniform", lambda n, lo, hi, g: drawn.append((lo, hi)) or real_uniform(n, lo, hi, g))
    DiffAugment("color")(x)
    assert drawn == [(-0.5, 0.5), (0.0, 2.0), (0.5, 1.5)]
    # On a flat grey image only brightness acts: the shift stays within +-0.5 and covers the range.
    flat = torch.full((4000, 3, 2, 2), 0.1)
    shift = DiffAugment("color")(flat)[:, 0, 0, 0] - 0.1
    assert shift.min() >= -0.5 - 1e-6 and shift.max() <= 0.5 + 1e-6
    assert shift.min() < -0.45 and shift.max() > 0.45


def test_colour_on_a_share_of_the_images(images):
    """color_p (training option diffaugment_color_p): each image is recoloured with that probability
    and the others keep their colours (to float rounding); at 1 the random stream is the paper's (runs made before
    the option draw the same numbers); the value is checked."""
    flat = torch.full((4000, 3, 2, 2), 0.1)
    out = DiffAugment("color", color_p=0.3)(flat, torch.Generator().manual_seed(0))
    untouched = (out - flat).abs().amax(dim=(1, 2, 3)) < 1e-6
    assert 0.65 < float(untouched.float().mean()) < 0.75  # ~70 % keep their colours
    assert torch.allclose(DiffAugment("color", color_p=0.0)(images), images, atol=1e-6)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(DiffAugment(color_p=1.0)(images, g1), DiffAugment()(images, g2))
    assert "color_p=0.5" in repr(DiffAugment(color_p=0.5)) and "color_p" not in repr(DiffAugment())
    with pytest.raises(ValueError, match="color_p"):
        DiffAugment(color_p=1.5)
    assert make_augment_pipe("diffaugment", policy="color,cutout", color_p=0.25).color_p == 0.25
    with pytest.raises(UsageError, match="diffaugment_color_p"):
        TrainOptions(diffaugment_color_p=2.0).validate()
    from neuralbrush.gan.presets import PRESETS, resolve

    for arch in ("stylegan2", "lite", "dcgan"):  # the option, else the preset's share (StyleGAN2), else 1
        assert resolve(TrainOptions(arch=arch, cfg="small", diffaugment_color_p=0.3).validate(), res=64).color_p == 0.3
    assert resolve(TrainOptions(cfg="small").validate(), res=64).color_p == PRESETS["small"].color_p
    assert resolve(TrainOptions(arch="lite").validate(), res=64).color_p == 1.0


@pytest.mark.parametrize("arch", ["stylegan2", "dcgan"])
def test_a_few_training_steps_augment_reals_and_fakes(arch, tmp_path, monkeypatch):
    data = tmp_path / "blooms16"
    write_blooms(data, 12, 16, seed=0)
    calls = []
    forward = DiffAugment.forward
    monkeypatch.setattr(DiffAugment, "forward",
                        lambda self, x, g=None: calls.append(x.requires_grad) or forward(self, x, g))
    extra = dict(cbase=256, cmax=16, mbstd=2) if arch == "stylegan2" else dict(ngf=8, ndf=8)
    run_dir = train(TrainOptions(data=str(data), outdir=str(tmp_path / "runs"), arch=arch, cfg="small", batch=4,
                                 kimg=0.012, tick=0.004, snap=3, aug="diffaugment", grid="2x2", metrics="none",
                                 device="cpu", precision="fp32", threads=1, workers=1, **extra))
    snap = load_snapshot(snapshot_files(run_dir)[-1])
    assert snap.meta["cur_nimg"] == 12 and snap.meta["augment_p"] == 0.0
    assert "augment.p" not in snap.extra_tensors
    assert snap.meta["training_options"]["aug"] == "diffaugment"
    # 3 steps: the G step's fakes (with grad), the D step's fakes and reals, and the R1 reals (the
    # regularised step) all went through DiffAugment.
    assert len(calls) >= 9 and any(calls)
    assert all(torch.isfinite(t).all() for m in (snap.G, snap.D) for t in m.state_dict().values())
