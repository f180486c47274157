"""Explore latency in the studio: from a slider change in the page to the new picture shown.

A real studio (``neuralbrush studio`` in a subprocess) and a real page (Playwright, headless
Chromium): the Explore tab loads a StyleGAN2 generator with ``--cfg small``'s widths (random
weights: latency does not depend on what was learnt) at 64 and 256 px, focuses a seed, then moves
the truncation slider ``--moves`` times; each sample is the wall time from typing the new value to
the focus ``<img>`` holding a new, fully decoded picture. Measured while the studio is idle and
while a training job (a DCGAN at 32 px, in its worker process) runs on the same CPU.

    python benchmarks/bench_studio_latency.py [--moves 20] [--out docs/benchmarks/studio-latency.json]

Target (issue 13): p95 under 1.5 s at 256 px while idle.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "studio"))
CHROMIUM = os.environ.get("NEURALBRUSH_CHROMIUM", "/usr/bin/chromium")


def make_model(ws, res: int) -> str:
    import torch

    from neuralbrush.gan.networks import Generator
    from neuralbrush.gan.snapshot import save_snapshot, snapshot_name

    torch.manual_seed(0)
    G = Generator(z_dim=128, w_dim=128, img_resolution=res, mapping_kwargs=dict(num_layers=2),
                  synthesis_kwargs=dict(channel_base=1024, channel_max=128)).eval()
    run = ws.runs / f"0000{res // 64}-bench{res}-small"
    run.mkdir(parents=True, exist_ok=True)
    save_snapshot(run / snapshot_name(0), arch="stylegan2", G=G, G_ema=G)
    return ws.relative(run)


def start_training(ws) -> subprocess.Popen:
    """A DCGAN on 32 px blooms through the studio's job runner (a worker process), as the page does."""
    code = (
        "import sys; from neuralbrush.studio.workspace import Workspace; from neuralbrush.studio.jobs import JobRunner\n"
        "from neuralbrush.datasets.samples import write_blooms; from neuralbrush.datasets.build import build_dataset\n"
        "from neuralbrush.datasets.build_options import BuildOptions; from neuralbrush.gan.presets import TrainOptions\n"
        "ws = Workspace(sys.argv[1]); write_blooms(ws.images / 'blooms', 64, size=32, seed=0)\n"
        "build_dataset([ws.images / 'blooms'], ws.datasets / 'b32.zip', BuildOptions(size=32, min_size=0), progress=lambda e: None)\n"
        "r = JobRunner(ws); j = r.submit('train', 'neuralbrush.gan.train:train', TrainOptions(data=str(ws.datasets / 'b32.zip'),"
        " outdir=str(ws.runs), arch='dcgan', cfg='small', kimg=100000, tick=0.2, metrics='none'), title='bench training')\n"
        "print(j.id, flush=True); r.wait(j.id, timeout=3600)\n")
    return subprocess.Popen([sys.executable, "-c", code, str(ws.root)], stdout=subprocess.PIPE, text=True)


def measure(page, model: str, moves: int) -> list[float]:
    from test_flow import fill, src, wait_src_change, wait_text

    fill(page, "explore-model", model)
    page.locator("#explore-load").click()
    wait_text(page, "explore-model-info", "px")
    fill(page, "explore-seeds", "0-3", "Tab")
    page.locator("#explore-show").click()
    page.wait_for_function("document.querySelectorAll('#explore-grid img').length >= 4", timeout=120_000)
    page.locator("#explore-grid img").nth(0).click()
    old = wait_src_change(page, "#explore-focus img", "")
    times = []
    for i in range(moves + 2):
        value = 0.3 + 0.05 * (i % 20)
        t0 = time.perf_counter()
        fill(page, "explore-trunc", f"{value:.2f}")
        old = wait_src_change(page, "#explore-focus img", old, timeout=60_000)
        if i >= 2:  # the first two warm up the model and the page
            times.append(time.perf_counter() - t0)
    return times


def training_kimg(ws) -> float | None:
    """How far the training job has come (kimg, from its job file), None before its first step."""
    for p in ws.jobs_dir.glob("*.json"):
        job = json.loads(p.read_text())
        if job.get("kind") == "train" and job.get("status") == "running":
            return job.get("progress", {}).get("count")
    return None


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--moves", type=int, default=20)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "studio-latency.json")
    args = ap.parse_args()
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    from playwright.sync_api import sync_playwright

    from conftest import StudioServer, _server_env, _kill_workers  # the tests' server fixture
    from neuralbrush.studio.workspace import Workspace

    rows = []
    training: dict = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "ws")
        (Path(tmp) / "home").mkdir()
        models = {res: make_model(ws, res) for res in (64, 256)}
        server = StudioServer(ws, _server_env(Path(tmp) / "home")).start()
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.set_default_timeout(60_000)
                trainer = None
                for state in ("idle", "training"):
                    if state == "training":
                        trainer = start_training(ws)
                        trainer.stdout.readline()  # the job id: queued
                        deadline = time.time() + 120
                        while not training_kimg(ws) and time.time() < deadline:
                            time.sleep(1)
                        training["kimg_at_start"] = training_kimg(ws)
                    for res, model in models.items():
                        page.goto(server.url)
                        page.wait_for_selector("#studio-tabs")
                        page.get_by_role("tab", name="Explore", exact=True).click()
                        times = measure(page, model, args.moves)
                        rows.append({"state": state, "resolution": res, "samples": len(times),
                                     "p50_s": round(statistics.median(times), 3), "p95_s": round(pct(times, 0.95), 3),
                                     "max_s": round(max(times), 3), "load_avg_1m": round(os.getloadavg()[0], 2)})
                        print(rows[-1], flush=True)
                if trainer is not None:
                    training["kimg_at_end"] = training_kimg(ws)
                    training["job_status"] = [json.loads(p.read_text())["status"] for p in ws.jobs_dir.glob("*.json")]
                    trainer.kill()
                browser.close()
        finally:
            server.stop()
            _kill_workers(ws)
    idle256 = next(r for r in rows if r["state"] == "idle" and r["resolution"] == 256)
    result = {"meta": {"machine": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                       "load_avg_before": [round(x, 2) for x in load_before], "moves": args.moves,
                       "generator": "StyleGAN2, --cfg small widths (channel_base 1024, channel_max 128), z/w 128",
                       "target": "p95 < 1.5 s at 256 px idle", "target_met": idle256["p95_s"] < 1.5,
                       "training_job": training},
              "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    md = ["# Studio explore latency (slider change to new picture in the page)", "",
          f"Machine: {result['meta']['machine']}, {os.cpu_count()} CPUs; load average before: "
          f"{result['meta']['load_avg_before']} (shared machine). {args.moves} slider moves per row.", "",
          "| state | px | p50 s | p95 s | max s | load (1 min) |", "|---|---|---|---|---|---|"]
    md += [f"| {r['state']} | {r['resolution']} | {r['p50_s']} | {r['p95_s']} | {r['max_s']} | {r['load_avg_1m']} |"
           for r in rows]
    md += ["", f"The training job (DCGAN, 32 px, worker process) went from {training.get('kimg_at_start')} to "
               f"{training.get('kimg_at_end')} kimg while the training rows were measured. The machine is shared "
               "with other work (see the load column), so idle and training rows differ by that load as much "
               "as by the job.",
           "", f"Target p95 < 1.5 s at 256 px idle: {'met' if result['meta']['target_met'] else 'NOT met'}."]
    args.out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


# The headline `python -m benchmarks` prints from this script's results (one row per RESULTS file).
# headline() runs without this script's imports: it may use its argument and builtins only.
RESULTS = "studio-latency.json"


def headline(result: dict) -> tuple[float | None, str]:
    """Explore slider latency p95 at 256 px: idle, and the slowdown while a training job runs."""
    rows = {(r["state"], r["resolution"]): r for r in result["rows"]}
    idle, busy = rows[("idle", 256)], rows[("training", 256)]
    return (busy["p95_s"] / idle["p95_s"],
            f"studio explore slider -> new picture at 256 px: p95 {idle['p95_s']} s idle "
            f"(target < 1.5 s), {busy['p95_s']} s while training (ratio training / idle); "
            f"64 px idle p95 {rows[('idle', 64)]['p95_s']} s")


if __name__ == "__main__":
    main()
