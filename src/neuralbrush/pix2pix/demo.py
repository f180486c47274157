"""Demo stage: teach a U-Net to see edges as blooms, then let it re-imagine photographs.

Trains pix2pix on its own species blooms (``write_blooms(..., species=True)``: colour follows
the petal count; edges derived on the fly -> bloom photo) for about a minute (ten with
``full``), then applies it to the scikit-image photos with side-by-side rows
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


def run_demo(out: Path, *, full: bool, context: dict) -> list[dict]:
    from .train import train
    from .video import apply_video

    stage = Path(out) / "pix2pix"
    stage.mkdir(parents=True, exist_ok=True)
    # Species blooms (colour follows the petal count, as in a real one-kind flower collection),
    # so edges can determine the colours; the shared demo dataset draws hues at random.
    from ..datasets.samples import write_blooms

    dataset = stage / "species-blooms"
    write_blooms(dataset, 300 if full else 160, 64, seed=0, species=True)
    minutes = 10.0 if full else 1.1
    opts = TrainOptions(data=str(dataset), input="edges", size=64, minutes=minutes, batch=4, ngf=32, ndf=32,
                        snap_minutes=minutes / 2, outdir=str(stage / "runs"))
    info(f"pix2pix: training edges -> blooms for {minutes:g} minutes")
    result = train(opts)
    context["pix2pix_checkpoint"] = str(result.snapshot)
    items: list[dict] = []
    grid = result.run_dir / f"fakes{result.step:07d}.png"
    if grid.exists():
        items.append({"title": "Held-out blooms: edges | pix2pix | real",
                      "path": str(grid.relative_to(out)),
                      "caption": f"{result.step} steps in {result.elapsed_s / 60:.1f} min at 64 px; held-out L1 "
                                 f"{result.val_l1:.3f} vs {result.mean_image_l1:.3f} for the mean bloom."})

    photos = dict(context.get("photos") or {})
    if not photos:
        from ..datasets.samples import skimage_photo

        for name in ("astronaut", "chelsea"):
            photos[name] = str(save_image(skimage_photo(name), stage / f"{name}.png"))
    model = Pix2PixModel(result.snapshot, size=128)
    for name in [n for n in ("astronaut", "chelsea", "coffee") if n in photos][:3 if full else 2]:
        photo = load_image(photos[name])
        row = model.translate(photo).row(photo)
        path = save_image(row, stage / f"{name}_blooms.png")
        items.append({"title": f"{name} seen as blooms", "path": str(path.relative_to(out)),
                      "caption": "original | edges derived as in training | the bloom network's output"})

    first = next(iter(photos.values()), None)
    if first is not None:
        clip = stage / "pan.mp4"
        write_video(_pan_frames(load_image(first), 24 if full else 10, 128), clip, fps=8)
        video = apply_video(result.snapshot, clip, stage / "pan_blooms.mp4",
                            VideoOptions(blend=0.3, side_by_side=True, size=128))
        items.append({"title": "A pan across a photo, as blooms", "path": str(video.out.relative_to(out)),
                      "caption": "Every frame with the same noise seed and 30 % blending with the previous output."})
    return items
