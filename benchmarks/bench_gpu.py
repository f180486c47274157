"""GPU benchmark: StyleGAN2-ADA training s/kimg next to NVIDIA's published V100 figures, generator
images/s and Gatys style-transfer seconds per L-BFGS evaluation, eager vs torch.compile, in
fp32 / bf16 / fp16 autocast.

    python benchmarks/bench_gpu.py                        # the current CUDA device, ~5-8 min
    python benchmarks/bench_gpu.py --only train --res 256 --no-compile
    python benchmarks/bench_gpu.py --smoke --out /tmp/x   # CPU, tiny sizes: checks the script

What is timed (``torch.cuda.synchronize()`` around every timed call, warm-up calls first, the
median of ``--iters`` calls reported):

* train: one StyleGAN2-ADA minibatch of the project's own loss and optimisers (G main, path length
  every 4, D main, R1 every 16, each phase with its Adam step, plus the G_ema update), built from
  ``gan.presets.resolve`` like the trainer builds it, ADA pipe at p = 0.2. Configs: ``auto`` (the
  like-for-like row: NVIDIA measured its one-GPU s/kimg with --cfg=auto) and ``paper256`` /
  ``paper1024`` (the network of the ``stylegan2`` preset too) at the batch one of NVIDIA's 8 GPUs
  runs (preset batch / 8).
* infer: G_ema inference (no grad, const noise), batch 1 and 8, paper256 / paper1024 networks.
* nst: VGG-19 (random weights: speed does not depend on them) style-transfer loss at 1024 px:
  one evaluation (forward + losses + backward) and one step of the library's L-BFGS loop.

Compiled rows use ``torch.compile`` (default mode) on the networks; their first calls (compile +
autotuning) are reported as compile seconds apart from the steady-state time. A combination that
fails (fp16 on a CPU, out of memory, a compile error) becomes a row with a one-line note; a
training phase that cannot run compiled (R1 / path length need a double backward) runs eagerly
in the compiled row, and the row says so. ``--max-minutes`` skips, with a note, what would start
after the budget (the compiled rows come last).

Writes docs/benchmarks/gpu-<device>.json and .md (``--smoke``: a temporary folder unless --out).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # a shared CPU (smoke runs): do not spin-wait

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_gan_training import run_phase  # noqa: E402  (one loss phase: grads on, accumulate, grads off)

from neuralbrush.core.device import Adam, fused_optimizer_kwargs, resolve_runtime  # noqa: E402
from neuralbrush.gan import build_discriminator, build_generator  # noqa: E402
from neuralbrush.gan.augment import make_augment_pipe  # noqa: E402
from neuralbrush.gan.loss import GANLoss  # noqa: E402
from neuralbrush.gan.presets import PRESETS, TrainOptions, lazy_optimizer_kwargs, resolve  # noqa: E402
from neuralbrush.gan.trainer_state import set_threads  # noqa: E402
from neuralbrush.style.options import StyleOptions, default_layer_weights  # noqa: E402
from neuralbrush.style.schedule import run_lbfgs  # noqa: E402
from neuralbrush.style.transfer import StyleTransfer  # noqa: E402

# REFERENCE.md, StyleGAN2-ADA behaviour: "Published speed (V100, one GPU, s/kimg): 128px 13,
# 256px 22, 512px 73, 1024px 158." (NVlabs stylegan2-ada-pytorch README, measured with its
# defaults --cfg=auto --aug=ada, mixed precision in the 4 highest resolutions.)
NVIDIA_V100_S_PER_KIMG = {128: 13.0, 256: 22.0, 512: 73.0, 1024: 158.0}
NVIDIA_CITATION = ("REFERENCE.md, StyleGAN2-ADA: 'Published speed (V100, one GPU, s/kimg): 128px 13, 256px 22, "
                   "512px 73, 1024px 158' (NVlabs' README: --cfg=auto, one V100)")
PAPER_CFG = {256: "paper256", 512: "paper512", 1024: "paper1024"}  # NVIDIA's preset for each resolution


def paper_cfg(res: int) -> str:
    """NVIDIA's paper preset for a resolution (paper256's network at other sizes, e.g. smoke's 32 px)."""
    return PAPER_CFG.get(res, "paper256")
TASKS = ("train", "infer", "nst")
PRECISIONS = ("fp32", "bf16", "fp16")
SMOKE_CHANNELS = 32  # --smoke: every network narrowed to this many channels
STYLE = StyleOptions()
NST_LAYERS = tuple(dict.fromkeys(STYLE.content_layers + STYLE.style_layers))


# -- timing -------------------------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clock(fn: Callable[[], object], device: torch.device) -> float:
    """Wall seconds of one call, the device's queue drained before and after."""
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def measure(fn: Callable[[], object], device: torch.device, warmup: int, iters: int) -> tuple[float, float]:
    """(first call s, median of ``iters`` calls after ``warmup`` calls in all, the first included)."""
    first = clock(fn, device)
    for _ in range(warmup - 1):
        clock(fn, device)
    return first, statistics.median(clock(fn, device) for _ in range(max(iters, 1)))


def one_line(e: BaseException, width: int = 140) -> str:
    text = str(e).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(e).__name__}: {first if len(first) <= width else first[:width - 3] + '...'}".rstrip(": ")


# -- the workloads ------------------------------------------------------------------------------------
def train_options(cfg_name: str, res: int, smoke: bool) -> TrainOptions:
    """The preset at the batch one GPU of NVIDIA's 8-GPU paper runs processes (``auto``: its own)."""
    narrow = dict(cmax=SMOKE_CHANNELS, batch=4) if smoke else {}
    if cfg_name == "auto":
        return TrainOptions(cfg="auto", **narrow)
    pre = PRESETS[cfg_name]
    return TrainOptions(**dict(dict(cfg=cfg_name, batch=max(pre.mb // pre.ref_gpus, 1)), **narrow))


class CompiledParts:
    """G's mapping and synthesis, each compiled: GANLoss calls them one by one (style mixing needs
    the ws in between), so compiling G itself would never be reached by the training loss."""

    def __init__(self, G: torch.nn.Module, backend: str) -> None:
        self.w_dim = G.w_dim
        self.mapping = torch.compile(G.mapping, backend=backend)
        self.synthesis = torch.compile(G.synthesis, backend=backend)


def bench_train(cfg_name: str, res: int, precision: str, compiled: bool, args) -> dict:
    runtime = resolve_runtime(args.device, precision)
    dev = runtime.device
    cfg = resolve(train_options(cfg_name, res, args.smoke), res=res)
    torch.manual_seed(0)
    G = runtime.module(build_generator("stylegan2", **cfg.G_kwargs).train().requires_grad_(False))
    D = runtime.module(build_discriminator("stylegan2", **cfg.D_kwargs).train().requires_grad_(False))
    G_ema = runtime.module(build_generator("stylegan2", **cfg.G_kwargs).eval().requires_grad_(False))
    G_ema.load_state_dict(G.state_dict())
    pipe = make_augment_pipe("ada", 0.2).to(dev)
    fused = fused_optimizer_kwargs(dev)  # as the lean training loop (gan/train.py)
    opt_G = Adam(G.parameters(), **lazy_optimizer_kwargs(cfg.G_opt, cfg.G_reg_interval), **fused)
    opt_D = Adam(D.parameters(), **lazy_optimizer_kwargs(cfg.D_opt, cfg.D_reg_interval), **fused)

    def make_loss(g, d) -> GANLoss:
        return GANLoss(g, d, augment_pipe=pipe, r1_gamma=cfg.r1_gamma, style_mixing_prob=cfg.style_mixing,
                       pl_weight=cfg.pl_weight, autocast=runtime.autocast)

    eager = make_loss(G, D)
    loss = (make_loss(CompiledParts(G, args.compile_backend), torch.compile(D, backend=args.compile_backend))
            if compiled else eager)
    batch, z_dim = cfg.batch, cfg.G_kwargs["z_dim"]
    real = runtime.tensor(torch.rand(batch, 3, res, res, generator=torch.Generator().manual_seed(1)) * 2 - 1)
    c = torch.zeros(batch, 0, device=dev)
    # The loop's order; each phase weighs 1 / its interval in a minibatch (lazy regularisation).
    phases = []
    for prefix, module, opt, interval in (("G", G, opt_G, cfg.G_reg_interval), ("D", D, opt_D, cfg.D_reg_interval)):
        if interval:
            phases += [(f"{prefix}main", module, opt, 1), (f"{prefix}reg", module, opt, interval)]
        else:
            phases.append((f"{prefix}both", module, opt, 1))
    # The G_ema update of the loop (gan/train.py), costed as one foreach lerp over G's tensors at the
    # EMA's steady-state beta; the loop's own method is private and needs a whole training session.
    ema_beta = 0.5 ** (batch / (cfg.ema_kimg * 1000))
    ema_pairs = [list(G_ema.parameters()), list(G.parameters())]

    @torch.no_grad()
    def update_ema() -> None:
        torch._foreach_lerp_(ema_pairs[0], ema_pairs[1], 1.0 - ema_beta)
    losses = {name: loss for name, *_ in phases}
    notes: dict[str, list[str]] = {}  # error -> phases that ran eagerly because of it

    def call(name: str, module, opt, interval: int) -> Callable[[], None]:
        def run() -> None:
            z = torch.randn(batch, z_dim, device=dev)
            run_phase(losses[name], module, name, real, z, c, float(interval))
            opt.step()
        return run

    times: dict[str, list[float]] = {name: [] for name, *_ in phases}
    times["G_ema"] = []
    first: dict[str, float] = {}
    for rnd in range(args.warmup + args.iters):
        for name, module, opt, interval in phases:
            start = time.perf_counter()
            try:
                t = clock(call(name, module, opt, interval), dev)
            except Exception as e:  # noqa: BLE001 - a phase torch.compile cannot take runs eagerly
                if losses[name] is eager:
                    raise
                module.requires_grad_(False)
                losses[name] = eager
                notes.setdefault(one_line(e, 90), []).append(name)
                clock(call(name, module, opt, interval), dev)
                t = time.perf_counter() - start  # the failed compiled attempt counts in this first call
            first.setdefault(name, t)
            if rnd >= args.warmup:
                times[name].append(t)
        t = clock(update_ema, dev)
        first.setdefault("G_ema", t)
        if rnd >= args.warmup:
            times["G_ema"].append(t)
    weight = {name: 1 / interval for name, _, _, interval in phases} | {"G_ema": 1.0}
    median = {name: statistics.median(ts) for name, ts in times.items()}
    step_s = sum(median[n] * weight[n] for n in median)
    return dict(config=cfg_name, res=res, batch=batch, s_per_kimg=step_s / batch * 1000,
                images_per_s=batch / step_s, phase_ms={n: 1000 * v for n, v in median.items()},
                compile_s=sum(max(first[n] - median[n], 0.0) for n in median) if compiled else None,
                first_call_s=sum(first.values()), nvidia_v100_s_per_kimg=NVIDIA_V100_S_PER_KIMG.get(res),
                G_params_M=sum(p.numel() for p in G.parameters()) / 1e6,
                D_params_M=sum(p.numel() for p in D.parameters()) / 1e6,
                note="; ".join(f"{', '.join(ph)} ran eager, the compiled call failed ({err})"
                              for err, ph in notes.items()))


def bench_infer(res: int, batch: int, precision: str, compiled: bool, args) -> dict:
    runtime = resolve_runtime(args.device, precision)
    cfg_name = paper_cfg(res)
    cfg = resolve(train_options(cfg_name, res, args.smoke), res=res)
    torch.manual_seed(0)
    G = runtime.module(build_generator("stylegan2", **cfg.G_kwargs).eval().requires_grad_(False))
    net = torch.compile(G, backend=args.compile_backend) if compiled else G
    z = torch.randn(batch, cfg.G_kwargs["z_dim"], device=runtime.device)
    c = torch.zeros(batch, 0, device=runtime.device)

    def run() -> None:
        with torch.no_grad(), runtime.autocast():
            net(z, c, noise_mode="const")

    first, med = measure(run, runtime.device, args.warmup, args.iters)
    return dict(config=cfg_name, res=res, batch=batch, seconds_per_batch=med, images_per_s=batch / med,
                compile_s=max(first - med, 0.0) if compiled else None, first_call_s=first,
                G_params_M=sum(p.numel() for p in G.parameters()) / 1e6, note="")


def bench_nst(size: int, precision: str, compiled: bool, args) -> dict:
    st = StyleTransfer(vgg="random", device=args.device, precision=precision)
    runtime = st.runtime
    content = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    style = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    loss = st.build_loss(content, [style], style_weights=[1.0], content_layers=STYLE.content_layers,
                         style_layers=STYLE.style_layers,
                         style_layer_weights=default_layer_weights(len(STYLE.style_layers)),
                         content_weight=STYLE.content_weight, style_weight=STYLE.style_weight,
                         tv_weight=STYLE.tv_weight)
    if compiled:  # StyleTransfer.features with the VGG module compiled
        vgg = torch.compile(st.model(NST_LAYERS), backend=args.compile_backend)

        def features(x: torch.Tensor) -> dict:
            with runtime.autocast():
                return vgg(runtime.tensor(x), NST_LAYERS)
    else:
        def features(x: torch.Tensor) -> dict:
            return st.features(x, NST_LAYERS)

    x = content.to(runtime.device).contiguous().requires_grad_(True)  # L-BFGS needs plain contiguous pixels

    def evaluate() -> None:
        total, _ = loss(x, features(x))
        total.backward()
        x.grad = None

    first, med = measure(evaluate, runtime.device, args.warmup, args.iters)
    evals = [0]  # the loop may stop early on convergence: divide by the evaluations it made

    def count(step: int, *_) -> None:
        evals[0] = step

    lbfgs = clock(lambda: run_lbfgs(x.detach().clone(), loss, features, args.lbfgs_evals, count), runtime.device)
    return dict(config="gatys-vgg19", res=size, batch=1, seconds_per_eval=med,
                seconds_per_lbfgs_eval=lbfgs / max(evals[0], 1), lbfgs_evals=evals[0],
                compile_s=max(first - med, 0.0) if compiled else None, first_call_s=first, note="")


# -- the plan -----------------------------------------------------------------------------------------
def plan(args) -> list[dict]:
    """Every combination, eager ones first; compiled ones by size (the cheap compiles first)."""
    items = []
    for compiled in ((False,) if args.no_compile else (False, True)):
        batch = []
        for precision in args.precisions:
            if "train" in args.only:
                for res in args.res:
                    for cfg_name in ("auto",) if args.smoke else ("auto", paper_cfg(res)):
                        b = resolve(train_options(cfg_name, res, args.smoke), res=res).batch
                        batch.append(dict(task="train", config=cfg_name, res=res, batch=b, precision=precision,
                                          compile=compiled))
            if "infer" in args.only:
                for res in args.res:
                    for b in (1, 8):
                        batch.append(dict(task="infer", config=paper_cfg(res), res=res, batch=b,
                                          precision=precision, compile=compiled))
            if "nst" in args.only:
                batch.append(dict(task="nst", config="gatys-vgg19", res=args.nst_size, batch=1,
                                  precision=precision, compile=compiled))
        if compiled:
            batch.sort(key=lambda it: (it["res"], TASKS.index(it["task"])))
        items += batch
    return items


def run_item(item: dict, args) -> dict:
    task, compiled = item["task"], item["compile"]
    if task == "train":
        r = bench_train(item["config"], item["res"], item["precision"], compiled, args)
    elif task == "infer":
        r = bench_infer(item["res"], item["batch"], item["precision"], compiled, args)
    else:
        r = bench_nst(item["res"], item["precision"], compiled, args)
    return item | r | dict(status="ok")


def cleanup() -> None:
    gc.collect()
    torch._dynamo.reset()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def environment(device: torch.device, smoke: bool) -> dict:
    env = dict(torch=torch.__version__, python=platform.python_version(), device=str(device),
               date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), threads=torch.get_num_threads(),
               cpu=platform.processor() or platform.machine(), smoke=smoke)
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        env |= dict(device_name=p.name, capability=f"{p.major}.{p.minor}",
                    memory_GiB=round(p.total_memory / 2 ** 30, 1),
                    cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                    tf32_matmul=torch.backends.cuda.matmul.allow_tf32, tf32_cudnn=torch.backends.cudnn.allow_tf32,
                    cudnn_benchmark=torch.backends.cudnn.benchmark, bf16_supported=torch.cuda.is_bf16_supported())
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20)
            env["driver"] = out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
        except (OSError, subprocess.SubprocessError):
            env["driver"] = None
    else:
        env["device_name"] = f"CPU {env['cpu']}"
    return env


def finite(value):
    """``value`` with every inf / nan float (nested too) as None: JSON has neither."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "device"


# -- output -------------------------------------------------------------------------------------------
def _num(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.3g}"


def _result_cell(r: dict) -> str:
    if r["task"] == "train":
        return f"**{_num(r['s_per_kimg'])} s/kimg** ({_num(r['images_per_s'])} img/s)"
    if r["task"] == "infer":
        return f"**{_num(r['images_per_s'])} img/s** ({_num(1000 * r['seconds_per_batch'])} ms/batch)"
    return (f"**{_num(r['seconds_per_lbfgs_eval'])} s/L-BFGS eval** ({_num(r['seconds_per_eval'])} s per loss "
            f"evaluation)")


def markdown(result: dict) -> str:
    env, rows = result["env"], result["rows"]
    smoke = " (SMOKE: tiny sizes, checks the script, not a measurement)" if env["smoke"] else ""
    head = [f"# GPU benchmark: {env['device_name']}{smoke}",
            "",
            f"Made by `python benchmarks/bench_gpu.py {' '.join(result['argv'])}`".rstrip() + f" on {env['date']}: "
            f"torch {env['torch']}"
            + (f", CUDA {env['cuda']}, cuDNN {env['cudnn']}, driver {env.get('driver')}, {env['memory_GiB']} GiB, "
               f"TF32 matmul {env['tf32_matmul']} / cuDNN {env['tf32_cudnn']}, cudnn.benchmark "
               f"{env['cudnn_benchmark']}" if 'cuda' in env else f", {env['threads']} threads")
            + f". Median of {result['settings']['iters']} timed calls after {result['settings']['warmup']} warm-up "
              "calls; compile s = first calls minus steady state"
            + ("" if not result["settings"]["compile"] else
               f"; compiled rows: `torch.compile(module, backend='{result['settings']['compile_backend']}')`")
            + ".", "",
            *([f"**Partial: {len(rows)} of {result['planned']} rows** (the run was cut short).", ""]
              if len(rows) < result["planned"] else []),
            "| task | workload | precision | mode | result | NVIDIA V100 (published) | ours vs NVIDIA | "
            "compile s | note |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["task"] == "train":
            what = f"{r['config']} @ {r['res']} px, batch {r.get('batch', '?')}"
        elif r["task"] == "infer":
            what = f"G {r['config']} @ {r['res']} px, batch {r['batch']}"
        else:
            what = f"Gatys VGG-19 @ {r['res']} px"
        mode = "compile" if r["compile"] else "eager"
        nv = r.get("nvidia_v100_s_per_kimg") if r["task"] == "train" else None
        if r["status"] != "ok":
            head.append(f"| {r['task']} | {what} | {r['precision']} | {mode} | {r['status']} | "
                        f"{f'{nv:g} s/kimg' if nv else ''} | | | {r['note']} |")
            continue
        comp = _num(r["compile_s"]) if r.get("compile_s") is not None else ""
        like_for_like = nv and r["config"] == "auto" and r.get("s_per_kimg")
        ratio = f"x{nv / r['s_per_kimg']:.2f}" if like_for_like else ""
        head.append(f"| {r['task']} | {what} | {r['precision']} | {mode} | {_result_cell(r)} | "
                    f"{f'{nv:g} s/kimg' if nv else ''} | {ratio} | {comp} | {r['note']} |")
    head += ["", f"NVIDIA's figures: {NVIDIA_CITATION}. The `auto` rows are the like-for-like ones (NVIDIA's "
             "defaults: fp16 in the 4 highest resolutions, as `fp16` here; its V100 is older than most GPUs this "
             "runs on). `paper256` / `paper1024` (the `stylegan2` preset's network) run the batch one of NVIDIA's "
             "8 GPUs processes (preset batch / 8), so their NVIDIA figure is context, not a comparison. "
             "'ours vs NVIDIA' (auto rows only) > 1: faster than NVIDIA's V100 figure.",
             "", "A train minibatch = G main + path length / 4 + D main + R1 / 16 (lazy regularisation), each with "
             "its Adam step, + the G_ema update; ADA p = 0.2, style mixing 0.9. Infer = G_ema(z), no grad, const "
             "noise. NST = the default Gatys loss (content relu4_2, style relu1_1..relu5_1, TV) on random VGG-19 "
             f"weights; 'L-BFGS eval' = the library's strong-Wolfe L-BFGS loop ({result['settings']['lbfgs_evals']} "
             "evaluations) divided by its evaluations.", ""]
    return "\n".join(head)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="CPU, tiny sizes, 1 iteration: checks the script in a minute")
    ap.add_argument("--only", default=",".join(TASKS), help="comma list of train, infer, nst")
    ap.add_argument("--res", default=None, help="training / inference resolutions (default 256,1024; smoke 32)")
    ap.add_argument("--nst-size", type=int, default=None, help="style-transfer size (default 1024; smoke 64)")
    ap.add_argument("--precisions", default=None,
                    help="comma list of fp32, bf16, fp16 (default all; smoke fp32,fp16: fp16 shows a CPU's skip row)")
    ap.add_argument("--iters", type=int, default=None, help="timed calls per row (default 10; smoke 1)")
    ap.add_argument("--warmup", type=int, default=None, help="warm-up calls per row (default 3; smoke 1)")
    ap.add_argument("--lbfgs-evals", type=int, default=None, help="L-BFGS evaluations timed (default 20; smoke 3)")
    ap.add_argument("--no-compile", action="store_true", help="eager rows only")
    ap.add_argument("--compile-backend", default=None,
                    help="torch.compile backend (default inductor; smoke: aot_eager, which traces the same graphs "
                         "without minutes of C++ compilation on a CPU)")
    ap.add_argument("--max-minutes", type=float, default=6.0,
                    help="rows that would start later are skipped with a note (default 6: the last row, maybe a "
                         "long compile, still ends within a 10-minute slot; results are saved after every row)")
    ap.add_argument("--device", default=None, help="default cuda (smoke: cpu)")
    ap.add_argument("--cudnn-benchmark", action="store_true",
                    help="torch.backends.cudnn.benchmark = True (NVIDIA's loop sets it; the project's trainer "
                         "does not)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = the trainer's auto policy)")
    ap.add_argument("--out", default=None, help="output folder (default docs/benchmarks; smoke: a temporary folder)")
    args = ap.parse_args(argv)
    args.only = [t.strip() for t in args.only.split(",") if t.strip()]
    args.precisions = [p.strip() for p in (args.precisions or ("fp32,fp16" if args.smoke else ",".join(PRECISIONS)))
                       .split(",") if p.strip()]
    for bad in set(args.only) - set(TASKS):
        ap.error(f"--only: unknown task {bad!r}; choose from {', '.join(TASKS)}")
    for bad in set(args.precisions) - set(PRECISIONS):
        ap.error(f"--precisions: unknown precision {bad!r}; choose from {', '.join(PRECISIONS)}")
    args.res = [int(v) for v in (args.res or ("32" if args.smoke else "256,1024")).split(",") if v]
    args.nst_size = args.nst_size or (64 if args.smoke else 1024)
    args.iters = args.iters or (1 if args.smoke else 10)
    args.warmup = args.warmup or (1 if args.smoke else 3)
    args.lbfgs_evals = args.lbfgs_evals or (3 if args.smoke else 20)
    args.device = args.device or ("cpu" if args.smoke else "cuda")
    args.compile_backend = args.compile_backend or ("aot_eager" if args.smoke else "inductor")
    warnings.simplefilter("ignore")
    os.environ.setdefault("NEURALBRUSH_QUIET", "1")
    set_threads(args.threads)
    try:
        device = resolve_runtime(args.device, "fp32").device
    except Exception as e:  # noqa: BLE001
        print(f"error: {e} (bench_gpu.py measures a CUDA GPU; --smoke checks it on the CPU)", file=sys.stderr)
        return 2
    torch.backends.cudnn.benchmark = bool(args.cudnn_benchmark)
    env = environment(device, args.smoke)
    name = "gpu-" + slug(env["device_name"]) + ("-smoke" if args.smoke else "")
    out = Path(args.out) if args.out else (Path(tempfile.gettempdir()) / "neuralbrush-bench-gpu" if args.smoke
                                           else ROOT / "docs" / "benchmarks")
    print(f"{env['device_name']}: torch {env['torch']}" + (f", CUDA {env['cuda']}, driver {env.get('driver')}"
                                                            if "cuda" in env else ""), flush=True)
    items, rows = plan(args), []
    t_start = time.perf_counter()
    argv_used = sys.argv[1:] if argv is None else list(argv)

    def save() -> dict:  # after every row: a run cut short by its time slot still leaves its table
        result = dict(smoke=args.smoke, env=env, argv=argv_used,
                      settings=dict(iters=args.iters, warmup=args.warmup, lbfgs_evals=args.lbfgs_evals,
                                    res=args.res, nst_size=args.nst_size, precisions=args.precisions,
                                    compile=not args.no_compile, compile_backend=args.compile_backend,
                                    max_minutes=args.max_minutes),
                      nvidia=dict(v100_s_per_kimg=NVIDIA_V100_S_PER_KIMG, source=NVIDIA_CITATION),
                      rows=[finite(r) for r in rows],
                      planned=len(items), wall_s=time.perf_counter() - t_start)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
        (out / f"{name}.md").write_text(markdown(result))
        return result

    for i, item in enumerate(items, 1):
        label = (f"[{i}/{len(items)}] {item['task']} {item['config']}@{item['res']}"
                 f"{' b' + str(item['batch']) if 'batch' in item else ''} {item['precision']} "
                 f"{'compile' if item['compile'] else 'eager'}")
        if time.perf_counter() - t_start > 60 * args.max_minutes:
            rows.append(item | dict(status="skipped", note=f"not run: --max-minutes {args.max_minutes:g} spent"))
            save()
            print(f"{label}: skipped (time budget)", flush=True)
            continue
        try:
            row = run_item(item, args)
        except torch.cuda.OutOfMemoryError:
            row = item | dict(status="skipped", note="out of GPU memory")
        except Exception as e:  # noqa: BLE001 - one line in the table instead of a crash
            row = item | dict(status="skipped", note=one_line(e))
        cleanup()
        rows.append(row)
        save()
        if row["status"] == "ok":
            print(f"{label}: {_result_cell(row).replace('**', '')}"
                  + (f", compile {row['compile_s']:.1f} s" if row.get("compile_s") is not None else "")
                  + (f" [{row['note']}]" if row["note"] else ""), flush=True)
        else:
            print(f"{label}: skipped: {row['note']}", flush=True)
    text = markdown(save())
    print()
    print(text)
    print(f"wrote {out / name}.json and .md")
    return 0


# The headline `python -m benchmarks` prints from this script's results (one row per RESULTS file).
# headline() runs without this script's imports: it may use its argument and builtins only.
RESULTS = "gpu-*.json"


def headline(result: dict) -> tuple[float | None, str]:
    """NVIDIA's published V100 s/kimg at 256 px over ours (fastest precision / mode of the `auto` rows)."""
    device = result["env"]["device_name"]
    if result.get("smoke"):
        return None, f"GPU benchmark smoke run on {device}: checks the script, measures nothing"
    ok = [r for r in result["rows"] if r["task"] == "train" and r["status"] == "ok" and r["res"] == 256
          and r.get("nvidia_v100_s_per_kimg")]
    like = [r for r in ok if r["config"] == "auto"] or ok
    if not like:
        return None, f"GPU benchmark on {device}: no 256 px training row measured"
    best = min(like, key=lambda r: r["s_per_kimg"])
    mode = "torch.compile" if best["compile"] else "eager"
    return (best["nvidia_v100_s_per_kimg"] / best["s_per_kimg"],
            f"StyleGAN2-ADA training {best['config']}@256 on {device} ({best['precision']}, {mode}): "
            f"{best['s_per_kimg']:.1f} s/kimg vs NVIDIA's published {best['nvidia_v100_s_per_kimg']:g} s/kimg "
            f"on one V100")


if __name__ == "__main__":
    sys.exit(main())
