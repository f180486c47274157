"""``--arch lite`` (FastGAN-like): shapes from 32 to 1024 px, skip-layer excitation, the
self-supervised discriminator, its loss, and a tiny run through the CLI with resume and the
latent tools in z."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from neuralbrush.cli.main import run
from neuralbrush.core.runs import snapshot_files
from neuralbrush.datasets.samples import write_blooms
from neuralbrush.gan import arch_of, build_discriminator, build_generator
from neuralbrush.gan.lite import LiteDiscriminator, LiteGenerator, SkipLayerExcitation, sle_pairs
from neuralbrush.gan.loss import LiteLoss, reconstruction_distance
from neuralbrush.gan.presets import TrainOptions, resolve
from neuralbrush.gan.snapshot import load_snapshot

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("res", [32, 64, 256])
def test_shapes_small_channels(res):
    torch.manual_seed(0)
    G = build_generator("lite", z_dim=16, img_resolution=res, ngf=4)
    D = build_discriminator("lite", img_resolution=res, ndf=4)
    assert arch_of(G) == arch_of(D) == "lite" and G.w_dim is None and G.num_ws == 0
    img = G(torch.randn(2, 16), noise_mode="random")
    assert img.shape == (2, 3, res, res) and img.abs().max() <= 1
    assert D(img).shape == (2, 1)
    scores = D.score(img, reconstruct=True, part=1)
    rec = min(res // 2, 128)
    assert scores.patches.shape == (2, 50)  # two 5x5 patch grids
    assert set(scores.reconstructions) == {"whole", "part", "small"}
    for r, t in scores.reconstructions.values():
        assert r.shape == t.shape == (2, 3, rec, rec)
    # the 'part' target is the chosen quadrant (top-right) of the image
    quadrant = img[:, :, : res // 2, res // 2:]
    assert torch.allclose(scores.reconstructions["part"][1], torch.nn.functional.adaptive_avg_pool2d(quadrant, rec))


def test_1024_paper_widths_on_meta_device():
    with torch.device("meta"):
        G = LiteGenerator(z_dim=256, img_resolution=1024, ngf=64)
        D = LiteDiscriminator(img_resolution=1024, ndf=64)
        img = G(torch.randn(2, 256))
        scores = D.score(img, reconstruct=True, part=3)
    assert img.shape == (2, 3, 1024, 1024) and scores.patches.shape == (2, 50)
    assert [r.shape for r, _ in scores.reconstructions.values()] == [(2, 3, 128, 128)] * 3
    assert sle_pairs(1024) == [(8, 128), (16, 256), (32, 512)]  # the paper's three excitations
    assert 20e6 < sum(p.numel() for p in G.parameters()) < 35e6


def test_conditional_and_bad_input():
    G = LiteGenerator(z_dim=8, c_dim=3, img_resolution=32, ngf=4)
    D = LiteDiscriminator(c_dim=3, img_resolution=32, ndf=4)
    c = torch.eye(3)[[0, 2]]
    assert D(G(torch.randn(2, 8), c), c).shape == (2, 1)
    with pytest.raises(ValueError):
        G(torch.randn(2, 8))
    with pytest.raises(ValueError):
        LiteGenerator(img_resolution=16)
    with pytest.raises(ValueError):
        D(torch.zeros(2, 3, 64, 64), c)


def test_sle_gates_with_the_low_resolution_feature():
    torch.manual_seed(0)
    sle = SkipLayerExcitation(16, 8)
    high = torch.randn(2, 8, 32, 32)
    a, b = sle(torch.randn(2, 16, 4, 4), high), sle(torch.randn(2, 16, 4, 4), high)
    assert a.shape == high.shape and not torch.allclose(a, b)
    # In the generator: changing only the feature the 64 px excitation reads changes the picture.
    G = LiteGenerator(z_dim=8, img_resolution=64, ngf=4).eval()
    assert dict((t, s) for s, t in sle_pairs(64)) == {32: 4, 64: 4}
    z = torch.randn(2, 8)
    with torch.no_grad():
        before = G(z)
        hook = G.sle64.register_forward_pre_hook(lambda m, args: (args[0] + torch.randn_like(args[0]), args[1]))
        after = G(z)
        hook.remove()
        again = G(z)
    # relative: a fresh generator's images are tiny (spectrally normalised layers at init)
    assert (before - after).abs().max() > 0.01 * before.abs().max() and torch.equal(before, again)


def test_reconstruction_loss_decreases_on_a_fixed_batch():
    torch.manual_seed(0)
    D = LiteDiscriminator(img_resolution=32, ndf=8).train()
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    imgs = torch.stack([torch.stack([torch.sin(3 * xx + k), torch.cos(2 * yy - k), xx * yy]) for k in range(4)])
    opt = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
    losses = []
    for step in range(12):
        scores = D.score(imgs, reconstruct=True, part=step % 4)
        loss = sum(reconstruction_distance(r, t).mean() for r, t in scores.reconstructions.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3]), losses


def test_lite_loss_phases_give_every_parameter_a_gradient():
    torch.manual_seed(0)
    G = LiteGenerator(z_dim=8, img_resolution=32, ngf=4).train()
    D = LiteDiscriminator(img_resolution=32, ndf=4).train()
    loss = LiteLoss(G, D, r1_gamma=0.5)
    real, c, z = torch.rand(4, 3, 32, 32) * 2 - 1, torch.zeros(4, 0), torch.randn(4, 8)
    for module, phase in ((G, "Gboth"), (D, "Dboth")):
        module.requires_grad_(True)
        loss.accumulate(phase, real, c, z, c, gain=1)
        module.requires_grad_(False)
        missing = [n for n, p in module.named_parameters() if p.grad is None]
        assert not missing, missing
    assert {"loss/G", "loss/D", "loss/recon", "loss/r1_penalty"} <= set(loss.stats.values)


def test_preset_is_cpu_sized_by_default():
    cpu = resolve(TrainOptions(arch="lite"), res=64)
    assert cpu.arch == "lite" and cpu.G_kwargs["ngf"] == 16 and cpu.D_kwargs["ndf"] == 16 and cpu.batch == 8
    assert cpu.G_opt["betas"] == (0.5, 0.999) and cpu.r1_gamma == 0 and cpu.pl_weight == 0
    paper = resolve(TrainOptions(arch="lite", cfg="paper256"), res=256)
    assert (paper.G_kwargs["ngf"], paper.G_kwargs["z_dim"], paper.batch) == (64, 256, 8)
    assert resolve(TrainOptions(arch="lite", ngf=24), res=64).G_kwargs["ngf"] == 24
    assert resolve(TrainOptions(arch="dcgan"), res=64).G_kwargs["ngf"] == 64
    with pytest.raises(Exception, match="32 to 1024"):
        resolve(TrainOptions(arch="lite"), res=16)


def test_cli_train_resume_and_latent_tools_in_z(tmp_path):
    data = tmp_path / "blooms32"
    write_blooms(data, 16, 32, seed=0)
    outdir = tmp_path / "runs"
    common = ["--outdir", str(outdir), "--device", "cpu", "--precision", "fp32", "--threads", "1", "--workers", "1"]
    assert run(["train", str(data), "--arch", "lite", "--res", "32", "--batch", "4", "--kimg", "0.008", "--tick",
                "0.004", "--snap", "1", "--grid", "3x2", "--metrics", "none", "--aug", "noaug", *common]) == 0
    (run_dir,) = outdir.iterdir()
    assert run_dir.name.endswith("-lite") and (run_dir / "fakes000000.png").is_file()
    snap = load_snapshot(snapshot_files(run_dir)[-1])
    assert snap.arch == "lite" and snap.meta["cur_nimg"] == 8 and isinstance(snap.D, LiteDiscriminator)
    assert run(["train", "--resume", "latest", "--kimg", "0.012", *common]) == 0
    assert load_snapshot(snapshot_files(run_dir)[-1]).meta["cur_nimg"] == 12
    gen = tmp_path / "gen"
    assert run(["generate", str(run_dir), "--seeds", "0-1", "-o", str(gen), "--device", "cpu"]) == 0
    with Image.open(gen / "seed0000.png") as im:
        assert im.size == (32, 32)
    assert "w" not in np.load(gen / "seed0000.npz").files
    again = tmp_path / "again"  # const noise: the same seed gives the same picture
    assert run(["generate", str(run_dir), "--seeds", "0", "-o", str(again), "--device", "cpu"]) == 0
    assert np.array_equal(np.asarray(Image.open(gen / "seed0000.png")), np.asarray(Image.open(again / "seed0000.png")))
    assert run(["video", "walk", str(run_dir), "--kind", "circular", "--frames", "4", "-o",
                str(tmp_path / "walk.gif")]) == 0
    assert run(["project", str(run_dir), str(gen / "seed0001.png"), "--space", "z", "--loss", "mse", "--steps", "3",
                "-o", str(tmp_path / "proj")]) == 0
    assert run(["neighbours", str(run_dir), "--w", str(gen / "seed0000.npz"), "--space", "z", "--count", "3",
                "-o", str(tmp_path / "nb" / "sheet.png")]) == 0
    assert run(["video", "walk", str(run_dir), "--space", "w", "-o", str(tmp_path / "w.gif")]) == 2


def test_two_process_torchrun_smoke(tmp_path):
    """Under torchrun (gloo) lite trains with batch/2 per process and rank 0 writes one run. (BatchNorm
    statistics, the hinge margins and D's quadrant are per process, so unlike StyleGAN2 the result
    is not bit-equal to a one-process run.)"""
    import json
    import os
    import socket
    import subprocess
    import sys

    data = tmp_path / "blooms"
    write_blooms(data, 8, 32, seed=1)
    opts = TrainOptions(data=str(data), outdir=str(tmp_path / "ddp"), arch="lite", batch=4, ngf=4, ndf=4, kimg=0.008,
                        tick=0.004, snap=1, aug="noaug", metrics="none", grid="2x2", device="cpu", precision="fp32",
                        threads=1, workers=1)
    config = tmp_path / "ddp.json"
    config.write_text(json.dumps(opts.to_dict()))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "NEURALBRUSH_QUIET": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(port), "-m", "neuralbrush", "train", "--config", str(config)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    (run_dir,) = (tmp_path / "ddp").iterdir()
    doc = json.loads((run_dir / "training_options.json").read_text())
    assert doc["resolved"]["world_size"] == 2 and doc["resolved"]["batch_per_rank"] == 2
    assert load_snapshot(snapshot_files(run_dir)[-1]).meta["cur_nimg"] == 8


def test_a_fresh_network_in_eval_mode_draws_finite_images_with_true_spectral_norms():
    """The EMA generator draws the first grid in eval mode, before any training call has refined the
    spectral norms' vectors: they are power-iterated at construction (a random start drew NaN)."""
    import torch

    from neuralbrush.gan import build_discriminator, build_generator
    from neuralbrush.gan.lite import _SpectralNorm
    from neuralbrush.gan.presets import TrainOptions, resolve

    cfg = resolve(TrainOptions(arch="lite"), res=32)
    torch.manual_seed(0)
    G = build_generator("lite", **cfg.G_kwargs).eval()
    D = build_discriminator("lite", **cfg.D_kwargs).eval()
    with torch.no_grad():
        x = G(torch.randn(4, G.z_dim), torch.zeros(4, 0))
        assert torch.isfinite(x).all() and x.abs().max() <= 1
        assert torch.isfinite(D(x)).all()
    for m in list(G.modules()) + list(D.modules()):
        if isinstance(m, _SpectralNorm):
            w = m.weight.float().flatten(1)
            sigma, true = torch.dot(m.sn_u, w @ m.sn_v), torch.linalg.matrix_norm(w, 2)
            # ten power iterations from a random start: close below the largest singular value
            # (random weights have a dense top spectrum), never the tiny sigma that blew up
            assert 0.85 * true <= sigma <= 1.001 * true
