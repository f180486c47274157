"""Do the directions mean something? Factor analysis on a StyleGAN2 trained on species blooms.

Species blooms (``neuralbrush.datasets.samples.bloom(..., species=True)``) are generated from
known factors: the petal count k (4..12) fixes the flower's hue family, one layer of petals
grows on a dark ground and two or three layers on a light one, the background hue sits a fixed
step away from the petals', and the flower's radius is random. This script

1. checks the image measurements on real species blooms, where the factors are known;
2. computes the top ``--components`` GANSpace (PCA) and SeFa directions of the model;
3. renders ``--seeds`` seeds along each direction at ``--amounts`` standard deviations, measures
   the factors in every image, and reports per direction and factor the Spearman correlation
   between the amount and the factor: the mean over seeds of each seed's rho (how reliably the
   direction moves the factor in one image), plus the pooled rho with each seed's own value
   at amount 0 subtracted, and the size of the change (median change per standard deviation);
4. does the same for ``--components`` random orthonormal directions (amounts in the standard
   deviation of w along each, like SeFa's): the baseline that says how much of a correlation
   any direction in w would show.

Measurements (64 px images, values in [0, 1]): the background is the median colour of the
outer 3-pixel ring; the flower mask is every pixel farther than 0.25 (RGB distance) from it.
``flower_hue`` is the saturation-weighted circular mean hue of the mask (as a signed shift from
the seed's hue at amount 0 for the correlations), ``flower_area`` the mask's share of the image,
``bg_value`` the HSV value of the background, ``bg_hue`` its hue (signed shift, like
flower_hue), ``petal_count`` the strongest angular frequency (3..13) of the mask's radius
around its centroid, ``flower_value`` / ``flower_sat`` the mean HSV value / saturation of the
mask.

    .venv/bin/python benchmarks/bench_latent_factors.py RUN_OR_SNAPSHOT [--seeds 50] [--components 10]

Writes docs/benchmarks/latent-factors.json and .md.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402
from skimage.color import rgb2hsv  # noqa: E402

from neuralbrush.core.device import resolve_runtime  # noqa: E402
from neuralbrush.datasets.samples import SPECIES_HUES, bloom, bloom_species  # noqa: E402
from neuralbrush.latent.directions import Directions, compute_directions, w_moments  # noqa: E402
from neuralbrush.latent.latents import latents_from_seeds  # noqa: E402
from neuralbrush.latent.render import Renderer, load_model  # noqa: E402
from neuralbrush.latent.steer_options import DirectionsOptions  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"
FACTORS = ("flower_hue", "flower_area", "bg_value", "bg_hue", "petal_count", "flower_value", "flower_sat")
CIRCULAR = ("flower_hue", "bg_hue")
RING = 3
MASK_DISTANCE = 0.25


def _circ_mean(h: np.ndarray, weight: np.ndarray) -> float:
    a = 2 * np.pi * h
    return float(np.arctan2((np.sin(a) * weight).sum(), (np.cos(a) * weight).sum()) / (2 * np.pi) % 1.0)


def _petal_count(mask: np.ndarray) -> float:
    ys, xs = np.nonzero(mask)
    if len(ys) < 20:
        return float("nan")
    cy, cx = ys.mean(), xs.mean()
    n = mask.shape[0]
    theta = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    radii = np.arange(0.5, n / 2, 0.5)
    yy = np.clip(np.round(cy + np.sin(theta)[:, None] * radii[None]).astype(int), 0, n - 1)
    xx = np.clip(np.round(cx + np.cos(theta)[:, None] * radii[None]).astype(int), 0, n - 1)
    profile = mask[yy, xx].sum(1).astype(np.float64) * 0.5  # radius of the mask along each ray
    spectrum = np.abs(np.fft.rfft(profile - profile.mean()))
    return float(3 + np.argmax(spectrum[3:14]))


def measure(images: np.ndarray) -> dict[str, np.ndarray]:
    """Factor values of uint8 images [N, H, W, 3]."""
    out = {k: np.zeros(len(images)) for k in FACTORS}
    for i, im in enumerate(images):
        x = im.astype(np.float64) / 255
        ring = np.concatenate([x[:RING].reshape(-1, 3), x[-RING:].reshape(-1, 3),
                               x[RING:-RING, :RING].reshape(-1, 3), x[RING:-RING, -RING:].reshape(-1, 3)])
        bg = np.median(ring, axis=0)
        mask = np.linalg.norm(x - bg, axis=-1) > MASK_DISTANCE
        hsv = rgb2hsv(x)
        bg_hsv = rgb2hsv(bg[None, None])[0, 0]
        out["bg_value"][i], out["bg_hue"][i] = bg_hsv[2], bg_hsv[0]
        out["flower_area"][i] = mask.mean()
        if mask.sum() >= 5:
            h, s, v = hsv[..., 0][mask], hsv[..., 1][mask], hsv[..., 2][mask]
            out["flower_hue"][i] = _circ_mean(h, s * v + 1e-6)
            out["flower_value"][i], out["flower_sat"][i] = v.mean(), s.mean()
        else:
            for k in ("flower_hue", "flower_value", "flower_sat"):
                out[k][i] = np.nan
        out["petal_count"][i] = _petal_count(mask)
    return out


def _circ_diff(a: np.ndarray, b: float | np.ndarray) -> np.ndarray:
    return (a - b + 0.5) % 1.0 - 0.5


def validate_measurements(count: int = 300, size: int = 64) -> dict:
    """The measurements on real species blooms, whose factors are known."""
    seeds = list(range(10_000, 10_000 + count))
    ims = np.stack([np.asarray(bloom(size, s, species=True)) for s in seeds])
    m = measure(ims)
    k = np.array([bloom_species(s)[0] for s in seeds])
    layers = np.array([bloom_species(s)[1] for s in seeds])
    hue_true = np.array([SPECIES_HUES[int(v)] for v in k])
    hue_err = np.abs(_circ_diff(m["flower_hue"], hue_true))
    one = m["bg_value"][layers == 1]
    many = m["bg_value"][layers > 1]
    auc = float((one[:, None] < many[None, :]).mean())
    return {"images": count, "flower_hue_median_abs_error": float(np.nanmedian(hue_err)),
            "flower_hue_within_0.05": float(np.nanmean(hue_err < 0.05)),
            "petal_count_exact": float(np.mean(m["petal_count"] == k)),
            "petal_count_within_1": float(np.mean(np.abs(m["petal_count"] - k) <= 1)),
            "petal_count_spearman": float(spearmanr(m["petal_count"], k).statistic),
            "bg_value_one_layer_mean": float(one.mean()), "bg_value_more_layers_mean": float(many.mean()),
            "bg_value_auc_layers": auc, "flower_area_mean": float(m["flower_area"].mean())}


def _rho(a: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(y)
    if ok.sum() < 3 or np.ptp(y[ok]) == 0:
        return 0.0  # a factor that does not move has no correlation with the amount
    return float(spearmanr(a[ok], y[ok]).statistic)


def random_directions(G, count: int, *, seed: int = 1, samples: int = 10_000) -> Directions:
    """``count`` random orthonormal directions in w, spreads measured like SeFa's (the baseline)."""
    rng = np.random.RandomState(seed)
    q, _ = np.linalg.qr(rng.standard_normal((G.w_dim, count)))
    rows = torch.from_numpy(q.T.copy())
    _, cov = w_moments(G, samples)
    std = torch.einsum("kd,de,ke->k", rows, cov, rows).clamp_min(0).sqrt()
    ref = compute_directions(G, DirectionsOptions(method="sefa", std_samples=100))  # identity, layers
    return Directions(method="random", components=rows.float().numpy(), values=(std ** 2).numpy(),
                      std=std.numpy(), mean_w=ref.mean_w, total_variance=float(torch.trace(cov)), layers=ref.layers,
                      model=ref.model, samples=samples, seed=seed)


def direction_table(G, dirs, runtime, seeds: list[int], amounts: np.ndarray, psi: float, batch: int) -> list[dict]:
    base = latents_from_seeds(G, seeds, psi=psi).w.double()  # [S, num_ws, w_dim]
    r = Renderer(G, runtime, batch=batch)
    zero = int(np.argmin(np.abs(amounts)))
    rows = []
    for k in range(len(dirs.components)):
        a = torch.from_numpy(amounts).view(1, -1, 1, 1)
        ws = (base[:, None] + a * dirs.offset(k)[None, None]).reshape(-1, G.num_ws, G.w_dim).float()
        m = measure(r.frames(ws, "w"))
        row = {"component": k, "value": float(dirs.values[k]), "std": float(dirs.std[k]),
               "explained": float(dirs.explained[k])}
        for f in FACTORS:
            y = m[f].reshape(len(seeds), len(amounts))
            if f in CIRCULAR:
                y = _circ_diff(y, y[:, zero:zero + 1])
            else:
                y = y - y[:, zero:zero + 1]
            per_seed = [_rho(amounts, y[s]) for s in range(len(seeds))]
            pooled = _rho(np.tile(amounts, len(seeds)), y.reshape(-1))
            row[f] = {"rho": float(np.mean(per_seed)), "pooled_rho": pooled,
                      "same_sign": float(np.mean(np.sign(per_seed) == np.sign(np.mean(per_seed)))),
                      "change_per_std": float(np.nanmedian(np.diff(y, axis=1)) / np.diff(amounts).mean())}
        rows.append(row)
        best = max(FACTORS, key=lambda f: abs(row[f]["rho"]))
        print(f"  {dirs.method} {k}: strongest {best} rho {row[best]['rho']:+.2f}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--components", type=int, default=10)
    ap.add_argument("--amounts", default="-3,-2,-1,0,1,2,3")
    ap.add_argument("--psi", type=float, default=0.7)
    ap.add_argument("--samples", type=int, default=100_000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--name", default="latent-factors")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    validation = validate_measurements()
    print("measurements on real species blooms:", json.dumps(validation, indent=1), flush=True)
    runtime = resolve_runtime("cpu", args.precision)
    G = load_model(args.model, runtime)
    amounts = np.array([float(a) for a in args.amounts.split(",")])
    seeds = list(range(args.seeds))
    results = {}
    for method in ("pca", "sefa"):
        dirs = compute_directions(G, DirectionsOptions(method=method, samples=args.samples))
        dirs.components, dirs.values, dirs.std = (dirs.components[:args.components], dirs.values[:args.components],
                                                  dirs.std[:args.components])
        results[method] = direction_table(G, dirs, runtime, seeds, amounts, args.psi, args.batch)
    baseline = {"random": direction_table(G, random_directions(G, args.components), runtime, seeds, amounts,
                                          args.psi, args.batch)}
    meta = {"model": str(args.model), "seeds": args.seeds, "amounts": amounts.tolist(), "psi": args.psi,
            "pca_samples": args.samples, "sefa_std_samples": DirectionsOptions().std_samples,
            "runtime": runtime.describe(), "seconds": time.perf_counter() - t0,
            "mask_distance": MASK_DISTANCE, "ring_px": RING}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps({"meta": meta, "validation": validation,
                                                            "directions": results, "baseline": baseline},
                                                           indent=2) + "\n")
    lines = [f"# Factor analysis of directions ({args.model})", "",
             f"{args.seeds} seeds (psi {args.psi}) x amounts {args.amounts} standard deviations per direction; "
             "Spearman rho between amount and each measured factor, mean of the per-seed rho "
             "(pooled, seed-centred rho in the JSON).", "",
             "Measurements checked on 300 real species blooms: "
             f"flower hue median error {validation['flower_hue_median_abs_error']:.3f} (hue in 0-1), "
             f"petal count exact {validation['petal_count_exact']:.0%} / within 1 {validation['petal_count_within_1']:.0%}, "
             f"background value separates one layer from more with AUC {validation['bg_value_auc_layers']:.2f}.", ""]
    head = ("| method | # | explained / eigenvalue / std | " + " | ".join(FACTORS)
            + " | strongest: change per std |")
    lines += [head, "|" + "---|" * (4 + len(FACTORS))]
    for method, rows in [*results.items(), *baseline.items()]:
        for row in rows:
            v = {"pca": f"{row['explained']:.1%}", "sefa": f"{row['value']:.2f}"}.get(method, f"{row['std']:.2f}")
            cells = []
            for f in FACTORS:
                rho = row[f]["rho"]
                cells.append(f"**{rho:+.2f}**" if abs(rho) >= 0.8 else f"{rho:+.2f}")
            best = max(FACTORS, key=lambda f: abs(row[f]["rho"]))
            lines.append(f"| {method} | {row['component']} | {v} | " + " | ".join(cells)
                         + f" | {best} {row[best]['change_per_std']:+.3f} |")
    lines.append("")
    for method, rows in [*results.items(), *baseline.items()]:
        strong = [r for r in rows if max(abs(r[f]["rho"]) for f in FACTORS) >= 0.8]
        lines.append(f"* {method}: {len(strong)} of {len(rows)} directions move one factor with |rho| >= 0.8")
    lines.append("")
    (args.out / f"{args.name}.md").write_text("\n".join(lines))
    print("\n".join(lines))


# The headline `python -m benchmarks` prints from this script's results (one row per RESULTS file).
# headline() runs without this script's imports: it may use its argument and builtins only.
RESULTS = "latent-factors*.json"


def headline(result: dict) -> tuple[float | None, str]:
    """How many directions reliably move one measured factor (|Spearman rho| >= 0.8), against the
    random-direction baseline when the result has one."""
    def strongest(row: dict) -> tuple[str, float]:
        rhos = {k: v["rho"] for k, v in row.items() if isinstance(v, dict) and "rho" in v}
        factor = max(rhos, key=lambda k: abs(rhos[k]))
        return factor, rhos[factor]

    rows = [(method, row) for method, table in result["directions"].items() for row in table]
    strong = sum(abs(strongest(row)[1]) >= 0.8 for _, row in rows)
    method, row = max(rows, key=lambda mr: abs(strongest(mr[1])[1]))
    factor, rho = strongest(row)
    claim = f"{strong} of {len(rows)} PCA/SeFa directions move one factor with |rho| >= 0.8"
    random_rows = [row for table in result.get("baseline", {}).values() for row in table]
    if random_rows:
        claim += f" (random directions: {sum(abs(strongest(r)[1]) >= 0.8 for r in random_rows)} of {len(random_rows)})"
    return None, f"{claim}; strongest {method} #{row['component']} on {factor} (rho {rho:+.2f})"

if __name__ == "__main__":
    main()
