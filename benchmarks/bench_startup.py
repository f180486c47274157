"""Start-up and whole-process cost of the image-only commands against plain scripts.

Each contender is a fresh Python process, timed wall-clock from start to exit, on the same
1 MP photo (astronaut, 1024x1024), interleaved ``--rounds`` times so a shared machine's noise
hits all of them alike:

* ``neuralbrush --help`` and ``neuralbrush quantize --help`` (the CLI's start-up alone);
* ``neuralbrush quantize --colors 16`` against a plain scikit-learn script (KMeans k=16 fitted on a
  100k-pixel sample, predicting every pixel: the usual recipe) that writes a PNG;
* ``neuralbrush superpixels --segments 400`` against a plain scikit-image script (SLIC + label2rgb
  'avg') that writes a PNG.

Peak memory and CPU seconds (user + system, which a busy machine inflates far less than the
wall clock) come from ``/usr/bin/time`` when present. The table reports the best and the median
wall time of each, the median CPU time, and the ratio of the plain script's median to ours (> 1:
we are faster).

    python benchmarks/bench_startup.py [--rounds 5] [--out docs/benchmarks/startup.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SKLEARN_SCRIPT = """
import sys, numpy as np
from PIL import Image
from sklearn.cluster import KMeans
img = np.asarray(Image.open(sys.argv[1]).convert("RGB"))
flat = img.reshape(-1, 3).astype(np.float32)
rng = np.random.default_rng(0)
sample = flat[rng.choice(len(flat), 100_000, replace=False)]
km = KMeans(16, n_init=1, random_state=0).fit(sample)
out = km.cluster_centers_[km.predict(flat)].reshape(img.shape).round().clip(0, 255).astype(np.uint8)
Image.fromarray(out).save(sys.argv[2])
"""

SKIMAGE_SCRIPT = """
import sys, numpy as np
from PIL import Image
from skimage.segmentation import slic
from skimage.color import label2rgb
img = np.asarray(Image.open(sys.argv[1]).convert("RGB"))
labels = slic(img, n_segments=400, compactness=10, start_label=0)
out = label2rgb(labels, img, kind="avg", bg_label=-1).round().clip(0, 255).astype(np.uint8)
Image.fromarray(out).save(sys.argv[2])
"""


def _timed(cmd: list[str], cwd: Path) -> tuple[float, float | None, float | None]:
    """Wall seconds, peak resident MB and CPU seconds (user + system; None without /usr/bin/time)."""
    timer = shutil.which("time") if os.path.exists("/usr/bin/time") else None
    full = ["/usr/bin/time", "-f", "%M %U %S"] + cmd if timer else cmd
    t0 = time.perf_counter()
    p = subprocess.run(full, cwd=cwd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {p.stderr[-400:]}")
    mb = cpu = None
    if timer:
        try:
            kb, user, system = p.stderr.strip().splitlines()[-1].split()
            mb, cpu = int(kb) / 1024, float(user) + float(system)
        except ValueError:
            mb = cpu = None
    return dt, mb, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("docs/benchmarks/startup.md"))
    args = ap.parse_args()

    from PIL import Image

    from neuralbrush.datasets.samples import skimage_photo

    nb = str(Path(sys.executable).with_name("neuralbrush"))
    py = sys.executable
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        skimage_photo("astronaut").resize((1024, 1024), Image.BICUBIC).save(work / "photo.png")
        (work / "km.py").write_text(SKLEARN_SCRIPT)
        (work / "slic.py").write_text(SKIMAGE_SCRIPT)
        contenders = {
            "neuralbrush --help": [nb, "--help"],
            "neuralbrush quantize --help": [nb, "quantize", "--help"],
            "neuralbrush quantize --colors 16": [nb, "-q", "quantize", "photo.png", "--colors", "16", "-o", "q.png"],
            "plain scikit-learn KMeans script": [py, "km.py", "photo.png", "km.png"],
            "neuralbrush superpixels --segments 400": [nb, "-q", "superpixels", "photo.png", "--segments", "400",
                                                       "-o", "s.png"],
            "plain scikit-image SLIC script": [py, "slic.py", "photo.png", "slic.png"],
        }
        times: dict[str, list[float]] = {k: [] for k in contenders}
        mem: dict[str, list[float]] = {k: [] for k in contenders}
        cpus: dict[str, list[float]] = {k: [] for k in contenders}
        for _ in range(args.rounds):
            for name, cmd in contenders.items():
                dt, mb, cpu = _timed(cmd, work)
                times[name].append(dt)
                if mb is not None:
                    mem[name].append(mb)
                    cpus[name].append(cpu)
    rows = [{"variant": k, "best_s": min(v), "median_s": statistics.median(v),
             "cpu_s": statistics.median(cpus[k]) if cpus[k] else None,
             "peak_mb": max(mem[k]) if mem[k] else None} for k, v in times.items()]
    med = {r["variant"]: r["median_s"] for r in rows}
    result = {
        "meta": {"rounds": args.rounds, "cpu": platform.processor() or platform.machine(),
                 "cores": os.cpu_count(), "load_before": os.getloadavg()[0], "photo": "astronaut 1024x1024"},
        "rows": rows,
        "quantize_ratio": med["plain scikit-learn KMeans script"] / med["neuralbrush quantize --colors 16"],
        "superpixels_ratio": med["plain scikit-image SLIC script"] / med["neuralbrush superpixels --segments 400"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    lines = ["# Start-up and whole-process cost (image-only commands)", "",
             f"{args.rounds} interleaved rounds, fresh processes, 1 MP photo; load average before: "
             f"{result['meta']['load_before']:.1f} on {result['meta']['cores']} cores.", "",
             "| process | best s | median s | median CPU s | peak MB |", "|---|---|---|---|---|"]
    for r in rows:
        peak = f"{r['peak_mb']:.0f}" if r["peak_mb"] is not None else "-"
        cpu = f"{r['cpu_s']:.2f}" if r["cpu_s"] is not None else "-"
        lines.append(f"| {r['variant']} | {r['best_s']:.2f} | {r['median_s']:.2f} | {cpu} | {peak} |")
    lines += ["", f"Plain script / ours (median): quantize x{result['quantize_ratio']:.2f}, "
              f"superpixels x{result['superpixels_ratio']:.2f} (> 1: neuralbrush is faster).",
              "", "Regenerate: `python benchmarks/bench_startup.py`."]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


# The headline `python -m benchmarks` prints from this script's results (one row per RESULTS file).
# headline() runs without this script's imports: it may use its argument and builtins only.
RESULTS = "startup.json"


def headline(result: dict) -> tuple[float | None, str]:
    """Whole-process quantize time: the plain scikit-learn script's over ours."""
    return (result["quantize_ratio"],
            f"1 MP quantize as a whole process: plain scikit-learn script / neuralbrush "
            f"(superpixels: x{result['superpixels_ratio']:.2f} against plain scikit-image)")


if __name__ == "__main__":
    main()
