"""Optimisers and recipes on the same full-resolution loss, measured in CPU time.

Three ways to minimise the same style-transfer loss at ``--size`` px: the default recipe
(coarse-to-fine Adam, step 0.02, EMA, bf16), coarse-to-fine L-BFGS in bf16, and the classic
recipe (single-scale fp32 L-BFGS). Every result is scored with one fp32 loss at full resolution.
CPU time (``time.process_time``) is reported beside wall time because the machine is shared.

Run: ``python benchmarks/bench_style_optimizers.py [--size 256] [--classic-evals 60]``
Writes docs/benchmarks/style-optimizers.md and .json.
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
from neuralbrush.style.transfer import (DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, StyleTransfer,  # noqa: E402
                                        default_layer_weights, fit_size, option_defaults, pil_to_tensor)
from neuralbrush.weights import store  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--classic-evals", type=int, default=60)
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks"))
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    os.environ.setdefault("NEURALBRUSH_QUIET", "1")
    vgg = "store" if store.find("vgg19") else "random"
    content, style = skimage_photo("astronaut"), bloom(args.size, seed=7)
    d = option_defaults()
    wh = fit_size(content.size, args.size)
    evaluator = StyleTransfer(vgg=vgg, precision="fp32")
    loss = evaluator.build_loss(pil_to_tensor(content.resize(wh)), [pil_to_tensor(style)], style_weights=[1.0],
                                content_layers=DEFAULT_CONTENT_LAYERS, style_layers=DEFAULT_STYLE_LAYERS,
                                style_layer_weights=default_layer_weights(len(DEFAULT_STYLE_LAYERS)),
                                content_weight=d["content_weight"], style_weight=d["style_weight"],
                                tv_weight=d["tv_weight"])
    layers = DEFAULT_CONTENT_LAYERS + DEFAULT_STYLE_LAYERS
    variants = [
        ("default: coarse-to-fine Adam 0.02 + EMA, bf16", "bf16", {}),
        ("coarse-to-fine L-BFGS (60 + 30 per scale), bf16", "bf16",
         {"optimizer": "lbfgs", "initial_iterations": 60, "iterations": 30, "ema": 0.0}),
        (f"classic: single-scale L-BFGS ({args.classic_evals} evaluations), fp32", "fp32",
         {"optimizer": "lbfgs", "scales": False, "iterations": args.classic_evals, "ema": 0.0}),
    ]
    rows = []
    for name, prec, kw in variants:
        st = StyleTransfer(vgg=vgg, precision=prec)
        w, c = time.perf_counter(), time.process_time()
        out = st.stylize(content, [style], size=args.size, **kw)
        wall, cpu = time.perf_counter() - w, time.process_time() - c
        value = evaluator.loss_value(pil_to_tensor(out), loss, layers)
        rows.append({"recipe": name, "precision": prec, "wall_s": wall, "cpu_s": cpu, "loss": value, "options": kw})
        print(f"{name:60s} wall {wall:7.1f} s  cpu {cpu:7.1f} s  loss {value:.4f}", flush=True)
    classic = rows[-1]
    lines = ["# Style transfer: optimisers on the same loss (CPU time)", "",
             f"`python benchmarks/bench_style_optimizers.py --size {args.size}`: astronaut at {args.size} px, a bloom as "
             f"the style, VGG-19 weights: **{vgg}**"
             + (" (no vgg19 in the store here; the loss landscape of random features may favour L-BFGS more than "
                "trained features would)" if vgg == "random" else "") + f", {torch.get_num_threads()} threads. "
             "Each result is scored with the same fp32 loss at full resolution; CPU time is the sum over threads.",
             "", "| recipe | wall s | CPU s | CPU vs classic | final loss |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['recipe']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['cpu_s'] / classic['cpu_s']:.2f} | "
                     f"{r['loss']:.4f} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "style-optimizers.json").write_text(json.dumps({"size": args.size, "vgg": vgg, "rows": rows}, indent=2))
    (out / "style-optimizers.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
