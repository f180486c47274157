"""Total time of the default style recipe at 512 px, as wall time *and* CPU time.

On a shared machine wall time measures the other tenants as much as our work. CPU time
(``time.process_time``, summed over our threads) is what the recipe costs: on a dedicated
2-core machine its wall time lies between CPU/2 (both threads busy) and CPU (one thread).

Run: ``python benchmarks/bench_style_default_cpu.py [--precision bf16] [--size 512]``
Writes docs/benchmarks/style-default-cpu.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench_style_recipes.py

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from neuralbrush.datasets.samples import bloom, skimage_photo  # noqa: E402
from neuralbrush.style.transfer import StyleTransfer  # noqa: E402
from neuralbrush.weights import store  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks"))
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    os.environ.setdefault("NEURALBRUSH_QUIET", "1")
    vgg = "store" if store.find("vgg19") else "random"
    st = StyleTransfer(vgg=vgg, precision=args.precision)
    content, style = skimage_photo("astronaut"), bloom(args.size, seed=7)
    per_scale: dict[str, dict[str, float]] = {}
    w0, c0 = time.perf_counter(), time.process_time()

    def cb(it) -> None:
        if it.step == it.steps:
            per_scale[f"{it.size[0]}x{it.size[1]}"] = {"steps": it.steps, "wall_s": time.perf_counter() - w0,
                                                       "cpu_s": time.process_time() - c0, "loss": it.loss}

    st.stylize(content, [style], size=args.size, callback=cb)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    load = os.getloadavg()
    res = {"vgg": vgg, "precision": st.runtime.precision, "size": args.size, "threads": torch.get_num_threads(),
           "wall_s": wall, "cpu_s": cpu, "loadavg_at_end": load, "scales": per_scale}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "style-default-cpu.json").write_text(json.dumps(res, indent=2))
    lines = ["# Default style recipe: wall time and CPU time", "",
             f"`python benchmarks/bench_style_default_cpu.py` at {args.size} px, {st.runtime.precision}, "
             f"{torch.get_num_threads()} threads, VGG-19 weights: {vgg}; load average at the end {load[0]:.1f} "
             "(shared machine).", "",
             f"* wall time: **{wall:.0f} s**", f"* CPU time (both threads summed): **{cpu:.0f} s**, so on a dedicated "
             f"2-core machine between {cpu / 2:.0f} s and {cpu:.0f} s.", "",
             "| scale | steps | wall at end (s) | CPU at end (s) | loss |", "|---|---|---|---|---|"]
    for k, v in per_scale.items():
        lines.append(f"| {k} | {v['steps']} | {v['wall_s']:.0f} | {v['cpu_s']:.0f} | {v['loss']:.4f} |")
    (out / "style-default-cpu.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
