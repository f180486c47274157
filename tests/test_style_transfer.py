"""Style transfer library: VGG extractor, losses, blends, colour preservation (random VGG weights)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from neuralbrush.core.errors import CheckpointError, UsageError, WeightsMissingError
from neuralbrush.datasets.samples import bloom, skimage_photo
from neuralbrush.style import color
from neuralbrush.style.losses import gram_matrix, gram_residual
from neuralbrush.style.options import FINAL_FACTOR, StyleOptions, default_layer_weights
from neuralbrush.style.schedule import plan_scales, scale_sizes
from neuralbrush.style.transfer import StyleTransfer, image_tensor
from neuralbrush.style.vgg import LAYER_INDEX, VGGFeatures

warnings.filterwarnings("ignore", message="using random VGG-19 weights")


@pytest.fixture(scope="module")
def st() -> StyleTransfer:
    return StyleTransfer(vgg="random", precision="fp32")


@pytest.fixture(scope="module")
def content() -> Image.Image:
    return skimage_photo("chelsea").resize((96, 64), Image.LANCZOS)


@pytest.fixture(scope="module")
def style_a() -> Image.Image:
    return bloom(64, seed=3)


@pytest.fixture(scope="module")
def style_b() -> Image.Image:
    return skimage_photo("coffee").resize((96, 64), Image.LANCZOS)


def test_layer_names_follow_torchvision():
    from torchvision.models.vgg import cfgs

    from neuralbrush.style.vgg import _vgg19_features

    feats = list(_vgg19_features())
    # torchvision's VGG-19 is configuration "E": 16 convolutions (each followed by a ReLU) and 5 pools
    assert sum(1 for v in cfgs["E"] if v != "M") == 16 and cfgs["E"].count("M") == 5
    assert len(LAYER_INDEX) == len(feats) == 37
    assert isinstance(feats[LAYER_INDEX["conv4_2"]], torch.nn.Conv2d)
    assert isinstance(feats[LAYER_INDEX["relu4_2"]], torch.nn.ReLU)
    assert isinstance(feats[LAYER_INDEX["pool5"]], torch.nn.MaxPool2d)
    assert feats[LAYER_INDEX["conv5_1"]].in_channels == 512 and feats[LAYER_INDEX["conv1_1"]].in_channels == 3
    assert feats[LAYER_INDEX["conv3_4"]].out_channels == 256


def test_extractor_is_truncated_frozen_and_deterministic():
    m = VGGFeatures(["relu1_1", "relu3_1"], vgg="random", seed=5)
    assert len(m.body) == LAYER_INDEX["relu3_1"] + 1
    assert not any(p.requires_grad for p in m.parameters())
    assert not m.training and not m.train().training
    x = torch.rand(1, 3, 32, 48)
    out = m(x)
    assert set(out) == {"relu1_1", "relu3_1"}
    assert out["relu3_1"].shape == (1, 256, 8, 12) and (out["relu3_1"] >= 0).all()
    again = VGGFeatures(["relu1_1", "relu3_1"], vgg="random", seed=5)(x)
    assert torch.equal(out["relu3_1"], again["relu3_1"])
    with pytest.raises(UsageError):
        VGGFeatures(["relu9_9"], vgg="random")


def test_missing_weights_give_the_store_error():
    with pytest.raises(WeightsMissingError) as e:
        StyleTransfer(vgg="store")
    assert "vgg19" in str(e.value) and "download.pytorch.org" in str(e.value)


def test_vgg_weights_from_a_file(tmp_path):
    from neuralbrush.style.vgg import _vgg19_features

    torch.manual_seed(1)
    feats = _vgg19_features()  # the state-dict keys of torchvision's vgg19().features
    full = {f"features.{k}": v for k, v in feats.state_dict().items()}
    path = tmp_path / "vgg.pth"
    torch.save(full, path)
    m = VGGFeatures(["relu1_2"], vgg=path)
    assert torch.equal(m.body[0].weight, feats[0].weight)
    bad = tmp_path / "bad.pth"
    torch.save({"something": torch.zeros(3)}, bad)
    with pytest.raises(CheckpointError):
        VGGFeatures(["relu1_2"], vgg=bad)
    with pytest.raises(UsageError):
        VGGFeatures(["relu1_2"], vgg=tmp_path / "nope.pth")


def test_gram_is_size_normalised():
    f = torch.rand(1, 8, 16, 16)
    tiled = f.repeat(1, 1, 2, 2)  # same statistics, 4x the pixels
    assert torch.allclose(gram_matrix(f), gram_matrix(tiled), atol=1e-6)
    assert gram_matrix(f).shape == (1, 8, 8)


@pytest.mark.parametrize("channels_last", [False, True])
def test_gram_matches_the_plain_product_and_its_gradient(channels_last):
    """The one-product backward is the exact gradient (gradcheck in float64), and channels-last
    features give the same Gram and a channels-last gradient."""
    g = torch.Generator().manual_seed(3)
    f = torch.randn(2, 5, 6, 7, dtype=torch.float64, generator=g)
    if channels_last:
        f = f.contiguous(memory_format=torch.channels_last)
    f.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: gram_matrix(t), (f,))
    plain = f.detach().reshape(2, 5, 42)
    assert torch.allclose(gram_matrix(f).detach(), plain @ plain.transpose(1, 2) / (5 * 42))
    t = torch.randn(2, 5, 5, dtype=torch.float64, generator=g)
    (gram_matrix(f) * t).sum().backward()
    ref = f.detach().clone().requires_grad_(True)
    r = ref.reshape(2, 5, 42)
    ((r @ r.transpose(1, 2) / (5 * 42)) * t).sum().backward()
    assert torch.allclose(f.grad, ref.grad)
    assert f.grad.is_contiguous(memory_format=torch.channels_last) == channels_last


@pytest.mark.parametrize("channels_last", [False, True])
def test_bf16_gram_residual_is_accurate_relative_to_the_residual(channels_last):
    """Close to convergence (target within 1 % of the Gram), the bf16 product with the target folded
    in keeps the residual to bf16's relative precision, where a Gram rounded to bf16 first would
    lose it; the gradient equals the float64 one to bf16 precision and keeps the layout."""
    g = torch.Generator().manual_seed(4)
    f64 = torch.relu(torch.randn(1, 64, 48, 48, dtype=torch.float64, generator=g))
    f = f64.to(torch.bfloat16)
    f64 = f.double()  # the same values: only the arithmetic differs
    if channels_last:
        f = f.contiguous(memory_format=torch.channels_last)
    exact = gram_matrix(f64)
    target = (exact * (1 + 0.01 * torch.randn(exact.shape, dtype=torch.float64, generator=g))).float()
    ref = exact - target.double()
    r = gram_residual(f.requires_grad_(True), target)
    assert r.dtype == torch.float32 and r.shape == (1, 64, 64)
    assert ((r.double() - ref).norm() / ref.norm()).item() < 5e-3
    rounded_first = gram_matrix(f64).to(torch.bfloat16).double() - target.double()
    assert ((rounded_first - ref).norm() / ref.norm()).item() > 0.05  # what the fold avoids
    r.pow(2).sum().backward()
    want = f64.clone().requires_grad_(True)
    (gram_matrix(want) - target.double()).pow(2).sum().backward()
    assert ((f.grad.double() - want.grad).norm() / want.grad.norm()).item() < 1e-2
    assert f.grad.dtype == torch.bfloat16
    assert f.grad.is_contiguous(memory_format=torch.channels_last) == channels_last
    # fp32 features take the plain fp32 path: equal to the Gram minus the target
    f32 = f64.float()
    assert torch.allclose(gram_residual(f32, target), gram_matrix(f32) - target)


def test_scales_grow_by_sqrt2():
    assert scale_sizes(512, 128, True) == [128, 181, 256, 362, 512]
    assert scale_sizes(512, 128, False) == [512]
    assert scale_sizes(100, 128, True) == [100]


def test_defaults_are_declared_once():
    import inspect

    from neuralbrush.style import transfer, video

    # stylize takes the options object; its defaults live only in the StyleOptions fields
    for fn in (StyleTransfer.stylize, StyleTransfer.stylize_tensor, transfer.stylize, video.stylize_video):
        sig = inspect.signature(fn)
        assert sig.parameters["opts"].default == StyleOptions(), fn
        assert not {f for f in sig.parameters} & set(StyleOptions.__dataclass_fields__), fn
    d = StyleOptions()
    assert d.step_size == 0.02 and d.min_scale == 128 and d.scales is True
    resolved = d.check(2)
    assert resolved.style_weights == (1.0, 1.0) and resolved.style_layer_weights == tuple(default_layer_weights(5))
    w = default_layer_weights(5)
    assert abs(sum(w) - 1) < 1e-9 and all(a > b for a, b in zip(w, w[1:]))


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_losses_fall(st, content, style_a, optimizer):
    seen = []
    out = st.stylize(content, [style_a], StyleOptions(optimizer=optimizer, iterations=25, ema=0.0),
                     progress=lambda it: seen.append(it))
    assert out.size == content.size
    assert len(seen) == 25 and seen[-1].step == seen[-1].total == 25
    first, last = seen[0], seen[-1]
    assert first.parts["content"] == pytest.approx(0.0, abs=1e-6)  # init from the content
    assert last.parts["style"] < 0.5 * first.parts["style"]
    assert last.loss < 0.6 * first.loss
    assert last.image().size == content.size


def test_coarse_to_fine_callback_and_ema(st, style_a):
    photo = skimage_photo("astronaut").resize((128, 128))
    seen = []
    out = st.stylize(photo, [style_a], StyleOptions(min_scale=64, iterations=4, initial_iterations=6),
                     progress=lambda it: seen.append((it.scale, it.size, it.scale_step, it.step, it.total)))
    assert out.size == (128, 128)
    assert [s[1] for s in seen if s[2] == 1] == [(64, 64), (91, 91), (128, 128)]
    assert seen[-1][3] == seen[-1][4] == 6 + 4 + round(FINAL_FACTOR * 4)


def test_final_scale_steps(st, style_a):
    """--final-iterations sets the output-size scale's steps (default FINAL_FACTOR x --iterations); a
    single scale keeps --iterations."""
    plan = plan_scales((512, 384), 512, min_scale=128, coarse_to_fine=True, initial_iterations=200, iterations=80,
                       final_iterations=300)
    assert [n for _, n in plan] == [200, 80, 80, 80, 300] and plan[-1][0] == (512, 384)
    assert [n for _, n in plan_scales((512, 512), 512, min_scale=128, coarse_to_fine=False, initial_iterations=200,
                                      iterations=80, final_iterations=300)] == [80]
    assert StyleOptions().final_steps() == round(FINAL_FACTOR * StyleOptions().iterations) == 192
    assert StyleOptions(iterations=10).final_steps() == round(FINAL_FACTOR * 10)
    assert isinstance(StyleOptions(iterations=10).final_steps(), int)
    assert StyleOptions(iterations=10, final_iterations=0).final_steps() == 0
    photo = skimage_photo("astronaut").resize((128, 128))
    seen = []
    st.stylize(photo, [style_a], StyleOptions(min_scale=64, iterations=3, initial_iterations=2, final_iterations=7),
               progress=lambda it: seen.append((it.size, it.scale_steps, it.total)))
    assert sorted({(s, n) for s, n, _ in seen}) == [((64, 64), 2), ((91, 91), 3), ((128, 128), 7)]
    assert seen[-1][2] == 2 + 3 + 7
    for bad in (-1, 2.5, 10**6):
        with pytest.raises(UsageError, match="--final-iterations"):
            StyleOptions(final_iterations=bad).check(1)


def test_two_style_blend_targets_are_the_weighted_blend(st, content, style_a, style_b):
    layers = ("relu1_1", "relu3_1", "relu5_1")
    a, b = image_tensor(style_a.resize((96, 96))), image_tensor(style_b)
    ga, gb = st.style_grams(a, layers), st.style_grams(b, layers)
    loss = st.build_loss(image_tensor(content), [a, b], style_weights=[100, 45], content_layers=("relu4_2",),
                         style_layers=layers, style_layer_weights=[1, 1, 1], content_weight=1, style_weight=1,
                         tv_weight=0)
    for name in layers:
        expect = (100 / 145) * ga[name] + (45 / 145) * gb[name]
        assert torch.allclose(loss.style[name].target, expect, rtol=1e-5, atol=1e-8)
        assert not torch.allclose(ga[name], gb[name])
    # an image whose Grams are exactly the blend has zero style loss only for the blend weights
    loss_a_only = st.build_loss(image_tensor(content), [a, b], style_weights=[1, 0], content_layers=("relu4_2",),
                                style_layers=layers, style_layer_weights=[1, 1, 1], content_weight=1, style_weight=1,
                                tv_weight=0)
    assert torch.allclose(loss_a_only.style["relu3_1"].target, ga["relu3_1"])


def test_style_targets_are_cached_across_calls(content, style_a):
    st2 = StyleTransfer(vgg="random", precision="fp32")
    st2.stylize(content, [style_a], StyleOptions(iterations=2))
    n = st2.stats["gram_computations"]
    st2.stylize(content.transpose(Image.FLIP_LEFT_RIGHT), [style_a], StyleOptions(iterations=2))
    assert st2.stats["gram_computations"] == n and st2.stats["gram_cache_hits"] >= 1


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def test_luminance_only_keeps_the_content_chroma(st, content, style_a):
    plain = st.stylize(content, [style_a], StyleOptions(iterations=25))
    kept = st.stylize(content, [style_a], StyleOptions(iterations=25, preserve_color="luminance"))
    c_ycc = np.asarray(content.convert("YCbCr"))
    k_ycc = np.asarray(kept.convert("YCbCr"))
    p_ycc = np.asarray(plain.convert("YCbCr"))
    chroma_kept = _psnr(c_ycc[..., 1:], k_ycc[..., 1:])
    chroma_plain = _psnr(c_ycc[..., 1:], p_ycc[..., 1:])
    assert chroma_kept > 38.0, chroma_kept
    assert chroma_kept > chroma_plain + 8.0, (chroma_kept, chroma_plain)
    # and the luma really was stylised
    assert _psnr(c_ycc[..., 0], k_ycc[..., 0]) < 40.0


def test_histogram_matching_takes_the_content_colour_statistics(content, style_b):
    c, s = image_tensor(content), image_tensor(bloom(64, seed=11))
    m = color.match_color_histogram(s, c)
    cm, sm = c[0].reshape(3, -1), m[0].reshape(3, -1)
    assert torch.allclose(sm.mean(1), cm.mean(1), atol=0.03)
    assert torch.allclose(torch.cov(sm), torch.cov(cm), atol=0.01)


def test_ycbcr_round_trip():
    x = torch.rand(1, 3, 8, 8)
    assert torch.allclose(color.ycbcr_to_rgb(color.rgb_to_ycbcr(x)), x, atol=1e-5)


def test_bad_options_are_usage_errors(st, content, style_a):
    with pytest.raises(UsageError):
        st.stylize(content, [style_a], StyleOptions(style_weights=[1, 2], iterations=1))
    with pytest.raises(UsageError):
        st.stylize(content, [style_a], StyleOptions(optimizer="sgd", iterations=1))
    with pytest.raises(UsageError):
        st.stylize(content, [style_a], StyleOptions(init="/nonexistent.png", iterations=1))
    with pytest.raises(UsageError):
        st.stylize(content, [], StyleOptions(iterations=1))
    with pytest.raises(UsageError):
        st.stylize(content, [style_a], StyleOptions(size=8, iterations=1))


def test_bf16_matches_fp32_loss_closely(content, style_a):
    a = StyleTransfer(vgg="random", precision="fp32")
    b = StyleTransfer(vgg="random", precision="bf16")
    la, lb = [], []
    a.stylize(content, [style_a], StyleOptions(iterations=3, ema=0.0), progress=lambda it: la.append(it.loss))
    b.stylize(content, [style_a], StyleOptions(iterations=3, ema=0.0), progress=lambda it: lb.append(it.loss))
    assert b.runtime.precision == "bf16"
    assert lb[0] == pytest.approx(la[0], rel=0.1)


def test_lbfgs_works_with_channels_last_bf16(content, style_a):
    st_bf16 = StyleTransfer(vgg="random", precision="bf16")
    assert st_bf16.runtime.channels_last
    seen = []
    st_bf16.stylize(content, [style_a], StyleOptions(optimizer="lbfgs", size=48, iterations=4),
                    progress=lambda it: seen.append(it.loss))
    assert len(seen) == 4 and seen[-1] < seen[0]


def _quadratic(target: torch.Tensor, blow_up_at: int | None = None, blow_up=1e6):
    """A loss_fn for run_lbfgs: a squared distance to ``target`` with curvatures from 1 to 50 (so
    L-BFGS needs many steps); evaluation ``blow_up_at`` returns ``blow_up`` times it (a step that
    diverged, as the real loss does when a full step overshoots)."""
    calls = [0]
    curvature = torch.linspace(1, 50, target.numel()).reshape(target.shape)

    def loss_fn(x, feats):
        calls[0] += 1
        loss = (curvature * (feats["x"] - target) ** 2).sum()
        if calls[0] == blow_up_at:
            loss = loss * blow_up
        return loss, {"total": float(loss.detach())}
    return loss_fn


def _spy_lbfgs(monkeypatch) -> list:
    made = []
    real = torch.optim.LBFGS

    class Spy(real):
        def __init__(self, params, **kw):
            made.append(kw["line_search_fn"])
            super().__init__(params, **kw)
    monkeypatch.setattr(torch.optim, "LBFGS", Spy)
    return made


def test_lbfgs_without_line_search_takes_one_evaluation_per_step(monkeypatch):
    from neuralbrush.style.schedule import run_lbfgs

    made = _spy_lbfgs(monkeypatch)
    gen = torch.Generator().manual_seed(0)
    target, start = torch.rand(1, 3, 8, 8, generator=gen), torch.rand(1, 3, 8, 8, generator=gen)
    seen = []
    out = run_lbfgs(start.clone(), _quadratic(target), lambda x: {"x": x}, 12,
                    lambda step, loss, parts, get: seen.append(loss))
    assert made == [None]  # the default: no line search
    assert len(seen) == 12 and seen[-1] < 0.05 * seen[0]
    assert _quadratic(target)(out, {"x": out})[0] == pytest.approx(min(seen), rel=1e-5)  # the best iterate


@pytest.mark.parametrize("blow_up", [1e6, float("nan")])
def test_lbfgs_falls_back_to_the_line_search_from_the_best_image_when_a_step_diverges(monkeypatch, blow_up):
    from neuralbrush.style.schedule import run_lbfgs

    made = _spy_lbfgs(monkeypatch)
    gen = torch.Generator().manual_seed(1)
    target, start = torch.rand(1, 3, 8, 8, generator=gen), torch.rand(1, 3, 8, 8, generator=gen)
    seen = []
    out = run_lbfgs(start.clone(), _quadratic(target, blow_up_at=4, blow_up=blow_up), lambda x: {"x": x}, 15,
                    lambda step, loss, parts, get: seen.append(loss))
    assert made == [None, "strong_wolfe"]  # the fast steps, then the line search for what was left
    assert len(seen) == 15  # the evaluation budget, the diverged one included
    assert not seen[3] <= 2 * min(seen[:3])  # evaluation 4 blew up ...
    assert _quadratic(target)(out, {"x": out})[0] < min(seen[:3])  # ... and went on below the best before it
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_the_line_search_option_reaches_lbfgs(monkeypatch, st, content, style_a):
    made = _spy_lbfgs(monkeypatch)
    st.stylize(content, [style_a], StyleOptions(size=48, iterations=2, line_search=True))
    st.stylize(content, [style_a], StyleOptions(size=48, iterations=2))
    assert made == ["strong_wolfe", None]


def test_bf16_extractor_holds_its_convolutions_in_bf16_with_autocast_numbers(content, style_a):
    """The frozen VGG is held in bf16 under bf16 autocast (no per-evaluation weight casts); the
    loss and its gradient are exactly what autocast gives with fp32 weights."""
    st_bf16 = StyleTransfer(vgg="random", precision="bf16")
    c, s = image_tensor(content), image_tensor(style_a)
    layers = ("relu1_1", "relu2_1", "relu4_2")
    loss = st_bf16.build_loss(c, [s], style_weights=[1.0], content_layers=("relu4_2",),
                              style_layers=("relu1_1", "relu2_1"), style_layer_weights=[0.5, 0.5],
                              content_weight=1.0, style_weight=10.0, tv_weight=1.0)
    convs = [m for m in st_bf16._model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(m.weight.dtype == torch.bfloat16 for m in convs)

    def value_and_grad():
        x = st_bf16.runtime.tensor(c.clone()).requires_grad_(True)
        total, _ = loss(x, st_bf16.features(x, layers))
        total.backward()
        return float(total), x.grad
    held = value_and_grad()
    for m in convs:
        m.float()  # fp32 weights: autocast casts them at every call, as before
    cast = value_and_grad()
    assert held[0] == cast[0] and torch.equal(held[1], cast[1])
