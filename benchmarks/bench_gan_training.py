"""GAN training speed on this machine: s/kimg and generator images/s, fp32 vs bf16 side by side,
held against a FLOP count and the CPU's measured matmul ceiling.

For each network (``small`` preset at 64 px, NVlabs ``auto`` at 64 and 256 px) and precision
the script times the phases of one StyleGAN2-ADA minibatch (G main, D main, and the lazy
regularisers path length / R1, amortised over their intervals 4 / 16), counts the FLOPs of the
same phases with ``torch.utils.flop_counter`` (forward, backward and R1's double backward), and
measures G_ema inference throughput. The FLOP rate achieved is compared with the fp32 and bf16
matmul rates measured in the same run. Results: docs/benchmarks/gan-training.md (+ .json).

    python benchmarks/bench_gan_training.py            # ~10 min on a busy 2-core CPU
    python benchmarks/bench_gan_training.py --quick    # small@64 only
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from neuralbrush.core.device import cpu_has_amx, resolve_runtime
from neuralbrush.gan import build_discriminator, build_generator
from neuralbrush.gan.augment import make_augment_pipe
from neuralbrush.gan.loss import GANLoss
from neuralbrush.gan.presets import TrainOptions, resolve

ROOT = Path(__file__).resolve().parents[1]


class FlopCounter(TorchDispatchMode):
    """Sums torch's per-op FLOP formulas (conv, mm, their backward) over every op dispatched,
    including R1's double backward (torch's FlopCounterMode module hooks cannot follow
    autograd.grad with create_graph)."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        fn = flop_registry.get(func._overloadpacket)
        if fn is not None:
            self.total += fn(*args, **kwargs, out_val=out)
        return out

    def get_total_flops(self) -> int:
        return self.total


def matmul_rate(dtype: torch.dtype, n: int = 1024, seconds: float = 2.0) -> float:
    """Sustained GFLOP/s of an n x n matmul in ``dtype``."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        count += 1
    return 2 * n ** 3 * count / (time.perf_counter() - t0) / 1e9


def build(cfg_name: str, res: int, batch: int, runtime):
    # d_recon 0: NVIDIA's networks (the small preset's D has reconstruction decoders since issue 14)
    cfg = resolve(TrainOptions(cfg=cfg_name, batch=batch, mbstd=min(4, batch), d_recon=0.0), res=res)
    torch.manual_seed(0)
    G = runtime.module(build_generator("stylegan2", **cfg.G_kwargs).train().requires_grad_(False))
    D = runtime.module(build_discriminator("stylegan2", **cfg.D_kwargs).train().requires_grad_(False))
    pipe = make_augment_pipe("ada", 0.2)
    loss = GANLoss(G, D, augment_pipe=pipe, r1_gamma=cfg.r1_gamma, pl_weight=2.0, style_mixing_prob=0.9,
                   autocast=runtime.autocast)
    return cfg, G, D, loss


def run_phase(loss: GANLoss, module, phase: str, real, z, c, gain: float) -> None:
    module.requires_grad_(True)
    module.zero_grad(set_to_none=True)
    loss.accumulate(phase, real, c, z, c, gain=gain)
    module.requires_grad_(False)


def bench_one(cfg_name: str, res: int, batch: int, precision: str, repeats: int) -> dict:
    runtime = resolve_runtime("cpu", precision)
    cfg, G, D, loss = build(cfg_name, res, batch, runtime)
    real = runtime.tensor(torch.rand(batch, 3, res, res) * 2 - 1)
    z, c = torch.randn(batch, cfg.G_kwargs["z_dim"]), torch.zeros(batch, 0)
    phases = (("Gmain", G, 1.0), ("Greg", G, 1 / 4), ("Dmain", D, 1.0), ("Dreg", D, 1 / 16))
    seconds, flops = {}, {}
    for name, module, _ in phases:
        run_phase(loss, module, name, real, z, c, 1.0)  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run_phase(loss, module, name, real, z, c, 1.0)
            times.append(time.perf_counter() - t0)
        seconds[name] = min(times)
        with FlopCounter() as fc:
            run_phase(loss, module, name, real, z, c, 1.0)
        flops[name] = fc.get_total_flops()
    step_s = sum(seconds[n] * w for n, _, w in phases)
    step_flops = sum(flops[n] * w for n, _, w in phases)
    # Forward MACs of G and D alone (per image).
    with torch.no_grad(), FlopCounter() as fc:
        with runtime.autocast():
            img = G(z[:1], c[:1], noise_mode="const")
    g_macs = fc.get_total_flops() / 2
    with torch.no_grad(), FlopCounter() as fc:
        with runtime.autocast():
            D(img, c[:1])
    d_macs = fc.get_total_flops() / 2
    # Generator throughput (G_ema inference).
    G.eval()
    zz = torch.randn(8, cfg.G_kwargs["z_dim"])
    with torch.no_grad(), runtime.autocast():
        G(zz, torch.zeros(8, 0), noise_mode="const")
        t0 = time.perf_counter()
        for _ in range(repeats):
            G(zz, torch.zeros(8, 0), noise_mode="const")
        gen_s = (time.perf_counter() - t0) / repeats
    return dict(cfg=cfg_name, res=res, batch=batch, precision=runtime.describe(),
                G_params_M=sum(p.numel() for p in G.parameters()) / 1e6,
                D_params_M=sum(p.numel() for p in D.parameters()) / 1e6,
                G_fwd_GMAC=g_macs / 1e9, D_fwd_GMAC=d_macs / 1e9,
                phase_seconds=seconds, s_per_kimg=step_s / batch * 1000,
                train_TFLOP_per_kimg=step_flops / batch * 1000 / 1e12,
                achieved_GFLOPs=step_flops / step_s / 1e9, gen_images_per_s=8 / gen_s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small@64 only")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads (0 = the trainer's auto policy: 1 when the CPU is already busy)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "gan-training.md"))
    args = ap.parse_args()
    from neuralbrush.gan.train import _set_threads

    _set_threads(args.threads)
    nets = [("small", 64, 8)] if args.quick else [("small", 64, 8), ("auto", 64, 4), ("auto", 256, 2)]
    ceiling = {"fp32": matmul_rate(torch.float32), "bf16": matmul_rate(torch.bfloat16)}
    print(f"matmul ceiling: fp32 {ceiling['fp32']:.0f} GFLOP/s, bf16 {ceiling['bf16']:.0f} GFLOP/s")
    rows = []
    for cfg_name, res, batch in nets:
        for precision in ("fp32", "bf16"):
            r = bench_one(cfg_name, res, batch, precision, args.repeats)
            r["ceiling_GFLOPs"] = ceiling[precision]
            r["utilisation"] = r["achieved_GFLOPs"] / ceiling[precision]
            rows.append(r)
            print(f"{cfg_name}@{res} {precision}: {r['s_per_kimg']:.0f} s/kimg, {r['gen_images_per_s']:.1f} img/s, "
                  f"{r['train_TFLOP_per_kimg']:.1f} TFLOP/kimg, {r['achieved_GFLOPs']:.1f} GFLOP/s "
                  f"({100 * r['utilisation']:.0f}% of matmul)")
    env = dict(torch=torch.__version__, cpu=platform.processor() or platform.machine(), amx=cpu_has_amx(),
               threads=torch.get_num_threads(), load_average=list(__import__("os").getloadavg()),
               date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(dict(env=env, ceiling=ceiling, rows=rows), indent=1))
    lines = ["# GAN training speed (StyleGAN2-ADA, CPU)", "",
             f"Measured {env['date']} with `python benchmarks/bench_gan_training.py`: torch {env['torch']}, "
             f"{env['threads']} threads, AMX-BF16: {env['amx']}, load average at the end "
             f"{', '.join(f'{x:.1f}' for x in env['load_average'])} (the machine is shared: compare the rows "
             "of one run with each other, not with other runs).", "",
             f"Matmul ceiling measured in the same run: fp32 {ceiling['fp32']:.0f} GFLOP/s, "
             f"bf16 {ceiling['bf16']:.0f} GFLOP/s.", "",
             "One minibatch = G main + D main + path length / 4 + R1 / 16 (lazy regularisation), with ADA at "
             "p = 0.2, style mixing 0.9. FLOPs are counted with torch's per-op formulas (torch.utils.flop_counter) over the same phases "
             "(forward, backward and R1's double backward).", "",
             "| network | res | batch | precision | G / D params (M) | G / D fwd GMAC per image | s/kimg | "
             "TFLOP/kimg | achieved GFLOP/s | % of matmul ceiling | G images/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['cfg']} | {r['res']} | {r['batch']} | {r['precision']} | {r['G_params_M']:.2f} / "
                     f"{r['D_params_M']:.2f} | {r['G_fwd_GMAC']:.3f} / {r['D_fwd_GMAC']:.3f} | "
                     f"{r['s_per_kimg']:.0f} | {r['train_TFLOP_per_kimg']:.2f} | {r['achieved_GFLOPs']:.1f} | "
                     f"{100 * r['utilisation']:.0f} | {r['gen_images_per_s']:.1f} |")
    pairs = {}
    for r in rows:
        pairs.setdefault((r["cfg"], r["res"]), {})[r["precision"].split()[1].split(",")[0]] = r
    lines += ["", "bf16 / fp32 speed ratio (s/kimg fp32 divided by s/kimg bf16; > 1 means bf16 is faster):", ""]
    for (cfg_name, res), d in pairs.items():
        if "fp32" in d and "bf16" in d:
            lines.append(f"- {cfg_name}@{res}: training x{d['fp32']['s_per_kimg'] / d['bf16']['s_per_kimg']:.2f}, "
                         f"generation x{d['bf16']['gen_images_per_s'] / d['fp32']['gen_images_per_s']:.2f}")
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


# The headline `python -m benchmarks` prints from this script's results (one row per RESULTS file).
# headline() runs without this script's imports: it may use its argument and builtins only.
RESULTS = "gan-training*.json"  # gan-training.json (AMD), gan-training-amx.json


def headline(result: dict) -> tuple[float | None, str]:
    """Training speed of the largest network: s/kimg fp32 over bf16 (> 1: bf16 is faster)."""
    last = result["rows"][-1]
    pair = [r for r in result["rows"] if (r["cfg"], r["res"]) == (last["cfg"], last["res"])]
    fp32 = next(r for r in pair if "fp32" in r["precision"])
    bf16 = next(r for r in pair if "bf16" in r["precision"])
    return (fp32["s_per_kimg"] / bf16["s_per_kimg"],
            f"StyleGAN2-ADA training {last['cfg']}@{last['res']}: bf16 vs fp32, "
            f"{bf16['s_per_kimg']:.0f} vs {fp32['s_per_kimg']:.0f} s/kimg ({result['env']['cpu']})")


if __name__ == "__main__":
    main()
