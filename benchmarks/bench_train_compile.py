"""Does ``torch.compile`` speed up StyleGAN2 training on the CPU? (issue 15: a compiled training step)

``torch.compile`` has no double backward, so R1 and path-length regularisation (which
differentiate a gradient) cannot run compiled. This benchmark compiles what can be: the mapping
and synthesis networks and D for the G and D *main* phases (15 of every 16 minibatches hit only
those), while the regularisation phases run the same modules eagerly. It builds the real trainer
(``gan.train._Loop``) exactly as ``bench_train_profile.py`` does (StyleGAN2 ``small`` at 64 px,
batch 8, R1 every 16 / path length every 4 minibatches, style mixing 0.9, ADA at p 0.2, the lean
loop), in fp32 and bf16, eager and compiled, and times whole minibatches, interleaved.

    python benchmarks/bench_train_compile.py [--rounds 3] [--steps 16] [--threads 1]

Writes docs/benchmarks/train-compile.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

RESULTS = "train-compile.json"
OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"


def headline(result: dict) -> tuple[float | None, str]:
    ms = result["ms_per_step"]
    return (ms["bf16"] / ms["bf16 compiled"],
            f"small@64 batch 8 training: bf16 compiled (main phases) vs bf16 eager, {ms['bf16 compiled']:.0f} vs "
            f"{ms['bf16']:.0f} ms/minibatch after {result['warmup_s']['bf16 compiled']:.0f} s of compiling "
            f"(fp32 compiled x{ms['fp32'] / ms['fp32 compiled']:.2f})")


class _CompiledMain:
    """What ``GANLoss.run_G`` reads from its ``G``, with mapping and synthesis compiled."""

    def __init__(self, G, mapping, synthesis):
        self.w_dim, self.mapping, self.synthesis, self._G = G.w_dim, mapping, synthesis, G

    def __call__(self, *args, **kwargs):
        return self._G(*args, **kwargs)


def compile_main_phases(loop) -> None:
    """Main phases through compiled G/D; regularisation phases (double backward) eager."""
    import torch

    loss = loop.loss
    G, D = loss.G, loss.D
    main_G = _CompiledMain(G, torch.compile(G.mapping), torch.compile(G.synthesis))
    main_D = torch.compile(D)
    accumulate = loss.accumulate

    def accumulate_compiled(phase, *args, **kwargs):
        eager = phase.endswith(("reg", "both"))
        loss.G, loss.D = (G, D) if eager else (main_G, main_D)
        try:
            return accumulate(phase, *args, **kwargs)
        finally:
            loss.G, loss.D = G, D

    loss.accumulate = accumulate_compiled


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=16, help="minibatches per timed round (16: one R1 step each)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch

    from bench_train_profile import SCHEDULE, build
    from neuralbrush.datasets.samples import write_blooms

    torch.set_num_threads(args.threads)
    data = Path(tempfile.mkdtemp()) / "blooms"
    write_blooms(data, 64, 64, seed=0, species=True)
    load_before = os.getloadavg()[0]
    loops = {}
    for precision in ("fp32", "bf16"):
        loops[precision] = build(data, precision, True, 8)
        loops[f"{precision} compiled"] = build(data, precision, True, 8)
        compile_main_phases(loops[f"{precision} compiled"])
    warmup = {}
    for name, loop in loops.items():  # 17 minibatches: every phase once (the compiled ones compile here)
        t = time.perf_counter()
        for _ in range(17):
            loop.step()
        warmup[name] = round(time.perf_counter() - t, 1)
        print(f"{name}: warm-up {warmup[name]} s", flush=True)
    times: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(args.rounds):
        for name, loop in loops.items():
            t = time.perf_counter()
            for _ in range(args.steps):
                loop.step()
            times[name].append((time.perf_counter() - t) / args.steps * 1000)
    ms = {name: round(statistics.median(v), 1) for name, v in times.items()}
    result = {"ms_per_step": ms, "all_ms": times, "warmup_s": warmup, "rounds": args.rounds, "steps": args.steps,
              "threads": args.threads, "torch": torch.__version__, "load_before": load_before,
              "load_after": os.getloadavg()[0], "cpu": platform.processor() or platform.machine(),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / RESULTS).write_text(json.dumps(result, indent=1) + "\n")
    lines = ["# A compiled training step (`benchmarks/bench_train_compile.py`)", "",
             f"{SCHEDULE.format(batch=8)}, lean loop; {args.threads} thread(s); median of {args.rounds} interleaved "
             f"rounds of {args.steps} minibatches; {result['date']}, torch {result['torch']}, load average {load_before:.1f} "
             f"before and {result['load_after']:.1f} after (a shared machine: read the ratios).", "",
             "Compiled: mapping, synthesis and D through `torch.compile` in the G and D main phases; the "
             "regularisation phases run eagerly (no double backward in compiled code).", "",
             "| variant | ms per minibatch | vs fp32 eager | warm-up of 17 minibatches (s, compiling included) |",
             "|---|---|---|---|"]
    for name in loops:
        lines.append(f"| {name} | {ms[name]:.0f} | x{ms['fp32'] / ms[name]:.2f} | {warmup[name]} |")
    gain = ms["bf16"] / ms["bf16 compiled"]
    verdict = ("too little to repay the compile time on a run of an hour or less, so the trainer stays eager"
               if gain < 1.1 else "worth a compiled training path for long runs")
    lines += ["", f"Compiling buys x{gain:.2f} in bf16 and x{ms['fp32'] / ms['fp32 compiled']:.2f} in fp32 per "
              f"minibatch: {verdict}.", ""]
    (OUT / "train-compile.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
