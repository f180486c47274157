"""Shape checks at network block boundaries, and documented constructor arguments on every
public layer and network class (NVIDIA's style: one trailing comment per argument)."""

from __future__ import annotations

import ast
import inspect
import io
import sys
import textwrap
import time
import tokenize

import pytest
import torch
from torch import nn

from neuralbrush.core.shapes import ShapeError, assert_shape
from neuralbrush.gan import dcgan, discriminator, layers, networks
from neuralbrush.gan.dcgan import DCGANDiscriminator, DCGANGenerator
from neuralbrush.gan.discriminator import Discriminator
from neuralbrush.gan.networks import Generator
from neuralbrush.pix2pix import networks as pix2pix_networks

pytestmark = pytest.mark.usefixtures("one_thread")

NETWORK_MODULES = (layers, networks, discriminator, dcgan, pix2pix_networks)


def test_assert_shape_accepts_free_dimensions_and_names_the_tensor():
    x = torch.zeros(2, 3, 8, 8)
    assert_shape(x, [None, 3, 8, None])
    with pytest.raises(ShapeError, match=r"b8 x must have shape \[\*, 4, 8, 8\], got \[2, 3, 8, 8\]"):
        assert_shape(x, [None, 4, 8, 8], "b8 x")
    with pytest.raises(ShapeError, match="got \\[2, 3, 8, 8\\]"):
        assert_shape(x, [None, 3, 8], "x")  # a wrong number of dimensions is a mismatch too
    assert issubclass(ShapeError, ValueError)  # callers that caught ValueError still do


def _public_module_classes():
    for mod in NETWORK_MODULES:
        for name, cls in vars(mod).items():
            if (inspect.isclass(cls) and issubclass(cls, nn.Module) and cls.__module__ == mod.__name__
                    and not name.startswith("_")):
                yield f"{mod.__name__}.{name}", cls


def test_every_public_network_class_documents_each_constructor_argument():
    classes = dict(_public_module_classes())
    assert len(classes) >= 15  # the walk really found the layers and networks
    undocumented = []
    for qualname, cls in classes.items():
        src = textwrap.dedent(inspect.getsource(cls.__init__))
        commented = {tok.start[0] for tok in tokenize.generate_tokens(io.StringIO(src).readline)
                     if tok.type == tokenize.COMMENT}
        fn = ast.parse(src).body[0]
        a = fn.args
        args = [*a.posonlyargs, *a.args, *a.kwonlyargs, *(x for x in (a.vararg, a.kwarg) if x is not None)]
        undocumented += [f"{qualname}({arg.arg})" for arg in args if arg.arg != "self" and arg.lineno not in commented]
    assert not undocumented, undocumented


def small_G(res: int = 16) -> Generator:
    return Generator(z_dim=16, w_dim=16, img_resolution=res, mapping_kwargs=dict(num_layers=2),
                     synthesis_kwargs=dict(channel_base=16 * res, channel_max=16))


def small_D(res: int = 16, **kw) -> Discriminator:
    return Discriminator(img_resolution=res, channel_base=16 * res, channel_max=16, **kw)


def test_stylegan_blocks_name_the_shape_they_were_built_for():
    G, D = small_G(), small_D()
    ws = torch.zeros(2, G.num_ws, 16)
    with pytest.raises(ShapeError, match=rf"synthesis ws must have shape \[\*, {G.num_ws}, 16\]"):
        G.synthesis(ws[:, 1:])
    b16 = G.synthesis.b16
    with pytest.raises(ShapeError, match=r"b16 x must have shape \[2, 16, 8, 8\], got \[2, 16, 4, 4\]"):
        b16(torch.zeros(2, 16, 4, 4), None, ws[:, :3])  # fed the 4x4 block's input, not the 8x8 output
    with pytest.raises(ShapeError, match=r"b16 ws"):
        b16(torch.zeros(2, 16, 8, 8), None, ws[:, :2])
    with pytest.raises(ShapeError, match=r"16px layer w"):
        b16.conv1(torch.zeros(2, 16, 16, 16), torch.zeros(2, 8))
    with pytest.raises(ShapeError, match=r"D img must have shape \[\*, 3, 16, 16\], got \[1, 3, 32, 32\]"):
        D(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ShapeError, match=r"D b16 x"):
        D.b16(torch.zeros(1, 8, 16, 16), None)
    with pytest.raises(ShapeError, match=r"D epilogue x"):
        D.b4(torch.zeros(1, 16, 8, 8), None, None)
    with pytest.raises(ShapeError, match="conv x"):
        D.b16.conv0(torch.zeros(1, 3, 16, 16))
    with pytest.raises(ShapeError, match="fully connected x"):
        G.mapping.fc0(torch.zeros(1, 7))


def test_dcgan_checks_latents_images_and_labels():
    G, D = DCGANGenerator(z_dim=8, c_dim=2, img_resolution=16, ngf=4), DCGANDiscriminator(c_dim=2, img_resolution=16)
    with pytest.raises(ShapeError, match=r"z must have shape \[\*, 8\]"):
        G(torch.zeros(1, 9), torch.zeros(1, 2))
    with pytest.raises(ShapeError, match=r"c \(conditional network\) must have shape \[1, 2\]"):
        G(torch.zeros(1, 8), torch.zeros(1, 3))
    with pytest.raises(ShapeError, match=r"D img must have shape \[\*, 3, 16, 16\]"):
        D(torch.zeros(1, 3, 32, 32), torch.zeros(1, 2))


def test_checks_hold_under_python_O():
    """Real exceptions, not ``assert`` statements (``python -O`` strips those)."""
    for mod in (*NETWORK_MODULES, sys.modules[assert_shape.__module__]):
        tree = ast.parse(inspect.getsource(mod))
        asserts = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Assert)]
        assert not asserts, f"{mod.__name__} uses assert at lines {asserts}"


def test_checks_cost_nothing_worth_measuring(monkeypatch):
    """The checks of a whole G+D forward are a small fraction of it (they touch no tensor data)."""
    G, D = small_G(32), small_D(32)
    z = torch.randn(4, 16)

    def forward_seconds() -> float:
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            with torch.no_grad():
                D(G(z))
            best = min(best, time.perf_counter() - t)
        return best

    calls = 0
    real = assert_shape

    def counting(*args, **kw):
        nonlocal calls
        calls += 1
        return real(*args, **kw)

    for mod in (layers, networks, discriminator):
        monkeypatch.setattr(mod, "assert_shape", counting)
    with torch.no_grad():
        D(G(z))
    assert calls > 30  # every block and layer of G and D checked what it received
    checks = float("inf")
    for _ in range(5):  # best of 5, like the forward: a shared machine may deschedule any one loop
        t = time.perf_counter()
        for _ in range(calls):
            real(z, [None, 16])
        checks = min(checks, time.perf_counter() - t)
    assert checks < 0.05 * forward_seconds()
