"""Benchmark: ``dataset build`` throughput (images/s) at 1024 -> 256 px.

Variants run side by side in one process on the same inputs (procedural blooms at 1024 px,
as PNG and as JPEG; the astronaut photo upscaled to 1024 px for the face crop), each repeated
and the best time kept, because the machine is shared and noisy: compare the ratios.
A per-stage breakdown of one image shows where the time goes.

    python benchmarks/bench_dataset_build.py [--count 32] [--repeats 2]

Writes docs/benchmarks/dataset-build.md and .json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NEURALBRUSH_QUIET", "1")

from PIL import Image  # noqa: E402

from neuralbrush.core.imageio import load_image  # noqa: E402
from neuralbrush.datasets.build import build_dataset  # noqa: E402
from neuralbrush.datasets.samples import bloom, skimage_photo  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def make_sources(tmp: Path, count: int) -> dict[str, Path]:
    png, jpg, faces = tmp / "png", tmp / "jpg", tmp / "faces"
    for d in (png, jpg, faces):
        d.mkdir(parents=True)
    for i in range(count):
        im = bloom(1024, 1000 + i)
        im.save(png / f"b{i:04d}.png", compress_level=6)
        im.save(jpg / f"b{i:04d}.jpg", quality=92)
    two = tmp / "two"
    two.mkdir()
    for p in sorted(png.iterdir())[:2]:
        shutil.copy(p, two / p.name)
    astro = skimage_photo("astronaut").resize((1024, 1024), Image.LANCZOS)
    for i in range(max(4, count // 4)):
        astro.rotate((i % 5 - 2) * 8, resample=Image.BICUBIC).save(faces / f"f{i:03d}.jpg", quality=92)
    return {"png": png, "jpg": jpg, "faces": faces, "two": two}


def time_build(src: Path, out: Path, repeats: int, **kw) -> tuple[float, int]:
    best = float("inf")
    n = 0
    for _ in range(repeats):
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        t0 = time.perf_counter()
        r = build_dataset([src], out, size=256, min_size=256, sample_count=0, overwrite=True, **kw)
        best = min(best, time.perf_counter() - t0)
        n = r.candidates
    return best, n, out.stat().st_size / 1e6


def stage_breakdown(src_png: Path, src_jpg: Path, repeats: int = 5) -> list[tuple[str, float]]:
    data_png = next(src_png.iterdir()).read_bytes()
    data_jpg = next(src_jpg.iterdir()).read_bytes()

    def best(fn) -> float:
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return min(ts) * 1000

    img = load_image(data_png)
    small = img.resize((256, 256), Image.LANCZOS, reducing_gap=2.0)

    def enc(level: int) -> None:
        small.save(io.BytesIO(), "PNG", compress_level=level)

    return [
        ("decode 1024 px PNG (load_image)", best(lambda: load_image(data_png))),
        ("decode 1024 px JPEG (load_image)", best(lambda: load_image(data_jpg))),
        ("resize 1024->256 Lanczos, reducing_gap=2 (area first)", best(lambda: img.resize((256, 256), Image.LANCZOS, reducing_gap=2.0))),
        ("resize 1024->256 plain Lanczos", best(lambda: img.resize((256, 256), Image.LANCZOS))),
        ("encode 256 px PNG, zlib level 6 (default)", best(lambda: enc(6))),
        ("encode 256 px PNG, zlib level 1", best(lambda: enc(1))),
        ("sha256 of the source bytes", best(lambda: __import__("hashlib").sha256(data_png).hexdigest())),
        ("dedupe: pixel sha256 + pHash + thumbnail", best(lambda: (__import__("neuralbrush.datasets.dedupe", fromlist=["x"]).pixel_digest(img),
                                                                  __import__("neuralbrush.datasets.dedupe", fromlist=["x"]).phash(small)))),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=32, help="Bloom images per source format.")
    ap.add_argument("--repeats", type=int, default=2, help="Runs per variant; the best is kept.")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks" / "dataset-build.md")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="nb-bench-build-"))
    try:
        print(f"making {args.count} blooms at 1024 px (PNG and JPEG) ...", flush=True)
        srcs = make_sources(tmp, args.count)
        variants = [
            ("center, PNG sources, 1 worker", srcs["png"], {}),
            ("center, JPEG sources, 1 worker", srcs["jpg"], {}),
            ("pad, PNG sources, 1 worker", srcs["png"], {"crop": "pad"}),
            ("center + dedupe, PNG sources, 1 worker", srcs["png"], {"dedupe": True}),
            ("center + mirror, PNG sources, 1 worker", srcs["png"], {"mirror": True}),
            ("center, PNG sources, PNG level 1", srcs["png"], {"png_compress_level": 1}),
            ("center, PNG sources, 2 workers", srcs["png"], {"workers": 2}),
            ("2 workers on 2 images (process start-up)", srcs["two"], {"workers": 2}),
            ("face, JPEG astronaut 1024 px, 1 worker", srcs["faces"], {"crop": "face"}),
        ]
        rows = []
        for name, src, kw in variants:
            secs, n, mb = time_build(src, tmp / "out.zip", args.repeats, **kw)
            rows.append({"variant": name, "images": n, "seconds": round(secs, 3), "images_per_s": round(n / secs, 2),
                         "zip_mb": round(mb, 2)})
            print(f"  {name:<44} {n:4d} images  {secs:7.2f} s  {n / secs:7.2f} images/s", flush=True)
        stages = stage_breakdown(srcs["png"], srcs["jpg"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    by_name = {r["variant"]: r for r in rows}
    two, start = by_name["center, PNG sources, 2 workers"], by_name["2 workers on 2 images (process start-up)"]
    steady = (two["images"] - start["images"]) / max(1e-6, two["seconds"] - start["seconds"])
    rows.insert(rows.index(start) + 1, {"variant": "2 workers, steady state (start-up run subtracted)",
                                        "images": two["images"] - start["images"],
                                        "seconds": round(two["seconds"] - start["seconds"], 3),
                                        "images_per_s": round(steady, 2), "zip_mb": two["zip_mb"]})
    base = rows[0]["images_per_s"]
    for r in rows:
        r["vs_first"] = round(r["images_per_s"] / base, 2)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    lines = ["# Benchmark: dataset build throughput (1024 -> 256 px)", "",
             f"`python benchmarks/bench_dataset_build.py --count {args.count} --repeats {args.repeats}` on {machine}; "
             f"load average {load:.1f} when it finished (the machine is shared: compare ratios, not absolute numbers). "
             "Each variant builds a zip from the same inputs; best of the repeats. Face crops use the astronaut photo "
             "upscaled to 1024 px (a quarter as many images).", "",
             "| variant | images | seconds | images/s | vs first | zip MB |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['images']} | {r['seconds']:.2f} | {r['images_per_s']:.2f} | {r['vs_first']:.2f}x | {r['zip_mb']:.2f} |")
    lines += ["", "Where the time of one image goes (best of 5, milliseconds):", "", "| stage | ms |", "|---|---:|"]
    for name, ms in stages:
        lines.append(f"| {name} | {ms:.1f} |")
    lines.append("")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps({"machine": machine, "load_average": load, "count": args.count,
                                                         "repeats": args.repeats, "variants": rows,
                                                         "stages_ms": dict(stages)}, indent=2) + "\n")
    print("\n".join(lines))
    print(f"wrote {args.out}")


# The headline `python -m benchmarks` prints from this script's results (one row per RESULTS file).
# headline() runs without this script's imports: it may use its argument and builtins only.
RESULTS = "dataset-build.json"


def headline(result: dict) -> tuple[float | None, str]:
    """Build throughput: 2 workers in steady state against 1 worker (same PNG inputs)."""
    v = {r["variant"]: r for r in result["variants"]}
    one = v["center, PNG sources, 1 worker"]
    two = v["2 workers, steady state (start-up run subtracted)"]
    return (two["images_per_s"] / one["images_per_s"],
            f"dataset build 1024->256 px: 2 workers (steady state) vs 1 worker, "
            f"{two['images_per_s']:.1f} vs {one['images_per_s']:.1f} images/s")


if __name__ == "__main__":
    sys.exit(main())
