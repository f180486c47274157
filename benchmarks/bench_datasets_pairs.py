"""Benchmark: cost of deriving pix2pix inputs (edges, clusters) and of augment_pair, per photo.

The pix2pix trainer can derive inputs on the fly for every sample, so this is what it pays per
sample on top of the network step. Variants run side by side in one process on the same
photos (four scikit-image photos and four blooms, centre-cropped), each timed as the median
over repeats because the machine is shared and noisy. Also measures how well the edge
thresholds adapt: the edge density of each photo and of a quarter-contrast copy, with our
gradient-median rule and with the textbook rule on the gray-level median.

    python benchmarks/bench_datasets_pairs.py [--repeats 5]

Writes docs/benchmarks/datasets-pairs.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("NEURALBRUSH_QUIET", "1")

import numpy as np  # noqa: E402

from neuralbrush.datasets.pairs import augment_pair, derive_input, make_pair  # noqa: E402
from neuralbrush.datasets.reader import center_crop_resize  # noqa: E402
from neuralbrush.datasets.samples import bloom, skimage_photo  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def photos(size: int) -> dict:
    out = {n: center_crop_resize(skimage_photo(n), size) for n in PHOTOS}
    out.update({f"bloom{i}": bloom(size, 100 + i) for i in range(4)})
    return out


def median_ms(fn, items, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        for it in items:
            t0 = time.perf_counter()
            fn(it)
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def textbook_canny_density(img) -> float:
    import cv2

    gray = cv2.GaussianBlur(cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2GRAY), (0, 0), 1.0)
    m = float(np.median(gray))
    return float((cv2.Canny(gray, max(0, 0.67 * m), min(255, 1.33 * m)) > 0).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    rows = []
    for size in (256, 512):
        ims = list(photos(size).values())
        derive_input(ims[0], "clusters")  # warm up imports (cv2, sklearn)
        rng = np.random.default_rng(0)
        variants = {
            "edges": lambda im: derive_input(im, "edges"),
            "edges, thickness 3": lambda im: derive_input(im, "edges", thickness=3),
            "clusters (k=7)": lambda im: derive_input(im, "clusters", clusters=7),
            "clusters (k=12)": lambda im: derive_input(im, "clusters", clusters=12),
            "augment_pair (A and B)": lambda im: augment_pair(im, im, size=size * 7 // 8, rng=rng),
            "make_pair edges (from the photo)": lambda im: make_pair(im, "edges", size),
        }
        for name, fn in variants.items():
            rows.append({"size": size, "variant": name, "ms_per_photo": round(median_ms(fn, ims, args.repeats), 2)})
            print(f"{size:4d}  {name:34s} {rows[-1]['ms_per_photo']:8.2f} ms")

    adapt = []
    for name, im in photos(256).items():
        arr = np.asarray(im).astype(np.float32)
        dim = (arr * 0.25 + 40).round().astype(np.uint8)
        ours = [float((np.asarray(derive_input(x, "edges").convert("L")) < 128).mean()) for x in (im, dim)]
        book = [textbook_canny_density(x) for x in (im, np.asarray(dim))]
        adapt.append({"photo": name, "ours": [round(v, 4) for v in ours], "textbook": [round(v, 4) for v in book]})
        print(f"{name:10s} ours {ours[0]:.3f} -> {ours[1]:.3f}   textbook {book[0]:.3f} -> {book[1]:.3f}")

    result = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "repeats": args.repeats, "timings": rows, "edge_density_original_vs_quarter_contrast": adapt}
    out = ROOT / "docs" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    (out / "datasets-pairs.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# pix2pix input derivation (per photo)", "",
             f"Measured by `benchmarks/bench_datasets_pairs.py` on {result['machine']} (shared, noisy: "
             "compare rows of one run). Median over 8 photos x repeats.", "",
             "| size | variant | ms per photo |", "|---|---|---|"]
    lines += [f"| {r['size']} | {r['variant']} | {r['ms_per_photo']:.1f} |" for r in rows]
    lines += ["", "## Edge thresholds under a quarter of the contrast", "",
              "Fraction of pixels that are edges on the photo and on `0.25 * photo + 40` (256 px).", "",
              "| photo | ours: original | ours: low contrast | textbook gray-median rule: original | textbook: low contrast |",
              "|---|---|---|---|---|"]
    lines += [f"| {a['photo']} | {a['ours'][0]:.3f} | {a['ours'][1]:.3f} | {a['textbook'][0]:.3f} | {a['textbook'][1]:.3f} |"
              for a in adapt]
    (out / "datasets-pairs.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'datasets-pairs.md'}")


# The headline `python -m benchmarks` prints from this script's results (one row per RESULTS file).
# headline() runs without this script's imports: it may use its argument and builtins only.
RESULTS = "datasets-pairs.json"


def headline(result: dict) -> tuple[float | None, str]:
    """Edge density kept at a quarter of the contrast: ours against the textbook gray-median rule."""
    rows = result["edge_density_original_vs_quarter_contrast"]
    ours = sum(r["ours"][1] / r["ours"][0] for r in rows) / len(rows)
    textbook = sum(r["textbook"][1] / r["textbook"][0] for r in rows) / len(rows)
    edges = next(t["ms_per_photo"] for t in result["timings"] if t["variant"] == "edges")
    return (ours, f"edge density at a quarter of the contrast / at full contrast, mean of {len(rows)} photos "
                  f"(textbook gray-median rule: x{textbook:.2f}); edges cost {edges:.1f} ms per 256 px photo")


if __name__ == "__main__":
    main()
