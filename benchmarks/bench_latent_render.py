"""Latent art speed on this machine: walk rendering (frames/s, MP4 encoding included) and
projection (seconds per optimisation step), fp32 vs bf16 autocast + channels_last, at 64 px
(the CPU ``small`` preset) and 256 px (paper256 widths). Random weights: speed does not
depend on training. Variants are interleaved and repeated; the median is reported.

    .venv/bin/python benchmarks/bench_latent_render.py [--quick] [--threads N]

Writes docs/benchmarks/latent-render.md and .json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # a shared, loaded machine: do not spin-wait

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from neuralbrush.core.device import resolve_runtime  # noqa: E402
from neuralbrush.gan.networks import Generator  # noqa: E402
from neuralbrush.latent.options import ProjectOptions, WalkOptions  # noqa: E402
from neuralbrush.latent.project import project  # noqa: E402
from neuralbrush.latent.render import Renderer  # noqa: E402
from neuralbrush.latent.walk import render_walk  # noqa: E402

CONFIGS = {
    # name: (Generator kwargs, walk frames, walk batch, projection steps)
    "small@64": (dict(z_dim=256, w_dim=256, img_resolution=64, mapping_kwargs=dict(num_layers=2),
                      synthesis_kwargs=dict(channel_base=1024, channel_max=128, num_fp16_res=4, conv_clamp=256)),
                 48, 8, 10),
    "paper256@256": (dict(z_dim=512, w_dim=512, img_resolution=256, mapping_kwargs=dict(num_layers=8),
                          synthesis_kwargs=dict(channel_base=16384, channel_max=512, num_fp16_res=4, conv_clamp=256)),
                     8, 4, 3),
}
PRECISIONS = ("fp32", "bf16")


def make_generator(kwargs: dict) -> Generator:
    torch.manual_seed(0)
    G = Generator(**kwargs).eval().requires_grad_(False)
    with torch.no_grad():
        G.mapping.w_avg.copy_(G.mapping(torch.randn(2000, G.z_dim), None)[:, 0].mean(0))
    return G


def bench(quick: bool) -> list[dict]:
    reps = 1 if quick else 3
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-latent-"))
    for cname, (kwargs, frames, batch, steps) in CONFIGS.items():
        if quick:
            frames, steps = max(4, frames // 4), max(2, steps // 2)
        base = make_generator(kwargs)
        gens = {}
        for prec in PRECISIONS:
            rt = resolve_runtime("cpu", prec)
            G = make_generator(kwargs)
            G.load_state_dict(base.state_dict())
            gens[prec] = (rt.module(G), rt)
        times: dict[tuple[str, str], list[float]] = {}
        # warm-up (oneDNN primitive creation) outside the timings
        for prec, (G, rt) in gens.items():
            Renderer(G, rt, batch=batch).frames(torch.randn(batch, G.num_ws, G.w_dim), "w")
        target = Renderer(gens["fp32"][0], gens["fp32"][1]).frames(
            base.mapping(torch.from_numpy(np.random.RandomState(5).randn(1, base.z_dim)).float(), None), "w")[0]
        for _ in range(reps):
            for prec, (G, rt) in gens.items():
                opts = WalkOptions(seeds="1,2", kind="slerp", space="w", frames=frames // 2, loop=True, batch=batch)
                t = time.perf_counter()
                render_walk(G, tmp / f"walk-{prec}.mp4", opts, rt)
                times.setdefault(("walk", prec), []).append(time.perf_counter() - t)
                popts = ProjectOptions(steps=steps + 1, loss="mse", space="w+", w_avg_samples=2000)
                stamps: list[float] = []
                project(G, target, popts, rt, progress=lambda s: stamps.append(time.perf_counter()))
                # per-step time from the step callbacks, excluding the first (set-up) step
                times.setdefault(("project", prec), []).append((stamps[-1] - stamps[0]) / steps)
        for prec in PRECISIONS:
            walk_s = statistics.median(times[("walk", prec)])
            proj_s = statistics.median(times[("project", prec)])
            rows.append({"config": cname, "resolution": kwargs["img_resolution"], "precision": prec,
                         "walk_frames": frames, "walk_batch": batch, "walk_s": walk_s, "frames_per_s": frames / walk_s,
                         "project_s_per_step": proj_s})
        f32 = [r for r in rows if r["config"] == cname and r["precision"] == "fp32"][0]
        for r in rows:
            if r["config"] == cname:
                r["walk_speedup"] = r["frames_per_s"] / f32["frames_per_s"]
                r["project_speedup"] = f32["project_s_per_step"] / r["project_s_per_step"]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer frames and steps, one repetition")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "benchmarks")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    rows = bench(args.quick)
    head = (f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), OMP_WAIT_POLICY="
            f"{os.environ.get('OMP_WAIT_POLICY')}, load average at start {load:.1f} on {os.cpu_count()} cores. "
            "The machine is shared and noisy: compare the fp32/bf16 ratio within a config.")
    lines = ["# Latent rendering and projection speed (this CPU)", "", head, "",
             "walk = `render_walk` slerp loop in w to MP4 (synthesis + uint8 + H.264 encode); "
             "projection = one NVIDIA-schedule step in w+ with the pixel loss (forward, backward, Adam, noise "
             "renormalisation), measured between step callbacks.", "",
             "| config | precision | walk frames/s | speed-up | projection s/step | speed-up |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['config']} | {r['precision']} | {r['frames_per_s']:.2f} | {r['walk_speedup']:.2f}x | "
                     f"{r['project_s_per_step']:.3f} | {r['project_speedup']:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latent-render.md").write_text(text, encoding="utf-8")
    (args.out / "latent-render.json").write_text(json.dumps({"header": head, "rows": rows}, indent=2) + "\n",
                                                 encoding="utf-8")


# The headline `python -m benchmarks` prints from this script's results (one row per RESULTS file).
# headline() runs without this script's imports: it may use its argument and builtins only.
RESULTS = "latent-render.json"


def headline(result: dict) -> tuple[float | None, str]:
    """Walk rendering speed of the largest config: bf16 over fp32 (frames/s)."""
    config = result["rows"][-1]["config"]
    rows = {r["precision"]: r for r in result["rows"] if r["config"] == config}
    fp32, bf16 = rows["fp32"], rows["bf16"]
    return (bf16["frames_per_s"] / fp32["frames_per_s"],
            f"walk rendering {config}: bf16 vs fp32 frames/s (MP4 included); projection step "
            f"x{fp32['project_s_per_step'] / bf16['project_s_per_step']:.2f}")


if __name__ == "__main__":
    main()
