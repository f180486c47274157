"""pix2pix pairs: derive an input from each photo (edges or colour clusters) and pair it with it.

The "Learning to See" recipe stores only target photos and derives the input from each one,
so the same functions serve two callers:

* ``neuralbrush dataset pairs`` writes aligned pairs (input left, photo right, one PNG each),
  the layout pix2pix codebases call "aligned";
* the pix2pix trainer derives inputs on the fly with :func:`derive_input` and augments both
  halves identically with :func:`augment_pair`.

The inputs (``edges``, ``clusters``) are derived in :mod:`.pair_inputs`; its names are importable
from here too.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps

from ..core.errors import ImageLoadError, UsageError
from ..core.progress import ProgressFn
from .pair_inputs import (CLUSTER_PALETTE, INPUT_KINDS, MAX_CLUSTERS, InputKind,  # noqa: F401 (public here too)
                          _as_rgb_array, _palette_array, cluster_labels, clusters_input, derive_input,
                          edge_thresholds, edges_input, luminance)
from .pair_options import CROPS, PairsOptions  # noqa: F401 (public here too)



# ----------------------------------------------------------------------------- pairs

def fit_photo(photo: Image.Image, size: int, crop: str = "center",
              pad_color: tuple[int, int, int] = (0, 0, 0)) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """Square ``size`` x ``size`` version of ``photo`` and the box (l, t, r, b) the photo covers.

    ``center`` crops the middle square; ``pad`` fits the whole photo and letterboxes it.
    """
    from .reader import center_crop_resize

    photo = photo.convert("RGB")
    if crop == "center":
        return center_crop_resize(photo, size), (0, 0, size, size)
    if crop == "pad":
        fitted = ImageOps.contain(photo, (size, size), Image.LANCZOS)
        canvas = Image.new("RGB", (size, size), tuple(pad_color))
        left, top = (size - fitted.width) // 2, (size - fitted.height) // 2
        canvas.paste(fitted, (left, top))
        return canvas, (left, top, left + fitted.width, top + fitted.height)
    raise UsageError(f"unknown crop {crop!r}; use center or pad")


def make_pair(photo: Image.Image | np.ndarray, kind: InputKind, size: int = 256, *, crop: str = "center",
              pad_color: tuple[int, int, int] = (0, 0, 0), clusters: int = 7, seed: int = 0,
              palette: Sequence[Sequence[int]] | np.ndarray | None = None, thickness: int = 1) -> Image.Image:
    """An aligned pair, ``2*size`` x ``size``: the derived input left, the photo right.

    The photo is cropped/letterboxed to ``size`` first and the input derived from the result,
    so line widths are in output pixels. With ``crop='pad'`` the input is derived from the
    photo area only; its border is white for edges and ``pad_color`` for clusters.
    """
    if not isinstance(photo, Image.Image):
        photo = Image.fromarray(_as_rgb_array(photo), "RGB")
    if size < 8:
        raise UsageError(f"the pair size must be at least 8 pixels, got {size}")
    target, box = fit_photo(photo, size, crop, pad_color)
    region = target.crop(box)
    derived = derive_input(region, kind, clusters=clusters, seed=seed, palette=palette, thickness=thickness)
    if box != (0, 0, size, size):
        border = (255, 255, 255) if kind == "edges" else tuple(pad_color)
        a = Image.new("RGB", (size, size), border)
        a.paste(derived, box[:2])
    else:
        a = derived
    pair = Image.new("RGB", (2 * size, size))
    pair.paste(a, (0, 0))
    pair.paste(target, (size, 0))
    return pair


def split_pair(img: Image.Image | np.ndarray) -> tuple[Image.Image, Image.Image]:
    """Split an aligned pair (input | target side by side) into ``(A, B)``."""
    if not isinstance(img, Image.Image):
        img = Image.fromarray(np.asarray(img))
    w, h = img.size
    if w % 2:
        raise UsageError(f"an aligned pair has an even width (A and B side by side), got {w}x{h}")
    half = w // 2
    return img.crop((0, 0, half, h)), img.crop((half, 0, w, h))


def augment_pair(a: Image.Image | np.ndarray, b: Image.Image | np.ndarray, *, size: int,
                 scale: tuple[float, float] = (1.0, 1.3), flip: bool = True,
                 rng: np.random.Generator | None = None,
                 resample: int = Image.BICUBIC) -> tuple[Image.Image, Image.Image]:
    """Random scale (``scale`` x ``size``), crop to ``size`` and horizontal flip, identical on A and B.

    A and B must have the same size. Returns two ``size`` x ``size`` PIL images. Both halves
    are resampled the same way (``resample``), so ``augment_pair(x, x)`` gives two equal images.
    """
    rng = rng if rng is not None else np.random.default_rng()
    a = a if isinstance(a, Image.Image) else Image.fromarray(np.asarray(a))
    b = b if isinstance(b, Image.Image) else Image.fromarray(np.asarray(b))
    if a.size != b.size:
        raise ValueError(f"A and B differ in size: {a.size} vs {b.size}")
    lo, hi = scale
    if not 0 < lo <= hi:
        raise UsageError(f"the scale range must satisfy 0 < low <= high, got {scale}")
    s = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
    w, h = a.size
    # scale so the shorter side becomes round(size * s) (at least size), aspect kept
    target = max(size, int(round(size * s)))
    f = target / min(w, h)
    nw, nh = max(size, int(round(w * f))), max(size, int(round(h * f)))
    if (nw, nh) != (w, h):
        a = a.resize((nw, nh), resample)
        b = b.resize((nw, nh), resample)
    x = int(rng.integers(0, nw - size + 1))
    y = int(rng.integers(0, nh - size + 1))
    box = (x, y, x + size, y + size)
    a, b = a.crop(box), b.crop(box)
    if flip and rng.random() < 0.5:
        a, b = a.transpose(Image.FLIP_LEFT_RIGHT), b.transpose(Image.FLIP_LEFT_RIGHT)
    return a, b


# ----------------------------------------------------------------------------- dataset writer

@dataclass
class PairsResult:
    out: Path
    train: int
    val: int
    rejected: list[dict]
    contact_sheet: Path | None


def build_pairs(sources: Sequence[str | os.PathLike], out: str | os.PathLike,
                options: PairsOptions | None = None, *, progress: ProgressFn | None = None) -> PairsResult:
    """Write ``out/train/*.png`` (and ``out/val``) aligned pairs from the photos in ``sources``.

    Also writes ``dataset.json`` (options, palette, per-pair metadata, rejected files),
    ``options.json``, ``rejected.txt`` and ``contact_sheet.png``. Unreadable or too-small
    photos are skipped and reported, never fatal. ``progress`` gets an event per photo (None: a bar).
    """
    from ..core.checkpoint import atomic_path, write_json
    from ..core.imageio import load_image, save_image
    from ..core.media import make_grid
    from ..core.outputs import check_writable_output
    from ..core.progress import each
    from .sources import iter_sources

    opts = options or PairsOptions()
    opts.validate()
    out = Path(out)
    check_writable_output(out, "folder", what="pairs folder")
    items = list(iter_sources(sources))
    if not items:
        raise UsageError("no image files found in " + ", ".join(str(s) for s in sources))
    if ((out / "dataset.json").exists() or any(out.glob("train/*.png"))) and not opts.overwrite:
        raise UsageError(f"{out} already holds a pairs dataset; choose a new --out folder or pass --overwrite")

    records: list[dict] = []
    rejected: list[dict] = []
    pairs_for_sheet: list[Image.Image] = []
    staged: list[tuple[dict, Path]] = []
    out_existed = out.exists()
    tmp_dir = out / ".staging"
    try:
        if tmp_dir.exists():  # left by an interrupted run
            for old in tmp_dir.glob("*"):
                old.unlink()
        for item in each(items, progress, "making pairs"):
            try:
                data = item.read_bytes()
                photo = load_image(data, name=item.path)
            except ImageLoadError as e:
                rejected.append({"source": item.path, "reason": e.reason, "detail": e.detail})
                continue
            if min(photo.size) < opts.min_size:
                rejected.append({"source": item.path, "reason": "too-small",
                                 "detail": f"{photo.width}x{photo.height} < --min-size {opts.min_size}"})
                continue
            pair = make_pair(photo, opts.input, opts.size, crop=opts.crop, pad_color=tuple(opts.pad_color),
                             clusters=opts.clusters, seed=opts.seed, palette=opts.palette, thickness=opts.thickness)
            idx = len(staged)
            path = save_image(pair, tmp_dir / f"{idx:06d}.png")
            staged.append(({"source": item.path, "original_size": [photo.width, photo.height],
                            "sha256": hashlib.sha256(data).hexdigest()}, path))
            if len(pairs_for_sheet) < opts.contact_sheet:
                pairs_for_sheet.append(pair)
        if not staged:  # failing on its inputs, the command leaves nothing behind: the reasons go in the sentence
            shown = "; ".join(f"{Path(r['source'].split(':')[-1]).name}: {r['reason']}"
                              + (f" ({r['detail']})" if r["detail"] else "") for r in rejected[:3])
            more = f"; and {len(rejected) - 3} more" if len(rejected) > 3 else ""
            raise UsageError(f"none of the {len(items)} files could be used ({shown}{more})")
    except BaseException:
        _remove_staging(tmp_dir, out if not out_existed else None)
        raise

    if opts.overwrite:  # only now that new pairs exist: only what an earlier run of this command wrote
        for split in ("train", "val"):
            for old in (out / split).glob("*.png"):
                old.unlink()
    # deterministic train/val split by seed (exact count)
    n = len(staged)
    n_val = int(round(n * opts.val_fraction)) if n > 1 else 0
    val_idx = set(np.random.default_rng(opts.seed).permutation(n)[:n_val].tolist())
    counters = {"train": 0, "val": 0}
    for i, (meta, path) in enumerate(staged):
        split = "val" if i in val_idx else "train"
        stem = _safe_stem(meta["source"])
        dest = out / split / f"{counters[split]:05d}_{stem}.png"
        counters[split] += 1
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, dest)
        records.append({"file": dest.relative_to(out).as_posix(), "split": split, **meta})
    if tmp_dir.exists():
        tmp_dir.rmdir()

    options_json = asdict(opts)
    options_json["sources"] = [str(s) for s in sources]
    write_json(out / "options.json", options_json)
    doc = {
        "format": "neuralbrush-pairs",
        "version": 1,
        "layout": "aligned: input A on the left, target photo B on the right, each size x size",
        "input": opts.input,
        "size": opts.size,
        "options": options_json,
        "counts": {"train": counters["train"], "val": counters["val"], "rejected": len(rejected)},
        "pairs": records,
        "rejected": rejected,
    }
    if opts.input == "clusters":
        doc["cluster_colors"] = [list(c) for c in opts.palette[: opts.clusters]]
    write_json(out / "dataset.json", doc)
    with atomic_path(out / "rejected.txt") as tmp:
        tmp.write_text("".join(f"{r['source']}: {r['reason']}" + (f" ({r['detail']})" if r["detail"] else "") + "\n"
                               for r in rejected), encoding="utf-8")
    sheet = None
    if pairs_for_sheet:
        thumbs = [p.resize((min(2 * opts.size, 256), min(opts.size, 128)), Image.LANCZOS) for p in pairs_for_sheet]
        cols = 2 if len(thumbs) > 3 else 1
        rows = (len(thumbs) + cols - 1) // cols
        sheet = save_image(make_grid(thumbs, (cols, rows), pad=4, background=(32, 32, 32)), out / "contact_sheet.png")
    return PairsResult(out, counters["train"], counters["val"], rejected, sheet)


def _remove_staging(tmp_dir: Path, created: Path | None) -> None:
    """Undo a run that failed before publishing: its staged pairs, and ``created`` (the output
    folder this run made) when nothing else is in it."""
    import shutil

    shutil.rmtree(tmp_dir, ignore_errors=True)
    if created is not None:
        try:
            created.rmdir()
        except OSError:
            pass


def _safe_stem(name: str) -> str:
    stem = Path(name.split(":")[-1]).stem
    cleaned = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:40]
    return cleaned or "photo"


def pair_files(root: str | os.PathLike, split: str = "train") -> list[Path]:
    """The pair PNGs of a dataset written by :func:`build_pairs` (sorted)."""
    folder = Path(root) / split
    if not folder.is_dir():
        raise UsageError(f"{root} has no {split}/ folder of pairs (make one with `neuralbrush dataset pairs`)")
    return sorted(folder.glob("*.png"))


def load_pair(path: str | os.PathLike | bytes) -> tuple[Image.Image, Image.Image]:
    """Read one aligned pair file and split it into ``(A, B)``."""
    from ..core.imageio import load_image

    return split_pair(load_image(path))
