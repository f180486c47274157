"""pix2pix networks: shapes, parameter counts, and the junyanz-format importer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neuralbrush.core.errors import CheckpointError
from neuralbrush.core.shapes import ShapeError
from neuralbrush.pix2pix.junyanz import describe_junyanz, junyanz_to_flat, load_junyanz_generator
from neuralbrush.pix2pix.networks import (PatchDiscriminator, UNetConfig, UNetGenerator, count_parameters,
                                          init_weights)


def test_unet256_batchnorm_has_54_4_million_parameters():
    g = UNetGenerator("unet_256", norm="batch")
    assert round(count_parameters(g) / 1e6, 1) == 54.4
    assert len(g.state_dict()) == 82  # the published files hold 82 entries


def test_flat_readable_names():
    names = [n for n, _ in UNetGenerator("unet_128").named_children()]
    assert names == [f"down{k}" for k in range(1, 8)] + [f"up{k}" for k in range(7, 0, -1)]
    keys = UNetGenerator("unet_128").state_dict().keys()
    assert all(k.split(".")[0] in names and k.count(".") <= 2 for k in keys)


@pytest.mark.parametrize("arch,size", [("unet_128", 128), ("unet_64", 64), ("unet_256", 256)])
def test_unet_shapes_and_range(arch, size):
    g = UNetGenerator(arch, ngf=8).eval()
    with torch.no_grad():
        y = g(torch.randn(2, 3, size, size))
    assert y.shape == (2, 3, size, size)
    assert y.abs().max() <= 1.0


def test_unet_rejects_size_not_multiple():
    # a ShapeError (a ValueError), not an assert: the check also holds under python -O
    g = UNetGenerator("unet_64", ngf=8)
    with pytest.raises(ShapeError, match="divisible by 64"):
        g(torch.randn(1, 3, 96, 80))


def test_levels_check_the_shapes_they_receive():
    g = UNetGenerator("unet_32", ngf=4)
    with pytest.raises(ShapeError, match=r"unet_32 input must have shape \[\*, 3, \*, \*\], got \[1, 4, 32, 32\]"):
        g(torch.randn(1, 4, 32, 32))
    with pytest.raises(ShapeError, match="encoder level x"):
        g.down2(torch.randn(1, 5, 16, 16))  # a level fed the wrong neighbour's output names itself
    with pytest.raises(ShapeError, match="decoder level x"):
        g.up2(torch.randn(1, 4, 8, 8))      # the skip was not concatenated
    d = PatchDiscriminator(6, ndf=8)
    with pytest.raises(ShapeError, match="PatchGAN input"):
        d(torch.randn(1, 3, 64, 64))        # the condition was not concatenated


def test_dropout_sits_in_three_8ngf_decoder_levels_of_unet256():
    g = UNetGenerator("unet_256", ngf=4)
    with_dropout = [n for n, m in g.named_modules() if isinstance(m, nn.Dropout)]
    assert with_dropout == ["up7.dropout", "up6.dropout", "up5.dropout"]
    assert g.up5.conv.out_channels == 4 * 8 and g.up4.conv.out_channels == 4 * 4


def test_patchgan_70x70_output_grid():
    d = PatchDiscriminator(6, n_layers=3)
    assert d(torch.randn(1, 6, 256, 256)).shape == (1, 1, 30, 30)
    assert d(torch.randn(2, 6, 64, 64)).shape == (2, 1, 6, 6)
    # receptive field of one output logit is 70 pixels: poke one input pixel and see which logits move
    d = init_weights(PatchDiscriminator(6, n_layers=3, norm="batch", ndf=8)).eval()  # eval BN is local
    x = torch.zeros(1, 6, 160, 160, requires_grad=True)
    d(x)[0, 0, 8, 8].backward()
    rows = (x.grad[0].abs().sum(0).sum(1) > 0).nonzero().flatten()
    assert rows.max() - rows.min() + 1 == 70


# --- a reference U-Net in the junyanz nesting, written here for the test ------------------------

class NestedLevel(nn.Module):
    """One recursive level laid out as in the published files (``model`` is a Sequential)."""

    def __init__(self, outer, inner, *, cin=None, child=None, outermost=False, innermost=False, norm="batch",
                 dropout=False):
        super().__init__()
        self.outermost = outermost
        bias = norm == "instance"
        cin = outer if cin is None else cin

        def mk_norm(c):
            return nn.BatchNorm2d(c) if norm == "batch" else nn.InstanceNorm2d(c)

        down_conv = nn.Conv2d(cin, inner, 4, 2, 1, bias=bias)
        if outermost:
            layers = [down_conv, child, nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1), nn.Tanh()]
        elif innermost:
            layers = [nn.LeakyReLU(0.2, True), down_conv, nn.ReLU(True),
                      nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias), mk_norm(outer)]
        else:
            layers = [nn.LeakyReLU(0.2, True), down_conv, mk_norm(inner), child, nn.ReLU(True),
                      nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=bias), mk_norm(outer)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)  # x has been changed in place by the LeakyReLU


class NestedUNet(nn.Module):
    def __init__(self, depth, ngf=8, norm="batch"):
        super().__init__()
        level = NestedLevel(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(depth - 5):
            level = NestedLevel(ngf * 8, ngf * 8, child=level, norm=norm, dropout=True)
        level = NestedLevel(ngf * 4, ngf * 8, child=level, norm=norm)
        level = NestedLevel(ngf * 2, ngf * 4, child=level, norm=norm)
        level = NestedLevel(ngf, ngf * 2, child=level, norm=norm)
        self.model = NestedLevel(3, ngf, cin=3, child=level, outermost=True, norm=norm)

    def forward(self, x):
        return self.model(x)


def _randomise(net: nn.Module, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if t.dtype.is_floating_point:
                if name.endswith("running_var"):
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5)
                else:
                    t.copy_(torch.randn(t.shape, generator=g) * 0.1)
    return net


@pytest.mark.parametrize("norm,drop_counter", [("batch", False), ("batch", True), ("instance", False)])
def test_junyanz_state_dict_imports_with_identical_outputs(tmp_path, norm, drop_counter):
    ref = _randomise(NestedUNet(7, ngf=8, norm=norm), seed=1).eval()
    state = ref.state_dict()
    if drop_counter:
        state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    if norm == "instance":
        assert not any("running" in k for k in state) and "model.model.1.model.1.bias" in state
    else:
        assert "model.model.1" + ".model.3" * 5 + ".model.4.running_var" in state  # innermost up norm
    path = tmp_path / "latest_net_G.pth"
    torch.save(state, path)

    g = load_junyanz_generator(path).eval()
    assert g.config.arch == "unet_128" and g.config.norm == norm and g.config.ngf == 8
    x = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = ref(x.clone())
        got = g(x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_junyanz_unet256_key_count_and_mapping():
    state = NestedUNet(8, ngf=4).state_dict()
    assert len(state) == 82
    cfg, flat = junyanz_to_flat(state)
    assert cfg == UNetConfig("unet_256", 3, 3, 4, "batch")
    assert set(flat) == set(UNetGenerator("unet_256", ngf=4).state_dict())


def test_mismatched_file_names_expected_and_found(tmp_path):
    path = tmp_path / "g.pth"
    torch.save(NestedUNet(7, ngf=8, norm="batch").state_dict(), path)
    with pytest.raises(CheckpointError, match=r"expected unet_256 with batch norm.*found unet_128 with batch norm"):
        load_junyanz_generator(path, expect=UNetConfig("unet_256", ngf=8))
    torch.save(NestedUNet(7, ngf=8, norm="instance").state_dict(), path)
    with pytest.raises(CheckpointError, match=r"expected unet_128 with batch norm.*found unet_128 with instance norm"):
        load_junyanz_generator(path, expect=UNetConfig("unet_128", ngf=8, norm="batch"))
    torch.save({"conv.weight": torch.zeros(3, 3, 3, 3)}, path)
    with pytest.raises(CheckpointError, match="not a pix2pix U-Net"):
        load_junyanz_generator(path)
    assert describe_junyanz(NestedUNet(6, ngf=8).state_dict()).arch == "unet_64"


def test_file_that_runs_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pth"
    torch.save({"model.model.0.weight": torch.zeros(1), "x": Evil()}, path)
    with pytest.raises(CheckpointError, match="refusing to load .*nothing in it was run"):
        load_junyanz_generator(path)


def test_instance_norm_file_with_old_running_statistics_loads(tmp_path, monkeypatch):
    """Older PyTorch saved running_mean/running_var/num_batches_tracked on InstanceNorm layers; the
    reference drops those entries, and so does the importer, saying so once."""
    import neuralbrush.pix2pix.junyanz as junyanz

    said: list[str] = []
    monkeypatch.setattr(junyanz, "info", said.append)
    ref = _randomise(NestedUNet(6, ngf=8, norm="instance"), seed=2).eval()
    state = dict(ref.state_dict())
    norms = [n for n, m in ref.named_modules() if isinstance(m, nn.InstanceNorm2d)]
    assert norms and not any(k.startswith(tuple(f"{n}." for n in norms)) for k in state)
    for n in norms:  # what such a file holds for each instance-norm layer
        c = dict(ref.named_modules())[n].num_features
        state[f"{n}.running_mean"] = torch.randn(c)
        state[f"{n}.running_var"] = torch.rand(c) + 0.5
        state[f"{n}.num_batches_tracked"] = torch.tensor(7)
    path = tmp_path / "old_instance_G.pth"
    torch.save(state, path)

    g = load_junyanz_generator(path).eval()
    assert g.config.norm == "instance" and g.config.arch == "unet_64"
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(g(x), ref(x.clone()), rtol=1e-5, atol=1e-5)
    assert len(said) == 1 and f"{len(norms)} instance-norm layers" in said[0] and f"{3 * len(norms)} entries" in said[0]
    # a running statistic anywhere else is still an entry the U-Net does not have
    state["model.model.0.running_mean"] = torch.zeros(8)
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="model.model.0.running_mean"):
        load_junyanz_generator(path)
