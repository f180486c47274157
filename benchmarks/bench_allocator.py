"""What the ``keep`` allocator policy saves: issue 15's five CPU workloads, each in fp32 and bf16,
in two fresh processes side by side: one with the C library's malloc as it behaves unasked
(``NEURALBRUSH_ALLOCATOR=glibc``), one with the policy every neuralbrush runtime sets (``keep``:
freed tensor memory stays in the process; ``neuralbrush.core.allocator``). Reported: seconds per
step and minor page faults per step, medians of interleaved rounds (one step of each process in
turn), and the peak resident memory of each process.

    python benchmarks/bench_allocator.py [--threads 1] [--rounds 3] [--only NAME,...]

Writes docs/benchmarks/allocator.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

sys.path.insert(0, str(Path(__file__).resolve().parent))

RESULTS = "allocator.json"
OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"
POLICIES = ("glibc", "keep")


def unit_step(name: str, precision: str, tmp: str):
    """For the isolated process: one call = one unit of bench_conv_bound's workload ``name``
    (16 minibatches for StyleGAN2: its lazy regularisers' period); returns (steps in the unit,
    minor page faults per step, the process's peak RSS in MiB)."""
    import warnings

    warnings.simplefilter("ignore")
    from bench_conv_bound import WORKLOADS

    step, per = WORKLOADS[name][0](precision, Path(tmp))

    def run() -> tuple[int, float, float]:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(per):
            step()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return per, (usage.ru_minflt - before) / per, usage.ru_maxrss / 1024
    return run


def measure(name: str, precision: str, tmp: Path, rounds: int, threads: int) -> dict:
    from isolated import Isolated
    from bench_conv_bound import WORKLOADS

    procs = {p: Isolated("bench_allocator:unit_step", name, precision, str(tmp), threads=threads, policy=p)
             for p in POLICIES}
    try:
        for p in POLICIES:  # warm-up: oneDNN primitives, first touches, the lazy regularisers
            procs[p].step()
            procs[p].step()
        secs: dict[str, list[float]] = {p: [] for p in POLICIES}
        faults: dict[str, list[float]] = {p: [] for p in POLICIES}
        rss: dict[str, float] = {}
        for _ in range(rounds):
            for p in POLICIES:
                dt, (per, f, peak) = procs[p].step(output=True)
                secs[p].append(dt / per)
                faults[p].append(f)
                rss[p] = peak
    finally:
        for proc in procs.values():
            proc.close()
    row = {"name": name, "what": WORKLOADS[name][1], "precision": precision}
    for p in POLICIES:
        row[p] = {"step_s": statistics.median(secs[p]), "step_all_s": secs[p],
                  "faults_per_step": statistics.median(faults[p]), "peak_rss_mib": rss[p]}
    row["speedup"] = row["glibc"]["step_s"] / row["keep"]["step_s"]
    print(f"  {name} {precision}: glibc {row['glibc']['step_s']:.3f} s ({row['glibc']['faults_per_step']:.0f} faults, "
          f"{rss['glibc']:.0f} MiB) | keep {row['keep']['step_s']:.3f} s ({row['keep']['faults_per_step']:.0f} faults, "
          f"{rss['keep']:.0f} MiB) | x{row['speedup']:.2f}", flush=True)
    return row


def markdown(result: dict) -> str:
    lines = ["# The `keep` allocator policy (`benchmarks/bench_allocator.py`)", "",
             f"{result['machine']}, torch {result['torch']}, {result['threads']} thread(s), load average "
             f"{result['load_start']:.1f} at the start and {result['load_end']:.1f} at the end; medians of "
             f"{result['rounds']} interleaved rounds.", "",
             "Each workload (as in [conv-bound](conv-bound.md)) runs in two fresh processes side by side: *glibc*, the "
             "C library's malloc as it behaves unasked (every block above its mmap threshold, 128 KiB rising to at "
             "most 32 MiB, is mapped afresh and unmapped when freed, so its pages fault in again on every step), and "
             "*keep*, the policy every neuralbrush runtime sets (`neuralbrush.core.allocator`: no mmap, no trimming; "
             "what a step frees serves the next). Faults: minor page faults per step. Peak RSS: the process's "
             "high-water mark.", "",
             "| workload | precision | glibc s | keep s | speed-up | glibc faults/step | keep faults/step | "
             "peak RSS glibc / keep MiB |", "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        g, k = r["glibc"], r["keep"]
        lines.append(f"| {r['what']} | {r['precision']} | {g['step_s']:.3f} | {k['step_s']:.3f} | "
                     f"**x{r['speedup']:.2f}** | {g['faults_per_step']:.0f} | {k['faults_per_step']:.0f} | "
                     f"{g['peak_rss_mib']:.0f} / {k['peak_rss_mib']:.0f} |")
    lines += ["", "Per-round step times are in the .json file beside this page."]
    return "\n".join(lines) + "\n"


def headline(result: dict) -> tuple[float | None, str]:
    rows = result.get("rows") or []
    if not rows:
        return None, "no workloads measured"
    best = max(rows, key=lambda r: r["speedup"])
    worst = min(rows, key=lambda r: r["speedup"])
    return (best["speedup"], f"allocator keep vs glibc, per step: x{worst['speedup']:.2f} ({worst['name']} "
            f"{worst['precision']}) to x{best['speedup']:.2f} ({best['name']} {best['precision']}) over "
            f"{len(rows)} workloads")


def main() -> None:
    import torch

    from bench_conv_bound import WORKLOADS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: a shared machine)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timed rounds")
    ap.add_argument("--only", default="", help="comma-separated workload names (default: all)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n] or list(WORKLOADS)
    load_start = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="nb-allocator-"))
    rows = [measure(n, p, tmp, args.rounds, args.threads) for n in names for p in ("fp32", "bf16")]
    result = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "torch": torch.__version__, "threads": args.threads, "rounds": args.rounds, "load_start": load_start,
              "load_end": os.getloadavg()[0], "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / RESULTS).write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "allocator.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
