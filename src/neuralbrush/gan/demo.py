"""Demo stage: train a StyleGAN2-ADA generator live, then show the bundled models' pictures.

Training is shown live: the CPU-sized ``small`` preset at 32 px for a minute (blurry colour
blooms at that point; SWD measures how far it got). Full: ten minutes of StyleGAN2 and four of
DCGAN. Then the demo models bundled with neuralbrush (``weights.store.BUNDLED``: StyleGAN2
``small`` and ``lite`` trained for 30 CPU minutes on 64 px species blooms by this project, their
commands and scores in their records) show what longer training gives, next to the real blooms.
Sets ``context['gan_checkpoint']`` for the later stages: the bundled StyleGAN2 when the package
has it (``context['gan_model_caption']`` says so), else the live run's last snapshot;
``context['gan_run']`` is the live run.
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
                        batch=None if arch == "stylegan2" else 32)  # stylegan2: the preset's (16)
    return train(opts)


def run_demo(out: Path, *, full: bool, context: dict) -> list[dict]:
    stage = Path(out) / "gan"
    stage.mkdir(parents=True, exist_ok=True)
    dataset = context.get("dataset")
    if dataset is None:
        from ..datasets.samples import write_blooms

        dataset = stage / "blooms"
        write_blooms(dataset, 300 if full else 160, 64, seed=0)
    minutes = 10.0 if full else 1.0
    info(f"gan: training StyleGAN2-ADA (small preset, 32 px) on blooms for {minutes:g} minutes")
    run_dir = _train(str(dataset), stage / "runs", arch="stylegan2", minutes=minutes,
                     tick=1.0 if full else 0.25, snap=2)
    snaps = snapshot_files(run_dir)
    context["gan_run"] = str(run_dir)
    if snaps:
        context["gan_checkpoint"] = str(snaps[-1])
        context["gan_model_caption"] = f"the generator trained live above ({minutes:g} min, 32 px)"
    items: list[dict] = []
    rel = lambda p: str(Path(p).relative_to(out))  # noqa: E731
    items.append({"title": "Training images (blooms)", "path": rel(run_dir / "reals.png"),
                  "caption": "The procedural blooms dataset, centre-cropped to 32 px."})
    fakes = sorted(run_dir.glob("fakes[0-9]*.png"))
    if fakes:
        items.append({"title": "StyleGAN2-ADA samples (fixed seeds)", "path": rel(fakes[-1]),
                      "caption": f"G_ema after {minutes:g} minute{'s' if minutes != 1 else ''} on the CPU.{_swd_caption(run_dir)}"})
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
    items += bundled_models(out, stage, context)
    return items


def bundled_caption(name: str) -> str:
    """How a bundled model was made, in a sentence, from its record."""
    from ..weights import store

    rec = store.bundled_record(name)
    if not rec:
        return f"the bundled model {name}"
    sc = rec.get("scores", {})
    bits = [f"bundled model {name}: {rec.get('description', '')}"]
    if sc.get("cpu_minutes") is not None:
        bits.append(f"{sc['cpu_minutes']:g} CPU minutes on one core ({sc.get('kimg', '?')} kimg)")
    if sc.get("swd") is not None:
        bits.append(f"SWD {sc['swd']:.0f} (real blooms against each other: {sc.get('swd_floor', '?')})")
    if rec.get("commands"):
        bits.append(f"made by `{rec['commands'][-1]}`")
    return "; ".join(bits) + "."


def bundled_models(out: Path, stage: Path, context: dict) -> list[dict]:
    """Grids of the bundled GAN demo models (fixed seeds) next to real species blooms; points the
    later stages at the bundled StyleGAN2."""
    import torch

    from ..core.media import save_grid
    from ..datasets.samples import blooms
    from ..weights import store
    from .loading import load_generator
    from .trainer_state import generate_images

    present = [n for n in ("blooms64-stylegan2", "blooms64-lite") if store.find(n)]
    if not present:
        info("gan: the bundled demo models are not in this installation; later stages use the live run")
        return []
    items = [{"title": "Real species blooms (what the bundled models learned from)",
              "path": str(save_grid(list(blooms(32, 64, seed=0, species=True)), stage / "species-reals.png",
                                    (8, 4)).relative_to(out)),
              "caption": "64 px procedural blooms whose colours follow their petal count."}]
    for name in present:
        G = load_generator(store.require(name))
        z = torch.randn(32, G.z_dim, generator=torch.Generator().manual_seed(7))
        with torch.no_grad():
            fakes = generate_images(G, z, torch.zeros(32, 0))
        path = save_grid(fakes, stage / f"{name}.png", (8, 4))
        items.append({"title": f"Bundled {name} (fixed seeds)", "path": str(path.relative_to(out)),
                      "caption": bundled_caption(name)})
    if "blooms64-stylegan2" in present:
        context["gan_checkpoint"] = str(store.require("blooms64-stylegan2"))
        context["gan_model_caption"] = "the bundled blooms64-stylegan2 model (trained by this project, not live)"
    return items
