"""SWD on Laplacian-pyramid patches: small for samples of the same distribution, large otherwise."""

import numpy as np
import torch

from neuralbrush.datasets.samples import blooms
from neuralbrush.gan.metrics import MetricRunner, laplacian_pyramid, patch_descriptors, swd


def _blooms(n, size, seed):
    return torch.from_numpy(np.stack([np.array(b) for b in blooms(n, size, seed=seed)])).permute(0, 3, 1, 2)


def test_pyramid_levels_and_descriptors():
    x = torch.rand(2, 3, 64, 64)
    levels = laplacian_pyramid(x)
    assert [lv.shape[-1] for lv in levels] == [64, 32, 16]
    d = patch_descriptors(levels[0], per_image=10)
    assert d.shape == (20, 3 * 7 * 7)


def test_swd_orders_distributions():
    a, b = _blooms(48, 32, 0), _blooms(48, 32, 5000)
    same = swd(a, b)["swd"]
    noise = swd(a, (torch.rand(48, 3, 32, 32) * 255).to(torch.uint8))["swd"]
    blurred = torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(b.float(), 4), scale_factor=4)
    blur = swd(a, blurred.round().to(torch.uint8))["swd"]
    assert same < blur < noise
    assert noise > 3 * same
    # Deterministic for the same inputs; float [-1, 1] images give the same as uint8.
    assert swd(a, b)["swd"] == same
    assert abs(swd(a, b.float() / 127.5 - 1)["swd"] - same) < 1e-6 * max(same, 1)


def test_metric_runner_skips_fid_without_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURALBRUSH_HOME", str(tmp_path))
    logs = []
    reals = _blooms(32, 16, 0)
    runner = MetricRunner(["swd", "fid"], reals, num_images=32, log=logs.append)
    assert len(logs) == 1 and "FID" in logs[0] and "inception-fid" in logs[0]
    out = runner(lambda n: reals[:n].float() / 127.5 - 1)
    assert set(out) == {"swd", "swd/16"}
    noise = runner(lambda n: torch.rand(n, 3, 16, 16) * 2 - 1)
    assert out["swd"] * 4 < noise["swd"]
