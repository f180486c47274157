"""pix2pix speed: one training iteration and apply frames/s at 128 and 256 px, fp32 vs bf16.

Measures the real networks (unet_128 at 128 px, unet_256 at 256 px, ngf 64, PatchGAN 70x70,
batch 1 as in the paper): a training iteration is ``train_step`` (G forward, D on real and
fake pairs, G through D plus L1, both Adam steps); apply is the generator alone in eval mode
on one frame. Variants run interleaved (one repetition of each in turn) so machine noise hits
all alike; the table reports medians and each variant's speed-up over ``fp32 foreach``:

* ``fp32 foreach``: fp32 eager with the foreach Adam the trainer used before issue 15, in its own
  process (benchmarks/isolated.py, still interleaved) with the C library's malloc as it behaves
  unasked: every runtime now sets the ``keep`` allocator policy (``neuralbrush.core.allocator``);
* ``fp32``: fp32 eager with fused Adam (the trainer now); this and the variants below run with
  the ``keep`` allocator policy every runtime sets (freed tensors stay in the process);
* ``bf16``: bf16 autocast + channels_last, fused Adam (the default on CPUs with bf16); the
  trainer's Adam (``neuralbrush.core.device.Adam``) steps the channels_last weights through
  contiguous views, without which torch's fused CPU kernel copies each weight out and back
  (a 0.05 s share of the 256 px step in bf16);
* ``bf16 compiled`` (``--compile``): the same with G and D through ``torch.compile``.

    python benchmarks/bench_pix2pix.py [--reps 3] [--threads N] [--sizes 128,256] [--compile]

Writes docs/benchmarks/pix2pix.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from neuralbrush.core.device import Adam, Runtime, cpu_has_amx, resolve_runtime
from neuralbrush.pix2pix.networks import PatchDiscriminator, UNetGenerator, init_weights
from neuralbrush.pix2pix.train import train_step

sys.path.insert(0, str(Path(__file__).resolve().parent))
from isolated import Isolated  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GMAC_256 = 6.05  # U-Net-256 forward at 256x256 (REFERENCE.md)


VARIANTS = {  # name: (precision, fused Adam, compiled); BASE runs in its own process, malloc untouched
    "fp32 foreach": ("fp32", False, False),
    "fp32": ("fp32", True, False),
    "bf16": ("bf16", True, False),
    "bf16 compiled": ("bf16", True, True),
}
BASE = "fp32 foreach"


def _setup(size: int, rt: Runtime, fused: bool = True, compiled: bool = False):
    arch = "unet_256" if size >= 256 else "unet_128"
    g = torch.Generator().manual_seed(0)
    G = rt.module(init_weights(UNetGenerator(arch), generator=g)).train()
    D = rt.module(init_weights(PatchDiscriminator(6), generator=g)).train()
    # the trainer's optimiser (fused, channels_last weights through plain views) or the one before
    adam, kw = (Adam, {"fused": True}) if fused else (torch.optim.Adam, {"foreach": True})
    opt_G = adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999), **kw)
    opt_D = adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999), **kw)
    a = rt.tensor(torch.rand(1, 3, size, size, generator=g) * 2 - 1)
    b = rt.tensor(torch.rand(1, 3, size, size, generator=g) * 2 - 1)
    if compiled:
        G, D = torch.compile(G), torch.compile(D)
    return G, D, opt_G, opt_D, a, b


def baseline_step(size: int, what: str):
    """The issue's baseline (``fp32 foreach``) for the isolated process: one call = one ``what``."""
    rt = resolve_runtime("cpu", "fp32")
    state = _setup(size, rt, fused=False)
    fn = time_train_step if what == "train step" else time_apply
    return lambda: fn(size, rt, state)


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
    ap.add_argument("--compile", action="store_true", help="add the torch.compile variant (minutes of compiling)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "pix2pix"), help="output path without suffix")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    names = [n for n in VARIANTS if args.compile or not VARIANTS[n][2]]
    runtimes = {n: resolve_runtime("cpu", VARIANTS[n][0]) for n in names}  # sets keep in this process
    load_before = os.getloadavg()
    results = []
    for size in sizes:
        states = {n: _setup(size, runtimes[n], VARIANTS[n][1], VARIANTS[n][2]) for n in names if n != BASE}
        for what, fn in (("train step", time_train_step), ("apply", time_apply)):
            # the baseline in its own process (malloc untouched), interleaved with the others
            base = Isolated("bench_pix2pix:baseline_step", size, what, threads=torch.get_num_threads())

            def run(n: str) -> float:
                if n == BASE:
                    return base.step()[0]
                return fn(size, runtimes[n], states[n])

            times: dict[str, list[float]] = {n: [] for n in names}
            warm = {}
            for n in names:  # warm-up (the compiled variant compiles here)
                t = time.perf_counter()
                run(n)
                warm[n] = time.perf_counter() - t
            for _ in range(args.reps):
                for n in names:
                    times[n].append(run(n))
            base.close()
            row = {"size": size, "what": what, "warmup_s": warm,
                   "median_s": {n: statistics.median(times[n]) for n in names}, "all_s": times}
            row["speedup"] = {n: row["median_s"][BASE] / row["median_s"][n] for n in names}
            results.append(row)
            print(f"{size:4d}px {what:10s}  " + "  ".join(f"{n} {row['median_s'][n]:.3f} s (x{row['speedup'][n]:.2f})"
                                                        for n in names), flush=True)
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
        "`fp32 foreach` (the issue's baseline: the optimiser step before issue 15) runs in its own process, "
        "interleaved with the others, with the C library's malloc as it behaves unasked; the other variants with the `keep` allocator policy every runtime sets "
        "(freed tensors stay in the process rather than being unmapped and page-faulted in again). "
        f"Apply is one generator forward in eval mode (U-Net-256: {GMAC_256} GMAC per 256x256 frame).",
        "",
        "| size | what | " + " | ".join(f"{n} (s)" for n in names) + " | " + " | ".join(
            f"{n} speed-up" for n in names if n != BASE) + " |",
        "|---|---|" + "---|" * (2 * len(names) - 1),
    ]
    for r in results:
        lines.append(f"| {r['size']} | {r['what']} | " + " | ".join(f"{r['median_s'][n]:.3f}" for n in names) + " | "
                     + " | ".join(f"x{r['speedup'][n]:.2f}" for n in names if n != BASE) + " |")
    lines += ["", "Medians of the timed repetitions; every repetition is in the .json file beside this page.", ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    print(f"wrote {out.with_suffix('.md')}")


# The headline `python -m benchmarks` prints from this script's results (one row per RESULTS file).
# headline() runs without this script's imports: it may use its argument and builtins only.
RESULTS = "pix2pix*.json"  # pix2pix.json, and machine-labelled reruns (--out .../pix2pix-amx)


def headline(result: dict) -> tuple[float | None, str]:
    """Training-step speed at the largest size: the default (bf16, fused Adam) over fp32 as before."""
    size = max(r["size"] for r in result["results"])
    rows = {r["what"]: r for r in result["results"] if r["size"] == size}
    return (rows["train step"]["speedup"]["bf16"],
            f"pix2pix train step at {size} px: bf16 + fused Adam vs fp32 with foreach Adam; "
            f"apply x{rows['apply']['speedup']['bf16']:.2f}")


if __name__ == "__main__":
    main()
