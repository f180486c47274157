"""Colour quantization and superpixel fill at 1 megapixel, side by side in one run.

Quantization (k = 16) of a 1024x1024 photo: our ``quantize_colors`` (k-means on a 100k-pixel
sample pooled into colour-cube cells, every pixel mapped through its distinct colours) against
scikit-learn KMeans fitted on all pixels, scikit-learn KMeans fitted on the same sample and
predicting all pixels, ``cv2.kmeans``, Pillow's median cut and fast octree. Quality: mean
squared error and PSNR of each result against the original. Then our dithering modes, and the
superpixel mean fill (``np.bincount``) against ``skimage.color.label2rgb(kind='avg')`` on the
same SLIC labels.

The machine is shared and noisy: variants run interleaved, ``--rounds`` times, and the table
reports the best and the median time of each plus ratios to ours.

    python benchmarks/bench_effects.py [--rounds 3] [--out docs/benchmarks/effects.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np

K = 16
SAMPLE = 100_000


def _photo(size: int = 1024) -> np.ndarray:
    from PIL import Image

    from neuralbrush.datasets.samples import skimage_photo

    return np.asarray(skimage_photo("astronaut").resize((size, size), Image.BICUBIC))


def _quality(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return mse, float(10 * np.log10(255.0 ** 2 / max(mse, 1e-12)))


def quantize_variants(img: np.ndarray) -> dict[str, Callable[[], np.ndarray]]:
    import cv2
    from PIL import Image
    from sklearn.cluster import KMeans

    from neuralbrush.effects.quantize import quantize_colors

    flat = img.reshape(-1, 3)
    pil = Image.fromarray(img)

    def ours_rgb():
        return quantize_colors(img, colors=K, space="rgb", sample=SAMPLE).image

    def ours_lab():
        return quantize_colors(img, colors=K, space="lab", sample=SAMPLE).image

    def sk_all():
        km = KMeans(n_clusters=K, n_init=1, random_state=0).fit(flat.astype(np.float32))
        return np.clip(np.rint(km.cluster_centers_), 0, 255).astype(np.uint8)[km.labels_].reshape(img.shape)

    def sk_sample():
        idx = np.random.default_rng(0).choice(len(flat), min(SAMPLE, len(flat)), replace=False)
        km = KMeans(n_clusters=K, n_init=1, random_state=0).fit(flat[idx].astype(np.float32))
        lab = km.predict(flat.astype(np.float32))
        return np.clip(np.rint(km.cluster_centers_), 0, 255).astype(np.uint8)[lab].reshape(img.shape)

    def cv_kmeans():
        crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
        cv2.setRNGSeed(0)
        _, lab, centres = cv2.kmeans(flat.astype(np.float32), K, None, crit, 1, cv2.KMEANS_PP_CENTERS)
        return np.clip(np.rint(centres), 0, 255).astype(np.uint8)[lab.ravel()].reshape(img.shape)

    def pil_median():
        return np.asarray(pil.quantize(K, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).convert("RGB"))

    def pil_octree():
        return np.asarray(pil.quantize(K, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).convert("RGB"))

    return {"ours (sample fit, rgb)": ours_rgb, "ours (sample fit, lab)": ours_lab,
            "scikit-learn KMeans, all pixels": sk_all, "scikit-learn KMeans, 100k sample + predict": sk_sample,
            "cv2.kmeans (10 iter, k-means++)": cv_kmeans, "PIL median cut": pil_median,
            "PIL fast octree": pil_octree}


def dither_variants(img: np.ndarray) -> dict[str, Callable[[], np.ndarray]]:
    from neuralbrush.effects.quantize import floyd_steinberg, kmeans_palette, map_to_palette, ordered_dither

    pal = kmeans_palette(img, K)
    return {"map to palette (no dither)": lambda: map_to_palette(img, pal),
            "Floyd-Steinberg (wavefront)": lambda: floyd_steinberg(img, pal),
            "ordered (8x8 Bayer)": lambda: ordered_dither(img, pal)}


def _time_rounds(variants: dict[str, Callable[[], np.ndarray]], rounds: int) -> tuple[dict[str, list[float]], dict]:
    times: dict[str, list[float]] = {k: [] for k in variants}
    results = {}
    for _ in range(rounds):
        for name, fn in variants.items():  # interleaved: load changes hit every variant alike
            t0 = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - t0)
    return times, results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size", type=int, default=1024, help="square test image side (1024 = 1 megapixel)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "effects.md")
    ap.add_argument("--render-only", action="store_true", help="rewrite the .md from the saved .json")
    args = ap.parse_args()
    if args.render_only:
        saved = json.loads(args.out.with_suffix(".json").read_text())
        args.out.write_text(render_markdown(saved["meta"], saved["quantize"], saved["dither"], saved["fill"]))
        return

    from neuralbrush.effects.superpixels import fill_regions, slic_labels

    img = _photo(args.size)
    load0 = os.getloadavg()[0]
    # warm up imports and caches so round one does not pay them
    for fn in list(quantize_variants(img[:64, :64]).values()):
        fn()

    q_times, q_results = _time_rounds(quantize_variants(img), args.rounds)
    d_times, _ = _time_rounds(dither_variants(img), args.rounds)

    t0 = time.perf_counter()
    labels = slic_labels(img, segments=400, compactness=10)
    slic_s = time.perf_counter() - t0
    from skimage.color import label2rgb

    fills = {"ours: np.bincount mean": lambda: fill_regions(img, labels),
             "skimage label2rgb(kind='avg')": lambda: np.clip(np.rint(label2rgb(labels, img, kind="avg", bg_label=-1)),
                                                              0, 255).astype(np.uint8)}
    f_times, f_results = _time_rounds(fills, args.rounds)
    fill_diff = int(np.abs(f_results["ours: np.bincount mean"].astype(int)
                           - f_results["skimage label2rgb(kind='avg')"].astype(int)).max())
    load1 = os.getloadavg()[0]

    def row(name, ts, ref):
        best, med = min(ts), statistics.median(ts)
        return {"variant": name, "best_s": best, "median_s": med, "ratio_to_ours": best / ref}

    q_ref = min(q_times["ours (sample fit, rgb)"])
    q_rows = []
    for name, ts in q_times.items():
        r = row(name, ts, q_ref)
        r["mse"], r["psnr_db"] = _quality(img, q_results[name])
        r["colors"] = len(np.unique(q_results[name].reshape(-1, 3), axis=0))
        q_rows.append(r)
    d_ref = min(d_times["map to palette (no dither)"])
    d_rows = [row(n, ts, d_ref) for n, ts in d_times.items()]
    f_ref = min(f_times["ours: np.bincount mean"])
    f_rows = [row(n, ts, f_ref) for n, ts in f_times.items()]

    meta = {"image": f"skimage astronaut resized to {args.size}x{args.size} ({args.size * args.size / 1e6:.2f} MP)",
            "k": K, "sample": SAMPLE, "rounds": args.rounds, "cpu_count": os.cpu_count(),
            "machine": platform.processor() or platform.machine(), "load_avg_start_end": [load0, load1],
            "slic_400_segments_s": slic_s, "slic_regions": int(labels.max()) + 1, "fill_max_abs_diff": fill_diff}
    print(json.dumps(meta, indent=1))
    print(f"\n{'quantize k=16':45s} {'best s':>8s} {'median s':>9s} {'x ours':>7s} {'MSE':>8s} {'PSNR':>6s} {'colours':>7s}")
    for r in q_rows:
        print(f"{r['variant']:45s} {r['best_s']:8.3f} {r['median_s']:9.3f} {r['ratio_to_ours']:7.2f} "
              f"{r['mse']:8.1f} {r['psnr_db']:6.2f} {r['colors']:7d}")
    for title, rows in (("dithering against a 16-colour palette", d_rows), ("superpixel mean fill", f_rows)):
        print(f"\n{title:45s} {'best s':>8s} {'median s':>9s} {'x ref':>7s}")
        for r in rows:
            print(f"{r['variant']:45s} {r['best_s']:8.3f} {r['median_s']:9.3f} {r['ratio_to_ours']:7.2f}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "quantize": q_rows, "dither": d_rows,
                                                         "fill": f_rows}, indent=2) + "\n")
    args.out.write_text(render_markdown(meta, q_rows, d_rows, f_rows))
    print(f"\nwrote {args.out} and {args.out.with_suffix('.json')}")


def render_markdown(meta: dict, q_rows: list[dict], d_rows: list[dict], f_rows: list[dict]) -> str:
    ours = q_rows[0]
    by = {r["variant"]: r for r in q_rows}
    fill = {r["variant"]: r for r in f_rows}
    lines = [
        "# Effects benchmark: quantization and superpixel fill at 1 megapixel",
        "",
        f"Measured by `python benchmarks/bench_effects.py` on {meta['image']}, {meta['cpu_count']} CPU cores, "
        f"k = {meta['k']}, {meta['rounds']} interleaved rounds (best and median seconds). The machine is shared: "
        f"load average {meta['load_avg_start_end'][0]:.1f} at the start and {meta['load_avg_start_end'][1]:.1f} "
        "at the end of the run, so absolute times are inflated; the ratios (same run, same load) are the result.",
        "",
        "## Colour quantization, k = 16",
        "",
        "| variant | best s | median s | time / ours | MSE | PSNR dB | colours |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in q_rows:
        lines.append(f"| {r['variant']} | {r['best_s']:.3f} | {r['median_s']:.3f} | {r['ratio_to_ours']:.2f} | "
                     f"{r['mse']:.1f} | {r['psnr_db']:.2f} | {r['colors']} |")
    sk = by["scikit-learn KMeans, all pixels"]
    lines += [
        "",
        f"Ours (k-means on a {meta['sample']:,}-pixel sample, pooled into 32-level colour-cube cells, every pixel "
        f"mapped through a lookup over its distinct colours) took {ours['best_s']:.3f} s, "
        f"{sk['best_s'] / ours['best_s']:.0f}x less than scikit-learn KMeans fitted on all pixels, at a PSNR "
        f"{ours['psnr_db'] - sk['psnr_db']:+.2f} dB from it. Reference figures (REFERENCE.md, quiet machine): "
        "scikit-learn sample fit + predict 0.13 s, all pixels 3.6 s, cv2.kmeans 0.46 s, PIL median cut 0.18 s, "
        "fast octree 8 ms (lower quality). MSE and PSNR are measured in RGB: the Lab variant minimises "
        "perceptual (L*a*b*) error instead, so its RGB error is higher by design.",
        "",
        "## Dithering (16-colour palette)",
        "",
        "| variant | best s | median s | time / plain mapping |",
        "|---|---:|---:|---:|",
    ]
    for r in d_rows:
        lines.append(f"| {r['variant']} | {r['best_s']:.3f} | {r['median_s']:.3f} | {r['ratio_to_ours']:.2f} |")
    lines += [
        "",
        "Floyd-Steinberg is exact (the same labels as the sequential raster scan, tested) but processes every "
        "anti-diagonal `x + 2y = t` as one numpy step: about 3,000 steps for a megapixel instead of a million.",
        "",
        "## Superpixel mean fill (same SLIC labels)",
        "",
        f"SLIC with 400 segments took {meta['slic_400_segments_s']:.2f} s and made {meta['slic_regions']} regions.",
        "",
        "| variant | best s | median s | time / ours |",
        "|---|---:|---:|---:|",
    ]
    for r in f_rows:
        lines.append(f"| {r['variant']} | {r['best_s']:.3f} | {r['median_s']:.3f} | {r['ratio_to_ours']:.2f} |")
    lab = fill["skimage label2rgb(kind='avg')"]
    lines += [
        "",
        f"The bincount mean is {lab['best_s'] / fill['ours: np.bincount mean']['best_s']:.0f}x faster than "
        f"label2rgb and gives the same colours (largest difference {meta['fill_max_abs_diff']} after rounding). "
        "Reference: label2rgb 0.8-2.3 s, bincount mean 32 ms, slic ~1.0 s.",
        "",
    ]
    return "\n".join(lines)


# The headline `python -m benchmarks` prints from this script's results (one row per RESULTS file).
# headline() runs without this script's imports: it may use its argument and builtins only.
RESULTS = "effects.json"


def headline(result: dict) -> tuple[float | None, str]:
    """Quantization time: scikit-learn KMeans on all pixels over ours, and the quality cost."""
    q = {r["variant"]: r for r in result["quantize"]}
    ours, sk = q["ours (sample fit, rgb)"], q["scikit-learn KMeans, all pixels"]
    fill = {r["variant"]: r for r in result["fill"]}
    label2rgb = next(r for name, r in fill.items() if name.startswith("skimage"))
    return (sk["best_s"] / ours["best_s"],
            f"quantize k={result['meta']['k']} at 1 MP: scikit-learn KMeans (all pixels) time / ours, "
            f"PSNR {ours['psnr_db'] - sk['psnr_db']:+.2f} dB; superpixel fill x{label2rgb['ratio_to_ours']:.0f} "
            f"faster than label2rgb")


if __name__ == "__main__":
    main()
