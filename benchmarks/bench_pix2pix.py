"""pix2pix speed: one training iteration and apply frames/s at 128 and 256 px, fp32 vs bf16.

Measures the real networks (unet_128 at 128 px, unet_256 at 256 px, ngf 64, PatchGAN 70x70,
batch 1 as in the paper): a training iteration is ``train_step`` (G forward, D on real and
fake pairs, G through D plus L1, both Adam steps); apply is the generator alone in eval mode
on one frame. Variants run interleaved (fp32, bf16, fp32, bf16, ...) so machine noise hits
both alike; the table reports medians and the bf16/fp32 speed ratio.

    python benchmarks/bench_pix2pix.py [--reps 3] [--threads N] [--sizes 128,256]

Writes docs/benchmarks/pix2pix.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from neuralbrush.core.device import Runtime, cpu_has_amx, resolve_runtime
from neuralbrush.pix2pix.networks import PatchDiscriminator, UNetGenerator, init_weights
from neuralbrush.pix2pix.train import train_step

ROOT = Path(__file__).resolve().parents[1]
GMAC_256 = 6.05  # U-Net-256 forward at 256x256 (REFERENCE.md)


def _setup(size: int, rt: Runtime):
    arch = "unet_256" if size >= 256 else "unet_128"
    g = torch.Generator().manual_seed(0)
    G = rt.module(init_weights(UNetGenerator(arch), generator=g)).train()
    D = rt.module(init_weights(PatchDiscriminator(6), generator=g)).train()
    opt_G = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    a = rt.tensor(torch.rand(1, 3, size, size, generator=g) * 2 - 1)
    b = rt.tensor(torch.rand(1, 3, size, size, generator=g) * 2 - 1)
    return G, D, opt_G, opt_D, a, b


def time_train_step(size: int, rt: Runtime, state: dict) -> float:
    G, D, opt_G, opt_D, a, b = state
    t = time.perf_counter()
    train_step(G, D, D, opt_G, opt_D, a, b, rt=rt)
    return time.perf_counter() - t


def time_apply(size: int, rt: Runtime, state: dict) -> float:
    G, _, _, _, a, _ = state
    G.eval()
    t = time.perf_counter()
    with torch.no_grad(), rt.autocast():
        G(a)
    dt = time.perf_counter() - t
    G.train()
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions per variant (after one warm-up)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    ap.add_argument("--sizes", default="128,256", help="comma-separated sizes")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "pix2pix"), help="output path without suffix")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    variants = {"fp32": resolve_runtime("cpu", "fp32"), "bf16": resolve_runtime("cpu", "bf16")}
    load_before = os.getloadavg()
    results = []
    for size in sizes:
        states = {name: _setup(size, rt) for name, rt in variants.items()}
        for what, fn in (("train step", time_train_step), ("apply", time_apply)):
            times: dict[str, list[float]] = {name: [] for name in variants}
            for name, rt in variants.items():  # warm-up
                fn(size, rt, states[name])
            for _ in range(args.reps):
                for name, rt in variants.items():
                    times[name].append(fn(size, rt, states[name]))
            row = {"size": size, "what": what}
            for name in variants:
                row[f"{name}_s"] = statistics.median(times[name])
                row[f"{name}_all"] = times[name]
            row["bf16_speedup"] = row["fp32_s"] / row["bf16_s"]
            results.append(row)
            print(f"{size:4d}px {what:10s}  fp32 {row['fp32_s']:7.3f} s  bf16 {row['bf16_s']:7.3f} s  "
                  f"bf16 speed-up x{row['bf16_speedup']:.2f}", flush=True)
        del states
    load_after = os.getloadavg()
    env = {"cpu": platform.processor() or platform.machine(), "amx": cpu_has_amx(), "torch": torch.__version__,
           "threads": torch.get_num_threads(), "cores": os.cpu_count(), "loadavg_before": load_before,
           "loadavg_after": load_after, "reps": args.reps, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            env["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"env": env, "results": results}, indent=2) + "\n")
    lines = [
        "# pix2pix speed: training iteration and apply, fp32 vs bf16",
        "",
        f"Measured by `benchmarks/bench_pix2pix.py` on {env['date']}: {env['cpu']}, {env['cores']} cores, "
        f"torch {env['torch']}, {env['threads']} thread(s), AMX: {'yes' if env['amx'] else 'no'}. "
        f"Load average before/after: {load_before[0]:.1f} / {load_after[0]:.1f} (the machine is shared; "
        "variants are interleaved so noise hits both, and the ratio is the figure to trust).",
        "",
        f"With `--precision auto` the studio picks {resolve_runtime('cpu', 'auto').precision} on this CPU "
        "(bf16 autocast is the default on CPUs with AMX or AVX512-BF16); both columns are measured by asking "
        "for the precision explicitly.",
        "",
        "Networks: unet_128 at 128 px, unet_256 at 256 px (ngf 64, batch norm), 70x70 PatchGAN, batch 1. "
        "A training iteration is D on real and fake pairs, then G through D plus L1, and both Adam steps. "
        f"Apply is one generator forward in eval mode (U-Net-256: {GMAC_256} GMAC per 256x256 frame).",
        "",
        "| size | what | fp32 (s) | bf16 (s) | bf16 speed-up | fp32 frames/s | bf16 frames/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        fps = (f"{1 / r['fp32_s']:.2f} | {1 / r['bf16_s']:.2f}") if r["what"] == "apply" else "- | -"
        lines.append(f"| {r['size']} | {r['what']} | {r['fp32_s']:.3f} | {r['bf16_s']:.3f} | x{r['bf16_speedup']:.2f} | {fps} |")
    lines += ["", "Medians of the timed repetitions; every repetition is in the .json file beside this page.", ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    print(f"wrote {out.with_suffix('.md')}")


# The headline `python -m benchmarks` prints from this script's results (one row per RESULTS file).
# headline() runs without this script's imports: it may use its argument and builtins only.
RESULTS = "pix2pix.json"


def headline(result: dict) -> tuple[float | None, str]:
    """Apply speed at the largest size: bf16 over fp32 (the training step's ratio beside it)."""
    size = max(r["size"] for r in result["results"])
    rows = {r["what"]: r for r in result["results"] if r["size"] == size}
    return (rows["apply"]["bf16_speedup"],
            f"pix2pix apply at {size} px: bf16 vs fp32; train step x{rows['train step']['bf16_speedup']:.2f}")


if __name__ == "__main__":
    main()
