"""FID/KID: the FID Inception-v3 layout, loading through the weights store, the distances
themselves (closed forms), and their ordering on real images with an explicitly RANDOM Inception
(no pretrained weights exist here; only relative orderings are checked)."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from neuralbrush.core.errors import WeightsMissingError
from neuralbrush.datasets.samples import blooms, skimage_photo
from neuralbrush.gan.inception import FIDInception, load_fid_inception
from neuralbrush.gan.metrics import (InceptionFeatures, MetricRunner, feature_statistics, fid_kid, frechet_distance,
                                     frechet_distance_features, kernel_inception_distance)
from neuralbrush.weights import store


def _expected_layout() -> dict[str, tuple[int, ...]]:
    """Parameter/buffer shapes of the FID Inception-v3, derived from the architecture tables."""
    convs: list[tuple[str, int, int, int, int]] = [
        ("Conv2d_1a_3x3", 3, 32, 3, 3), ("Conv2d_2a_3x3", 32, 32, 3, 3), ("Conv2d_2b_3x3", 32, 64, 3, 3),
        ("Conv2d_3b_1x1", 64, 80, 1, 1), ("Conv2d_4a_3x3", 80, 192, 3, 3)]
    for name, cin, pf in (("Mixed_5b", 192, 32), ("Mixed_5c", 256, 64), ("Mixed_5d", 288, 64)):
        convs += [(f"{name}.branch1x1", cin, 64, 1, 1), (f"{name}.branch5x5_1", cin, 48, 1, 1),
                  (f"{name}.branch5x5_2", 48, 64, 5, 5), (f"{name}.branch3x3dbl_1", cin, 64, 1, 1),
                  (f"{name}.branch3x3dbl_2", 64, 96, 3, 3), (f"{name}.branch3x3dbl_3", 96, 96, 3, 3),
                  (f"{name}.branch_pool", cin, pf, 1, 1)]
    convs += [("Mixed_6a.branch3x3", 288, 384, 3, 3), ("Mixed_6a.branch3x3dbl_1", 288, 64, 1, 1),
              ("Mixed_6a.branch3x3dbl_2", 64, 96, 3, 3), ("Mixed_6a.branch3x3dbl_3", 96, 96, 3, 3)]
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        convs += [(f"{name}.branch1x1", 768, 192, 1, 1), (f"{name}.branch7x7_1", 768, c7, 1, 1),
                  (f"{name}.branch7x7_2", c7, c7, 1, 7), (f"{name}.branch7x7_3", c7, 192, 7, 1),
                  (f"{name}.branch7x7dbl_1", 768, c7, 1, 1), (f"{name}.branch7x7dbl_2", c7, c7, 7, 1),
                  (f"{name}.branch7x7dbl_3", c7, c7, 1, 7), (f"{name}.branch7x7dbl_4", c7, c7, 7, 1),
                  (f"{name}.branch7x7dbl_5", c7, 192, 1, 7), (f"{name}.branch_pool", 768, 192, 1, 1)]
    convs += [("Mixed_7a.branch3x3_1", 768, 192, 1, 1), ("Mixed_7a.branch3x3_2", 192, 320, 3, 3),
              ("Mixed_7a.branch7x7x3_1", 768, 192, 1, 1), ("Mixed_7a.branch7x7x3_2", 192, 192, 1, 7),
              ("Mixed_7a.branch7x7x3_3", 192, 192, 7, 1), ("Mixed_7a.branch7x7x3_4", 192, 192, 3, 3)]
    for name, cin in (("Mixed_7b", 1280), ("Mixed_7c", 2048)):
        convs += [(f"{name}.branch1x1", cin, 320, 1, 1), (f"{name}.branch3x3_1", cin, 384, 1, 1),
                  (f"{name}.branch3x3_2a", 384, 384, 1, 3), (f"{name}.branch3x3_2b", 384, 384, 3, 1),
                  (f"{name}.branch3x3dbl_1", cin, 448, 1, 1), (f"{name}.branch3x3dbl_2", 448, 384, 3, 3),
                  (f"{name}.branch3x3dbl_3a", 384, 384, 1, 3), (f"{name}.branch3x3dbl_3b", 384, 384, 3, 1),
                  (f"{name}.branch_pool", cin, 192, 1, 1)]
    out: dict[str, tuple[int, ...]] = {}
    for name, cin, cout, kh, kw in convs:
        out[f"{name}.conv.weight"] = (cout, cin, kh, kw)
        for k in ("weight", "bias", "running_mean", "running_var"):
            out[f"{name}.bn.{k}"] = (cout,)
        out[f"{name}.bn.num_batches_tracked"] = ()
    out["fc.weight"] = (1008, 2048)
    out["fc.bias"] = (1008,)
    return out


def _random_inception(seed: int = 0, input_size: int = 75) -> FIDInception:
    """Random weights with a variance-preserving (He) init, so activations keep their scale through
    the identity BatchNorms (PyTorch's default init shrinks them towards 0 layer by layer)."""
    torch.manual_seed(seed)
    net = FIDInception(input_size=input_size).eval()
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return net


def _u8(images) -> torch.Tensor:
    return torch.from_numpy(np.stack([np.asarray(i) for i in images])).permute(0, 3, 1, 2).contiguous()


def _photo_crops(n: int, size: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    photos = [skimage_photo(p) for p in ("astronaut", "coffee", "chelsea", "rocket")]
    out = []
    for i in range(n):
        im = photos[i % len(photos)]
        c = int(rng.integers(64, min(im.size) // 2))
        x, y = int(rng.integers(0, im.width - c)), int(rng.integers(0, im.height - c))
        out.append(im.crop((x, y, x + c, y + c)).resize((size, size)))
    return _u8(out)


def _use_store_entry(monkeypatch):
    """The catalogue entry without its published hash prefix (our file is a random network)."""
    entry = replace(store.CATALOGUE["inception-fid"], sha256=None)
    monkeypatch.setitem(store.CATALOGUE, "inception-fid", entry)
    return store.path_for("inception-fid")


def test_layout_matches_the_architecture_tables():
    net = FIDInception()
    got = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert got == _expected_layout()
    assert all(m.eps == 0.001 for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert all(m.bias is None for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    # torchvision's independent Inception-v3 (1008 classes, no aux head) has the same layout.
    torchvision = pytest.importorskip("torchvision")
    tv = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False, num_classes=1008)
    assert {k: tuple(v.shape) for k, v in tv.state_dict().items()} == got


def test_strict_load_through_the_store(monkeypatch):
    with pytest.raises(WeightsMissingError, match="neuralbrush weights import inception-fid"):
        load_fid_inception()
    path = _use_store_entry(monkeypatch)
    src = _random_inception(3)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A plain state_dict without num_batches_tracked, as converted TF weights come.
    torch.save({k: v for k, v in src.state_dict().items() if not k.endswith("num_batches_tracked")}, path)
    store.verify("inception-fid")  # the format check accepts it
    net = load_fid_inception()
    for k, v in src.state_dict().items():
        assert torch.equal(net.state_dict()[k], v), k
    assert not any(p.requires_grad for p in net.parameters()) and not net.training
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        f = net(x)
    assert f.shape == (2, 2048) and torch.isfinite(f).all()
    # 299 px is what the graph gets by default; pool3 features are non-negative (post-ReLU average).
    assert net.input_size == 299 and (f >= 0).all()


def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(0)
    d = 16
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    v1, v2 = rng.uniform(0.1, 3, d), rng.uniform(0.1, 3, d)
    expect = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expect, rel=1e-9)
    # Rotated (commuting, non-diagonal) covariances give the same value.
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    assert frechet_distance(q @ mu1, q @ np.diag(v1) @ q.T, q @ mu2, q @ np.diag(v2) @ q.T) == pytest.approx(expect,
                                                                                                          rel=1e-8)
    # The same Gaussian: 0. Singular (rank-deficient) covariances stay finite and agree with the
    # feature-space shortcut and with scipy's general matrix square root.
    assert frechet_distance(mu1, np.diag(v1), mu1, np.diag(v1)) == pytest.approx(0, abs=1e-9)
    f1, f2 = rng.normal(size=(20, 48)), rng.normal(size=(30, 48)) * 1.5 + 0.3
    (m1, s1), (m2, s2) = feature_statistics(f1), feature_statistics(f2)
    from scipy import linalg

    ref = ((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * np.real(linalg.sqrtm(s1 @ s2)))
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(ref, rel=1e-6)
    assert frechet_distance_features(f1, f2) == pytest.approx(ref, rel=1e-6)
    assert frechet_distance_features(f1, f1) == pytest.approx(0, abs=1e-8)
    with pytest.raises(ValueError):
        frechet_distance(mu1, np.diag(v1), mu2[:3], np.diag(v2)[:3, :3])


def test_kid_is_unbiased_and_orders():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(400, 32)), rng.normal(size=(400, 32))
    shifted = rng.normal(size=(400, 32)) + 0.5
    same = kernel_inception_distance(a, b, subsets=20, subset_size=200)
    far = kernel_inception_distance(a, shifted, subsets=20, subset_size=200)
    assert abs(same) < 0.05 * far and far > 0
    # Unbiased: the expected MMD^2 of one distribution against itself is 0, so values straddle 0.
    vals = [kernel_inception_distance(a, rng.normal(size=(400, 32)), subsets=1, subset_size=50, seed=s)
            for s in range(20)]
    assert min(vals) < 0 < max(vals)
    # Exact value for one subset of the full sets, computed by hand from the kernel.
    x, y = a[:5], shifted[:5]
    k = lambda p, q: (p @ q.T / 32 + 1) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    by_hand = (kxx.sum() - np.trace(kxx)) / 20 + (kyy.sum() - np.trace(kyy)) / 20 - 2 * kxy.mean()
    assert kernel_inception_distance(x, y, subsets=3, subset_size=5) == pytest.approx(by_hand, rel=1e-10)


def test_random_inception_orders_blooms_photos_and_noise(one_thread):
    feats = InceptionFeatures(_random_inception(0, input_size=75), batch=24)
    flowers = feats(_u8(blooms(48, 32, seed=0)))
    half1, half2 = flowers[:24], flowers[24:]
    photos = feats(_photo_crops(24, 32))
    noise = feats((torch.rand(24, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8))
    assert flowers.shape == (48, 2048)
    fid_self = fid_kid(half1, half1, ["fid"])["fid"]
    same = fid_kid(half1, half2, kid_subsets=20, kid_subset_size=24)
    vs_photos = fid_kid(half1, photos, kid_subsets=20, kid_subset_size=24)
    vs_noise = fid_kid(half1, noise, kid_subsets=20, kid_subset_size=24)
    assert fid_self < 1e-6 * same["fid"]
    assert vs_photos["fid"] > 2 * same["fid"] and vs_noise["fid"] > 2 * same["fid"]
    assert vs_photos["kid"] > 2 * abs(same["kid"]) and vs_noise["kid"] > 2 * abs(same["kid"])
    # uint8 and [-1, 1] float inputs give the same features.
    again = feats(_u8(blooms(4, 32, seed=0)).float() / 127.5 - 1)
    assert np.allclose(again, flowers[:4], rtol=1e-4, atol=1e-6 * np.abs(flowers).max())


def test_metric_runner_computes_fid_kid_from_the_store(monkeypatch, one_thread):
    path = _use_store_entry(monkeypatch)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(_random_inception(1).state_dict(), path)
    monkeypatch.setattr("neuralbrush.gan.inception.INPUT_SIZE", 75)  # random weights: small input for speed
    reals = _u8(blooms(16, 16, seed=0))
    logs = []
    runner = MetricRunner(["swd", "fid", "kid"], reals, num_images=16, log=logs.append)
    assert not logs and runner.inception is not None
    good = runner(lambda n: _u8(blooms(n, 16, seed=9)).float() / 127.5 - 1)
    bad = runner(lambda n: torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    assert {"swd", "fid", "kid"} <= set(good) and set(good) == set(bad)
    assert bad["fid"] > 2 * good["fid"] and bad["kid"] > 2 * abs(good["kid"])


def test_training_run_writes_fid_kid_or_says_why_not(tmp_path, monkeypatch):
    from neuralbrush.core.runs import read_stats
    from neuralbrush.datasets.samples import write_blooms
    from neuralbrush.gan.presets import TrainOptions
    from neuralbrush.gan.train import train

    data = tmp_path / "blooms16"
    write_blooms(data, 16, 16, seed=0)
    tiny = dict(data=str(data), cfg="small", batch=4, cbase=256, cmax=32, mbstd=2, kimg=0.008, tick=0.008, snap=1,
                grid="2x2", metric_images=8, aug="noaug", device="cpu", precision="fp32", threads=1, workers=1)
    # Without the weights: one message naming the missing file and the import command; SWD goes on.
    run_dir = train(TrainOptions(outdir=str(tmp_path / "a"), metrics="swd,fid,kid", **tiny))
    log = (run_dir / "log.txt").read_text()
    assert log.count("FID/KID skipped") == 1 and "neuralbrush weights import inception-fid" in log
    stats = read_stats(run_dir)
    assert any("metrics/swd" in r for r in stats) and not any("metrics/fid" in r for r in stats)
    # With (random) weights in the store: FID and KID at init and at the snapshot.
    path = _use_store_entry(monkeypatch)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(_random_inception(2).state_dict(), path)
    monkeypatch.setattr("neuralbrush.gan.inception.INPUT_SIZE", 75)
    run_dir = train(TrainOptions(outdir=str(tmp_path / "b"), metrics="swd,fid,kid", **tiny))
    assert "skipped" not in (run_dir / "log.txt").read_text()
    rows = [r for r in read_stats(run_dir) if "metrics/fid" in r]
    assert len(rows) == 2 and rows[0]["kimg"] == 0
    assert all(r["metrics/fid"] > 0 and np.isfinite(r["metrics/kid"]) and "metrics/swd" in r for r in rows)
    import json

    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [set(x) >= {"fid", "kid", "swd"} for x in lines] == [True, True]
