"""Demo stage: train a StyleGAN2-ADA generator on the blooms dataset and show how it learned.

Fast: the CPU-sized ``small`` preset at 32 px for about 75 seconds (blurry colour blooms; SWD
measures how far it got). Full: ten minutes of StyleGAN2 and four of DCGAN. Sets
``context['gan_checkpoint']`` (the last snapshot) and ``context['gan_run']`` for later stages.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..core.progress import info
from ..core.runs import snapshot_files
from .presets import TrainOptions


def _swd_caption(run_dir: Path) -> str:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return ""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if len(rows) < 2:
        return ""
    return f" SWD {rows[0]['swd']:.0f} at start -> {rows[-1]['swd']:.0f} at kimg {rows[-1]['kimg']:.1f}."


def _train(dataset: str, outdir: Path, *, arch: str, minutes: float, tick: float, snap: int) -> Path:
    from .train import train

    opts = TrainOptions(data=dataset, outdir=str(outdir), arch=arch, cfg="small", res=32, minutes=minutes,
                        tick=tick, snap=snap, grid="8x4", metric_images=192, device="auto", precision="auto",
                        batch=16 if arch == "stylegan2" else 32)
    return train(opts)


def run_demo(out: Path, *, full: bool, context: dict) -> list[dict]:
    stage = Path(out) / "gan"
    stage.mkdir(parents=True, exist_ok=True)
    dataset = context.get("dataset")
    if dataset is None:
        from ..datasets.samples import write_blooms

        dataset = stage / "blooms"
        write_blooms(dataset, 300 if full else 160, 64, seed=0)
    minutes = 10.0 if full else 1.25
    info(f"gan: training StyleGAN2-ADA (small preset, 32 px) on blooms for {minutes:g} minutes")
    run_dir = _train(str(dataset), stage / "runs", arch="stylegan2", minutes=minutes,
                     tick=1.0 if full else 0.25, snap=2)
    snaps = snapshot_files(run_dir)
    context["gan_run"] = str(run_dir)
    if snaps:
        context["gan_checkpoint"] = str(snaps[-1])
    items: list[dict] = []
    rel = lambda p: str(Path(p).relative_to(out))  # noqa: E731
    items.append({"title": "Training images (blooms)", "path": rel(run_dir / "reals.png"),
                  "caption": "The procedural blooms dataset, centre-cropped to 32 px."})
    fakes = sorted(run_dir.glob("fakes[0-9]*.png"))
    if fakes:
        items.append({"title": "StyleGAN2-ADA samples (fixed seeds)", "path": rel(fakes[-1]),
                      "caption": f"G_ema after {minutes:g} minutes on the CPU.{_swd_caption(run_dir)}"})
    if (run_dir / "progress.gif").exists():
        items.append({"title": "How the generator learned", "path": rel(run_dir / "progress.gif"),
                      "caption": "The same seeds at every snapshot, from random initialisation on."})
    if full:
        info("gan: training the DCGAN baseline for 4 minutes")
        dc = _train(str(dataset), stage / "runs", arch="dcgan", minutes=4.0, tick=2.0, snap=1)
        dc_fakes = sorted(dc.glob("fakes[0-9]*.png"))
        if dc_fakes:
            items.append({"title": "DCGAN baseline samples", "path": rel(dc_fakes[-1]),
                          "caption": f"Four minutes of DCGAN (Adam 2e-4, beta1 0.5) with ADA.{_swd_caption(dc)}"})
    return items
