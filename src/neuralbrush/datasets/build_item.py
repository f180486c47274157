"""The per-image work of :func:`neuralbrush.datasets.build.build_dataset` (run in worker
processes): decode, check, crop or pad, resize and encode one source image. Split from
:mod:`.build` (which walks the sources, fans the work out and writes the dataset) so each stays
under ~400 lines; ``process_item`` is importable from there too.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageOps

from ..core.errors import ImageLoadError, NeuralbrushError
from ..core.imageio import load_image
from .sources import SourceItem


# ---------------------------------------------------------------------------------------------
# per-image work (runs in worker processes)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Job:
    size: int
    crop: str
    min_size: int
    mirror: bool
    dedupe: bool
    pad_color: tuple[int, int, int]
    pad_color_text: str
    background: tuple[int, int, int]
    max_pixels: int
    png_level: int


@dataclass
class _Outcome:
    item: SourceItem
    reason: str | None = None
    detail: str = ""
    meta: dict = field(default_factory=dict)
    png: bytes | None = None
    png_mirror: bytes | None = None
    pixel_sha: str | None = None
    phash: int | None = None
    thumb: Any = None


def _peek(data: bytes) -> dict | None:
    """Header facts without decoding pixels: format, mode, size, frames, EXIF orientation."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            old = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None  # the loader applies the limit; here we only read headers
            try:
                im = Image.open(io.BytesIO(data))
                frames = im.n_frames if getattr(im, "is_animated", False) else 1
                try:
                    orientation = int(im.getexif().get(0x0112, 1))
                except Exception:
                    orientation = 1
                return {"format": im.format, "mode": im.mode, "size": im.size, "frames": frames,
                        "orientation": orientation, "transparency": "transparency" in im.info or "A" in im.mode}
            finally:
                Image.MAX_IMAGE_PIXELS = old
    except Exception:  # the loader will classify the problem
        return None


def _resize(img: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float] | None = None) -> tuple[Image.Image, str]:
    """Lanczos; for big downscales Pillow first reduces by an integer factor (area average)."""
    bw = (box[2] - box[0]) if box else img.width
    bh = (box[3] - box[1]) if box else img.height
    if (round(bw), round(bh)) == size and (box is None or all(float(v).is_integer() for v in box)):
        return (img.crop(tuple(int(v) for v in box)) if box else img), "none"
    factor = min(bw / size[0], bh / size[1])
    gap = 2.0 if factor > 2.0 else None
    out = img.resize(size, Image.LANCZOS, box=box, reducing_gap=gap)
    return out, ("area+lanczos" if gap else "lanczos")


def _center(img: Image.Image, size: int) -> tuple[Image.Image, list[dict]]:
    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    box = (left, top, left + s, top + s)
    out, how = _resize(img, (size, size), box)
    ops = []
    if (w, h) != (s, s):
        ops.append({"op": "crop", "box": list(box)})
    if how != "none":
        ops.append({"op": "resize", "from": [s, s], "to": [size, size], "filter": how})
    return out, ops


def _pad(img: Image.Image, size: int, color: tuple[int, int, int], color_text: str) -> tuple[Image.Image, list[dict]]:
    w, h = img.size
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized, how = _resize(img, (nw, nh))
    canvas = Image.new("RGB", (size, size), color)
    off = ((size - nw) // 2, (size - nh) // 2)
    canvas.paste(resized, off)
    ops = []
    if how != "none":
        ops.append({"op": "resize", "from": [w, h], "to": [nw, nh], "filter": how})
    if (nw, nh) != (size, size):
        ops.append({"op": "pad", "offset": list(off), "size": [size, size], "color": color_text})
    return canvas, ops


def _png(img: Image.Image, level: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=level)
    return buf.getvalue()


def process_item(item: SourceItem, job: _Job) -> _Outcome:
    """Read, validate, convert, crop/align, resize and encode one input. Never raises."""
    out = _Outcome(item)
    try:
        return _process(item, job, out)
    except ImageLoadError as e:
        out.reason, out.detail = e.reason, e.detail
    except MemoryError:
        out.reason, out.detail = "too-large", "out of memory while decoding"
    except NeuralbrushError as e:
        out.reason, out.detail = "unreadable", str(e)[:160]
    except Exception as e:  # a decoder bug must not stop a build of thousands of images
        out.reason, out.detail = "unreadable", f"{type(e).__name__}: {str(e)[:120]}"
    out.png = out.png_mirror = None
    return out


def _process(item: SourceItem, job: _Job, out: _Outcome) -> _Outcome:
    data = item.read_bytes()
    meta: dict[str, Any] = {"source": item.path, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    out.meta = meta
    head = _peek(data)
    if head is not None:
        meta.update(format=head["format"], mode=head["mode"])
        w, h = head["size"]
        if head["orientation"] in (5, 6, 7, 8):
            w, h = h, w
        meta["original_size"] = [w, h]
        used = {"center": min(w, h), "pad": max(w, h), "face": max(w, h)}[job.crop]
        if used < job.min_size and w * h <= job.max_pixels:
            out.reason = "too-small"
            out.detail = f"{w}x{h}: {'shorter' if job.crop == 'center' else 'longer'} side {used} < {job.min_size}"
            return out
    img = load_image(data, "RGB", background=job.background, name=item.path, max_pixels=job.max_pixels)
    meta["original_size"] = list(img.size)
    ops: list[dict] = []
    if head is not None:
        if head["orientation"] not in (1, 0):
            ops.append({"op": "exif-rotate", "orientation": head["orientation"]})
        if head["frames"] > 1:
            ops.append({"op": "first-frame", "frames": head["frames"]})
        if head["mode"] != "RGB":
            conv = {"op": "convert", "from": head["mode"], "to": "RGB"}
            if head["mode"].startswith("I;16") or head["mode"] in ("I", "F"):
                conv["range"] = "full range mapped to 0..255"
            ops.append(conv)
        if head["transparency"]:
            ops.append({"op": "composite-alpha", "background": "#%02x%02x%02x" % job.background})
    if job.dedupe:
        from .dedupe import pixel_digest

        out.pixel_sha = pixel_digest(img)
    if job.crop == "center":
        result, more = _center(img, job.size)
    elif job.crop == "pad":
        result, more = _pad(img, job.size, job.pad_color, job.pad_color_text)
    else:
        from .faces import FaceNotFound, align_face

        try:
            result, al = align_face(img, job.size)
        except FaceNotFound as e:
            out.reason, out.detail = "no-face", str(e)
            return out
        if al.crop_side < job.min_size:
            out.reason = "too-small"
            out.detail = f"face crop side {al.crop_side:.0f} px < {job.min_size}"
            return out
        more = [al.as_op()]
    ops.extend(more)
    meta["ops"] = ops
    if job.dedupe:
        from .dedupe import phash, thumbnail

        out.phash = phash(result)
        out.thumb = thumbnail(result)
    out.png = _png(result, job.png_level)
    if job.mirror:
        out.png_mirror = _png(ImageOps.mirror(result), job.png_level)
    return out
