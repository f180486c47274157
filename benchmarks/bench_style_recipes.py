"""Style transfer speed: seconds per iteration (fp32 vs bf16), the default recipe's total time at
512 px, and the default recipe against the classic one (single-scale fp32 L-BFGS) on the same
full-resolution loss.

Run: ``python benchmarks/bench_style_recipes.py [--classic-evals 300] [--quick]``
Writes docs/benchmarks/style.md and docs/benchmarks/style.json.

The machine may be shared: the per-iteration timings interleave fp32 and bf16 runs and we
quote ratios. VGG-19 weights come from the weights store when present, otherwise random
weights (said so in the results): the timings do not depend on the weights, the loss curves do
somewhat.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

# On a shared, oversubscribed machine OpenMP's default spin-waiting makes 2-thread PyTorch up to
# 10x slower (measured here); passive waiting keeps the timings about the work, not the waiting.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from neuralbrush.core.device import cpu_has_amx  # noqa: E402
from neuralbrush.datasets.samples import bloom, skimage_photo  # noqa: E402
from neuralbrush.style.transfer import (DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, StyleTransfer,  # noqa: E402
                                        default_layer_weights, fit_size, option_defaults, pil_to_tensor)
from neuralbrush.weights import store  # noqa: E402


def vgg_choice() -> str:
    return "store" if store.find("vgg19") else "random"


def step_seconds(sizes: list[int], reps: int, vgg: str) -> list[dict]:
    """Median seconds of one full optimisation step (VGG fwd + losses + bwd) per size/precision."""
    rows = []
    sts = {p: StyleTransfer(vgg=vgg, precision=p) for p in ("fp32", "bf16")}
    layers = tuple(dict.fromkeys(DEFAULT_CONTENT_LAYERS + DEFAULT_STYLE_LAYERS))
    for size in sizes:
        content = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
        style = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1))
        setups = {}
        for p, st in sts.items():
            loss = st.build_loss(content, [style], style_weights=[1.0], content_layers=DEFAULT_CONTENT_LAYERS,
                                 style_layers=DEFAULT_STYLE_LAYERS, style_layer_weights=default_layer_weights(5),
                                 content_weight=1.0, style_weight=10.0, tv_weight=1.0)
            x = st.runtime.tensor(content.clone()).requires_grad_(True)
            setups[p] = (st, loss, x)
        times: dict[str, list[float]] = {"fp32": [], "bf16": []}
        for r in range(reps + 1):  # first round is warm-up
            for p, (st, loss, x) in setups.items():
                t = time.perf_counter()
                total, _ = loss(x, st.features(x, layers))
                total.backward()
                x.grad = None
                dt = time.perf_counter() - t
                if r > 0:
                    times[p].append(dt)
        f, b = statistics.median(times["fp32"]), statistics.median(times["bf16"])
        rows.append({"size": size, "fp32_s": f, "bf16_s": b, "speedup": f / b})
        print(f"  {size:5d}px  fp32 {f:7.3f} s/it   bf16 {b:7.3f} s/it   x{f / b:.2f}", flush=True)
    return rows


def cpu_has_fast_bf16() -> bool:
    """AMX-BF16 or AVX512-BF16 (this machine: AMD EPYC with avx512_bf16 but no AMX)."""
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def run_default(content, style, size: int, vgg: str, evaluator: StyleTransfer, eval_every: int,
                precision: str = "auto") -> dict:
    """The default recipe; full-resolution fp32 loss measured every ``eval_every`` steps of the last scale."""
    st = StyleTransfer(vgg=vgg, precision=precision)
    out_wh = fit_size(content.size, size)
    c_full = pil_to_tensor(content.resize(out_wh))
    s_full = pil_to_tensor(style.resize(fit_size(style.size, size)))
    eval_loss = evaluator.build_loss(c_full, [s_full], style_weights=[1.0], content_layers=DEFAULT_CONTENT_LAYERS,
                                     style_layers=DEFAULT_STYLE_LAYERS, style_layer_weights=default_layer_weights(5),
                                     content_weight=option_defaults()["content_weight"],
                                     style_weight=option_defaults()["style_weight"],
                                     tv_weight=option_defaults()["tv_weight"])
    layers = tuple(dict.fromkeys(DEFAULT_CONTENT_LAYERS + DEFAULT_STYLE_LAYERS))
    curve: list[tuple[float, float]] = []
    eval_time = [0.0]
    per_scale: dict[int, float] = {}

    def cb(it) -> None:
        per_scale[it.size[0]] = it.elapsed
        last = it.scale == it.scales - 1
        if last and (it.step % eval_every == 0 or it.step == it.steps):
            t = time.perf_counter()
            v = evaluator.loss_value(it.tensor(), eval_loss, layers)
            eval_time[0] += time.perf_counter() - t
            curve.append((it.elapsed - eval_time[0] + (time.perf_counter() - t), v))

    t0 = time.perf_counter()
    img = st.stylize(content, [style], size=size, callback=cb)
    wall = time.perf_counter() - t0
    final = evaluator.loss_value(pil_to_tensor(img), eval_loss, layers)
    return {"precision": st.runtime.precision, "wall_s": wall, "eval_overhead_s": eval_time[0],
            "total_s": wall - eval_time[0], "final_loss": final, "curve": curve,
            "scale_end_s": per_scale, "image": img}


def run_classic(content, style, size: int, vgg: str, evals: int, time_cap: float) -> dict:
    st = StyleTransfer(vgg=vgg, precision="fp32")
    curve: list[tuple[float, float]] = []

    class Stop(Exception):
        pass

    def cb(it) -> None:
        curve.append((it.elapsed, it.loss))
        if it.elapsed > time_cap:
            raise Stop

    t0 = time.perf_counter()
    try:
        st.stylize(content, [style], size=size, scales=False, optimizer="lbfgs", iterations=evals, ema=0.0,
                   callback=cb)
    except Stop:
        pass
    return {"wall_s": time.perf_counter() - t0, "evals": len(curve), "final_loss": min(v for _, v in curve),
            "curve": curve}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classic-evals", type=int, default=300, help="L-BFGS function evaluations for the classic recipe")
    ap.add_argument("--classic-cap", type=float, default=1800.0, help="stop the classic run after this many seconds")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="small sizes, for checking the script")
    ap.add_argument("--size", type=int, default=512, help="output size of the recipe comparison")
    ap.add_argument("--sizes", default="256,512,1024", help="sizes of the seconds-per-iteration table")
    ap.add_argument("--default-precision", default=None,
                    help="precision of the default recipe (default: bf16 on CPUs with AMX or AVX512-BF16, else auto)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks"))
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    os.environ.setdefault("NEURALBRUSH_QUIET", "1")
    vgg = vgg_choice()
    sizes = [64, 128] if args.quick else [int(v) for v in args.sizes.split(",") if v]
    size = 128 if args.quick else args.size
    print(f"VGG-19 weights: {vgg}; torch {torch.__version__}, {torch.get_num_threads()} threads, AMX: {cpu_has_amx()}")
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    print("seconds per iteration (median, fp32 and bf16 interleaved):")
    steps = step_seconds(sizes, args.reps, vgg)

    content = skimage_photo("astronaut")  # 512x512
    style = bloom(size, seed=7)
    evaluator = StyleTransfer(vgg=vgg, precision="fp32")
    print(f"default recipe at {size}px ...", flush=True)
    from neuralbrush.core.device import resolve_runtime

    auto_precision = resolve_runtime("auto", "auto").precision
    dprec = args.default_precision or ("bf16" if cpu_has_fast_bf16() else "auto")
    default = run_default(content, style, size, vgg, evaluator, eval_every=10, precision=dprec)
    print(f"  total {default['total_s']:.1f} s (wall {default['wall_s']:.1f} s incl. {default['eval_overhead_s']:.1f} s of "
          f"loss evaluation), final full-res loss {default['final_loss']:.4f}", flush=True)
    print(f"classic recipe (single-scale fp32 L-BFGS, {args.classic_evals} evaluations) at {size}px ...", flush=True)
    classic = run_classic(content, style, size, vgg, args.classic_evals, args.classic_cap)
    print(f"  {classic['evals']} evaluations in {classic['wall_s']:.1f} s, final loss {classic['final_loss']:.4f}", flush=True)

    target = classic["final_loss"]
    reach = next((t for t, v in default["curve"] if v <= target), None)
    classic_at_default_time = min((v for t, v in classic["curve"] if t <= default["total_s"]), default=float("nan"))
    classic_reach_default = next((t for t, v in classic["curve"] if v <= default["final_loss"]), None)
    results = {
        "vgg_weights": vgg, "torch": torch.__version__, "threads": torch.get_num_threads(), "amx": cpu_has_amx(),
        "cpu": platform.processor() or platform.machine(), "loadavg_at_start": load,
        "step_seconds": steps, "size": size, "auto_precision": auto_precision,
        "cpu_flags_fast_bf16": cpu_has_fast_bf16(),
        "default": {k: v for k, v in default.items() if k != "image"},
        "classic": classic,
        "default_reaches_classic_final_loss_s": reach,
        "time_ratio_default_over_classic": (reach / classic["wall_s"]) if reach is not None else None,
        "classic_loss_at_default_total_time": classic_at_default_time,
        "classic_reaches_default_final_loss_s": classic_reach_default,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "style-quick" if args.quick else ("style" if size == 512 else f"style-{size}")
    (out / f"{name}.json").write_text(json.dumps(results, indent=2))
    default["image"].save(out / f"{name}-default-{size}.png")
    write_markdown(out / f"{name}.md", results)
    print((out / f"{name}.md").read_text())


def write_markdown(path: Path, r: dict) -> None:
    d, c = r["default"], r["classic"]
    lines = [
        "# Style transfer benchmark",
        "",
        "Made by `python benchmarks/bench_style_recipes.py` on this machine "
        f"({r['cpu']}, {r['threads']} threads, AMX-BF16: {r['amx']}, torch {r['torch']}; load average at start "
        f"{r['loadavg_at_start'][0]:.1f}: the machine is shared, so read ratios, not absolute seconds).",
        "",
        ("VGG-19 weights: **random** (the store has no vgg19 file here and it cannot be downloaded). Timings do "
         "not depend on the weights; the loss curves are those of random features, so the quality comparison "
         "is indicative only." if r["vgg_weights"] == "random" else "VGG-19 weights: the weights store's vgg19 "
                                                                     "(torchvision IMAGENET1K_V1)."),
        "",
        "## Seconds per iteration (VGG-19 forward + losses + backward), fp32 vs bf16 autocast + channels_last",
        "",
        "| size | fp32 s/it | bf16 s/it | bf16 speed-up |",
        "|---|---|---|---|",
    ]
    for s in r["step_seconds"]:
        lines.append(f"| {s['size']} px | {s['fp32_s']:.3f} | {s['bf16_s']:.3f} | x{s['speedup']:.2f} |")
    lines += [
        "",
        f"## Default recipe at {r['size']} px",
        "",
        f"Coarse-to-fine scales ({', '.join(str(k) for k in d['scale_end_s'])} px wide), Adam step 0.02, "
        f"EMA, {d['precision']} autocast: **{d['total_s']:.1f} s total** "
        f"(wall {d['wall_s']:.1f} s including {d['eval_overhead_s']:.1f} s spent measuring the full-resolution loss "
        "for this table). Time at the end of each scale (s): "
        + ", ".join(f"{k} px: {v:.1f}" for k, v in d["scale_end_s"].items()) + ".",
        "",
        f"Precision: `--precision auto` resolves to **{r['auto_precision']}** on this CPU"
        + (f", so the default recipe above ran with `--precision {d['precision']}`, which the table above shows is "
           "the faster choice here." if d["precision"] != r["auto_precision"] else "."),
        "",
        f"## Default vs classic (single-scale fp32 L-BFGS), same full-resolution fp32 loss",
        "",
        "| recipe | time (s) | final loss |",
        "|---|---|---|",
        f"| default (coarse-to-fine Adam, {d['precision']}) | {d['total_s']:.1f} | {d['final_loss']:.4f} |",
        f"| classic ({c['evals']} L-BFGS evaluations, fp32) | {c['wall_s']:.1f} | {c['final_loss']:.4f} |",
        "",
    ]
    if r["default_reaches_classic_final_loss_s"] is not None:
        lines.append(f"The default recipe reaches the classic recipe's final loss after "
                     f"**{r['default_reaches_classic_final_loss_s']:.1f} s, {100 * r['time_ratio_default_over_classic']:.0f} %"
                     f" of the classic run's {c['wall_s']:.0f} s**.")
    else:
        lines.append("The default recipe does **not** reach the classic recipe's final loss in this run.")
    if r["classic_reaches_default_final_loss_s"] is not None:
        lines.append(f"The classic recipe needs {r['classic_reaches_default_final_loss_s']:.1f} s to get down to the default "
                     f"recipe's final loss ({r['classic_reaches_default_final_loss_s'] / d['total_s']:.1f}x the default's total time).")
    lines.append(f"At the default's total time ({d['total_s']:.0f} s) the classic run stood at loss "
                 f"{r['classic_loss_at_default_total_time']:.4f}.")
    lines += ["", "Loss curves (seconds, loss) are in the JSON file next to this page.", ""]
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
