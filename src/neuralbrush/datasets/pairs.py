"""pix2pix pairs: derive an input from each photo (edges or colour clusters) and pair it with it.

The "Learning to See" recipe stores only target photos and derives the input from each one,
so the same functions serve two callers:

* ``neuralbrush dataset pairs`` writes aligned pairs (input left, photo right, one PNG each),
  the layout pix2pix codebases call "aligned";
* the pix2pix trainer derives inputs on the fly with :func:`derive_input` and augments both
  halves identically with :func:`augment_pair`.

Inputs:

* ``edges``: Canny edges drawn as dark lines on white (like edges2shoes). The thresholds are
  chosen per image by the median sigma rule ``lower = (1 - sigma) * m``,
  ``upper = (1 + sigma) * m``, where ``m`` is the median gradient magnitude of the edge
  candidates (pixels whose gradient is above the image's mean gradient) of the lightly blurred
  gray image. Because ``m`` scales with the image's contrast, a dim or washed-out copy of a
  photo gets (nearly) the same edges as the original.
* ``clusters``: k-means colour clustering of the photo (``neuralbrush.effects.quantize``); the
  clusters are sorted by the luminance of their centres and painted, darkest first, with the
  fixed :data:`CLUSTER_PALETTE`. The input is a semantic map that does not carry the photo's
  own colours, so similar photos get consistent inputs.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
from PIL import Image, ImageOps

from ..core.errors import ImageLoadError, UsageError
from ..core.progress import ProgressFn
from ..core.options import option

InputKind = Literal["edges", "clusters"]
INPUT_KINDS = ("edges", "clusters")
CROPS = ("center", "pad")

#: Cluster colours, darkest cluster first. Kenneth Kelly's sequence of maximally distinct
#: colours (1965) without its white and black: cluster ``i`` (in order of increasing centre
#: luminance) is always painted ``CLUSTER_PALETTE[i]``.
CLUSTER_PALETTE: tuple[tuple[int, int, int], ...] = (
    (0xF3, 0xC3, 0x00),  # vivid yellow
    (0x87, 0x56, 0x92),  # strong purple
    (0xF3, 0x84, 0x00),  # vivid orange
    (0xA1, 0xCA, 0xF1),  # very light blue
    (0xBE, 0x00, 0x32),  # vivid red
    (0xC2, 0xB2, 0x80),  # grayish yellow
    (0x84, 0x84, 0x82),  # medium gray
    (0x00, 0x88, 0x56),  # vivid green
    (0xE6, 0x8F, 0xAC),  # strong purplish pink
    (0x00, 0x67, 0xA5),  # strong blue
    (0xF9, 0x93, 0x79),  # strong yellowish pink
    (0x60, 0x4E, 0x97),  # strong violet
    (0xF6, 0xA6, 0x00),  # vivid orange yellow
    (0xB3, 0x44, 0x6C),  # strong purplish red
    (0xDC, 0xD3, 0x00),  # vivid greenish yellow
    (0x88, 0x2D, 0x17),  # strong reddish brown
    (0x8D, 0xB6, 0x00),  # vivid yellowish green
    (0x65, 0x45, 0x22),  # deep yellowish brown
    (0xE2, 0x58, 0x22),  # vivid reddish orange
    (0x2B, 0x3D, 0x26),  # dark olive green
)
MAX_CLUSTERS = len(CLUSTER_PALETTE)


# ----------------------------------------------------------------------------- derivation

def _as_rgb_array(photo: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(photo, Image.Image):
        from ..core.imageio import normalize_mode

        return np.asarray(normalize_mode(photo, "RGB"))
    arr = np.asarray(photo)
    if arr.dtype != np.uint8:
        raise ValueError(f"photo arrays must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"photo arrays must be HxW, HxWx3 or HxWx4, got shape {arr.shape}")
    return arr[:, :, :3]


def edge_thresholds(gray: np.ndarray, sigma: float = 0.33) -> tuple[float, float]:
    """Canny thresholds for a (blurred) uint8 gray image by the median sigma rule.

    ``m`` is the median L2 Sobel gradient magnitude over the edge candidates (pixels whose
    gradient exceeds the mean gradient); returns ``((1 - sigma) * m, (1 + sigma) * m)``, or
    ``(inf, inf)`` for a flat image (no edges at all).
    """
    import cv2

    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.sqrt(gx * gx + gy * gy)
    candidates = mag[mag > mag.mean()]
    if candidates.size == 0:
        return float("inf"), float("inf")
    m = float(np.median(candidates))
    return max(0.0, (1.0 - sigma) * m), (1.0 + sigma) * m


def edges_input(photo: Image.Image | np.ndarray, *, thickness: int = 1, sigma: float = 0.33,
                blur: float = 1.0) -> Image.Image:
    """Canny edges of ``photo`` as dark lines (``thickness`` px) on white, an RGB image.

    ``blur`` is the Gaussian sigma (pixels) applied to the gray image first; ``sigma`` the
    width of the threshold band around the median (see :func:`edge_thresholds`).
    """
    import cv2

    if thickness < 1:
        raise UsageError(f"the edge thickness must be at least 1 pixel, got {thickness}")
    gray = cv2.cvtColor(_as_rgb_array(photo), cv2.COLOR_RGB2GRAY)
    if blur > 0:
        gray = cv2.GaussianBlur(gray, (0, 0), sigmaX=float(blur))
    lower, upper = edge_thresholds(gray, sigma)
    if np.isfinite(upper):
        edges = cv2.Canny(gray, lower, upper, L2gradient=True)
    else:
        edges = np.zeros_like(gray)
    if thickness > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (thickness, thickness))
        edges = cv2.dilate(edges, kernel)
    lines = np.where(edges > 0, 0, 255).astype(np.uint8)
    return Image.fromarray(np.repeat(lines[:, :, None], 3, axis=2), "RGB")


def _palette_array(palette: Sequence[Sequence[int]] | np.ndarray | None, k: int) -> np.ndarray:
    pal = np.asarray(CLUSTER_PALETTE if palette is None else palette, dtype=np.int64).reshape(-1, 3)
    if len(pal) < k:
        raise UsageError(f"{k} clusters need at least {k} palette colours, the palette has {len(pal)}")
    if (pal < 0).any() or (pal > 255).any():
        raise UsageError("palette colours must be 0..255 RGB triples")
    return pal.astype(np.uint8)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of uint8 RGB rows (..., 3) as float."""
    rgb = np.asarray(rgb, dtype=np.float64)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def cluster_labels(photo: Image.Image | np.ndarray, clusters: int = 7, *, seed: int = 0,
                   space: str = "lab", fit_size: int | None = 64) -> np.ndarray:
    """k-means cluster index per pixel (HxW int), clusters numbered by increasing luminance.

    The cluster centres are fitted on an area-downsampled copy whose longer side is at most
    ``fit_size`` pixels (None: the full photo): it averages away noise and compression
    artefacts, so a re-encoded photo gets the same centres more often, and it is fast. Every
    pixel of the full photo is then labelled with its nearest centre. Fewer labels than
    ``clusters`` appear only when the photo has fewer distinct colours.
    """
    from ..effects.quantize import kmeans_palette, map_to_palette

    if not 1 <= clusters <= MAX_CLUSTERS:
        raise UsageError(f"--clusters must be between 1 and {MAX_CLUSTERS}, got {clusters}")
    arr = _as_rgb_array(photo)
    h, w = arr.shape[:2]
    fit = arr
    if fit_size is not None and max(h, w) > fit_size:
        f = fit_size / max(h, w)
        small = Image.fromarray(np.ascontiguousarray(arr)).resize((max(1, round(w * f)), max(1, round(h * f))), Image.BOX)
        fit = np.asarray(small)
        if len(np.unique(fit.reshape(-1, 3), axis=0)) < clusters:  # averaging merged colours: fit on all
            fit = arr
    centres = kmeans_palette(fit.reshape(-1, 3), clusters, seed=seed, space=space)
    labels = map_to_palette(arr, centres, space=space)
    # rank centres by luminance (ties broken by the packed colour, so the order is total)
    lum = luminance(centres)
    packed = centres.astype(np.int64) @ np.array([1 << 16, 1 << 8, 1])
    order = np.lexsort((packed, lum))
    rank = np.empty(len(centres), dtype=np.intp)
    rank[order] = np.arange(len(centres))
    return rank[labels]


def clusters_input(photo: Image.Image | np.ndarray, *, clusters: int = 7, seed: int = 0,
                   palette: Sequence[Sequence[int]] | np.ndarray | None = None, space: str = "lab") -> Image.Image:
    """The photo's k-means colour clusters painted in a fixed palette (darkest cluster first)."""
    pal = _palette_array(palette, clusters)
    labels = cluster_labels(photo, clusters, seed=seed, space=space)
    return Image.fromarray(pal[labels], "RGB")


def derive_input(photo: Image.Image | np.ndarray, kind: InputKind, *, clusters: int = 7, seed: int = 0,
                 palette: Sequence[Sequence[int]] | np.ndarray | None = None, thickness: int = 1) -> Image.Image:
    """The pix2pix input for ``photo``: ``'edges'`` or ``'clusters'``; same size as the photo."""
    if kind == "edges":
        return edges_input(photo, thickness=thickness)
    if kind == "clusters":
        return clusters_input(photo, clusters=clusters, seed=seed, palette=palette)
    raise UsageError(f"unknown input kind {kind!r}; use edges or clusters")


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

def _parse_color(text: str) -> tuple[int, int, int]:
    from ..core.imageio import parse_color

    return parse_color(text)


@dataclass
class PairsOptions:
    """Options of ``neuralbrush dataset pairs`` (the CLI reads its defaults from here)."""

    input: Literal["edges", "clusters"] = option(
        "edges", "Input derived from each photo: edges (Canny lines on white) or clusters (k-means colours in a fixed "
                 "palette).")
    size: int = option(256, "Side of each half of a pair in pixels (pairs are 2*size x size).", min=8)
    crop: Literal["center", "pad"] = option("center", "center: crop the middle square; pad: fit the whole photo and "
                                                      "letterbox.")
    clusters: int = option(7, "Number of colour clusters for --input clusters.", min=1, max=len(CLUSTER_PALETTE))
    thickness: int = option(1, "Edge line thickness in pixels for --input edges.", min=1)
    pad_color: tuple[int, int, int] = option((0, 0, 0), "Letterbox colour for --crop pad (#RRGGBB, r,g,b or a name).",
                                             parse=lambda text: _parse_color(text))
    val_fraction: float = option(0.0, "Fraction of pairs written to val/ instead of train/.", min=0.0, max=0.99)
    min_size: int = option(0, "Reject photos whose shorter side is smaller.", min=0)
    seed: int = option(0, "Seed for k-means and the train/val split.")
    contact_sheet: int = option(16, "Pairs shown on the contact sheet.", cli=False)
    overwrite: bool = option(False, "Replace the pairs of an earlier run in OUT.", flag="--overwrite")
    palette: list[list[int]] = option(help="Colours of the cluster input, one per cluster.", cli=False,
                                      default_factory=lambda: [list(c) for c in CLUSTER_PALETTE])

    def validate(self) -> None:
        if self.input not in INPUT_KINDS:
            raise UsageError(f"unknown --input {self.input!r}; use edges or clusters")
        if self.crop not in CROPS:
            raise UsageError(f"unknown --crop {self.crop!r}; use center or pad")
        if self.size < 8:
            raise UsageError(f"--size must be at least 8, got {self.size}")
        if not 1 <= self.clusters <= len(self.palette):
            raise UsageError(f"--clusters must be between 1 and {len(self.palette)}, got {self.clusters}")
        if self.thickness < 1:
            raise UsageError(f"--thickness must be at least 1, got {self.thickness}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise UsageError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")


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
