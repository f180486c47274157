"""The one image loader and saver.

``load_image`` turns anything Pillow can open into a clean 8-bit RGB (or RGBA / L) image:
EXIF orientation applied; CMYK, palette (with transparency), LA/RGBA (composited on a chosen
background), 16-bit and 32-bit grayscale converted with their full range mapped to 0..255;
animated files give their first frame; a decompression-bomb limit guards memory. Files that
are missing, empty, truncated, corrupt or not images raise :class:`ImageLoadError` whose
``reason`` says which.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import sys
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .errors import ImageLoadError, UsageError

if TYPE_CHECKING:  # torch is imported by the code that makes tensors; image-only commands start without it
    import torch

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
DEFAULT_MAX_PIXELS = 178_956_970  # Pillow's own default (~13k x 13k): refuse beyond
ImageFile.LOAD_TRUNCATED_IMAGES = False

Color = tuple[int, int, int]


def parse_color(value: str | Sequence[int] | None, default: Color = (255, 255, 255)) -> Color:
    """Parse ``'#RRGGBB'``, ``'RRGGBB'``, ``'r,g,b'``, a colour name, or a sequence."""
    if value is None:
        return default
    if not isinstance(value, str):
        vals = tuple(int(v) for v in value)
        if len(vals) != 3:
            raise UsageError(f"a colour needs three components, got {value!r}")
        return vals  # type: ignore[return-value]
    v = value.strip()
    try:
        if "," in v:
            parts = tuple(int(p) for p in v.split(","))
            if len(parts) != 3 or not all(0 <= p <= 255 for p in parts):
                raise ValueError
            return parts  # type: ignore[return-value]
        from PIL import ImageColor

        if not v.startswith("#") and len(v) in (3, 6) and all(c in "0123456789abcdefABCDEF" for c in v):
            v = "#" + v
        return ImageColor.getrgb(v)[:3]  # type: ignore[return-value]
    except ValueError:
        raise UsageError(f"cannot understand the colour {value!r}; use #RRGGBB, r,g,b or a name") from None


def _to_8bit(img: Image.Image) -> Image.Image:
    """Map 16/32-bit integer and float modes to 8-bit with their full range preserved."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img)
        if img.mode.startswith("I;16"):
            arr8 = (arr.astype(np.float32) / 65535.0 * 255.0 + 0.5).astype(np.uint8)
        elif img.mode == "I":
            hi = 65535.0 if arr.max() > 255 else 255.0
            arr8 = (np.clip(arr.astype(np.float32), 0, hi) / hi * 255.0 + 0.5).astype(np.uint8)
        else:  # float
            arr = np.nan_to_num(arr.astype(np.float32))
            hi = 1.0 if arr.max() <= 1.0 else 255.0
            arr8 = (np.clip(arr, 0, hi) / hi * 255.0 + 0.5).astype(np.uint8)
        return Image.fromarray(arr8, mode="L")
    return img


def normalize_mode(img: Image.Image, mode: str = "RGB", background: Color = (255, 255, 255)) -> Image.Image:
    """Convert any Pillow image to ``RGB``, ``RGBA`` or ``L``; transparency composited on
    ``background`` when the target has no alpha."""
    if mode not in ("RGB", "RGBA", "L"):
        raise UsageError(f"unsupported image mode {mode!r}; use RGB, RGBA or L")
    img = _to_8bit(img)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode == "CMYK":
        img = img.convert("RGB")
    elif img.mode in ("1", "YCbCr", "LAB", "HSV"):
        img = img.convert("RGB")
    elif img.mode == "PA":
        img = img.convert("RGBA")
    elif img.mode == "RGBa":
        img = img.convert("RGBA")
    elif img.mode == "La":
        img = img.convert("LA")
    has_alpha = img.mode in ("RGBA", "LA")
    if mode == "RGBA":
        return img.convert("RGBA")
    if has_alpha:
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, tuple(background) + (255,))
        canvas.alpha_composite(rgba)
        img = canvas.convert("RGB")
    return img.convert(mode)


def open_image(source: str | os.PathLike | bytes, *, name: str | None = None,
               max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open and fully decode an image (first frame, EXIF orientation applied), native mode.

    ``source`` is a path or the file's bytes (``name`` then labels errors).
    """
    label = name or (str(source) if not isinstance(source, bytes) else "<bytes>")
    if isinstance(source, bytes):
        data = source
    else:
        p = Path(source)
        if not p.exists():
            raise ImageLoadError(label, "missing", "no such file")
        if p.is_dir():
            raise ImageLoadError(label, "not-an-image", "it is a folder")
        try:
            data = p.read_bytes()
        except OSError as e:
            raise ImageLoadError(label, "unreadable", e.strerror or str(e)) from None
    if len(data) == 0:
        raise ImageLoadError(label, "empty", "zero bytes")
    old_max = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)
            if max_pixels is not None and img.width * img.height > max_pixels:
                raise ImageLoadError(label, "too-large", f"{img.width}x{img.height} exceeds {max_pixels} pixels")
            img.load()
            img = ImageOps.exif_transpose(img) or img
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError(label, "not-an-image", "unrecognised format") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageLoadError(label, "too-large", str(e).split(".")[0]) from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        msg = str(e)
        # "Truncated File Read" (JPEG cut inside its headers) counts too; a broken zlib stream
        # inside a complete file is corruption, not truncation
        reason = "truncated" if ("truncated" in msg.lower() or "EOF" in msg) else "corrupt"
        raise ImageLoadError(label, reason, msg.splitlines()[0][:120] if msg else type(e).__name__) from None
    finally:
        Image.MAX_IMAGE_PIXELS = old_max
    if img.width == 0 or img.height == 0:
        raise ImageLoadError(label, "empty", "zero-sized image")
    return img


def load_image(source: str | os.PathLike | bytes, mode: str = "RGB", *, background: Color = (255, 255, 255),
               name: str | None = None, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Load an image robustly and return it as 8-bit ``mode`` (RGB by default)."""
    return normalize_mode(open_image(source, name=name, max_pixels=max_pixels), mode, background)


def load_array(source: str | os.PathLike | bytes, mode: str = "RGB", **kw) -> np.ndarray:
    """Like :func:`load_image` but returns a uint8 HxWxC (or HxW for ``L``) array."""
    return np.asarray(load_image(source, mode, **kw)).copy()


def is_image_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def list_images(paths: Iterable[str | os.PathLike], recursive: bool = True) -> list[Path]:
    """Image files among ``paths`` (files taken as given, folders searched), sorted per folder."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            it = p.rglob("*") if recursive else p.glob("*")
            out.extend(sorted(q for q in it if q.is_file() and is_image_file(q)))
        elif p.exists():
            out.append(p)
        else:
            raise UsageError(f"{p} does not exist")
    return out


def save_image(image: Image.Image | np.ndarray | torch.Tensor, path: str | os.PathLike, *, quality: int = 95) -> Path:
    """Save as PNG, JPEG or WebP (chosen by extension), atomically; parents are created."""
    from .checkpoint import atomic_path

    path = Path(path)
    img = to_pil(image) if not isinstance(image, Image.Image) else image
    ext = path.suffix.lower()
    fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}.get(ext)
    if fmt is None:
        raise UsageError(f"cannot save {path.name}: use a .png, .jpg or .webp file name")
    if fmt == "JPEG" and img.mode not in ("RGB", "L"):
        img = normalize_mode(img, "RGB")
    kwargs = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    if fmt == "PNG":
        kwargs = {"compress_level": 4}
    with atomic_path(path) as tmp:
        img.save(tmp, format=fmt, **kwargs)
    return path


def to_pil(x: Image.Image | np.ndarray | torch.Tensor, *, value_range: tuple[float, float] = (-1.0, 1.0)) -> Image.Image:
    """Convert a uint8/float array (HWC or HW) or a tensor (CHW / 1xCHW, in ``value_range``) to PIL."""
    if isinstance(x, Image.Image):
        return x
    torch = sys.modules.get("torch")  # a tensor can only exist if torch is loaded
    if torch is not None and isinstance(x, torch.Tensor):
        t = x.detach().float().cpu()
        if t.dim() == 4:
            if t.shape[0] != 1:
                raise ValueError("to_pil takes one image; use media.make_grid for a batch")
            t = t[0]
        lo, hi = value_range
        t = ((t - lo) / (hi - lo)).clamp(0, 1).mul(255).round().to(torch.uint8)
        arr = t.permute(1, 2, 0).numpy()
    else:
        arr = np.asarray(x)
        if arr.dtype != np.uint8:
            arr = np.clip(arr, 0, 255).round().astype(np.uint8) if arr.max() > 1.0 else (np.clip(arr, 0, 1) * 255).round().astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    return Image.fromarray(np.ascontiguousarray(arr))


def to_tensor(img: Image.Image | np.ndarray, *, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """PIL/uint8 array -> float CHW tensor scaled to ``value_range`` (default [-1, 1])."""
    import torch

    arr = np.array(img, dtype=np.uint8, copy=True)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).float() / 255.0
    lo, hi = value_range
    return t * (hi - lo) + lo
