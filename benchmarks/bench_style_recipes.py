"""Style transfer speed and efficiency: seconds per iteration (fp32 vs bf16), the default recipe's
total time at 512 px, and the time the default and the classic recipe (single-scale fp32 L-BFGS)
need to reach the same full-resolution loss.

Run: ``python benchmarks/bench_style_recipes.py [--classic-evals 500] [--quick]``
Writes docs/benchmarks/style.md, style.json and the default recipe's picture.

Every recipe is scored with one fp32 loss at the output size, built exactly as ``stylize`` builds
the loss of its last scale; it is measured every ``--eval-every`` evaluations of the last scale
and the time spent measuring is left out of the recipe's wall and CPU time. CPU time
(``time.process_time``, summed over threads) is reported beside wall time because the machine
may be shared. The per-iteration table interleaves fp32 and bf16 runs; fp32, the issue's baseline,
runs in its own process (benchmarks/isolated.py) with the C library's malloc as it behaves unasked,
bf16 and the recipes here with the ``keep`` allocator policy every runtime sets
(``neuralbrush.core.allocator``); a classic recipe run here switches to glibc's thresholds. VGG-19 weights come from
the weights store when present, otherwise random weights (said so in the results).
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
from dataclasses import asdict
from pathlib import Path

# On a shared, oversubscribed machine OpenMP's default spin-waiting makes 2-thread PyTorch up to
# 10x slower (measured here); passive waiting keeps the timings about the work, not the waiting.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from neuralbrush.core import allocator  # noqa: E402
from neuralbrush.core.device import cpu_has_amx, cpu_has_native_bf16, resolve_runtime  # noqa: E402
from neuralbrush.datasets.samples import bloom, skimage_photo  # noqa: E402
from neuralbrush.style.options import StyleOptions, default_layer_weights  # noqa: E402
from neuralbrush.style.schedule import fit_size, scale_sizes, scale_styles  # noqa: E402
from neuralbrush.style.transfer import StyleTransfer, image_tensor  # noqa: E402
from neuralbrush.weights import store  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from isolated import Isolated  # noqa: E402

DEFAULTS = StyleOptions()
LAYERS = tuple(dict.fromkeys(DEFAULTS.content_layers + DEFAULTS.style_layers))


def eval_step(st: StyleTransfer, size: int):
    """One loss evaluation (VGG forward + losses + backward) at ``size`` on fixed random images."""
    content = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    style = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    loss = st.build_loss(content, [style], style_weights=[1.0], content_layers=DEFAULTS.content_layers,
                         style_layers=DEFAULTS.style_layers, style_layer_weights=default_layer_weights(5),
                         content_weight=1.0, style_weight=10.0, tv_weight=1.0)
    x = st.runtime.tensor(content.clone()).requires_grad_(True)

    def step() -> None:
        total, _ = loss(x, st.features(x, LAYERS))
        total.backward()
        x.grad = None
    return step


def baseline_step(size: int, vgg: str):
    """The issue's baseline (fp32 eager) for the isolated process."""
    warnings.simplefilter("ignore")
    return eval_step(StyleTransfer(vgg=vgg, precision="fp32"), size)


def step_seconds(sizes: list[int], reps: int, vgg: str) -> list[dict]:
    """Median seconds of one full optimisation step (VGG fwd + losses + bwd) per size/precision:
    bf16 here (allocator keep), fp32 in its own process (malloc untouched), interleaved."""
    rows = []
    st = StyleTransfer(vgg=vgg, precision="bf16")
    for size in sizes:
        ours = eval_step(st, size)
        with Isolated("bench_style_recipes:baseline_step", size, vgg, threads=torch.get_num_threads()) as base:
            times: dict[str, list[float]] = {"fp32": [], "bf16": []}
            for r in range(reps + 1):  # the first round is warm-up
                dt = base.step()[0]
                t = time.perf_counter()
                ours()
                if r > 0:
                    times["fp32"].append(dt)
                    times["bf16"].append(time.perf_counter() - t)
        f, b = statistics.median(times["fp32"]), statistics.median(times["bf16"])
        rows.append({"size": size, "fp32_s": f, "bf16_s": b, "speedup": f / b})
        print(f"  {size:5d}px  fp32 {f:7.3f} s/it   bf16 {b:7.3f} s/it   x{f / b:.2f}", flush=True)
    return rows


def scoring_loss(evaluator: StyleTransfer, content: Image.Image, style: Image.Image, size: int):
    """The fp32 loss of ``stylize``'s last scale at ``size`` (same resizing, weights and layers)."""
    d = DEFAULTS
    wh = fit_size(content.size, size)
    c = image_tensor(content.convert("RGB").resize(wh, Image.LANCZOS))
    s = scale_styles([image_tensor(style)], wh, d.style_scale)[0]
    return evaluator.build_loss(c, [s], style_weights=[1.0], content_layers=d.content_layers,
                                style_layers=d.style_layers, style_layer_weights=default_layer_weights(5),
                                content_weight=d.content_weight, style_weight=d.style_weight, tv_weight=d.tv_weight)


def run_recipe(name: str, content: Image.Image, style: Image.Image, size: int, vgg: str, precision: str,
               options: dict, evaluator: StyleTransfer, loss, eval_every: int) -> dict:
    """One recipe; returns wall/CPU time (loss measurement left out), per-scale ends and the curve
    [(wall s, CPU s, full-resolution fp32 loss)] over the last scale."""
    st = StyleTransfer(vgg=vgg, precision=precision)
    # neuralbrush's recipes with its allocator; the classic recipe as it was first measured
    allocator.use("glibc" if name.startswith("classic") else "keep")
    curve: list[tuple[float, float, float]] = []
    scale_end: dict[str, dict] = {}
    spent = {"wall": 0.0, "cpu": 0.0}
    w0, c0 = time.perf_counter(), time.process_time()

    def clock() -> tuple[float, float]:
        return time.perf_counter() - w0 - spent["wall"], time.process_time() - c0 - spent["cpu"]

    def cb(it) -> None:
        wall, cpu = clock()
        if it.scale_step == it.scale_steps:
            scale_end[f"{it.size[0]}x{it.size[1]}"] = {"steps": it.scale_steps, "wall_s": wall, "cpu_s": cpu}
        if it.scale == it.scales - 1 and (it.scale_step % eval_every == 0 or it.scale_step == it.scale_steps):
            w, c = time.perf_counter(), time.process_time()
            value = evaluator.loss_value(it.tensor(), loss, LAYERS)
            spent["wall"] += time.perf_counter() - w
            spent["cpu"] += time.process_time() - c
            curve.append((wall, cpu, value))

    image = st.stylize(content, [style], StyleOptions(size=size, **options), progress=cb)
    wall, cpu = clock()
    final = evaluator.loss_value(image_tensor(image), loss, LAYERS)
    print(f"  {name}: wall {wall:.1f} s, CPU {cpu:.1f} s, final loss {final:.4f}", flush=True)
    return {"name": name, "precision": st.runtime.precision, "options": options, "wall_s": wall, "cpu_s": cpu,
            "final_loss": final, "curve": curve, "scale_end": scale_end, "image": image}


def without_image(recipe: dict) -> dict:
    """A recipe's result as JSON can hold it (the picture is saved apart)."""
    return {k: v for k, v in recipe.items() if k != "image"}


def first_reach(curve: list, target: float) -> tuple[float, float] | None:
    """(wall s, CPU s) when a curve first gets to ``target`` or below."""
    return next(((w, c) for w, c, v in curve if v <= target), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classic-evals", type=int, default=500, help="L-BFGS evaluations of the classic recipe")
    ap.add_argument("--eval-every", type=int, default=10, help="measure the full-resolution loss every N evaluations")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--size", type=int, default=512, help="output size of the recipe comparison")
    ap.add_argument("--sizes", default="256,512,1024", help="sizes of the seconds-per-iteration table")
    ap.add_argument("--no-adam", action="store_true", help="skip the coarse-to-fine Adam row")
    ap.add_argument("--long", default="", help="comma-separated N: also the default recipe with N evaluations at "
                                               "each scale after the first (a longer default)")
    ap.add_argument("--final", default="", help="comma-separated N: also the default recipe with N evaluations at "
                                                "the last scale (--final-iterations N)")
    ap.add_argument("--classic-from", default=None, help="a results JSON whose classic recipe (curve and times) "
                    "stands in for running it again (same size, weights and threads; say so where it is quoted)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    ap.add_argument("--name", default=None, help="results name (default: style, or style-<size>)")
    ap.add_argument("--quick", action="store_true", help="small sizes, for checking the script")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks"))
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    os.environ.setdefault("NEURALBRUSH_QUIET", "1")
    if args.threads:
        torch.set_num_threads(args.threads)
    vgg = "store" if store.find("vgg19") else "random"
    sizes = [64, 128] if args.quick else [int(v) for v in args.sizes.split(",") if v]
    size = 128 if args.quick else args.size
    classic_evals = 30 if args.quick else args.classic_evals
    earlier = None  # --classic-from: checked before anything is measured
    if args.classic_from:
        earlier = json.loads(Path(args.classic_from).read_text())
        if (earlier["size"], earlier["vgg_weights"], earlier["threads"]) != (size, vgg, torch.get_num_threads()):
            ap.error(f"{args.classic_from} measured another size, weights or thread count")
    load_start = os.getloadavg()
    print(f"VGG-19 weights: {vgg}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {load_start[0]:.1f}")
    print("seconds per iteration (median, fp32 and bf16 interleaved):")
    steps = step_seconds(sizes, args.reps, vgg)

    content, style = skimage_photo("astronaut"), bloom(size, seed=7)
    evaluator = StyleTransfer(vgg=vgg, precision="fp32")
    loss = scoring_loss(evaluator, content, style, size)
    auto = resolve_runtime("auto", "auto").precision
    d = asdict(DEFAULTS)
    print(f"recipes at {size} px:", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = args.name or ("style-quick" if args.quick else ("style" if size == 512 else f"style-{size}"))
    partial = out / f"{name}.partial.json"  # the recipes measured so far, in case a long run is cut short
    partial.unlink(missing_ok=True)  # a cut-short earlier run's rows are not this run's
    done: list[dict] = []

    def measured(r: dict) -> dict:
        done.append(without_image(r))
        partial.write_text(json.dumps(done, indent=1))
        return r

    recipes = [measured(run_recipe("default", content, style, size, vgg, "auto", {}, evaluator, loss,
                                   args.eval_every))]
    for n in (int(v) for v in args.final.split(",") if v):
        recipes.append(measured(run_recipe(f"--final-iterations {n}", content, style, size, vgg, "auto",
                                           {"final_iterations": n}, evaluator, loss, args.eval_every)))
    for n in (int(v) for v in args.long.split(",") if v):
        recipes.append(measured(run_recipe(f"coarse-to-fine L-BFGS, {n} evaluations per later scale", content,
                                           style, size, vgg, "auto", {"iterations": n}, evaluator, loss,
                                           args.eval_every)))
    if not args.no_adam:
        recipes.append(run_recipe("coarse-to-fine Adam (step 0.02, EMA 0.95)", content, style, size, vgg, "auto",
                                  {"optimizer": "adam", "ema": 0.95}, evaluator, loss, args.eval_every))
    # the classic recipe keeps the strong-Wolfe line search it was first measured with (neural-style's
    # own L-BFGS has none, but with random VGG weights its recipe diverges: REFERENCE.md)
    classic_options = {"optimizer": "lbfgs", "scales": False, "iterations": classic_evals, "line_search": True}
    if earlier is not None:
        classic = next(x for x in earlier["recipes"] if x["name"].startswith("classic"))
        classic = {**classic, "reused_from": Path(args.classic_from).name,
                   "reused_loadavg": [earlier["loadavg_start"][0], earlier["loadavg_end"][0]],
                   # another kind of CPU: its losses compare with this run's, its times do not
                   "reused_other_cpu": (earlier.get("amx"), earlier.get("native_bf16")) != (cpu_has_amx(),
                                                                                           cpu_has_native_bf16())}
        classic_evals = classic["options"]["iterations"]
    else:
        classic = run_recipe(f"classic: single-scale fp32 L-BFGS, {classic_evals} evaluations", content, style,
                             size, vgg, "fp32", classic_options, evaluator, loss, args.eval_every)
    default = recipes[0]

    # the figure: the loss the default ends at, and what the classic recipe needs to get there
    reach = first_reach(classic["curve"], default["final_loss"])
    milestones = []
    for n in sorted({n for n in (50, 100, 150, 200, 300, 500, classic_evals) if n <= classic_evals}):
        w, c, v = classic["curve"][min(len(classic["curve"]), n // args.eval_every) - 1]
        got = first_reach(default["curve"], v)
        milestones.append({"classic_evals": n, "classic_wall_s": w, "classic_cpu_s": c, "loss": v,
                           "default_wall_s": got[0] if got else None, "default_cpu_s": got[1] if got else None})
    results = {
        "vgg_weights": vgg, "torch": torch.__version__, "threads": torch.get_num_threads(), "amx": cpu_has_amx(),
        "native_bf16": cpu_has_native_bf16(), "cpu": platform.processor() or platform.machine(),
        "loadavg_start": load_start, "loadavg_end": os.getloadavg(), "auto_precision": auto, "size": size,
        "scales": scale_sizes(size, d["min_scale"], True), "defaults": {**{k: d[k] for k in (
            "optimizer", "line_search", "initial_iterations", "iterations", "min_scale", "step_size", "ema")},
            "final_iterations": DEFAULTS.final_steps()},
        "step_seconds": steps,
        "recipes": [without_image(r) for r in (*recipes, classic)],
        "classic_reaches_default_final_loss": {"wall_s": reach[0], "cpu_s": reach[1]} if reach else None,
        "milestones": milestones,
        # issue 15: each recipe's time to the classic recipe's final loss (curves on the same float
        # loss), as a fraction of the classic recipe's whole time (target: <= 1/4)
        "to_classic_final": [{"recipe": r["name"], "classic_evals": classic_evals, "loss": classic["curve"][-1][2],
                              "classic_wall_s": classic["curve"][-1][0], "classic_cpu_s": classic["curve"][-1][1],
                              "wall_s": got[0] if got else None, "cpu_s": got[1] if got else None,
                              "best_loss": min(v for _, _, v in r["curve"])}
                             for r in recipes for got in [first_reach(r["curve"], classic["curve"][-1][2])]],
    }
    partial.unlink(missing_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=2))
    default["image"].save(out / f"{name}-default-{size}.png")
    (out / f"{name}.md").write_text(markdown(results))
    print((out / f"{name}.md").read_text())


def markdown(r: dict) -> str:
    rec = r["recipes"]
    default, classic = rec[0], rec[-1]
    d = r["defaults"]
    lines = [
        "# Style transfer benchmark", "",
        f"Made by `python benchmarks/bench_style_recipes.py` ({r['cpu']}, {r['threads']} threads, AMX: {r['amx']}, "
        f"native bf16: {r['native_bf16']}, torch {r['torch']}; load average {r['loadavg_start'][0]:.1f} at the start "
        f"and {r['loadavg_end'][0]:.1f} at the end). CPU time is both threads summed.", "",
        ("VGG-19 weights: **random** (the store has no vgg19 here and it cannot be downloaded). Timings do not "
         "depend on the weights; the loss curves are those of random features." if r["vgg_weights"] == "random"
         else "VGG-19 weights: the weights store's vgg19 (torchvision IMAGENET1K_V1)."), "",
        "## Seconds per iteration (VGG-19 forward + losses + backward)", "",
        "| size | fp32 s/it | bf16 s/it (autocast + channels_last) | bf16 speed-up |", "|---|---|---|---|"]
    lines += [f"| {s['size']} px | {s['fp32_s']:.3f} | {s['bf16_s']:.3f} | x{s['speedup']:.2f} |"
              for s in r["step_seconds"]]
    lines += [
        "", f"## Default recipe at {r['size']} px", "",
        f"`--precision auto` is **{r['auto_precision']}** here. Scales {', '.join(str(s) for s in r['scales'])} px; "
        f"{d['optimizer']}{'' if d.get('line_search', True) else ' (no line search)'} with "
        f"{d['initial_iterations']} evaluations at the first scale, {d['iterations']} at "
        f"each one between and {d.get('final_iterations', d['iterations'])} at the last: "
        f"**{default['wall_s']:.0f} s wall, {default['cpu_s']:.0f} s CPU**.", "",
        "| scale | steps | wall at end (s) | CPU at end (s) |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['steps']} | {v['wall_s']:.0f} | {v['cpu_s']:.0f} |" for k, v in default["scale_end"].items()]
    other_cpu = bool(classic.get("reused_other_cpu"))
    if other_cpu:
        lines += ["", f"The classic recipe was not run again: its curve is the one recorded in "
                  f"{classic['reused_from']} (same size, VGG-19 file and thread count) **on another kind of CPU**. "
                  "Its loss values compare with this run's (the same fp32 loss of the same images); its times do "
                  "not, so below each classic loss is paired with the time *this* run took to reach it, and no "
                  "time fraction is given."]
    elif classic.get("reused_from"):
        lines += ["", f"The classic recipe was not run again: its curve and times are those recorded in "
                  f"{classic['reused_from']} (same size, VGG-19 file and thread count, on this machine type; load "
                  f"average {classic['reused_loadavg'][0]:.1f} at that run's start). Compare the step table above "
                  "with that page's to see how this machine's speed compares with that run's."]
    lines += ["", f"## Recipes on the same fp32 loss at {r['size']} px", "",
              "| recipe | precision | wall s | CPU s | final loss |", "|---|---|---|---|---|"]
    lines += [f"| {x['name']} | {x['precision']} | {x['wall_s']:.0f} | {x['cpu_s']:.0f} | {x['final_loss']:.4f} |"
              for x in rec]
    reach = r["classic_reaches_default_final_loss"]
    lines.append("")
    if other_cpu:
        lines.append(f"The default ends at {default['final_loss']:.4f} (its 8-bit image) in {default['wall_s']:.0f} s.")
    elif reach:
        lines.append(f"The classic recipe needs **{reach['wall_s']:.0f} s wall ({reach['cpu_s']:.0f} s CPU)** to get "
                     f"down to the default's final loss {default['final_loss']:.4f}; the default gets there in "
                     f"**{100 * default['wall_s'] / reach['wall_s']:.0f} % of that wall time "
                     f"({100 * default['cpu_s'] / reach['cpu_s']:.0f} % of the CPU time)**.")
    else:
        lines.append(f"The classic recipe does not get down to the default's final loss {default['final_loss']:.4f} "
                     f"within {classic['options']['iterations']} evaluations.")
    lines += ["", "Where the classic run stood after N evaluations, and when the default got to the same loss:", "",
              "| classic evaluations | loss | classic wall s | default wall s | ratio (wall) | ratio (CPU) |",
              "|---|---|---|---|---|---|"]
    for m in r["milestones"]:
        if m["default_wall_s"] is None:
            lines.append(f"| {m['classic_evals']} | {m['loss']:.4f} | {m['classic_wall_s']:.0f} | not reached | | |")
        elif other_cpu:
            lines.append(f"| {m['classic_evals']} | {m['loss']:.4f} | (other CPU) | {m['default_wall_s']:.0f} | | |")
        else:
            lines.append(f"| {m['classic_evals']} | {m['loss']:.4f} | {m['classic_wall_s']:.0f} | "
                         f"{m['default_wall_s']:.0f} | {m['default_wall_s'] / m['classic_wall_s']:.2f} | "
                         f"{m['default_cpu_s'] / m['classic_cpu_s']:.2f} |")
    if r.get("to_classic_final"):
        t0 = r["to_classic_final"][0]
        lines += ["", f"Issue 15's target: each recipe's time to the classic recipe's loss after {t0['classic_evals']} "
                  f"evaluations ({t0['loss']:.4f}, reached at {t0['classic_wall_s']:.0f} s wall, "
                  f"{t0['classic_cpu_s']:.0f} s CPU; float images, before 8-bit rounding), as a fraction of that "
                  "time (target: at most 1/4):", "",
                  "| recipe | lowest loss | wall s | CPU s | fraction (wall) | fraction (CPU) |", "|---|---|---|---|---|---|"]
        for t in r["to_classic_final"]:
            if t["wall_s"] is None:
                lines.append(f"| {t['recipe']} | {t['best_loss']:.4f} | not reached | | | |")
            elif other_cpu:
                lines.append(f"| {t['recipe']} | {t['best_loss']:.4f} | {t['wall_s']:.0f} | {t['cpu_s']:.0f} | "
                             "(other CPU) | (other CPU) |")
            else:
                lines.append(f"| {t['recipe']} | {t['best_loss']:.4f} | {t['wall_s']:.0f} | {t['cpu_s']:.0f} | "
                             f"{t['wall_s'] / t['classic_wall_s']:.2f} | {t['cpu_s'] / t['classic_cpu_s']:.2f} |")
    lines += ["", "Loss curves (wall s, CPU s, loss) are in the JSON file next to this page.", ""]
    return "\n".join(lines)


# The headline `python -m benchmarks` prints from this script's results (one row per RESULTS file).
# headline() runs without this script's imports: it may use its argument and builtins only.
RESULTS = "style*.json"  # style.json, and named runs (--name style-...)


def headline(result: dict) -> tuple[float | None, str]:
    """Wall time the classic recipe needs to reach the default recipe's final loss, over the default's."""
    default = result["recipes"][0]  # the run's default (relabelled where the default has changed since)
    label = "default recipe" if default["name"] == "default" else default["name"]
    classic_run = next((x for x in result["recipes"] if x["name"].startswith("classic")), {})
    if classic_run.get("reused_other_cpu"):  # losses compare across CPUs, times do not
        text = f"style transfer {result['size']} px, {label}: {default['wall_s']:.0f} s wall"
        for t in result.get("to_classic_final") or []:
            text += (f"; {t['recipe']} reaches the classic's {t['classic_evals']}-evaluation loss (recorded on another "
                     f"CPU) after {t['wall_s']:.0f} s" if t["wall_s"] is not None
                     else f"; {t['recipe']}: the classic's {t['classic_evals']}-evaluation loss not reached")
        return None, text
    classic = result["classic_reaches_default_final_loss"]
    step = next((s for s in result["step_seconds"] if s["size"] == result["size"]), result["step_seconds"][-1])
    text = (f"style transfer {result['size']} px: classic fp32 L-BFGS / {label}, wall time to the same "
            f"loss ({classic['wall_s']:.0f} vs {default['wall_s']:.0f} s); bf16 step x{step['speedup']:.2f} "
            f"at {step['size']} px")
    for t in result.get("to_classic_final") or []:  # issue 15's figure, where the run measured it
        reached = (f"at {t['cpu_s'] / t['classic_cpu_s']:.2f} of its CPU time" if t["cpu_s"] is not None
                   else "not reached")
        text += f"; to the classic's {t['classic_evals']}-evaluation loss, {t['recipe']}: {reached}"
    return classic["wall_s"] / default["wall_s"], text


if __name__ == "__main__":
    main()
