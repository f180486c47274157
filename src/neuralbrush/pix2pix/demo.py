"""Demo stage: a U-Net that sees edges as blooms re-imagines photographs.

The model is the bundled ``blooms64-pix2pix-edges`` (trained by this project on its own species
blooms: ``write_blooms(..., species=True)``, colour follows the petal count; its command and
scores are in its record), checked on species blooms it never saw (L1 against the mean bloom).
With ``full`` (or when the package lacks the bundled file) a model is also trained live for ten
minutes (one). Then the model is applied to the scikit-image photos with side-by-side rows
original | edges | output, and to a short pan across a photo as a video with temporal blending.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..core.imageio import load_image, save_image
from ..core.media import write_video
from ..core.progress import info
from .apply import Pix2PixModel
from .options import TrainOptions, VideoOptions


def _pan_frames(photo: Image.Image, count: int, size: int) -> list[np.ndarray]:
    """A slow pan across ``photo``: square crops sliding left to right."""
    w, h = photo.size
    side = min(w, h)
    xs = np.linspace(0, max(0, w - side), count).round().astype(int)
    return [np.asarray(photo.crop((x, 0, x + side, side)).resize((size, size), Image.LANCZOS)) for x in xs]


def _live_training(stage: Path, out: Path, full: bool) -> tuple[Path, list[dict]]:
    """Train edges -> species blooms live (about a minute; ten with ``full``)."""
    from ..datasets.samples import write_blooms
    from .train import train

    # Species blooms (colour follows the petal count, as in a real one-kind flower collection),
    # so edges can determine the colours; the shared demo dataset draws hues at random.
    dataset = stage / "species-blooms"
    write_blooms(dataset, 300 if full else 160, 64, seed=0, species=True)
    minutes = 10.0 if full else 1.1
    opts = TrainOptions(data=str(dataset), input="edges", size=64, minutes=minutes, batch=4, ngf=32, ndf=32,
                        snap_minutes=minutes / 2, outdir=str(stage / "runs"))
    info(f"pix2pix: training edges -> blooms for {minutes:g} minutes")
    result = train(opts)
    items = []
    grid = result.run_dir / f"fakes{result.step:07d}.png"
    if grid.exists():
        items.append({"title": "Trained live: held-out blooms, edges | pix2pix | real",
                      "path": str(grid.relative_to(out)),
                      "caption": f"{result.step} steps in {result.elapsed_s / 60:.1f} min at 64 px; held-out L1 "
                                 f"{result.val_l1:.3f} vs {result.mean_image_l1:.3f} for the mean bloom."})
    return result.snapshot, items


def _bundled_check(model_path: Path, stage: Path, out: Path) -> list[dict]:
    """The bundled model on species blooms it never saw, with the numbers."""
    from ..core.device import resolve_runtime
    from .apply import load_generator
    from .evaluate import unseen_blooms_check

    G, _ = load_generator(model_path)
    check = unseen_blooms_check(G, resolve_runtime("auto", "auto"), stage / "unseen")
    path = save_image(check["grid"], stage / "unseen-blooms.png")
    return [{"title": "Bundled model on blooms it never saw: edges | pix2pix | real",
             "path": str(path.relative_to(out)),
             "caption": (f"{_bundled_words()}. On {check['images']} unseen species blooms: L1 {check['val_L1']:.3f} "
                         f"(luma {check['val_L1_luma']:.3f}) against {check['mean_image_L1']:.3f} "
                         f"({check['mean_image_L1_luma']:.3f}) for always drawing the mean bloom.")}]


def _bundled_words() -> str:
    from ..weights import store

    rec = store.bundled_record(BUNDLED)
    cmd = (rec.get("commands") or [""])[-1]
    return f"Bundled model {BUNDLED}, trained by this project" + (f" with `{cmd}`" if cmd else "")


BUNDLED = "blooms64-pix2pix-edges"


def run_demo(out: Path, *, full: bool, context: dict) -> list[dict]:
    from ..weights import store
    from .video import apply_video

    out = Path(out)
    stage = out / "pix2pix"
    stage.mkdir(parents=True, exist_ok=True)
    items: list[dict] = []
    bundled = store.find(BUNDLED)
    if full or bundled is None:  # the fast demo trains only the GAN live; its pix2pix is the bundled model
        snapshot, items = _live_training(stage, out, full)
        context["pix2pix_checkpoint"] = str(snapshot)
    model_path = bundled if bundled is not None else snapshot
    if bundled is not None:
        context["pix2pix_model"] = str(bundled)
        items += _bundled_check(bundled, stage, out)
    which = "the bundled model" if bundled is not None else "the model trained above"

    photos = dict(context.get("photos") or {})
    if not photos:
        from ..datasets.samples import skimage_photo

        for name in ("astronaut", "chelsea"):
            photos[name] = str(save_image(skimage_photo(name), stage / f"{name}.png"))
    model = Pix2PixModel(model_path, size=128)
    for name in [n for n in ("astronaut", "chelsea", "coffee") if n in photos][:3 if full else 2]:
        photo = load_image(photos[name])
        row = model.translate(photo).row(photo)
        path = save_image(row, stage / f"{name}_blooms.png")
        items.append({"title": f"{name} seen as blooms", "path": str(path.relative_to(out)),
                      "caption": f"original | edges derived as in training | the output of {which}"})

    first = next(iter(photos.values()), None)
    if first is not None:
        clip = stage / "pan.mp4"
        write_video(_pan_frames(load_image(first), 24 if full else 10, 128), clip, fps=8)
        video = apply_video(model_path, clip, stage / "pan_blooms.mp4",
                            VideoOptions(blend=0.3, side_by_side=True, size=128))
        items.append({"title": "A pan across a photo, as blooms", "path": str(video.out.relative_to(out)),
                      "caption": f"Every frame through {which}, with the same noise seed and 30 % blending with "
                                 "the previous output."})
    return items
