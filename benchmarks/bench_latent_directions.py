"""How long directions take on this machine: SeFa (closed form) and GANSpace PCA (100,000 mapped
w) for generators of the 64 px ``small`` preset, paper256 widths at 256 px and paper1024 widths
at 1024 px. Random weights: the time does not depend on training. The mapping network runs in
fp32 (the precision policy keeps it there; bf16 would only touch the synthesis network, which
directions never run), in batches of ``--batch`` z.

    .venv/bin/python benchmarks/bench_latent_directions.py [--samples 100000] [--reps 3] [--threads 1]

Writes docs/benchmarks/latent-directions.json and .md.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # a shared, loaded machine: do not spin-wait

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from neuralbrush.gan.networks import Generator  # noqa: E402
from neuralbrush.latent.directions import model_identity, pca_directions, sefa_directions, w_moments  # noqa: E402

CONFIGS = {
    "small@64": dict(z_dim=256, w_dim=256, img_resolution=64, mapping_kwargs=dict(num_layers=2),
                     synthesis_kwargs=dict(channel_base=1024, channel_max=128)),
    "paper256@256": dict(z_dim=512, w_dim=512, img_resolution=256, mapping_kwargs=dict(num_layers=8),
                         synthesis_kwargs=dict(channel_base=16384, channel_max=512)),
    "paper1024@1024": dict(z_dim=512, w_dim=512, img_resolution=1024, mapping_kwargs=dict(num_layers=8),
                           synthesis_kwargs=dict(channel_base=32768, channel_max=512)),
}
OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def bench(samples: int, std_samples: int, reps: int, batch: int) -> list[dict]:
    rows = []
    for name, kw in CONFIGS.items():
        torch.manual_seed(0)
        G = Generator(**kw).eval().requires_grad_(False)
        params = sum(p.numel() for p in G.parameters())
        layers = tuple(range(G.num_ws))
        t_id, t_sefa, t_spread, t_pca = [], [], [], []
        for _ in range(reps):
            t_id.append(timed(lambda: model_identity(G))[0])
            t_sefa.append(timed(lambda: sefa_directions(G, layers))[0])
            t_spread.append(timed(lambda: w_moments(G, std_samples, batch=batch))[0])
            dt, (rows_, vals, _, _) = timed(lambda: pca_directions(G, samples=samples, batch=batch))
            t_pca.append(dt)
        C = rows_.double()
        ortho = float((C @ C.T - torch.eye(len(C), dtype=torch.float64)).abs().max())
        sorted_ok = bool(torch.all(vals[1:] <= vals[:-1]))
        row = {"config": name, "resolution": kw["img_resolution"], "w_dim": G.w_dim, "num_ws": G.num_ws,
               "mapping_layers": kw["mapping_kwargs"]["num_layers"], "params_M": params / 1e6,
               "identity_s": statistics.median(t_id), "sefa_closed_form_s": statistics.median(t_sefa),
               "sefa_spreads_s": statistics.median(t_spread),
               "sefa_total_s": statistics.median(t_sefa) + statistics.median(t_spread),
               "pca_s": statistics.median(t_pca), "pca_runs_s": t_pca, "pca_samples": samples,
               "sefa_std_samples": std_samples, "pca_max_orthonormality_error": ortho, "pca_sorted": sorted_ok}
        print(f"{name}: identity {row['identity_s']:.2f} s, SeFa {row['sefa_closed_form_s']:.3f} s "
              f"(+ spreads {row['sefa_spreads_s']:.2f} s), PCA {samples} {row['pca_s']:.1f} s "
              f"(orthonormal to {ortho:.1e})", flush=True)
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=100_000)
    ap.add_argument("--std-samples", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = bench(args.samples, args.std_samples, args.reps, args.batch)
    meta = {"threads": args.threads, "batch": args.batch, "reps": args.reps, "torch": torch.__version__,
            "load_average": list(os.getloadavg()), "cpu_count": os.cpu_count(), "mapping_precision": "fp32"}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latent-directions.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = ["# Directions: SeFa and GANSpace PCA time", "",
             f"`benchmarks/bench_latent_directions.py`, {args.threads} thread(s), medians of {args.reps} runs, "
             f"load average at the end {', '.join(f'{x:.1f}' for x in meta['load_average'])}, mapping network fp32, "
             f"batches of {args.batch} z. Random weights.", "",
             "| generator | w | mapping layers | parameters | identity hash | SeFa closed form | "
             f"SeFa + spreads ({args.std_samples} w) | PCA ({args.samples} w) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['config']} | {r['w_dim']} x {r['num_ws']} | {r['mapping_layers']} | {r['params_M']:.1f} M | "
                     f"{r['identity_s']:.2f} s | {r['sefa_closed_form_s']:.3f} s | {r['sefa_total_s']:.2f} s | "
                     f"{r['pca_s']:.1f} s |")
    lines.append("")
    (args.out / "latent-directions.md").write_text("\n".join(lines))
    print("\n".join(lines))


# The headline `python -m benchmarks` prints from this script's results (one row per RESULTS file).
# headline() runs without this script's imports: it may use its argument and builtins only.
RESULTS = "latent-directions.json"


def headline(result: dict) -> tuple[float | None, str]:
    """Time of SeFa and of GANSpace PCA at the largest generator (a figure, not a ratio)."""
    r = result["rows"][-1]
    return (None, f"directions for {r['config']}: SeFa {r['sefa_total_s']:.2f} s, "
                  f"PCA of {r['pca_samples']:,} w {r['pca_s']:.1f} s ({result['meta']['threads']} thread)")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
