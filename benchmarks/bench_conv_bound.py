"""How far bf16 can take each of issue 15's CPU targets: the convolutions' own speed-up.

For each workload the issue times (a StyleGAN2 `small` training minibatch at 64 px, G inference at
256 px batch 8 and 1, one Gatys loss evaluation at 512 px, one pix2pix training step at 256 px) this
script runs the real code once in fp32 (as the issue's baseline runs it) and once in bf16 (the
default here: autocast + channels_last), records every convolution it dispatches (forward and
backward, with shapes, strides, dtypes and arguments, through a ``TorchDispatchMode``), and
replays each recorded call alone, timed. The sums are the time the workload spends in
convolutions in each precision on this CPU.

If everything that is not a convolution cost nothing, the bf16 workload would take its bf16
convolution time, so ``bound = fp32 step time / bf16 convolution time`` is the largest speed-up
over the fp32 step that bf16 can give here, however lean the rest; a target above its bound
cannot be met on this CPU by precision and overhead work alone. The measured bf16 speed-up of the
eager step is printed beside it (the compiled paths run the same oneDNN convolutions; bf16 G
inference is recorded in the unfused form the compiled path runs, which has the faster
convolutions at batch 1).

    python benchmarks/bench_conv_bound.py [--threads 1] [--reps 3] [--only NAME,...]

Writes docs/benchmarks/conv-bound.md and .json.
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
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

from neuralbrush.core import allocator  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from isolated import Isolated  # noqa: E402

RESULTS = "conv-bound*.json"  # conv-bound.json, and named runs (--name conv-bound-...)
OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"
CONV_OPS = ("convolution.default", "convolution_backward.default")


def _meta(x):
    if isinstance(x, torch.Tensor):
        return ("T", tuple(x.shape), tuple(x.stride()), str(x.dtype))
    if isinstance(x, (list, tuple)):
        return tuple(_meta(v) for v in x)
    return x


class ConvRecorder(TorchDispatchMode):
    """Counts every convolution dispatched (forward and backward), keyed by its full signature."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter = Counter()
        self.funcs: dict[str, object] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = f"{func._schema.name.split('::')[-1]}.{func._overloadname}"
        if name in CONV_OPS:
            self.funcs[name] = func
            self.calls[(name, _meta(args), tuple((k, _meta(v)) for k, v in sorted(kwargs.items())))] += 1
        return func(*args, **kwargs)


def _make(meta, gen):
    """A random tensor with a recorded tensor's shape, strides and dtype; lists rebuilt as lists."""
    if isinstance(meta, tuple) and meta[:1] == ("T",):
        _, shape, stride, dtype = meta
        t = torch.empty_strided(shape, stride, dtype=getattr(torch, dtype.split(".")[-1]))
        return t.copy_(torch.randn(shape, generator=gen).to(t.dtype) * 0.1)
    if isinstance(meta, tuple):
        return [_make(v, gen) for v in meta]
    return meta


def replay_seconds(rec: ConvRecorder, per: int, reps: int) -> tuple[float, int]:
    """Seconds the recorded convolutions take per workload step (``per`` steps were recorded)."""
    gen = torch.Generator().manual_seed(0)
    total = 0.0
    for (name, args_meta, kw_meta), count in rec.calls.items():
        func = rec.funcs[name]
        args = [_make(m, gen) for m in args_meta]
        kwargs = {k: _make(v, gen) for k, v in kw_meta}
        func(*args, **kwargs)  # oneDNN primitive creation
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            func(*args, **kwargs)
            times.append(time.perf_counter() - t)
        total += statistics.median(times) * count
    return total / per, sum(rec.calls.values()) // per


# -- the workloads: each returns step() -> None, running one unit of the measured work -----

def stylegan2_small(precision: str, tmp: Path):
    from bench_train_profile import build

    from neuralbrush.datasets.samples import write_blooms

    data = tmp / "blooms"
    if not data.exists():
        write_blooms(data, 200, 64, seed=0, species=True)
    # the baseline: our fp32 eager loop as it was (lean off); bf16 with today's lean loop
    loop = build(data, precision, lean=precision != "fp32", batch=8)
    return loop.step, 16  # R1 every 16, path length every 4: one unit = 16 minibatches


def g_inference(batch: int):
    def make(precision: str, tmp: Path):
        import numpy as np
        from bench_latent_compile import make_generator, unfused

        from neuralbrush.core.device import resolve_runtime
        from neuralbrush.latent.render import Renderer

        rt = resolve_runtime("cpu", precision)
        r = Renderer(rt.module(make_generator(256)), rt, batch=batch, compile="off")
        if precision != "fp32":  # the form the compiled bf16 path runs: modulation around shared-weight convs
            r = unfused(r)
        z = torch.from_numpy(np.random.RandomState(batch).randn(batch, 512)).float()
        return (lambda: r.images(z, "z")), 1
    return make


def nst_eval(precision: str, tmp: Path):
    from neuralbrush.style.options import StyleOptions, default_layer_weights
    from neuralbrush.style.transfer import StyleTransfer

    d = StyleOptions()
    st = StyleTransfer(vgg="random", precision=precision)
    content = torch.rand(1, 3, 512, 512, generator=torch.Generator().manual_seed(0))
    style = torch.rand(1, 3, 512, 512, generator=torch.Generator().manual_seed(1))
    loss = st.build_loss(content, [style], style_weights=[1.0], content_layers=d.content_layers,
                         style_layers=d.style_layers, style_layer_weights=default_layer_weights(5),
                         content_weight=1.0, style_weight=10.0, tv_weight=1.0)
    layers = tuple(dict.fromkeys(d.content_layers + d.style_layers))
    x = st.runtime.tensor(content.clone()).requires_grad_(True)

    def step() -> None:
        total, _ = loss(x, st.features(x, layers))
        total.backward()
        x.grad = None
    return step, 1


def pix2pix_step(precision: str, tmp: Path):
    from bench_pix2pix import _setup, time_train_step

    from neuralbrush.core.device import resolve_runtime

    rt = resolve_runtime("cpu", precision)
    fused = precision != "fp32"  # the baseline: fp32 with the foreach Adam the trainer had
    state = _setup(256, rt, fused=fused)
    return (lambda: time_train_step(256, rt, state)), 1


WORKLOADS = {  # name: (builder, what, issue 15's target over the fp32 step)
    "stylegan2-small-train": (stylegan2_small, "StyleGAN2 `small` 64 px training minibatch, batch 8", 2.1),
    "g-inference-b8": (g_inference(8), "G inference 256 px (`auto`), batch 8", 5.0),
    "g-inference-b1": (g_inference(1), "G inference 256 px (`auto`), batch 1", 3.0),
    "nst-eval-512": (nst_eval, "Gatys loss evaluation at 512 px (VGG-19 forward + backward)", 2.5),
    "pix2pix-train-256": (pix2pix_step, "pix2pix training step at 256 px, batch 1", 2.0),
}


def precision_measurer(name: str, tmp: str, reps: int, precision: str):
    """A callable measuring one workload in one precision: its step and its convolutions replayed."""
    build = WORKLOADS[name][0]
    step, per = build(precision, Path(tmp))

    def run() -> dict:
        for _ in range(per if per > 1 else 2):  # warm-up
            step()
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            for _ in range(per):
                step()
            times.append((time.perf_counter() - t) / per)
        rec = ConvRecorder()
        with rec:
            for _ in range(per):
                step()
        conv_s, n_convs = replay_seconds(rec, per, reps)
        return {"step_s": statistics.median(times), "step_all_s": times, "conv_s": conv_s,
                "convs_per_step": n_convs, "distinct_convs": len(rec.calls)}
    return run


def measure(name: str, tmp: Path, reps: int) -> dict:
    _, what, target = WORKLOADS[name]
    row = {"name": name, "what": what, "target": target}
    # the baseline (fp32) in its own process with malloc untouched (benchmarks/isolated.py); ours here
    with Isolated("bench_conv_bound:precision_measurer", name, str(tmp), reps, "fp32",
                  threads=torch.get_num_threads()) as base:
        row["fp32"] = base.step(output=True)[1]
    allocator.use("keep")
    row["bf16"] = precision_measurer(name, str(tmp), reps, "bf16")()
    for precision in ("fp32", "bf16"):
        r = row[precision]
        print(f"  {name} {precision}: step {r['step_s']:.3f} s, convolutions {r['conv_s']:.3f} s "
              f"({r['convs_per_step']} per step, {r['distinct_convs']} distinct)", flush=True)
    f32, b16 = row["fp32"], row["bf16"]
    row.update(conv_share_fp32=f32["conv_s"] / f32["step_s"], conv_share_bf16=b16["conv_s"] / b16["step_s"],
               conv_speedup=f32["conv_s"] / b16["conv_s"], bound=f32["step_s"] / b16["conv_s"],
               measured_eager=f32["step_s"] / b16["step_s"])
    return row


def markdown(result: dict) -> str:
    lines = ["# What bf16 can give each CPU target (`benchmarks/bench_conv_bound.py`)", "",
             f"{result['machine']}, torch {result['torch']}, {result['threads']} thread(s), load average "
             f"{result['load_start']:.1f} at the start and {result['load_end']:.1f} at the end; medians of "
             f"{result['reps']} repetitions. Matmul 1024x1024 on this CPU: fp32 {result['matmul_gflops']['fp32']:.0f}, "
             f"bf16 {result['matmul_gflops']['bf16']:.0f} GFLOP/s (x{result['matmul_gflops']['bf16'] / result['matmul_gflops']['fp32']:.2f}).",
             "",
             "Each workload runs once in fp32 (the issue's baseline) and once in bf16 (autocast + channels_last,"
             " the default here); every convolution it dispatches (forward and backward) is recorded and replayed"
             " alone. fp32 runs in its own process with the C library's malloc as it behaves unasked (the baseline"
             " as it was); bf16 with the `keep` allocator policy every runtime now sets (neuralbrush.core.allocator)."
             " *bound* = fp32 step / bf16 convolution time: the speed-up bf16 would give if nothing but"
             " the convolutions cost anything.", "",
             "| workload | fp32 step s | fp32 conv s (share) | bf16 step s | bf16 conv s (share) | conv speed-up | "
             "**bound** | measured (eager) | target |", "|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        f, b = r["fp32"], r["bf16"]
        lines.append(f"| {r['what']} | {f['step_s']:.3f} | {f['conv_s']:.3f} ({r['conv_share_fp32'] * 100:.0f} %) | "
                     f"{b['step_s']:.3f} | {b['conv_s']:.3f} ({r['conv_share_bf16'] * 100:.0f} %) | "
                     f"x{r['conv_speedup']:.2f} | **x{r['bound']:.2f}** | x{r['measured_eager']:.2f} | "
                     f">= x{r['target']:.1f} {'(above the bound)' if r['target'] > r['bound'] else ''} |")
    lines += ["", "Per-repetition step times and the convolution counts are in the .json file beside this page."]
    return "\n".join(lines) + "\n"


def headline(result: dict) -> tuple[float | None, str]:
    rows = result.get("rows") or []
    if not rows:
        return None, "no workloads measured"
    over = [r["name"] for r in rows if r["target"] > r["bound"]]
    worst = min(rows, key=lambda r: r["bound"] / r["target"])
    return (worst["bound"], f"largest bf16 speed-up convolutions allow, {worst['name']}: x{worst['bound']:.2f} "
            f"(target x{worst['target']:.1f}); targets above their bound: {', '.join(over) or 'none'}")



def main() -> None:
    from bench_gan_training import matmul_rate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: a shared machine)")
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions of each step and each replayed call")
    ap.add_argument("--only", default="", help="comma-separated workload names (default: all)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--name", default="conv-bound", help="result file stem under --out (e.g. conv-bound-amx)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("NEURALBRUSH_QUIET", "1")
    names = [n for n in args.only.split(",") if n] or list(WORKLOADS)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        ap.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    load_start = os.getloadavg()[0]
    rates = {"fp32": matmul_rate(torch.float32), "bf16": matmul_rate(torch.bfloat16)}
    tmp = Path(tempfile.mkdtemp(prefix="nb-conv-bound-"))
    rows = [measure(n, tmp, args.reps) for n in names]
    from neuralbrush.core import device

    result = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {device.cpu_kind()}",
              "torch": torch.__version__, "threads": args.threads, "reps": args.reps, "load_start": load_start,
              "load_end": os.getloadavg()[0], "matmul_gflops": rates, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / f"{args.name}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
