"""Latent walks: easing, interpolation, seamless loops, lazy paths, rendered walks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuralbrush.core.device import resolve_runtime
from neuralbrush.core.errors import UsageError
from neuralbrush.latent.walk import (EASINGS, CirclePath, ConcatPath, NoiseLoopPath, SegmentPath, ease, keyframe_path,
                                     slerp, stops_loop, walk, walk_path)

from gan_helpers import small_stylegan  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

RT = resolve_runtime("cpu", "fp32")


@pytest.fixture(scope="module")
def G():
    # like a trained model: w_avg is the mean w, noise has some strength
    return small_stylegan(16, noise_strength=0.1).requires_grad_(False)


@pytest.mark.parametrize("name", sorted(EASINGS))
def test_easing_endpoints_and_monotonic(name):
    t = np.linspace(0, 1, 101)
    y = ease(t, name)
    assert y[0] == pytest.approx(0, abs=1e-9) and y[-1] == pytest.approx(1, abs=1e-9)
    assert np.all(np.diff(y) >= -1e-12)


def test_easing_shapes_and_unknown():
    assert ease(0.25, "ease-in") < 0.25 < ease(0.25, "ease-out")
    assert ease(0.5, "ease-in-out") == pytest.approx(0.5)
    with pytest.raises(UsageError, match="unknown easing"):
        ease(0.5, "bouncy")


def test_slerp_endpoints_and_norm():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(64, generator=g), torch.randn(64, generator=g)
    out = slerp(a, b, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(out[0], a, atol=1e-5) and torch.allclose(out[2], b, atol=1e-5)
    # slerp keeps the length between the endpoints' lengths; lerp's midpoint is much shorter
    mid = out[1].norm()
    assert min(a.norm(), b.norm()) * 0.95 <= mid <= max(a.norm(), b.norm()) * 1.05
    assert ((a + b) / 2).norm() < mid * 0.85
    # 2-D latents (w rows) around a centre; parallel rows fall back to lerp without NaNs
    c = torch.randn(8)
    wa = torch.randn(3, 8, generator=g)
    wb = wa.clone()
    res = slerp(wa, wb, torch.linspace(0, 1, 5), center=c)
    assert torch.isfinite(res).all() and torch.allclose(res[2], wa, atol=1e-5)


def test_concat_path_random_access_matches_sequential():
    a, b, c = torch.zeros(4), torch.ones(4), torch.full((4,), 3.0)
    path = ConcatPath([SegmentPath(a, b, 5, kind="linear"), SegmentPath(b, c, 3, kind="linear")])
    full = path.all()
    assert full.shape == (8, 4)
    idx = [7, 0, 5, 2]
    assert torch.equal(path.at(idx), full[idx])
    assert torch.allclose(full[5], b)  # the second segment starts exactly at b
    with pytest.raises(IndexError):
        path.at([8])


def test_open_walk_ends_on_last_keyframe_and_loop_returns():
    kfs = [torch.randn(6) for _ in range(3)]
    open_path = keyframe_path(kfs, kind="linear", frames=10)
    assert len(open_path) == 21
    assert torch.allclose(open_path.at([0])[0], kfs[0]) and torch.allclose(open_path.at([20])[0], kfs[2])
    assert torch.allclose(open_path.at([10])[0], kfs[1])
    loop = keyframe_path(kfs, kind="slerp", frames=10, loop=True)
    assert len(loop) == 30
    with pytest.raises(UsageError, match="at least two keyframes"):
        keyframe_path(kfs[:1], kind="slerp", frames=10)


def _seam_ok(x: torch.Tensor) -> tuple[float, float]:
    steps = (x[1:] - x[:-1]).flatten(1).norm(dim=1)
    wrap = (x[0] - x[-1]).norm()
    return float(wrap), float(steps.max())


@pytest.mark.parametrize("make", [
    lambda s: CirclePath(s, 40, radius=3.0, seed=2),
    lambda s: NoiseLoopPath(s, 40, sigma=0.7, seed=3),
    lambda s: NoiseLoopPath(s, 40, sigma=0.7, seed=3, harmonics=5, easing="ease-in-out"),
    lambda s: stops_loop(s, stops=4, frames_per_stop=10, sigma=0.5, seed=4),
])
def test_loops_are_closed_in_latent_space(make):
    start = torch.randn(2, 16)  # a w+ style latent
    path = make(start)
    x = path.all()
    assert torch.allclose(x[0], start, atol=1e-5)  # the loop passes through the start latent
    wrap, max_step = _seam_ok(x)
    assert wrap <= max_step * 1.0001
    assert max_step > 0


def test_circle_radius_and_plane_from_other_keyframes():
    start, other = torch.zeros(10), torch.zeros(10)
    other[3] = 5.0
    path = CirclePath(start, 100, radius=2.0, others=[other])
    x = path.all()
    centre = start - 2.0 * path.u
    assert torch.allclose((x - centre).norm(dim=1), torch.full((100,), 2.0), atol=1e-4)
    assert abs(float(path.u[3])) == pytest.approx(1.0, abs=1e-5)  # first axis points at the other keyframe


@pytest.mark.parametrize("kind,space", [("circular", "z"), ("noise-loop", "w"), ("slerp", "w")])
def test_rendered_loops_are_seamless(G, kind, space):
    frames = np.stack(list(walk(G, [3, 8], kind=kind, frames=16, space=space, loop=True, radius=0.3, sigma=0.5,
                                psi=0.8, runtime=RT, batch=8))).astype(np.float64)
    assert frames.shape == ((32 if kind == "slerp" else 16), 16, 16, 3)
    consecutive = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    wrap = np.abs(frames[-1] - frames[0]).mean()
    assert consecutive.max() > 0.1  # the images really move
    assert wrap <= consecutive.max()


def test_walk_is_deterministic_and_batch_independent(G):
    a = np.stack(list(walk(G, [1, 2], kind="slerp", frames=6, space="z", runtime=RT, batch=2)))
    b = np.stack(list(walk(G, [1, 2], kind="slerp", frames=6, space="z", runtime=RT, batch=7)))
    assert a.shape == (7, 16, 16, 3)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_walk_path_scales_by_space(G):
    pz = walk_path(G, [5], kind="noise-loop", frames=8, space="z", sigma=1.0)
    pw = walk_path(G, [5], kind="noise-loop", frames=8, space="w", sigma=1.0)
    assert pz.all().shape == (8, 32) and pw.all().shape == (8, G.num_ws, 32)
    with pytest.raises(UsageError, match="unknown walk kind"):
        walk_path(G, [1, 2], kind="zigzag")
