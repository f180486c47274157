"""StyleGAN2 / DCGAN networks: NVIDIA layout, shapes, determinism, truncation, precision,
double backward, snapshots and loading."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from neuralbrush.core.errors import CheckpointError, UsageError
from neuralbrush.gan import build_discriminator, build_generator
from neuralbrush.gan.dcgan import DCGANDiscriminator, DCGANGenerator
from neuralbrush.gan.layers import _FIR, bias_act, conv2d_resample, downsample2d, setup_filter, upfirdn2d, upsample2d
from neuralbrush.gan.loading import load_discriminator, load_gan, load_generator
from neuralbrush.gan.trainer_state import copy_matching
from neuralbrush.gan.networks import Discriminator, Generator
from neuralbrush.gan.snapshot import load_snapshot, save_snapshot, snapshot_name


# Tiny networks: one thread avoids OpenMP spin-wait stalls on a loaded 2-core machine.
pytestmark = pytest.mark.usefixtures("one_thread")


def small_G(res: int = 32, c_dim: int = 0, **syn) -> Generator:
    kw = dict(channel_base=512 * res // 32, channel_max=32, num_fp16_res=0, conv_clamp=None)
    kw.update(syn)
    return Generator(z_dim=32, w_dim=32, c_dim=c_dim, img_resolution=res, img_channels=3,
                     mapping_kwargs=dict(num_layers=2), synthesis_kwargs=kw)


def small_D(res: int = 32, c_dim: int = 0, **kw) -> Discriminator:
    return Discriminator(c_dim=c_dim, img_resolution=res, channel_base=512 * res // 32, channel_max=32, **kw)


def zs(n: int, dim: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------------------------
# NVIDIA layout


def test_parameter_counts_match_nvidia_1024_config():
    # stylegan2-ada-pytorch prints these totals for its 1024x1024 G and D (config-f channels)
    G = Generator(img_resolution=1024)
    D = Discriminator(img_resolution=1024)
    assert sum(p.numel() for p in G.parameters()) == 30_370_060
    assert sum(p.numel() for p in D.parameters()) == 29_012_513
    assert sum(p.numel() for p in G.mapping.parameters()) == 8 * (512 * 512 + 512)
    assert G.num_ws == 18


def test_256px_names_and_shapes_follow_nvidia():
    G = Generator(img_resolution=256, synthesis_kwargs=dict(channel_base=16384, channel_max=512))  # paper256
    D = Discriminator(img_resolution=256, channel_base=16384, channel_max=512)
    g = {k: tuple(v.shape) for k, v in G.state_dict().items()}
    d = {k: tuple(v.shape) for k, v in D.state_dict().items()}
    assert G.num_ws == 14
    assert g["synthesis.b4.const"] == (512, 4, 4)
    assert g["mapping.fc0.weight"] == (512, 512) and g["mapping.fc7.bias"] == (512,)
    assert g["mapping.w_avg"] == (512,)
    assert g["synthesis.b4.resample_filter"] == (4, 4)
    assert "synthesis.b4.conv0.weight" not in g  # b4 has the constant and conv1 only
    assert g["synthesis.b4.conv1.weight"] == (512, 512, 3, 3)
    assert g["synthesis.b4.conv1.noise_const"] == (4, 4) and g["synthesis.b4.conv1.noise_strength"] == ()
    assert g["synthesis.b64.conv0.weight"] == (256, 512, 3, 3)  # 16384 // 64 = 256 channels at 64 px
    assert g["synthesis.b64.conv0.affine.weight"] == (512, 512)  # styles for the 512 input channels
    assert g["synthesis.b64.conv0.noise_const"] == (64, 64)
    assert g["synthesis.b64.conv0.resample_filter"] == (4, 4)
    assert g["synthesis.b256.torgb.weight"] == (3, 64, 1, 1)
    assert g["synthesis.b256.torgb.affine.weight"] == (64, 512)
    assert "synthesis.b256.torgb.resample_filter" not in g
    # per block: resample_filter + conv0 (7) + conv1 (7) + torgb (4); b4: const, filter, conv1, torgb
    assert len(g) == 2 * 8 + 1 + (1 + 1 + 7 + 4) + 6 * (1 + 7 + 7 + 4)
    assert d["b256.fromrgb.weight"] == (64, 3, 1, 1)
    assert d["b256.conv0.weight"] == (64, 64, 3, 3)
    assert d["b256.conv1.weight"] == (128, 64, 3, 3)
    assert d["b256.skip.weight"] == (128, 64, 1, 1) and "b256.skip.bias" not in d
    assert "b128.fromrgb.weight" not in d
    assert d["b4.conv.weight"] == (512, 513, 3, 3)  # + 1 minibatch-stddev channel
    assert d["b4.fc.weight"] == (512, 512 * 16)
    assert d["b4.out.weight"] == (1, 512)
    assert not any(k.startswith("b4.mbstd") for k in d)
    assert "mapping.fc0.weight" not in d


def test_conditional_layout():
    G = Generator(z_dim=512, c_dim=10, img_resolution=32)
    D = Discriminator(c_dim=10, img_resolution=32)
    g, d = G.state_dict(), D.state_dict()
    assert tuple(g["mapping.embed.weight"].shape) == (512, 10)
    assert tuple(g["mapping.fc0.weight"].shape) == (512, 1024)  # z concatenated with the embedded label
    assert tuple(d["mapping.embed.weight"].shape) == (512, 10)  # cmap_dim = channels at 4x4
    assert tuple(d["b4.out.weight"].shape) == (512, 512)
    assert "mapping.w_avg" not in d


# ----------------------------------------------------------------------------------------------
# Resampling conventions


def test_fir_filter_and_resampling():
    f = setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and math.isclose(f.sum().item(), 1.0, rel_tol=1e-6)
    assert torch.allclose(f, torch.outer(torch.tensor([1., 3, 3, 1]), torch.tensor([1., 3, 3, 1])) / 64)
    x = torch.ones(1, 2, 8, 8)
    up = upsample2d(x, f)
    down = downsample2d(x, f)
    assert up.shape == (1, 2, 16, 16) and down.shape == (1, 2, 4, 4)
    assert torch.allclose(up[:, :, 2:-2, 2:-2], torch.ones(1, 2, 12, 12), atol=1e-6)  # constant interior stays
    assert torch.allclose(down[:, :, 1:-1, 1:-1], torch.ones(1, 2, 2, 2), atol=1e-6)


def test_upsampling_inserts_zeros_in_the_input_layout():
    """Zero insertion, the defining computation, written out; channels_last stays channels_last
    (the FIR after it runs faster so), with the same values and gradients."""
    g = torch.Generator().manual_seed(5)
    f = setup_filter([1, 3, 3, 1])
    x = torch.randn(2, 3, 5, 6, generator=g)
    z = torch.zeros(2, 3, 10, 12)
    z[:, :, ::2, ::2] = x
    ref = upfirdn2d(z, f, padding=[2, 1, 2, 1], gain=4)
    for layout in (torch.contiguous_format, torch.channels_last):
        xl = x.contiguous(memory_format=layout).requires_grad_(True)
        up = upsample2d(xl, f)
        assert up.is_contiguous(memory_format=layout)
        assert torch.allclose(up, ref, atol=1e-6)
        (gx,) = torch.autograd.grad(up.square().sum(), xl)
        if layout is torch.contiguous_format:
            first = gx
        else:
            assert torch.allclose(gx, first, atol=1e-5)


@pytest.mark.parametrize("flip_weight", [True, False])
def test_transposed_upsampling_equals_zero_insertion_reference(flip_weight):
    """The fast transposed-conv path equals the defining computation: zero-insert, FIR, conv."""
    torch.manual_seed(0)
    f = setup_filter([1, 3, 3, 1])
    x, w = torch.randn(2, 4, 6, 6), torch.randn(5, 4, 3, 3)
    fast = conv2d_resample(x, w, f=f, up=2, padding=1, flip_weight=flip_weight)
    ref = upfirdn2d(x, f, up=2, padding=[1 + 2, 1 + 1, 1 + 2, 1 + 1], gain=4)
    ref = F.conv2d(ref, w if flip_weight else w.flip([2, 3]))
    assert fast.shape == (2, 5, 12, 12)
    assert torch.allclose(fast, ref, atol=1e-5)
    # grouped (fused modulated conv) path agrees with per-sample convolutions
    wg = torch.randn(2 * 5, 4, 3, 3)
    grouped = conv2d_resample(x.reshape(1, 8, 6, 6), wg, f=f, up=2, padding=1, groups=2, flip_weight=flip_weight)
    single = torch.cat([conv2d_resample(x[i:i + 1], wg[5 * i:5 * i + 5], f=f, up=2, padding=1,
                                        flip_weight=flip_weight) for i in range(2)], dim=1)
    assert torch.allclose(grouped, single, atol=1e-5)


def test_strided_downsampling_equals_reference():
    torch.manual_seed(1)
    f = setup_filter([1, 3, 3, 1])
    x, w = torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3)
    fast = conv2d_resample(x, w, f=f, down=2, padding=1)
    ref = upfirdn2d(F.conv2d(upfirdn2d(x, f, padding=2), w), None, down=2)
    assert fast.shape == (2, 4, 4, 4) and torch.allclose(fast, ref, atol=1e-5)


# ----------------------------------------------------------------------------------------------
# Behaviour


@pytest.mark.parametrize("res", [32, 64])
def test_generator_and_discriminator_shapes(res):
    G, D = small_G(res).eval(), small_D(res).eval()
    with torch.no_grad():
        img = G(zs(4), None, noise_mode="const")
        ws = G.mapping(zs(4), None)
        logits = D(img, None)
    assert img.shape == (4, 3, res, res) and img.dtype == torch.float32
    assert ws.shape == (4, G.num_ws, 32) and G.num_ws == 2 * int(math.log2(res)) - 2
    assert logits.shape == (4, 1) and torch.isfinite(logits).all()
    assert 0.05 < img.std().item() < 5


def test_const_noise_is_deterministic_random_noise_is_not():
    G = small_G().eval()
    for p in G.synthesis.parameters():
        if p.ndim == 0:
            p.data.fill_(0.5)  # noise strengths
    z = zs(3)
    with torch.no_grad():
        a, b = G(z, None, noise_mode="const"), G(z, None, noise_mode="const")
        r1, r2 = G(z, None, noise_mode="random"), G(z, None, noise_mode="random")
        n = G(z, None, noise_mode="none")
    assert torch.equal(a, b)
    assert not torch.allclose(r1, r2)
    assert not torch.allclose(a, n)
    with pytest.raises(ValueError, match="noise_mode"):
        G(z, None, noise_mode="loud")


def test_fused_and_unfused_modulated_conv_agree():
    G = small_G().eval()
    z = zs(3)
    with torch.no_grad():
        fused = G(z, None, noise_mode="const", fused_modconv=True)
        split = G(z, None, noise_mode="const", fused_modconv=False)
    assert torch.allclose(fused, split, atol=1e-4)


def _bias_act_reference(x, b, act, gain, clamp):
    """NVIDIA's reference order, written out: bias, activation, gain, clamp."""
    y = x + b.reshape(1, -1, 1, 1) if b is not None else x
    y = {"linear": lambda t: t, "relu": F.relu, "lrelu": lambda t: F.leaky_relu(t, 0.2),
         "tanh": torch.tanh}[act](y)
    y = y * gain
    return y.clamp(-clamp, clamp) if clamp is not None else y


@pytest.mark.parametrize("act,gain,clamp,with_bias", [
    ("lrelu", math.sqrt(2), 0.9, True), ("lrelu", 1.0, None, True), ("lrelu", 0.5, 0.3, False),
    ("lrelu", 1.0, 0.5, False), ("relu", 2.0, 0.7, True), ("linear", 1.0, 0.6, True), ("linear", 3.0, None, False),
    ("linear", 1.0, 0.4, False), ("tanh", 1.5, 0.5, True)])
def test_bias_act_matches_the_reference_order_values_gradients_and_double_backward(act, gain, clamp, with_bias):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 6, 7, generator=g, dtype=torch.float64).requires_grad_(True)
    b = (torch.randn(5, generator=g, dtype=torch.float64) * 0.3).requires_grad_(True) if with_bias else None
    y = bias_act(x, b, act=act, gain=gain, clamp=clamp)
    ref = _bias_act_reference(x, b, act, gain, clamp)
    assert torch.allclose(y, ref, atol=1e-12)
    if clamp is not None:
        assert (ref.abs() == clamp).any()  # some values are clamped: the clamp's gradient is exercised
    inputs = (x,) if b is None else (x, b)
    gy = torch.randn(y.shape, generator=g, dtype=torch.float64)
    got = torch.autograd.grad(y, inputs, gy, create_graph=True)
    want = torch.autograd.grad(ref, inputs, gy, create_graph=True)
    for a, w in zip(got, want):
        assert torch.allclose(a, w, atol=1e-12)
    # double backward (R1 differentiates D's input gradient): the gradient of x's gradient
    sx = torch.randn(x.shape, generator=g, dtype=torch.float64)
    second = [torch.autograd.grad((d[0] * sx).sum(), x, allow_unused=True, materialize_grads=True)[0]
              if d[0].requires_grad else torch.zeros_like(x) for d in (got, want)]
    assert torch.allclose(second[0], second[1], atol=1e-12)


@pytest.mark.parametrize("channels", [16, 48])  # 16: the addcmul form for a short channel run
def test_bias_act_keeps_channels_last_and_bf16(channels, monkeypatch):
    import neuralbrush.gan.layers as layers

    x = torch.randn(2, channels, 8, 8).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    b = torch.randn(channels, requires_grad=True)
    gy = torch.randn(x.shape).to(torch.bfloat16)
    y = bias_act(x, b, act="lrelu", clamp=0.5)
    assert y.dtype == torch.bfloat16 and y.is_contiguous(memory_format=torch.channels_last)
    ref = _bias_act_reference(x.detach().double(), b.detach().double().to(torch.bfloat16).double(), "lrelu",
                              math.sqrt(2), 0.5)
    assert (y.double() - ref).abs().max() < 0.02
    results = []
    for short_run in (layers.SHORT_RUN, 0):  # 0: every tensor takes the plain add
        monkeypatch.setattr(layers, "SHORT_RUN", short_run)
        y = bias_act(x, b, act="lrelu")  # unclamped: rounding cannot move a value across the clamp
        results.append((y, *torch.autograd.grad(y, (x, b), gy)))
    for got, want in zip(results[0], results[1]):  # the two forms agree to bf16 rounding
        assert torch.allclose(got.float(), want.float(), rtol=0.02, atol=0.02)


@pytest.mark.parametrize("act,up,down,bias,gain", [("lrelu", 1, 1, True, 1.0), ("lrelu", 1, 2, True, 1.0),
                                                   ("linear", 1, 2, False, math.sqrt(0.5)), ("lrelu", 2, 1, True, 1.0),
                                                   ("linear", 1, 1, True, 1.0), ("tanh", 1, 1, True, 1.0)])
def test_conv2d_layer_folds_the_weight_gain_into_the_activation_gain(act, up, down, bias, gain):
    """The equalised-lr weight gain moved past the convolution gives NVIDIA's layer: the
    convolution of the scaled weight, bias, activation, gain, clamp; same gradients."""
    import neuralbrush.gan.layers as layers

    torch.manual_seed(3)
    layer = layers.Conv2dLayer(4, 6, 3 if down == 1 or act == "lrelu" else 1, bias=bias, activation=act,
                               up=up, down=down, conv_clamp=1.5).double()
    with torch.no_grad():
        if bias:
            layer.bias.normal_()
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    w = layer.weight * layer.weight_gain
    y = conv2d_resample(x, w, f=layer.resample_filter, up=up, down=down, padding=layer.padding, flip_weight=up == 1)
    want = _bias_act_reference(y, layer.bias, act, layer.act_gain * gain, 1.5 * gain)
    grads = {}
    for fold in (True, False):
        layer.fold_gain = fold
        layer.zero_grad()
        out = layer(x, gain=gain)
        assert torch.allclose(out, want, atol=1e-12)
        (out * torch.linspace(-1, 1, out.numel(), dtype=torch.float64).view_as(out)).sum().backward()
        grads[fold] = [p.grad.clone() for p in layer.parameters()]
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(grads[True], grads[False]))


@pytest.mark.parametrize("shape", [(2, 3, 9, 10), (2, 3, 8, 8)])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])  # two transposes
def test_fir_filter_is_the_depthwise_convolution_to_second_order(shape, layout):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(*shape, generator=g, dtype=torch.float64).contiguous(memory_format=layout).requires_grad_(True)
    w = torch.randn(3, 1, 4, 4, generator=g, dtype=torch.float64)  # not symmetric: a flip would show
    assert torch.equal(_FIR.apply(x, w), F.conv2d(x, w, groups=3))
    assert torch.autograd.gradcheck(lambda t: _FIR.apply(t, w), (x,))
    assert torch.autograd.gradgradcheck(lambda t: _FIR.apply(t, w), (x,))


def test_fir_double_backward_runs_no_per_channel_filter_gradients():
    """R1 / path length through an FIR filter: autograd's grouped-convolution double backward
    would run one small convolution per channel for the filter's gradient; ours runs none."""
    from torch.profiler import ProfilerActivity, profile

    x = torch.randn(2, 32, 12, 12).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    f = setup_filter([1, 3, 3, 1])
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        y = upfirdn2d(x, f, padding=1)
        (gx,) = torch.autograd.grad(y.square().sum(), x, create_graph=True)
        gx.square().sum().backward()
    convs = sum(e.count for e in prof.key_averages() if e.key == "aten::convolution")
    assert convs <= 8, convs  # forward, backward, double backward: a handful, not 32 per channel loop
    assert gx.is_contiguous(memory_format=torch.channels_last)
    xr = x.detach().clone().requires_grad_(True)
    w = f.flip([0, 1])[None, None].repeat(32, 1, 1, 1)
    yr = F.conv2d(F.pad(xr, [1, 1, 1, 1]), w, groups=32)
    (gr,) = torch.autograd.grad(yr.square().sum(), xr, create_graph=True)
    gr.square().sum().backward()
    assert torch.allclose(gx, gr, atol=1e-5) and torch.allclose(x.grad, xr.grad, atol=1e-4)


@pytest.mark.parametrize("k,up,down,padding", [(3, 1, 1, 1), (3, 1, 2, 1), (1, 1, 2, 0), (3, 2, 1, 1), (1, 2, 1, 0)])
def test_conv2d_resample_adds_the_bias_inside_the_convolution_or_says_it_did_not(k, up, down, padding):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 4, 8, 8, generator=g, dtype=torch.float64)
    w = torch.randn(5, 4, k, k, generator=g, dtype=torch.float64)
    b = torch.randn(5, generator=g, dtype=torch.float64)
    f = setup_filter([1, 3, 3, 1]).double()
    plain = conv2d_resample(x, w, f=f, up=up, down=down, padding=padding)
    out, added = conv2d_resample(x, w, f=f, up=up, down=down, padding=padding, bias=b)
    assert added == (up == 1)  # the upsampling paths end with the FIR: the caller adds the bias
    want = plain + b.view(1, -1, 1, 1) if added else plain
    assert torch.allclose(out, want, atol=1e-10)


def test_truncation_psi_zero_gives_the_w_avg_image_and_cutoff():
    G = small_G().eval()
    G.mapping.w_avg.normal_()
    with torch.no_grad():
        imgs = G(zs(4), None, truncation_psi=0, noise_mode="const")
        ref = G.synthesis(G.mapping.w_avg.expand(1, G.num_ws, -1), noise_mode="const")
        assert torch.allclose(imgs, ref.expand_as(imgs), atol=1e-5)
        ws = G.mapping(zs(2), None)
        wt = G.mapping(zs(2), None, truncation_psi=0.5, truncation_cutoff=3)
    assert torch.allclose(wt[:, :3], G.mapping.w_avg.lerp(ws[:, :3], 0.5))
    assert torch.equal(wt[:, 3:], ws[:, 3:])


def test_w_avg_tracks_only_when_asked():
    G = small_G().train()
    G.mapping(zs(8), None)
    assert torch.count_nonzero(G.mapping.w_avg) == 0
    w = G.mapping(zs(8), None, update_emas=True)
    assert torch.allclose(G.mapping.w_avg, w[:, 0].mean(0) * (1 - 0.995), atol=1e-6)


def test_conditional_generator_uses_labels():
    G, D = small_G(c_dim=4).eval(), small_D(c_dim=4).eval()
    z = zs(4)
    c1, c2 = torch.eye(4), torch.eye(4).roll(1, 0)
    with torch.no_grad():
        a, b = G(z, c1, noise_mode="const"), G(z, c2, noise_mode="const")
        assert not torch.allclose(a, b)
        assert D(a, c1).shape == (4, 1) and not torch.allclose(D(a, c1), D(a, c2))
    with pytest.raises(ValueError):
        G(z, None)


def test_bf16_autocast_channels_last_close_to_fp32():
    G, D = small_G().eval(), small_D().eval()
    z = zs(4)
    with torch.no_grad():
        ref = G(z, None, noise_mode="const")
        ref_logits = D(ref, None)
        Gc, Dc = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
        for fused in (True, False):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = Gc(z, None, noise_mode="const", fused_modconv=fused)
                logits = Dc(ref.contiguous(memory_format=torch.channels_last), None)
            assert out.dtype == torch.float32 and logits.dtype == torch.float32
            assert (out - ref).abs().mean() < 0.03 * ref.abs().mean() + 0.01
            assert torch.allclose(logits, ref_logits, atol=0.05 * ref_logits.abs().max().item() + 0.05)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            forced = Gc(z, None, noise_mode="const", force_fp32=True)
    assert torch.allclose(forced, ref, atol=1e-4)


def test_conv_clamp_limits_activations():
    G = small_G(conv_clamp=0.5).eval()
    with torch.no_grad():
        img = G(zs(2), None, noise_mode="const")
    # each torgb output is clamped to [-0.5, 0.5]; the skip sum of 4 resolutions stays within 4 * 0.5 (FIR gain 1)
    assert img.abs().max() <= 2.0 + 1e-5


@pytest.mark.parametrize("autocast", [False, True])
def test_r1_double_backward_through_discriminator(autocast):
    D = small_D().train()
    reals = torch.randn(4, 3, 32, 32).requires_grad_(True)
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else torch.autocast("cpu", enabled=False)
    with ctx:
        logits = D(reals, None)
    (grad,) = torch.autograd.grad(logits.sum(), reals, create_graph=True)
    penalty = grad.square().sum(dim=[1, 2, 3]).mean()
    penalty.backward()
    g = D.b32.conv0.weight.grad
    assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0


def test_path_length_double_backward_through_synthesis():
    G = small_G().train()
    ws = G.mapping(zs(2), None).detach().requires_grad_(True)
    img = G.synthesis(ws)
    noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
    (grad,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
    lengths = grad.square().sum(2).mean(1).sqrt()
    (lengths - lengths.mean().detach()).square().mean().backward()
    for p in (G.synthesis.b8.conv0.weight, G.synthesis.b8.conv0.affine.weight):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_freeze_layers_turns_highest_resolution_layers_into_buffers():
    D = small_D(freeze_layers=2)
    names = {n for n, _ in D.named_parameters()}
    assert "b32.fromrgb.weight" not in names and "b32.conv0.weight" not in names
    assert "b32.conv1.weight" in names
    assert "b32.fromrgb.weight" in D.state_dict()


# ----------------------------------------------------------------------------------------------
# DCGAN


@pytest.mark.parametrize("res", [16, 32, 64])
def test_dcgan_shapes_and_interface(res):
    G = DCGANGenerator(img_resolution=res, ngf=8).eval()
    D = DCGANDiscriminator(img_resolution=res, ndf=8).eval()
    assert G.w_dim is None and G.num_ws == 0 and G.z_dim == 100
    z = zs(3, 100)
    with torch.no_grad():
        img = G(z, None, noise_mode="const")
        assert img.shape == (3, 3, res, res) and img.abs().max() <= 1
        assert D(img, None).shape == (3, 1)
        assert torch.equal(G(z, None, truncation_psi=0.5), G(z * 0.5, None))
        assert torch.equal(G(z, None, truncation_psi=0), G(torch.zeros_like(z), None))


def test_dcgan_64_matches_pytorch_examples_widths():
    G, D = DCGANGenerator(), DCGANDiscriminator()
    convs = [m for m in G.main if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [c.out_channels for c in convs] == [512, 256, 128, 64, 3]
    assert sum(p.numel() for p in G.parameters()) == 3_576_704  # pytorch/examples netG
    assert sum(p.numel() for p in D.parameters()) == 2_765_568  # pytorch/examples netD
    with pytest.raises(ValueError):
        DCGANGenerator(img_resolution=48)


def test_dcgan_conditional():
    G = DCGANGenerator(c_dim=3, img_resolution=16, ngf=8).eval()
    D = DCGANDiscriminator(c_dim=3, img_resolution=16, ndf=8).eval()
    z = zs(3, 100)
    with torch.no_grad():
        a, b = G(z, torch.eye(3)), G(z, torch.eye(3).roll(1, 0))
        assert not torch.allclose(a, b)
        assert D(a, torch.eye(3)).shape == (3, 1)


def test_build_helpers():
    assert isinstance(build_generator("dcgan", img_resolution=16, ngf=4), DCGANGenerator)
    assert isinstance(build_discriminator("stylegan2", img_resolution=8, channel_base=64, channel_max=8),
                      Discriminator)
    with pytest.raises(UsageError, match="unknown GAN architecture"):
        build_generator("biggan")


# ----------------------------------------------------------------------------------------------
# Snapshots and loading


def test_snapshot_round_trip_gives_identical_outputs(tmp_path):
    G, D = small_G(), small_D()
    G_ema = Generator(**G.init_kwargs).eval()
    G_ema.mapping.w_avg.normal_()
    extra = {"opt_G.step": torch.tensor(7), "augment.p": torch.tensor(0.3)}
    path = save_snapshot(tmp_path / snapshot_name(12), arch="stylegan2", G=G, D=D, G_ema=G_ema,
                         meta={"cur_nimg": 12000, "augment_p": 0.3}, extra_tensors=extra)
    assert path.name == "network-snapshot-000012.safetensors"
    snap = load_snapshot(path)
    assert snap.meta["format"] == "neuralbrush.gan" and snap.meta["version"] == 1
    assert snap.meta["cur_nimg"] == 12000 and snap.meta["G_kwargs"] == G.init_kwargs
    assert set(snap.extra_tensors) == set(extra) and snap.extra_tensors["opt_G.step"].item() == 7
    z = zs(3)
    with torch.no_grad():
        assert torch.equal(snap.G_ema(z, None, noise_mode="const"), G_ema.eval()(z, None, noise_mode="const"))
        assert torch.equal(snap.G(z, None, noise_mode="const"), G.eval()(z, None, noise_mode="const"))
        img = torch.randn(4, 3, 32, 32)
        assert torch.equal(snap.D(img, None), D.eval()(img, None))


def test_dcgan_snapshot_round_trip(tmp_path):
    G, D = DCGANGenerator(img_resolution=16, ngf=8), DCGANDiscriminator(img_resolution=16, ndf=8)
    G.train()(zs(8, 100), None)  # move the BatchNorm running statistics
    path = save_snapshot(tmp_path / "dc.safetensors", arch="dcgan", G=G, D=D, G_ema=G)
    snap = load_snapshot(path)
    with torch.no_grad():
        assert torch.equal(snap.G_ema(zs(2, 100), None), G.eval()(zs(2, 100), None))


def test_loader_takes_the_latest_snapshot_of_a_run(tmp_path):
    run = tmp_path / "00003-blooms-small"
    run.mkdir()
    old, new = small_G(), small_G()
    save_snapshot(run / snapshot_name(4), arch="stylegan2", G=old, G_ema=old)
    save_snapshot(run / snapshot_name(40), arch="stylegan2", G=new, G_ema=new)
    z = zs(2)
    G = load_generator(run)
    assert not G.training
    with torch.no_grad():
        assert torch.equal(G(z, None, noise_mode="const"), new.eval()(z, None, noise_mode="const"))
    with pytest.raises(CheckpointError, match="no discriminator"):
        load_discriminator(run)
    assert load_gan(run).path.name == snapshot_name(40)
    assert load_gan(tmp_path).path == run / snapshot_name(40)  # a folder of runs: the newest run with snapshots
    empty = tmp_path / "empty-run"
    empty.mkdir()
    with pytest.raises(UsageError, match="without network snapshots"):
        load_generator(empty)


def test_snapshot_errors_are_clear(tmp_path):
    from neuralbrush.core.checkpoint import save_checkpoint
    other = save_checkpoint(tmp_path / "other.safetensors", {"x": torch.zeros(1)}, {"format": "neuralbrush.pix2pix"})
    with pytest.raises(CheckpointError, match="expected 'neuralbrush.gan'"):
        load_snapshot(other)
    G = small_G()
    path = save_snapshot(tmp_path / "g.safetensors", arch="stylegan2", G=G)
    from neuralbrush.core.checkpoint import load_checkpoint
    tensors, meta = load_checkpoint(path)
    meta["G_kwargs"]["synthesis_kwargs"]["channel_max"] = 16  # kwargs no longer fit the tensors
    save_checkpoint(path, tensors, meta)
    with pytest.raises(CheckpointError, match="wrong shape"):
        load_snapshot(path)
    with pytest.raises(CheckpointError, match="needs G or G_ema"):
        save_snapshot(tmp_path / "x.safetensors", arch="stylegan2", G=None, D=small_D())


def test_copy_matching_loads_matching_layers():
    src, dst = small_G(64), small_G(32)
    loaded, skipped = copy_matching(dst, src.state_dict())
    assert "mapping.fc0.weight" in loaded and torch.equal(dst.mapping.fc0.weight, src.mapping.fc0.weight)
    assert "synthesis.b32.torgb.weight" in dict(skipped)  # 64px source has other channel counts at 32 px


def test_dcgan_bf16_channels_last_and_r1():
    G = DCGANGenerator(img_resolution=32, ngf=8).eval()
    D = DCGANDiscriminator(img_resolution=32, ndf=8).train()
    z = zs(4, 100)
    with torch.no_grad():
        ref = G(z, None)
        Gc = G.to(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = Gc(z, None)
    assert out.dtype == torch.float32 and (out - ref).abs().mean() < 0.02
    reals = ref.clone().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = D.to(memory_format=torch.channels_last)(reals, None)
    (grad,) = torch.autograd.grad(logits.sum(), reals, create_graph=True)
    grad.square().sum().backward()
    assert D.out.weight.grad is not None and torch.isfinite(D.features[0].weight.grad).all()


def test_fp16_mixed_precision_path_runs_top_blocks_only():
    """The CUDA fp16 policy (num_fp16_res top blocks in fp16, the rest fp32, conv_clamp),
    exercised through CPU fp16 autocast."""
    G = small_G(num_fp16_res=2, conv_clamp=256).eval()
    D = small_D(num_fp16_res=2, conv_clamp=256).eval()
    seen = {}

    def record(name):
        def hook(module, inputs, output):
            seen[name] = output[0].dtype
        return hook

    G.synthesis.b8.register_forward_hook(record("b8"))
    G.synthesis.b32.register_forward_hook(record("b32"))
    z = zs(4)
    with torch.no_grad():
        ref = G(z, None, noise_mode="const")
        ref_logits = D(ref, None)
        with torch.autocast("cpu", dtype=torch.float16):
            out = G(z, None, noise_mode="const")
            logits = D(ref, None)
    assert seen == {"b8": torch.float32, "b32": torch.float16}  # fp16 at 16 and 32 px only
    assert out.dtype == torch.float32 and (out - ref).abs().mean() < 0.01 * ref.abs().mean() + 1e-3
    assert torch.allclose(logits, ref_logits, atol=0.02 * ref_logits.abs().max().item() + 0.01)


def test_w_input_gives_each_sample_its_own_first_layout(tmp_path):
    """input_mode='w': the 4x4 block starts from the constant plus a layout made from w (per sample), so
    two latents differ before any modulation; with NVIDIA's constant every sample starts from one tensor."""
    G = small_G(input_mode="w").eval()
    b4 = G.synthesis.b4
    assert b4.input_mode == "w" and tuple(b4.input.weight.shape) == (b4.out_channels * 16, G.w_dim)
    assert G.synthesis.b8.input_mode == "const" and not hasattr(G.synthesis.b8, "input")
    assert not hasattr(small_G().synthesis.b4, "input")
    seen = []
    b4.conv1.register_forward_hook(lambda m, args, out: seen.append(args[0].detach().clone()))
    ws = G.mapping(zs(2), None)
    with torch.no_grad():
        G.synthesis(ws, noise_mode="const")
    x = seen[0]
    expected = b4.const + (ws[:, 0] @ (b4.input.weight * b4.input.weight_gain).t() + b4.input.bias).view(2, -1, 4, 4)
    assert torch.allclose(x, expected, atol=1e-5) and not torch.allclose(x[0], x[1])
    # it trains (gradients reach the new layer) and survives a snapshot round trip
    G.train()
    G(zs(2), None, noise_mode="const").square().mean().backward()
    assert b4.input.weight.grad is not None and float(b4.input.weight.grad.abs().sum()) > 0
    G.eval()
    path = save_snapshot(tmp_path / snapshot_name(1), arch="stylegan2", G=G, D=small_D(), G_ema=G, meta={"cur_nimg": 1000})
    snap = load_snapshot(path)
    with torch.no_grad():
        assert torch.equal(snap.G_ema(zs(3), None, noise_mode="const"), G(zs(3), None, noise_mode="const"))
    with pytest.raises(ValueError, match="input_mode"):
        small_G(input_mode="noise")
    from neuralbrush.gan.networks import INPUT_MODES
    from neuralbrush.gan.presets import G_INPUTS  # spelled out there so option parsing needs no torch

    assert G_INPUTS == INPUT_MODES


def test_discriminator_reconstruction_decoders(tmp_path):
    """recon_channels > 0 (--d-recon): D keeps NVIDIA's names and logits and adds two decoders that
    rebuild, from its 8x8 and 16x16 features, the whole image and one quadrant at half size; trained on
    their error alone they learn to rebuild the reals; a snapshot keeps them."""
    from neuralbrush.gan.loss import GANLoss, reconstruction_distance

    torch.manual_seed(0)
    plain, D = small_D(), small_D(recon_channels=16)
    assert D.init_kwargs["recon_channels"] == 16 and "recon_channels" not in plain.init_kwargs
    extra = set(D.state_dict()) - set(plain.state_dict())
    assert extra and all(k.startswith(("dec_whole.", "dec_part.")) for k in extra)
    assert set(plain.state_dict()) <= set(D.state_dict())
    from skimage import data as skdata

    photo = torch.from_numpy(skdata.astronaut()[::16, ::16].copy()).permute(2, 0, 1).float() / 127.5 - 1
    imgs = torch.stack([photo, photo.flip(-1), photo.flip(-2), photo.flip(-1, -2)])  # 4 real 32 px images
    D.load_state_dict(plain.state_dict(), strict=False)
    feats: dict[int, torch.Tensor] = {}
    assert torch.equal(D(imgs, None, features=feats), plain(imgs, None))  # the decoders change no logit
    assert set(feats) == {16, 8, 4}
    recs = D.reconstruct(feats, imgs, part=3)
    assert {k: tuple(r.shape) for k, (r, t) in recs.items()} == {"whole": (4, 3, 16, 16), "part": (4, 3, 16, 16)}
    assert torch.allclose(recs["whole"][1], F.avg_pool2d(imgs, 2))
    assert torch.equal(recs["part"][1], imgs[:, :, 16:, 16:])  # bottom-right quadrant, already 16 px
    with pytest.raises(ValueError, match="part"):
        D.reconstruct(feats, imgs, part=4)
    decoders = [p for n, p in D.named_parameters() if n.startswith("dec_")]
    opt = torch.optim.Adam(decoders, lr=0.01)

    def error() -> float:
        f: dict[int, torch.Tensor] = {}
        D(imgs, None, features=f)
        return sum(reconstruction_distance(r, t).mean() for r, t in D.reconstruct(f, imgs, part=0).values())

    with torch.no_grad():
        before = float(error())
    for _ in range(40):
        opt.zero_grad()
        error().backward()
        opt.step()
    with torch.no_grad():
        assert float(error()) < 0.6 * before
    # the loss adds it to D's main phase only, and needs the decoders
    G = small_G()
    loss = GANLoss(G, D, r1_gamma=1, style_mixing_prob=0, pl_weight=0, recon_weight=1.0)
    D.zero_grad()
    loss.accumulate("Dmain", imgs, torch.zeros(4, 0), zs(4), torch.zeros(4, 0), 1.0)
    assert loss.stats.values["loss/recon"] > 0 and all(p.grad is not None for p in decoders)
    D.zero_grad()
    loss.accumulate("Dreg", imgs, torch.zeros(4, 0), zs(4), torch.zeros(4, 0), 1.0)
    assert all(p.grad is None for p in decoders)
    with pytest.raises(ValueError, match="recon_channels"):
        GANLoss(G, plain, recon_weight=1.0)
    with pytest.raises(ValueError, match="32 px"):
        small_D(res=16, recon_channels=16)
    path = save_snapshot(tmp_path / snapshot_name(1), arch="stylegan2", G=G, D=D, G_ema=G, meta={"cur_nimg": 1000})
    assert torch.equal(load_snapshot(path).D.dec_part.torgb.weight, D.dec_part.torgb.weight)


@pytest.mark.parametrize("act,bias,lr", [("linear", True, 1.0), ("lrelu", True, 0.01), ("lrelu", False, 1.0),
                                         ("linear", False, 0.01), ("tanh", True, 1.0)])
def test_fully_connected_layer_folds_the_weight_gain(act, bias, lr):
    import neuralbrush.gan.layers as layers

    torch.manual_seed(4)
    layer = layers.FullyConnectedLayer(6, 5, bias=bias, activation=act, lr_multiplier=lr, bias_init=0.3).double()
    x = torch.randn(3, 6, dtype=torch.float64)
    y = x @ (layer.weight * layer.weight_gain).t()
    want = _bias_act_reference(y.view(3, 5, 1, 1), layer.bias * layer.bias_gain if bias else None, act,
                               layers.def_gain(act), None).view(3, 5)
    grads = {}
    for fold in (True, False):
        layer.fold_gain = fold
        layer.zero_grad()
        out = layer(x)
        assert torch.allclose(out, want, atol=1e-12)
        (out * torch.linspace(-1, 1, out.numel(), dtype=torch.float64).view_as(out)).sum().backward()
        grads[fold] = [p.grad.clone() for p in layer.parameters()]
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(grads[True], grads[False]))


@pytest.mark.parametrize("group,n", [(4, 8), (8, 8), (2, 6), (1, 4)])
def test_fakes_and_reals_through_d_as_one_batch_score_as_two_calls(group, n):
    """The lean loop's D main phase: interleaved so that every minibatch-std group holds the same
    samples as in a call of its own, one call gives both halves' logits."""
    from neuralbrush.gan.loss import deinterleave, interleave, pair_group

    torch.manual_seed(6)
    D = small_D(16, mbstd_group_size=group).eval()
    g = pair_group(D, n)
    assert g is not None
    fake, real = torch.randn(n, 3, 16, 16), torch.randn(n, 3, 16, 16)
    a, b = deinterleave(interleave(fake, real, g), g)
    assert torch.equal(a, fake) and torch.equal(b, real)
    with torch.no_grad():
        both = deinterleave(D(interleave(fake, real, g), None), g)
        assert torch.allclose(both[0], D(fake, None), atol=1e-5) and torch.allclose(both[1], D(real, None), atol=1e-5)
        # plain concatenation would mix fakes and reals in the statistics groups
        if g > 1:
            mixed = D(torch.cat([fake, real]), None)[:n]
            assert not torch.allclose(mixed, D(fake, None), atol=1e-5)


def test_d_pairs_only_where_it_gives_the_same_result():
    from neuralbrush.gan.layers import MinibatchStdLayer
    from neuralbrush.gan.loss import pair_group

    assert pair_group(torch.nn.Sequential(MinibatchStdLayer(4)), 8) == 4
    assert pair_group(torch.nn.Sequential(MinibatchStdLayer(4)), 2) is None  # groups of 2 alone, 4 together
    assert pair_group(torch.nn.Sequential(MinibatchStdLayer(None)), 8) is None  # the whole batch is one group
    assert pair_group(torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1)), 8) == 1
    assert pair_group(torch.nn.Sequential(torch.nn.BatchNorm2d(3)), 8) is None  # DCGAN's D: batch statistics
    assert pair_group(DCGANDiscriminator(img_resolution=16), 8) is None
