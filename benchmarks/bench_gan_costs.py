"""Parameters and FLOPs per image of the GAN architectures at one resolution (default 64 px).

Networks are built exactly as the trainer builds them (``gan.presets.resolve``) for:
``lite`` (CPU-sized default preset), StyleGAN2 ``small`` and DCGAN (pytorch/examples widths).
FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix
products, forward and backward; elementwise work is not counted) on a batch of 4, divided by 4:

* ``G fwd``: one generated image (what sampling, walks and projection steps cost);
* ``D fwd``: scoring one image (lite, and StyleGAN2 with ``--d-recon``: without the decoders, which
  the parameter counts include);
* ``train step``: everything one minibatch of the default loss costs per real image (G phase +
  D phase, forward and backward; lite, and StyleGAN2 with ``--d-recon``, include D's reconstructions
  of the reals; StyleGAN2 includes R1 every 16 minibatches as 1/16 of one R1 pass, counted with
  the same per-op formulas because FlopCounterMode's module hooks refuse a double backward).

    .venv/bin/python benchmarks/bench_gan_costs.py [--res 64]

Writes docs/benchmarks/gan-costs.json and .md. Counts, not timings: the same on any machine.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, flop_registry

from neuralbrush.gan import build_discriminator, build_generator
from neuralbrush.gan.loss import GANLoss, LiteLoss
from neuralbrush.gan.presets import TrainOptions, resolve

RESULTS = "gan-costs.json"
OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"
CONFIGS = {"lite (CPU default)": dict(arch="lite"), "StyleGAN2 small": dict(arch="stylegan2", cfg="small"),
           "DCGAN": dict(arch="dcgan")}
BATCH = 4


def headline(result: dict) -> tuple[float | None, str]:
    rows = result["rows"]
    lite, dc, sg = rows["lite (CPU default)"], rows["DCGAN"], rows["StyleGAN2 small"]
    return (lite["train_gflop"] / dc["train_gflop"],
            f"lite / DCGAN training FLOPs per image at {result['res']} px: {lite['train_gflop']:.2f} vs "
            f"{dc['train_gflop']:.2f} GFLOP (StyleGAN2 small {sg['train_gflop']:.2f})")


def _flops(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / BATCH / 1e9


class _RegistryCounter(TorchDispatchMode):
    """FlopCounterMode's own per-op formulas without its module tracker, whose backward hooks
    refuse the double backward of R1 ("A leaf node was passed to _will_engine_execute_node")."""

    total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.total += count(*args, **kwargs, out_val=out)
        return out


def _flops_double_backward(fn) -> float:
    with _RegistryCounter() as counter:
        fn()
    return counter.total / BATCH / 1e9


def measure(name: str, res: int) -> dict:
    torch.manual_seed(0)
    cfg = resolve(TrainOptions(**CONFIGS[name]), res=res)
    G = build_generator(cfg.arch, **cfg.G_kwargs).train()
    D = build_discriminator(cfg.arch, **cfg.D_kwargs).train()
    z, c = torch.randn(BATCH, cfg.G_kwargs["z_dim"]), torch.zeros(BATCH, 0)
    real = torch.rand(BATCH, 3, res, res) * 2 - 1
    if cfg.arch == "lite":
        loss = LiteLoss(G, D, r1_gamma=cfg.r1_gamma)
    else:
        loss = GANLoss(G, D, r1_gamma=cfg.r1_gamma, style_mixing_prob=cfg.style_mixing, pl_weight=cfg.pl_weight,
                       recon_weight=cfg.recon_weight)

    def phase(module, name, gain=1.0):
        module.requires_grad_(True)
        loss.accumulate(name, real, c, z, c, gain=gain)
        module.requires_grad_(False)

    with torch.no_grad():
        g_fwd = _flops(lambda: G(z, c))
        d_fwd = _flops(lambda: D(real, c))
    G.requires_grad_(False)
    D.requires_grad_(False)
    g_phase = "Gmain" if cfg.G_reg_interval else "Gboth"
    d_phase = "Dmain" if cfg.D_reg_interval else "Dboth"
    train = _flops(lambda: (phase(G, g_phase), phase(D, d_phase)))
    if cfg.D_reg_interval:  # R1 once every interval minibatches
        train += _flops_double_backward(lambda: phase(D, "Dreg", cfg.D_reg_interval)) / cfg.D_reg_interval
    if cfg.G_reg_interval:
        train += _flops_double_backward(lambda: phase(G, "Greg", cfg.G_reg_interval)) / cfg.G_reg_interval
    return {"G_params": sum(p.numel() for p in G.parameters()), "D_params": sum(p.numel() for p in D.parameters()),
            "G_fwd_gflop": g_fwd, "D_fwd_gflop": d_fwd, "train_gflop": train, "batch": cfg.batch,
            "G_kwargs": cfg.G_kwargs, "D_kwargs": cfg.D_kwargs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = {name: measure(name, args.res) for name in CONFIGS}
    result = {"res": args.res, "flop_batch": BATCH, "rows": rows}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / RESULTS).write_text(json.dumps(result, indent=1))
    lines = [f"# GAN costs at {args.res} px (per image; `benchmarks/bench_gan_costs.py`)", "",
             "| network | G params | D params | G fwd GFLOP | D fwd GFLOP | train step GFLOP / image | default batch |",
             "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['G_params'] / 1e6:.2f} M | {r['D_params'] / 1e6:.2f} M | {r['G_fwd_gflop']:.3f} | "
                     f"{r['D_fwd_gflop']:.3f} | {r['train_gflop']:.2f} | {r['batch']} |")
    (OUT / "gan-costs.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(headline(result)[1])


if __name__ == "__main__":
    main()
