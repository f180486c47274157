"""Demo stage "datasets": a messy folder of blooms becomes a clean 64 px dataset; a face is aligned.

Writes under ``out/datasets/`` (the messy source folder, the built dataset, its report, contact
sheet and preview GIF, a face-alignment figure) and the scikit-image photos under
``out/photos/``. Sets ``context["dataset"]`` (the built dataset folder) and
``context["photos"]`` ({name: png path}) for the stages that follow.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..core.progress import each, info
from .build import build_dataset
from .samples import bloom, skimage_photo

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def _write_messy_source(folder: Path, count: int, seed: int = 7) -> dict[str, int]:
    """``count`` blooms of 96-128 px (PNG and JPEG, some not square) plus duplicates and broken files."""
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "garden").mkdir(parents=True)
    (folder / "meadow").mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in each(range(count), None, "drawing blooms"):
        size = int(rng.integers(96, 129))
        im = bloom(size, seed * 100_003 + i)
        if i % 5 == 0:  # some landscape/portrait ones for the centre crop to handle
            w = int(size * rng.uniform(1.0, 1.3))
            im = im.resize((w, size), Image.LANCZOS) if i % 2 else im.resize((size, w), Image.LANCZOS)
        sub = folder / ("garden" if i % 2 else "meadow")
        if i % 3 == 0:
            im.save(sub / f"bloom_{i:04d}.jpg", quality=92)
        else:
            im.save(sub / f"bloom_{i:04d}.png")
    # duplicates: an exact copy and a re-encoded, slightly smaller copy
    first = next((folder / "meadow").glob("bloom_0000.*"))
    shutil.copy(first, folder / "garden" / "copy_of_bloom_0000.png" if first.suffix == ".png" else folder / "garden" / "copy_of_bloom_0000.jpg")
    second = Image.open(next((folder / "garden").glob("bloom_0001.*"))).convert("RGB")
    second.resize((second.width - 6, second.height - 6), Image.LANCZOS).save(folder / "meadow" / "resaved_0001.jpg", quality=80)
    # broken files of the kinds real folders hold
    good = (folder / "garden" / "bloom_0001.png").read_bytes() if (folder / "garden" / "bloom_0001.png").exists() else b""
    (folder / "meadow" / "half_downloaded.png").write_bytes(good[: len(good) // 2] or b"\x89PNG\r\n\x1a\n")
    (folder / "meadow" / "empty.jpg").write_bytes(b"")
    (folder / "garden" / "notes.png").write_text("shopping list: seeds, soil\n")
    bloom(32, 1).save(folder / "garden" / "thumbnail.png")
    return {"blooms": count, "duplicates": 2, "broken": 4}


def _face_figure(out_path: Path) -> str:
    """Astronaut tilted and shrunk on a canvas, then aligned: input with eyes marked | aligned output."""
    import cv2

    from . import faces as F

    photo = np.asarray(skimage_photo("astronaut"))
    h, w = photo.shape[:2]
    canvas = 640
    move = F.similarity(20.0, 0.9, (w / 2, h / 2), (canvas / 2 + 20, canvas / 2 - 10))
    tilted = F.warp_affine(photo, move, (canvas, canvas), interp=cv2.INTER_LANCZOS4, border=cv2.BORDER_CONSTANT, value=0)
    aligned, al = F.align_face(tilted, 256)
    left = Image.fromarray(tilted)
    d = ImageDraw.Draw(left)
    for x, y in al.landmarks.eyes:
        d.ellipse((x - 5, y - 5, x + 5, y + 5), outline=(255, 60, 60), width=2)
    q = [tuple(p) for p in al.quad]
    d.line(q + [q[0]], fill=(255, 220, 0), width=2)
    right = aligned.copy()
    d = ImageDraw.Draw(right)
    for x, y in F.target_eye_positions(256):
        d.line((x - 6, y, x + 6, y), fill=(0, 255, 120), width=1)
        d.line((x, y - 6, x, y + 6), fill=(0, 255, 120), width=1)
    from ..core.media import side_by_side

    fig = side_by_side([left, right], labels=["detected eyes and FFHQ crop", "aligned 256 px (targets +)"], height=384, pad=4)
    fig.save(out_path)
    return (f"The astronaut turned 20 degrees and shrunk on a bigger canvas: Haar cascades find the eyes "
            f"(tried on rotated copies), the FFHQ crop is warped so they land on the crosses "
            f"(rotation {al.rotation_degrees:.1f} degrees, crop side {al.crop_side:.0f} px).")


def run_demo(out: Path, *, full: bool, context: dict) -> list[dict]:
    out = Path(out)
    area = out / "datasets"
    area.mkdir(parents=True, exist_ok=True)
    items: list[dict] = []

    photos_dir = out / "photos"
    photos_dir.mkdir(parents=True, exist_ok=True)
    photos = {}
    for name in PHOTOS:
        p = photos_dir / f"{name}.png"
        skimage_photo(name).save(p)
        photos[name] = str(p)
    context["photos"] = photos

    count = 1000 if full else 240
    info(f"writing {count} blooms and a few broken files")
    made = _write_messy_source(area / "source", count)
    result = build_dataset([area / "source"], area / "blooms", size=64, min_size=64, dedupe=True, mirror=False,
                           overwrite=True, workers=0 if full else 1, sample_count=64)
    context["dataset"] = str(result.output)
    reasons = ", ".join(f"{n} {r}" for r, n in result.rejected_by_reason.items())
    line = (f"{result.candidates} files in, {result.accepted} kept, {len(result.rejected)} rejected ({reasons}); "
            f"every rejection is listed in blooms-report/rejected.csv.")
    info(line)
    rel = lambda p: Path(p).relative_to(out).as_posix()  # noqa: E731
    if result.contact_sheet:
        items.append({"title": "Dataset contact sheet",
                      "path": rel(result.contact_sheet),
                      "caption": f"64 of the {result.written} images of the 64 px blooms dataset "
                                 f"(built from {made['blooms']} procedural blooms, centre-cropped, Lanczos). {line}"})
    if result.preview_gif:
        items.append({"title": "Dataset preview", "path": rel(result.preview_gif),
                      "caption": "A sample of the dataset as an animated GIF."})
    try:
        caption = _face_figure(area / "face_alignment.png")
        items.append({"title": "Face alignment", "path": rel(area / "face_alignment.png"), "caption": caption})
    except Exception as e:  # the demo still shows the dataset if OpenCV misbehaves
        info(f"face alignment example skipped: {e}")
    return items
