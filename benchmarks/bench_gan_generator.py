"""StyleGAN2 generator speed on this machine: fused (grouped) vs split modulated convolution,
fp32 vs bf16 autocast + channels_last, for inference (images/s) and a training-style
forward+backward step. Variants are interleaved and repeated; the median is reported.

    .venv/bin/python benchmarks/bench_gan_generator.py [--quick]

Writes docs/benchmarks/gan_generator.md and .json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # a shared, loaded machine: do not spin-wait

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from neuralbrush.gan.networks import Generator  # noqa: E402

CONFIGS = {
    # name: (resolution, synthesis kwargs, mapping layers, batch)
    "small@64": (64, dict(channel_base=4096, channel_max=128), 2, 16),
    "paper256@256": (256, dict(channel_base=16384, channel_max=512), 8, 4),
}
VARIANTS = [("fp32", "fused"), ("fp32", "split"), ("bf16+CL", "fused"), ("bf16+CL", "split")]


def gflops_per_image(G: Generator) -> float:
    """Multiply-adds of the convolutions (x2 = FLOPs) for one image, from the layer shapes."""
    macs = 0
    for name, m in G.synthesis.named_modules():
        w = getattr(m, "weight", None)
        if w is None or w.ndim != 4 or not hasattr(m, "affine"):
            continue
        res = m.resolution if hasattr(m, "resolution") else int(name.split(".")[0][1:])
        macs += w.numel() * res * res
    return 2 * macs / 1e9


def run(quick: bool) -> list[dict]:
    rows = []
    reps = 3 if quick else 5
    for cname, (res, syn, nmap, batch) in CONFIGS.items():
        torch.manual_seed(0)
        G32 = Generator(img_resolution=res, mapping_kwargs=dict(num_layers=nmap), synthesis_kwargs=syn).eval()
        Gcl = Generator(**G32.init_kwargs).eval()
        Gcl.load_state_dict(G32.state_dict())
        Gcl = Gcl.to(memory_format=torch.channels_last)
        z = torch.randn(batch, G32.z_dim)
        times: dict[tuple, list[float]] = {}
        for mode in ("infer", "train"):
            for _ in range(reps + 1):  # first round is warm-up
                for prec, kind in VARIANTS:
                    G = Gcl if prec.startswith("bf16") else G32
                    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if prec.startswith("bf16") else contextlib.nullcontext()
                    fused = kind == "fused"
                    t0 = time.perf_counter()
                    if mode == "infer":
                        with torch.no_grad(), ctx:
                            G(z, None, noise_mode="const", fused_modconv=fused)
                    else:
                        G.train()
                        with ctx:
                            img = G(z, None, fused_modconv=fused)
                        img.square().mean().backward()
                        G.zero_grad(set_to_none=True)
                        G.eval()
                    times.setdefault((mode, prec, kind), []).append(time.perf_counter() - t0)
        flops = gflops_per_image(G32)
        for (mode, prec, kind), ts in times.items():
            med = statistics.median(ts[1:])
            rows.append(dict(config=cname, mode=mode, precision=prec, modconv=kind, batch=batch,
                             seconds=round(med, 4), images_per_s=round(batch / med, 2),
                             gflop_per_image_fwd=round(flops, 2)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--out", default="docs/benchmarks/gan_generator", help="output path without extension")
    args = ap.parse_args()
    rows = run(args.quick)
    base = {(r["config"], r["mode"]): r["seconds"] for r in rows if r["precision"] == "fp32" and r["modconv"] == "fused"}
    lines = ["# StyleGAN2 generator speed (this CPU)", "",
             f"torch {torch.__version__}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY="
             f"{os.environ.get('OMP_WAIT_POLICY')}. The machine is shared and noisy: compare ratios within a row group.",
             "'infer' = no-grad forward with const noise; 'train' = forward + backward (no regularisers).", "",
             "| config | mode | precision | modconv | batch | s/batch | images/s | speed-up vs fp32 fused | GFLOP/img (fwd) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        sp = base[(r["config"], r["mode"])] / r["seconds"]
        lines.append(f"| {r['config']} | {r['mode']} | {r['precision']} | {r['modconv']} | {r['batch']} | "
                     f"{r['seconds']:.3f} | {r['images_per_s']:.1f} | {sp:.2f}x | {r['gflop_per_image_fwd']} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")


# The headline `python -m benchmarks` prints from this script's results (one row per RESULTS file).
# headline() runs without this script's imports: it may use its argument and builtins only.
RESULTS = "gan_generator.json"


def headline(result: list) -> tuple[float | None, str]:
    """Inference speed of the largest config: the fastest bf16 variant over fp32 fused."""
    config = result[-1]["config"]
    infer = [r for r in result if r["config"] == config and r["mode"] == "infer"]
    base = next(r for r in infer if r["precision"] == "fp32" and r["modconv"] == "fused")
    best = max((r for r in infer if r["precision"] != "fp32"), key=lambda r: r["images_per_s"])
    return (best["images_per_s"] / base["images_per_s"],
            f"StyleGAN2 G inference {config}: {best['precision']} {best['modconv']} modconv vs fp32 fused, "
            f"{best['images_per_s']:.1f} vs {base['images_per_s']:.1f} images/s")


if __name__ == "__main__":
    main()
