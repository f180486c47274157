"""Compiled generator inference (``--compile``) on this CPU: StyleGAN2 G inference at 256 px (the
NVlabs ``--cfg auto`` network, random weights: speed does not depend on training) at batch 1
and 8, fp32 eager, bf16 eager, fp32 compiled, bf16 compiled, as the latent tools' renderer runs
it (``Renderer.images``: mapping, synthesis, the result on the CPU in fp32).

    .venv/bin/python benchmarks/bench_latent_compile.py [--rounds 4] [--threads 1] [--res 256]

Compile time is reported apart from the steady state: the first compiled call of each batch
size minus its steady time, compiled into an empty inductor cache (the batch-8 compile comes
first; the batch-1 compile after it is what a second batch size costs, what padding the last
partial batch avoids), then once more for bf16 batch 8 from the warm on-disk cache (a later run
on the same model). Steady times are medians of interleaved rounds (every variant once per
round), so the load on the shared machine affects them alike. Also measured: eager with the
modulated convolutions unfused (what the compiled path runs on the CPU), to tell the unfusing
from the compiling, and the largest difference between compiled and eager images.

Allocator: *fp32 eager*, the issue's baseline, runs in its own process (benchmarks/isolated.py),
interleaved with the rest, with the C library's malloc as it behaves unasked; every other row
with neuralbrush's ``keep`` policy (freed tensors stay in the process), which every runtime sets;
*fp32 eager-keep* is the baseline with only that changed, to tell the allocator's gain apart.

Writes docs/benchmarks/latent-compile.md and .json.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # a shared, loaded machine: do not spin-wait
# an empty inductor cache, so compile times are cold ones (set before torch is imported)
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="bench-inductor-"))

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from neuralbrush.core.device import cpu_kind, resolve_runtime  # noqa: E402
from neuralbrush.gan import build_generator  # noqa: E402
from neuralbrush.gan.presets import TrainOptions, resolve  # noqa: E402
from neuralbrush.latent.compiled import CompiledForward, compile_seconds, conv_layers  # noqa: E402
from neuralbrush.latent.render import Renderer, to_uint8  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from isolated import Isolated  # noqa: E402

PRECISIONS = ("bf16", "fp32")  # bf16 (this CPU's default) compiles first, into the empty cache
BATCHES = (8, 1)  # batch 8 compiles first; batch 1 is then a second shape of the same network


def make_generator(res: int, state: dict | None = None) -> torch.nn.Module:
    kwargs = resolve(TrainOptions(cfg="auto"), res=res).G_kwargs
    torch.manual_seed(0)
    G = build_generator("stylegan2", **kwargs).eval().requires_grad_(False)
    if state is not None:
        G.load_state_dict(state)
    return G


def unfused(r: Renderer) -> Renderer:
    """The renderer, eager, with its modulated convolutions unfused (the compiled path's form)."""
    r.forward = CompiledForward(r.G.synthesis, r.runtime, "off", kwargs={"noise_mode": "const", "fused_modconv": False})
    return r


def baseline_step(res: int, batch: int):
    """The issue's baseline (fp32 eager renderer), built in the isolated process: one call = one batch."""
    rt = resolve_runtime("cpu", "fp32")
    r = Renderer(rt.module(make_generator(res)), rt, batch=batch, compile="off")
    z = torch.from_numpy(np.random.RandomState(batch).randn(batch, r.G.z_dim)).float()
    return lambda: r.images(z, "z").numpy()


def policy(key: tuple) -> str:
    """The allocator a variant runs with: the C library's untouched for the issue's baseline, else keep."""
    return "glibc" if key[:2] == ("fp32", "eager") else "keep"


def timed(r: Renderer | Isolated, z: torch.Tensor, key: tuple) -> tuple[float, torch.Tensor]:
    if isinstance(r, Isolated):
        dt, out = r.step(output=True)
        return dt, torch.from_numpy(out)
    t = time.perf_counter()
    out = r.images(z, "z")
    return time.perf_counter() - t, out


def bench(res: int, rounds: int, log) -> dict:
    base = make_generator(res)
    state = base.state_dict()
    gens = {p: resolve_runtime("cpu", p).module(make_generator(res, state)) for p in PRECISIONS}
    z = {b: torch.from_numpy(np.random.RandomState(b).randn(b, base.z_dim)).float() for b in BATCHES}
    variants: dict[tuple, Renderer] = {}
    for p in PRECISIONS:
        rt = resolve_runtime("cpu", p)
        for b in BATCHES:
            if p == "fp32":  # the issue's baseline, in its own process with malloc untouched
                variants[(p, "eager", b)] = Isolated("bench_latent_compile:baseline_step", res, b,
                                                     threads=torch.get_num_threads())
            else:
                variants[(p, "eager", b)] = Renderer(gens[p], rt, batch=b, compile="off")
            if p == "fp32":
                variants[(p, "eager-keep", b)] = Renderer(gens[p], rt, batch=b, compile="off")
            variants[(p, "compiled", b)] = Renderer(gens[p], rt, batch=b, compile="on")
            if not (p == "bf16" and b > 1):  # bf16 at batch > 1 already runs unfused eagerly
                variants[(p, "eager-unfused", b)] = unfused(Renderer(gens[p], rt, batch=b, compile="off"))
    first: dict[tuple, float] = {}
    outputs: dict[tuple, torch.Tensor] = {}
    # eager warm-up (oneDNN primitive creation) and reference images
    for key, r in variants.items():
        if key[1] != "compiled":
            first[key], outputs[key] = timed(r, z[key[2]], key)
            log(f"warm-up {key}: {first[key]:.2f} s")
    # compiles, into the empty cache: batch 8 then batch 1 per precision
    for p in PRECISIONS:
        for b in BATCHES:
            key = (p, "compiled", b)
            first[key], outputs[key] = timed(variants[key], z[b], key)
            log(f"first compiled call {key}: {first[key]:.1f} s")
    times: dict[tuple, list[float]] = {k: [] for k in variants}
    for i in range(rounds):
        for key, r in variants.items():
            times[key].append(timed(r, z[key[2]], key)[0])
        log(f"round {i + 1}/{rounds}: " + ", ".join(f"{'/'.join(map(str, k))} {times[k][-1]:.2f}" for k in variants))
    # the bf16 batch-8 compile again, from the warm on-disk cache (what a later run on this model pays)
    torch._dynamo.reset()
    warm_first, _ = timed(Renderer(gens["bf16"], resolve_runtime("cpu", "bf16"), batch=8, compile="on"), z[8],
                          ("bf16", "compiled", 8))
    log(f"bf16 batch 8 compile from a warm cache: first call {warm_first:.1f} s")
    rows = []
    for key, r in variants.items():
        p, mode, b = key
        med = statistics.median(times[key])
        row = {"precision": p, "mode": mode, "batch": b, "s_per_batch": med, "s_per_image": med / b,
               "images_per_s": b / med, "allocator": policy(key), "first_call_s": first[key], "rounds": times[key]}
        if mode == "compiled":
            row["compile_s"] = max(first[key] - med, 0.0)
            row["compile_order"] = PRECISIONS.index(p) * len(BATCHES) + BATCHES.index(b) + 1
            ref = outputs[(p, "eager", b)]
            diff = (outputs[key] - ref).abs()
            frames = to_uint8(outputs[key]).astype(int) - to_uint8(ref).astype(int)
            row.update(max_abs_diff=float(diff.max()), mean_abs_diff=float(diff.mean()),
                       image_range=float(ref.abs().max()), uint8_max_diff=int(abs(frames).max()),
                       uint8_pixels_differing=float((frames != 0).mean()))
        if p != "fp32" and mode == "eager":  # the precision's own error, for scale
            row["max_abs_diff_vs_fp32"] = float((outputs[key] - outputs[("fp32", "eager", b)]).abs().max())
            row["mean_abs_diff_vs_fp32"] = float((outputs[key] - outputs[("fp32", "eager", b)]).abs().mean())
        rows.append(row)
    by = {(r["precision"], r["mode"], r["batch"]): r for r in rows}
    f32 = {b: by[("fp32", "eager", b)]["images_per_s"] for b in BATCHES}
    for r in rows:
        r["x_fp32_eager"] = r["images_per_s"] / f32[r["batch"]]
        r["x_same_precision_eager"] = r["images_per_s"] / by[(r["precision"], "eager", r["batch"])]["images_per_s"]
    summary = {}
    for p in PRECISIONS:
        for b in BATCHES:
            e, c = by[(p, "eager", b)], by[(p, "compiled", b)]
            gain = e["s_per_image"] - c["s_per_image"]
            cold = by[(p, "compiled", BATCHES[0])]["compile_s"]  # the first compile of this precision
            summary[f"{p}_b{b}"] = {
                "saving": 1 - c["s_per_image"] / e["s_per_image"],
                "break_even_images": cold / gain if gain > 0 else None,
                "break_even_images_warm_cache": (max(warm_first - by[("bf16", "compiled", 8)]["s_per_batch"], 0.0)
                                                 / gain if gain > 0 and p == "bf16" and b == 8 else None),
            }
    c8, c1 = by[("bf16", "compiled", 8)], by[("bf16", "compiled", 1)]
    summary["padding_vs_recompile"] = {
        "second_batch_size_compile_s": c1["compile_s"],
        "worst_padding_s": (BATCHES[0] - 1) * c8["s_per_image"],  # a partial batch of 1 padded to 8
    }
    summary["warm_cache_compile_s"] = max(warm_first - c8["s_per_batch"], 0.0)
    summary["auto_estimate_compile_s"] = compile_seconds(gens["fp32"].synthesis)
    summary["conv_layers"] = conv_layers(gens["fp32"].synthesis)
    for v in variants.values():
        if isinstance(v, Isolated):
            v.close()
    return {"rows": rows, "summary": summary}


def markdown(result: dict) -> str:
    s, rows = result["summary"], result["rows"]
    by = {(r["precision"], r["mode"], r["batch"]): r for r in rows}
    lines = ["# Compiled generator inference (this CPU)", "", result["header"], "",
             f"G = the NVlabs `--cfg auto` StyleGAN2 at {result['settings']['res']} px (random weights), run as "
             "`Renderer.images` runs it (mapping, synthesis under the runtime's autocast, images back in fp32). "
             "*compiled* = `--compile on`: `torch.compile(G.synthesis, dynamic=False)` (inductor), modulated "
             "convolutions unfused on the CPU; *eager-unfused* = eager in that same form, to tell the two gains "
             f"apart. Steady times: medians of {result['settings']['rounds']} interleaved rounds. Compile s: first "
             "call minus steady state, into an empty inductor cache; #n = the order of the compiles in the run "
             "(the first pays one-off costs, later ones reuse some compiled kernels).", "",
             "*fp32 eager* (the issue's baseline) runs in its own process, interleaved with the rest, with the C "
             "library's malloc as it behaves unasked (allocator `glibc`); every other row with the `keep` policy every runtime sets (freed tensors stay "
             "in the process instead of being unmapped and page-faulted in again; neuralbrush.core.allocator); "
             "*eager-keep* is the baseline with only the allocator changed.", "",
             "| precision | mode | batch | allocator | s/batch | images/s | x fp32 eager | x same-precision eager | compile s |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: (-r["batch"], r["precision"], r["mode"])):
        comp = f"{r['compile_s']:.1f}" if "compile_s" in r else ""
        if "compile_s" in r:
            comp += f" (#{r['compile_order']}{', 2nd shape' if r['batch'] != BATCHES[0] else ''})"
        lines.append(f"| {r['precision']} | {r['mode']} | {r['batch']} | {r.get('allocator', 'glibc')} | "
                     f"{r['s_per_batch']:.3f} | "
                     f"{r['images_per_s']:.2f} | {r['x_fp32_eager']:.2f}x | {r['x_same_precision_eager']:.2f}x | "
                     f"{comp} |")
    lines += ["", "Issue targets (bf16 compiled over our fp32 eager): batch 8 >= 5x, batch 1 >= 3x. Measured: "
              f"batch 8 **{by[('bf16', 'compiled', 8)]['x_fp32_eager']:.2f}x**, batch 1 "
              f"**{by[('bf16', 'compiled', 1)]['x_fp32_eager']:.2f}x**.", "",
              "| precision, batch | saving vs eager (same precision) | break-even images (cold compile) |",
              "|---|---:|---:|"]
    for p in ("fp32", "bf16"):
        for b in (8, 1):
            e = s[f"{p}_b{b}"]
            be = "never" if e["break_even_images"] is None else f"{e['break_even_images']:.0f}"
            lines.append(f"| {p}, {b} | {100 * e['saving']:.0f} % | {be} |")
    pv = s["padding_vs_recompile"]
    lines += ["", f"A second batch size costs a second compile ({pv['second_batch_size_compile_s']:.1f} s for bf16 "
              f"batch 1 after batch 8); padding the worst partial batch (1 image) to 8 costs "
              f"{pv['worst_padding_s']:.1f} s, so the renderer pads. From a warm inductor cache (a later run on the "
              f"same model) the bf16 batch-8 compile took {s['warm_cache_compile_s']:.1f} s"
              + (f" (break-even {s['bf16_b8']['break_even_images_warm_cache']:.0f} images)"
                 if s['bf16_b8']['break_even_images_warm_cache'] else "") + ". `--compile auto` "
              f"estimates {s['auto_estimate_compile_s']:.0f} s for this network ({s['conv_layers']} convolution "
              "layers; neuralbrush.latent.compiled).", "",
              "Compiled vs eager images (same precision, batch 8 / 1):", ""]
    for p in ("fp32", "bf16"):
        for b in (8, 1):
            r = by[(p, "compiled", b)]
            lines.append(f"- {p}, batch {b}: max |diff| {r['max_abs_diff']:.2g}, mean {r['mean_abs_diff']:.2g} "
                         f"(images reach +-{r['image_range']:.2f}); as uint8 frames at most {r['uint8_max_diff']} "
                         f"level(s) apart, {100 * r['uint8_pixels_differing']:.2f} % of values differ"
                         + (f"; bf16 eager vs fp32 eager for scale: max {by[(p, 'eager', b)]['max_abs_diff_vs_fp32']:.2g}, "
                            f"mean {by[(p, 'eager', b)]['mean_abs_diff_vs_fp32']:.2g}" if p != "fp32" else ""))
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4, help="interleaved timing rounds (median reported)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: a shared machine)")
    ap.add_argument("--res", type=int, default=256, help="resolution of the NVlabs auto network")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "benchmarks")
    ap.add_argument("--name", default="latent-compile", help="result file stem under --out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    result = bench(args.res, args.rounds, lambda m: print(m, flush=True))
    cpu = cpu_kind()
    result["header"] = (f"torch {torch.__version__}, {platform.machine()} CPU with {cpu}, {torch.get_num_threads()} "
                        f"thread(s), OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, load average at start "
                        f"{load:.1f} on {os.cpu_count()} cores; the whole run took {time.perf_counter() - t0:.0f} s. "
                        "The machine is shared and noisy: compare ratios within this run.")
    result["settings"] = {"res": args.res, "rounds": args.rounds, "threads": args.threads, "batches": list(BATCHES)}
    text = markdown(result)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.md").write_text(text, encoding="utf-8")
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


# The headline `python -m benchmarks` prints from this script's results (one row per RESULTS file).
# headline() runs without this script's imports: it may use its argument and builtins only.
RESULTS = "latent-compile*.json"  # latent-compile.json, and named reruns (--name)


def headline(result: dict) -> tuple[float | None, str]:
    """bf16 compiled G inference at batch 8 over fp32 eager (images/s); batch 1 and compile cost."""
    by = {(r["precision"], r["mode"], r["batch"]): r for r in result["rows"]}
    b8, b1 = by[("bf16", "compiled", 8)], by[("bf16", "compiled", 1)]
    s = result["summary"]["bf16_b8"]
    be = "never" if s["break_even_images"] is None else f"{s['break_even_images']:.0f} images"
    return (b8["x_fp32_eager"],
            f"G inference auto@{result['settings']['res']}: bf16 compiled vs fp32 eager at batch 8 "
            f"({b8['images_per_s']:.2f} vs {b8['images_per_s'] / b8['x_fp32_eager']:.2f} images/s); batch 1 "
            f"x{b1['x_fp32_eager']:.2f}; compile {b8['compile_s']:.0f} s, break-even vs bf16 eager {be}")


if __name__ == "__main__":
    main()
