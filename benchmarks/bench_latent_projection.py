"""Projection quality: does projecting an image the model itself generated (from a known w)
recover it? PSNR of the reconstruction for w and w+ projection with the pixel loss, next to
the PSNR of the starting point (the image of w_avg), per seed and on average.

    .venv/bin/python benchmarks/bench_latent_projection.py [--model MODEL] [--steps 1000] [--seeds 0-2]

Without --model a random-weight generator of the CPU ``small`` preset at 64 px is used (w_avg
set to the mean mapped w and noise strengths 0.05, as in a trained model). Writes
docs/benchmarks/latent-projection[-NAME].md and .json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # a shared, loaded machine: do not spin-wait

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from neuralbrush.core.device import resolve_runtime  # noqa: E402
from neuralbrush.core.seeds import parse_int_list  # noqa: E402
from neuralbrush.gan.networks import Generator  # noqa: E402
from neuralbrush.latent.latents import latents_from_seeds, w_stats  # noqa: E402
from neuralbrush.latent.options import ProjectOptions  # noqa: E402
from neuralbrush.latent.project import project, psnr  # noqa: E402
from neuralbrush.latent.render import Renderer, load_model  # noqa: E402


def random_small64() -> Generator:
    torch.manual_seed(0)
    G = Generator(z_dim=256, w_dim=256, img_resolution=64, mapping_kwargs=dict(num_layers=2),
                  synthesis_kwargs=dict(channel_base=1024, channel_max=128, num_fp16_res=4, conv_clamp=256))
    G = G.eval().requires_grad_(False)
    with torch.no_grad():
        G.mapping.w_avg.copy_(G.mapping(torch.randn(5000, G.z_dim), None)[:, 0].mean(0))
        for n, p in G.named_parameters():
            if n.endswith("noise_strength"):
                p.fill_(0.05)
    return G


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="run dir / snapshot / .pkl (default: random small@64)")
    ap.add_argument("--name", default=None, help="suffix of the result files (default: from the model)")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--seeds", default="0-2")
    ap.add_argument("--trunc", type=float, default=0.7, help="truncation of the target latents")
    ap.add_argument("--no-noise", action="store_true",
                    help="zero the model's noise strengths first (shows what the noise inputs cost)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "benchmarks")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rt = resolve_runtime("cpu", "fp32")
    G = load_model(args.model, rt) if args.model else random_small64()
    label = args.model or "random-weight small preset, 64 px"
    name = args.name or ("random-small64" if not args.model else Path(args.model).name.replace(".", "-"))
    if args.no_noise:
        with torch.no_grad():
            for n, p in G.named_parameters():
                if n.endswith("noise_strength"):
                    p.zero_()
        label += ", noise strengths set to 0"
    r = Renderer(G, rt)
    stats = w_stats(G)
    start_img = r.frames(stats.w_avg.view(1, 1, -1).repeat(1, G.num_ws, 1), "w")[0]
    rows = []
    for seed in parse_int_list(args.seeds):
        lat = latents_from_seeds(G, [seed], psi=args.trunc)
        target = r.frames(lat.w, "w")[0]
        row = {"seed": seed, "start_psnr": psnr(start_img, target)}
        for space in ("w", "w+"):
            t = time.perf_counter()
            res = project(G, target, ProjectOptions(steps=args.steps, loss="mse", space=space), rt)
            row[f"{space}_psnr"] = res.psnr
            row[f"{space}_s"] = time.perf_counter() - t
            if space == "w":
                ref = lat.w[0, 0]
                row["w_rel_error"] = float((res.latent[0, 0] - ref).norm() / (ref - stats.w_avg).norm())
        rows.append(row)
        print(row, flush=True)
    mean = {k: statistics.mean(r[k] for r in rows) for k in ("start_psnr", "w_psnr", "w+_psnr", "w_s", "w+_s")}
    head = (f"Model: {label} ({G.img_resolution} px, num_ws {G.num_ws}, w_dim {G.w_dim}). Targets: images of "
            f"seeds {args.seeds} at truncation {args.trunc} (const noise). Projection: NVIDIA schedule, "
            f"{args.steps} steps, pixel (MSE) loss, fp32, torch {torch.__version__}, {torch.get_num_threads()} "
            "thread(s). 'start' = the image of w_avg where projection begins; the relative w distance is "
            "norm(w_projected - w_true) / norm(w_true - w_avg).")
    lines = [f"# Projection recovers generated images ({name})", "", head, "",
             "| seed | start PSNR dB | w PSNR dB | w+ PSNR dB | w distance to the true w (relative) | w s | w+ s |",
             "|---|---|---|---|---|---|---|"]
    for r_ in rows:
        lines.append(f"| {r_['seed']} | {r_['start_psnr']:.2f} | {r_['w_psnr']:.2f} | {r_['w+_psnr']:.2f} | "
                     f"{r_['w_rel_error']:.3f} | {r_['w_s']:.0f} | {r_['w+_s']:.0f} |")
    lines.append(f"| mean | {mean['start_psnr']:.2f} | {mean['w_psnr']:.2f} | {mean['w+_psnr']:.2f} | | "
                 f"{mean['w_s']:.0f} | {mean['w+_s']:.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"latent-projection-{name}.md").write_text(text, encoding="utf-8")
    (args.out / f"latent-projection-{name}.json").write_text(
        json.dumps({"header": head, "rows": rows, "mean": mean}, indent=2) + "\n", encoding="utf-8")


# The headline `python -m benchmarks` prints from this script's results (one row per RESULTS file).
# headline() runs without this script's imports: it may use its argument and builtins only.
RESULTS = "latent-projection-*.json"


def headline(result: dict) -> tuple[float | None, str]:
    """Mean PSNR of w+ and w projection against the starting point (a figure, not a ratio)."""
    m = result["mean"]
    return (None, f"projection of the model's own images ({len(result['rows'])} seeds): w+ {m['w+_psnr']:.1f} dB, "
                  f"w {m['w_psnr']:.1f} dB, from {m['start_psnr']:.1f} dB at w_avg")


if __name__ == "__main__":
    main()
