"""A 30 s, 30 fps storyboard film at 64 px on this CPU: wall time, peak memory (against a 10 s
film: memory must not grow with length), and resume after SIGKILL halfway without
re-rendering finished frames. Runs the real CLI in subprocesses.

    .venv/bin/python benchmarks/bench_latent_storyboard.py [--model MODEL] [--seconds 30]

Without --model a random-weight generator of the CPU ``small`` preset at 64 px is saved and
used. Writes docs/benchmarks/latent-storyboard.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def story_yaml(model: str, seconds: int) -> str:
    # 3 keyframes, each a 5-stop noise loop (150 frames) then a 150-frame transition (closing back
    # to the first): 900 frames = 30 s. Shorter films scale the frame counts.
    per = max(2, seconds * 30 // 6)
    return (f"model: {model}\nfps: 30\nspace: w\ntrunc: 0.8\nseed: 7\n"
            f"loop: {{stops: 5, frames_per_stop: {per // 5}, sigma: 0.3}}\n"
            f"transition: {{frames: {per}, easing: ease-in-out}}\n"
            "keyframes:\n  - seed: 11\n  - seed: 22\n  - seed: 33\n")


def run_cli(story: Path, out: Path, kill_at: int | None = None) -> dict:
    env = {**os.environ, "NEURALBRUSH_QUIET": "1", "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "neuralbrush", "video", "storyboard", str(story), "-o", str(out)]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    killed = False
    if kill_at is not None:
        cache = out.with_name(out.stem + ".cache")
        while proc.poll() is None:
            dirs = list(cache.glob("frames-*"))
            if dirs and len(list(dirs[0].glob("[0-9]*.png"))) >= kill_at:
                proc.send_signal(signal.SIGKILL)
                killed = True
                break
            time.sleep(0.02)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode(errors="replace")
    return {"seconds": time.perf_counter() - t, "status": status, "killed": killed,
            "max_rss_mb": usage.ru_maxrss / 1024, "stderr": err[-400:]}


def frames_of(out: Path) -> dict[str, int]:
    dirs = list(out.with_name(out.stem + ".cache").glob("frames-*"))
    return {p.name: p.stat().st_mtime_ns for p in dirs[0].glob("[0-9]*.png")} if dirs else {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-story-"))
    model = args.model
    if model is None:
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_latent_projection import random_small64

        from neuralbrush.gan.snapshot import save_snapshot

        model = str(work / "network-snapshot-000000.safetensors")
        save_snapshot(model, arch="stylegan2", G=random_small64())
    from neuralbrush.core.media import video_info

    results = {}
    for label, secs in (("short", max(2, args.seconds // 3)), ("full", args.seconds)):
        story = work / f"{label}.yaml"
        story.write_text(story_yaml(model, secs), encoding="utf-8")
        out = work / f"{label}.mp4"
        r = run_cli(story, out)
        info = video_info(out)
        r.update(frames=info["frames"], fps=info["fps"], size=list(info["size"]))
        results[label] = r
        print(label, {k: v for k, v in r.items() if k != "stderr"}, flush=True)
    # kill halfway, then resume
    story = work / "full.yaml"
    out = work / "resume.mp4"
    total = results["full"]["frames"]
    first = run_cli(story, out, kill_at=total // 2)
    before = frames_of(out)
    second = run_cli(story, out)
    after = frames_of(out)
    untouched = sum(after.get(k) == v for k, v in before.items())
    resume = {"killed_run_s": first["seconds"], "killed": first["killed"], "frames_before_kill": len(before),
              "frames_untouched_by_resume": untouched, "frames_rendered_by_resume": len(after) - untouched,
              "resume_run_s": second["seconds"], "video_frames": video_info(out)["frames"],
              "resume_max_rss_mb": second["max_rss_mb"]}
    results["resume"] = resume
    print(resume, flush=True)
    full, short = results["full"], results["short"]
    lines = ["# Storyboard film on this CPU", "",
             f"Model: {args.model or 'random-weight small preset, 64 px'}; the CLI `neuralbrush video storyboard` "
             f"in a subprocess (device/precision auto), load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
             "cores at the end (shared machine).", "",
             "| film | frames | fps | size | wall time s | peak RSS MB |", "|---|---|---|---|---|---|",
             f"| {short['frames'] / short['fps']:.0f} s | {short['frames']} | {short['fps']:.0f} | "
             f"{short['size'][0]}x{short['size'][1]} | {short['seconds']:.1f} | {short['max_rss_mb']:.0f} |",
             f"| {full['frames'] / full['fps']:.0f} s | {full['frames']} | {full['fps']:.0f} | "
             f"{full['size'][0]}x{full['size'][1]} | {full['seconds']:.1f} | {full['max_rss_mb']:.0f} |", "",
             "Memory is bounded: frames are rendered in batches straight to PNG files and the MP4 is encoded "
             "streaming, so a 3x longer film uses about the same peak memory.", "",
             f"Resume: the {full['frames']}-frame render was killed (SIGKILL) after {resume['frames_before_kill']} "
             f"frames; the rerun left all {resume['frames_untouched_by_resume']} finished frames untouched, rendered "
             f"the other {resume['frames_rendered_by_resume']} and wrote a {resume['video_frames']}-frame video in "
             f"{resume['resume_run_s']:.1f} s."]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latent-storyboard.md").write_text(text, encoding="utf-8")
    (args.out / "latent-storyboard.json").write_text(json.dumps(results, indent=2, default=str) + "\n",
                                                     encoding="utf-8")


# The headline `python -m benchmarks` prints from this script's results (one row per RESULTS file).
# headline() runs without this script's imports: it may use its argument and builtins only.
RESULTS = "latent-storyboard.json"


def headline(result: dict) -> tuple[float | None, str]:
    """Peak memory of the long film over the short one (about 1: memory does not grow with length)."""
    short, full, resume = result["short"], result["full"], result["resume"]
    return (full["max_rss_mb"] / short["max_rss_mb"],
            f"storyboard peak memory, {full['frames']} vs {short['frames']} frames "
            f"({full['seconds']:.0f} s for {full['frames']}); resume after SIGKILL re-rendered "
            f"{resume['frames_before_kill'] - resume['frames_untouched_by_resume']} of "
            f"{resume['frames_before_kill']} finished frames")


if __name__ == "__main__":
    main()
