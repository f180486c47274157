"""Where one StyleGAN2-ADA training minibatch spends its time (issue 15's lean loop).

Builds the real trainer (``gan.train._Loop``) on 64 px blooms with the ``small`` preset and the
issue's schedule (batch 8, R1 and path length on their lazy intervals, style mixing 0.9, ADA with p
fixed at 0.2), then runs whole minibatches (``_Loop.step``) with every part of the loop timed by
wrappers around the trainer's own methods: data, the G and D phases (forward + backward), the
lazy regularisers, the optimiser steps, the EMA, the ADA update, and what is left (requires_grad
toggling, zero_grad, Python). The loop's lean switches (``_Loop(lean=...)``: fused Adam, foreach EMA)
are measured off and on, interleaved in one run, in fp32 and bf16; then ``torch.profiler`` lists
the top operators of a bf16 lean minibatch.

    python benchmarks/bench_train_profile.py [--steps 32] [--rounds 3] [--threads 1]

Writes docs/benchmarks/train-profile.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

RESULTS = "train-profile.json"
OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"
PARTS = ("data", "Gmain", "Greg", "Dmain", "Dreg", "optimizer", "ema", "ada", "other")
# the schedule build() trains (bench_train_compile.py builds the same loop and says the same)
SCHEDULE = ("StyleGAN2 `small` at 64 px, batch {batch}, R1 every 16 / path length every 4 minibatches, style mixing "
            "0.9, ADA at p 0.2")


def headline(result: dict) -> tuple[float | None, str]:
    rows = {(r["precision"], r["lean"]): r for r in result["rows"]}
    before, after = rows.get(("fp32", False)), rows.get(("bf16", True))
    if not before or not after:
        return None, "incomplete"
    share = after["parts"]  # one round's parts (the round nearest the median), so share of their own sum
    outside = 1 - (share["Gmain"] + share["Greg"] + share["Dmain"] + share["Dreg"]) / sum(share.values())
    return (before["ms_per_step"] / after["ms_per_step"],
            f"small@64 batch {result['batch']} minibatch: fp32 plain {before['ms_per_step']:.0f} ms -> bf16 lean "
            f"{after['ms_per_step']:.0f} ms; {outside * 100:.0f} % of the lean bf16 step is outside the G/D phases")


class Timers:
    def __init__(self) -> None:
        self.total: dict[str, float] = defaultdict(float)
        self.stack: list[str] = []

    @contextmanager
    def part(self, name: str):
        t0 = time.perf_counter()
        self.stack.append(name)
        try:
            yield
        finally:
            self.stack.pop()
            dt = time.perf_counter() - t0
            self.total[name] += dt
            if self.stack:  # time inside a nested part is not the outer part's own
                self.total[self.stack[-1]] -= dt


def instrument(loop, timers: Timers) -> None:
    """Wrap the trainer's own methods so each part of a minibatch is timed."""
    def wrap(obj, attr, name_of):
        fn = getattr(obj, attr)

        def wrapped(*a, **k):
            with timers.part(name_of(*a, **k)):
                return fn(*a, **k)
        setattr(obj, attr, wrapped)

    wrap(loop, "_batch", lambda *a, **k: "data")
    wrap(loop, "_update_ema", lambda *a, **k: "ema")
    wrap(loop.loss, "accumulate", lambda phase, *a, **k: phase)
    wrap(loop.opt_G, "step", lambda *a, **k: "optimizer")
    wrap(loop.opt_D, "step", lambda *a, **k: "optimizer")
    if loop.ada is not None:
        wrap(loop.ada, "update", lambda *a, **k: "ada")


def build(data: Path, precision: str, lean: bool, batch: int):
    from neuralbrush.gan.presets import TrainOptions
    from neuralbrush.gan.train import _Loop

    # d_recon 0: the schedule is NVIDIA's architecture (the small preset's D has decoders since issue 14)
    opts = TrainOptions(data=str(data), cfg="small", res=64, batch=batch, pl_weight=2.0, style_mixing=0.9,
                        d_recon=0.0, aug="ada", p=0.2, precision=precision, device="cpu", metrics="none", workers=0, threads=0,
                        outdir=str(data.parent / "runs"))
    opts.validate()
    loop = _Loop(opts, progress=None, lean=lean)
    loop.ada = None  # p stays at 0.2 (the schedule); the ADA statistic is still gathered
    return loop


def measure(loop, steps: int) -> tuple[float, dict[str, float]]:
    timers = Timers()
    instrument(loop, timers)
    for _ in range(3):  # warm-up (first R1 / path length steps included)
        loop.step()
    timers.total.clear()
    t0 = time.perf_counter()
    for _ in range(steps):
        loop.step()
    wall = time.perf_counter() - t0
    parts = {k: v / steps * 1000 for k, v in timers.total.items()}
    parts["other"] = wall / steps * 1000 - sum(parts.values())
    return wall / steps * 1000, {k: round(parts.get(k, 0.0), 2) for k in PARTS}



def main() -> None:
    import torch

    from neuralbrush.datasets.samples import write_blooms

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="nb-profile-"))
    data = tmp / "blooms"
    write_blooms(data, 200, 64, seed=0, species=True)
    configs = [(p, lean) for p in ("fp32", "bf16") for lean in (False, True)]
    loops = {c: build(data, c[0], c[1], args.batch) for c in configs}
    samples: dict[tuple, list] = defaultdict(list)
    for r in range(args.rounds):  # interleaved: every configuration once per round
        for c in configs:
            samples[c].append(measure(loops[c], args.steps))
            print(f"round {r} {c}: {samples[c][-1][0]:.0f} ms/step", flush=True)
    rows = []
    for c in configs:
        ms = statistics.median(s[0] for s in samples[c])
        best = min(samples[c], key=lambda s: abs(s[0] - ms))
        rows.append({"precision": c[0], "lean": c[1], "ms_per_step": round(ms, 1), "parts": best[1],
                     "all_ms": [round(s[0], 1) for s in samples[c]]})
    loop = loops[("bf16", True)]
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(8):
            loop.step()
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=50)
    from neuralbrush.core import device

    result = {"batch": args.batch, "steps": args.steps, "rounds": args.rounds, "threads": args.threads,
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {device.cpu_kind()}",
              "load_start": os.getloadavg()[0], "torch": torch.__version__, "rows": rows, "profile_top": table}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULTS).write_text(json.dumps(result, indent=1) + "\n")
    md = ["# One training minibatch, part by part (`benchmarks/bench_train_profile.py`)", "",
          f"{SCHEDULE.format(batch=args.batch)}; {args.threads} thread(s); median of {args.rounds} interleaved rounds of "
          f"{args.steps} minibatches; ms per minibatch (lazy regularisers amortised). {result['machine']}, torch {torch.__version__}, "
          f"load average {result['load_start']:.1f} at the start.", "",
          "| precision | lean loop | ms/step | " + " | ".join(PARTS) + " |", "|---" * (3 + len(PARTS)) + "|"]
    for r in rows:
        md.append(f"| {r['precision']} | {'yes' if r['lean'] else 'no'} | {r['ms_per_step']:.0f} | "
                  + " | ".join(f"{r['parts'][k]:.1f}" for k in PARTS) + " |")
    md += ["", "Top operators of a bf16 lean minibatch (torch.profiler, 8 minibatches, self CPU time):", "",
           "```", table, "```"]
    (out / "train-profile.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
