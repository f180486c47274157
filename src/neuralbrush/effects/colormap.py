"""Colour coordinates and mapping pixels to a palette: RGB or CIE L*a*b* (``space='lab'``,
perceptually closer), nearest-colour search and dithering. Split from :mod:`.quantize` (which
fits the palettes and is the effect) so each stays under ~400 lines; its names are re-exported there.

Every pixel is mapped to its nearest palette colour with a chunked matrix product (large images
match their distinct colours once through a lookup table), so a megapixel photo maps in a fraction
of a second. Dithering diffuses the rounding error (Floyd-Steinberg) or adds a Bayer threshold
pattern (ordered) before the nearest-colour search. Floyd-Steinberg is computed exactly (the same
result as the classic raster scan) but vectorised over anti-diagonal wavefronts: pixel (x, y) only
depends on pixels whose ``x + 2y`` is smaller, so all pixels sharing ``x + 2y`` are processed in one
numpy step.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import UsageError
from .options import SPACES, _check_space  # noqa: F401 (public here too)

_CHUNK = 1 << 12  # pixels per nearest-colour chunk: small chunks keep the (n, k) distances in cache
_LUT_MIN_PIXELS = 1 << 18  # from this many pixels on, match distinct colours once (16 MB lookup table)


# ----------------------------------------------------------------------------- colour spaces

def to_space(rgb: np.ndarray, space: str) -> np.ndarray:
    """uint8 RGB (..., 3) -> float32 coordinates in ``space`` (RGB 0..255 or L*a*b*)."""
    space = _check_space(space)
    arr = np.asarray(rgb)
    if space == "rgb":
        return arr.astype(np.float32)
    import cv2

    flat = arr.reshape(-1, 1, 3).astype(np.float32) / 255.0
    lab = cv2.cvtColor(flat, cv2.COLOR_RGB2Lab)  # L 0..100, a/b about -128..127
    return lab.reshape(arr.shape).astype(np.float32)


def from_space(coords: np.ndarray, space: str) -> np.ndarray:
    """float coordinates in ``space`` (..., 3) -> uint8 RGB (rounded, clipped)."""
    space = _check_space(space)
    arr = np.asarray(coords, dtype=np.float32)
    if space == "rgb":
        return np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    import cv2

    rgb = cv2.cvtColor(arr.reshape(-1, 1, 3), cv2.COLOR_Lab2RGB).reshape(arr.shape)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def _pack(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.reshape(-1, 3).astype(np.uint32)
    return (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]


def _unpack(codes: np.ndarray) -> np.ndarray:
    codes = codes.astype(np.uint32)
    return np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255], axis=1).astype(np.uint8)


def unique_colors(pixels: np.ndarray, return_counts: bool = False):
    """Distinct RGB colours of an (N, 3) uint8 array (sorted), optionally with counts."""
    codes, counts = np.unique(_pack(pixels), return_counts=True)
    return (_unpack(codes), counts) if return_counts else _unpack(codes)



# ----------------------------------------------------------------------------- mapping

def _nearest(coords: np.ndarray, pal: np.ndarray) -> np.ndarray:
    """Index of the nearest palette row for each row of ``coords`` (both float, same space)."""
    pal = pal.astype(np.float32)
    # |x - c|^2 = |x|^2 - 2 x.c + |c|^2; |x|^2 is constant per row so it drops out of argmin.
    # Centring on the palette mean keeps float32 rounding far below one colour step.
    centre = pal.mean(axis=0, keepdims=True)
    pc = pal - centre
    half_norm = 0.5 * (pc * pc).sum(axis=1)
    out = np.empty(coords.shape[0], dtype=np.intp)
    for s in range(0, coords.shape[0], _CHUNK):
        x = coords[s:s + _CHUNK].astype(np.float32) - centre
        out[s:s + _CHUNK] = np.argmax(x @ pc.T - half_norm, axis=1)
    return out


def _nearest_dist(coords: np.ndarray, pal: np.ndarray) -> np.ndarray:
    idx = _nearest(coords, pal)
    diff = coords.astype(np.float32) - pal.astype(np.float32)[idx]
    return np.sqrt((diff * diff).sum(axis=1))


def map_to_palette(image: np.ndarray, palette: np.ndarray, *, space: str = "rgb") -> np.ndarray:
    """Label every pixel of ``image`` (HxWx3 uint8, or (N, 3)) with its nearest palette colour.

    Returns an int array of shape HxW (or N) indexing ``palette`` ((k, 3) uint8 RGB). Distances
    are Euclidean in ``space``. Large images are labelled through their distinct colours: each
    distinct colour is matched once (in chunks, so memory stays small) and pixels look it up.
    """
    space = _check_space(space)
    img = np.asarray(image)
    pal = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    if len(pal) == 0:
        raise UsageError("the palette is empty")
    if img.shape[-1] != 3:
        raise ValueError(f"map_to_palette expects RGB pixels (..., 3), got shape {img.shape}")
    flat = img.reshape(-1, 3).astype(np.uint8, copy=False)
    pal_c = to_space(pal, space)
    if flat.shape[0] >= _LUT_MIN_PIXELS:
        codes = _pack(flat)
        seen = np.zeros(1 << 24, dtype=bool)
        seen[codes] = True
        distinct = np.flatnonzero(seen).astype(np.uint32)
        lut = np.zeros(1 << 24, dtype=np.uint8 if len(pal) <= 256 else np.uint16)
        lut[distinct] = _nearest_chunked(_unpack(distinct), pal_c, space)
        labels = lut[codes].astype(np.intp)
    else:
        labels = _nearest_chunked(flat, pal_c, space)
    return labels.reshape(img.shape[:-1])


def _nearest_chunked(rgb: np.ndarray, pal_c: np.ndarray, space: str) -> np.ndarray:
    if space == "rgb":
        return _nearest(rgb, pal_c)
    out = np.empty(rgb.shape[0], dtype=np.intp)
    step = 16 * _CHUNK
    for s in range(0, rgb.shape[0], step):
        out[s:s + step] = _nearest(to_space(rgb[s:s + step], space), pal_c)
    return out


# ----------------------------------------------------------------------------- dithering

def _bayer(n: int = 8) -> np.ndarray:
    """Bayer threshold matrix of size n (a power of two), values in (-0.5, 0.5)."""
    m = np.zeros((1, 1), dtype=np.float64)
    while m.shape[0] < n:
        m = np.block([[4 * m, 4 * m + 2], [4 * m + 3, 4 * m + 1]])
    return ((m + 0.5) / m.size - 0.5).astype(np.float32)


def _palette_spacing(pal_rgb: np.ndarray) -> float:
    """Median distance from each palette colour to its nearest other colour (RGB units)."""
    p = pal_rgb.astype(np.float32)
    if len(p) < 2:
        return 0.0
    d = np.sqrt(((p[:, None, :] - p[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    return float(np.median(d.min(axis=1)))


def ordered_dither(image: np.ndarray, palette: np.ndarray, *, space: str = "rgb", size: int = 8) -> np.ndarray:
    """Labels (HxW) after adding a tiled Bayer pattern scaled to the palette's colour spacing."""
    img = np.asarray(image, dtype=np.uint8)
    h, w = img.shape[:2]
    pal = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    m = _bayer(size)
    tile = np.tile(m, (h // size + 1, w // size + 1))[:h, :w, None]
    # the offset vector (same on R, G and B) is as long as the typical gap between palette colours
    offset = tile * (_palette_spacing(pal) / np.sqrt(3.0))
    shifted = np.clip(img.astype(np.float32) + offset, 0, 255)
    if space == "rgb":
        coords = shifted.reshape(-1, 3)
    else:
        import cv2

        coords = cv2.cvtColor((shifted / 255.0).astype(np.float32), cv2.COLOR_RGB2Lab).reshape(-1, 3)
    return _nearest(coords, to_space(pal, space)).reshape(h, w)


def floyd_steinberg(image: np.ndarray, palette: np.ndarray, *, space: str = "rgb") -> np.ndarray:
    """Labels (HxW) of classic Floyd-Steinberg error diffusion (raster order, 7/3/5/1 sixteenths).

    Pixel (x, y) receives error from (x-1, y), (x+1, y-1), (x, y-1) and (x-1, y-1), all of which
    have a smaller ``x + 2y``; so every anti-diagonal ``x + 2y = t`` is one vectorised step and the
    result equals the sequential scan. Error is diffused in RGB, clamped to 0..255 (so it cannot
    pile up where the palette cannot reach); with ``space='lab'`` the nearest colour is chosen by
    L*a*b* distance.
    """
    space = _check_space(space)
    img = np.asarray(image, dtype=np.uint8)
    h, w = img.shape[:2]
    pal = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    pal_rgb = pal.astype(np.float32)
    pal_c = to_space(pal, space).astype(np.float32)
    buf = np.zeros((h + 1, w + 2, 3), dtype=np.float32)  # one column of padding each side, one row below
    buf[:h, 1:w + 1] = img
    labels = np.empty((h, w), dtype=np.intp)
    rows = np.arange(h)
    pn = (pal_c * pal_c).sum(axis=1)
    if space == "lab":
        import cv2
    for t in range(w + 2 * (h - 1)):
        y0, y1 = max(0, (t - w + 2) // 2), min(h - 1, t // 2)
        ys = rows[y0:y1 + 1]
        xs = t - 2 * ys + 1  # column in the padded buffer
        v = np.clip(buf[ys, xs], 0.0, 255.0)
        c = v if space == "rgb" else cv2.cvtColor((v / 255.0)[:, None, :], cv2.COLOR_RGB2Lab)[:, 0, :]
        idx = np.argmin(pn[None, :] - 2.0 * (c @ pal_c.T), axis=1)
        labels[ys, xs - 1] = idx
        err = v - pal_rgb[idx]
        buf[ys, xs + 1] += err * (7 / 16)
        buf[ys + 1, xs - 1] += err * (3 / 16)
        buf[ys + 1, xs] += err * (5 / 16)
        buf[ys + 1, xs + 1] += err * (1 / 16)
    return labels
