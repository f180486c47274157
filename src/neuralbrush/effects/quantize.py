"""Colour quantization: k-means palettes, nearest-colour mapping and dithering.

The palette is fitted on a random sample of pixels (the distinct colours of the sample,
weighted by how often they occur), then every pixel is mapped to its nearest palette colour
with a chunked matrix product, so a megapixel photo quantizes in a fraction of a second.
Distances are measured in RGB or in CIE L*a*b* (``space='lab'``, perceptually closer).

Dithering diffuses the rounding error (Floyd-Steinberg) or adds a Bayer threshold pattern
(ordered) before the nearest-colour search. Floyd-Steinberg is computed exactly (the same
result as the classic raster scan) but vectorised over anti-diagonal wavefronts: pixel
(x, y) only depends on pixels whose ``x + 2y`` is smaller, so all pixels sharing ``x + 2y``
are processed in one numpy step.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..core.errors import UsageError

SPACES = ("rgb", "lab")
DITHERS = ("none", "floyd", "ordered")
_CHUNK = 1 << 18  # pixels per nearest-colour chunk (256k x k floats stays in cache-friendly sizes)


# ----------------------------------------------------------------------------- colour spaces

def _check_space(space: str) -> str:
    s = str(space).lower()
    if s not in SPACES:
        raise UsageError(f"unknown colour space {space!r}; use rgb or lab")
    return s


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


# ----------------------------------------------------------------------------- k-means

def kmeans_palette(pixels: np.ndarray, k: int, *, seed: int = 0, space: str = "rgb",
                   sample: int = 100_000) -> np.ndarray:
    """Fit a ``k``-colour palette to ``pixels`` with k-means (k-means++ initialisation).

    Args:
        pixels: (N, 3) uint8 RGB (an HxWx3 image is flattened).
        k: number of colours wanted (>= 1).
        seed: the sample and the k-means initialisation depend only on it (deterministic).
        space: ``'rgb'`` or ``'lab'``: where distances and means are computed.
        sample: pixels drawn (without replacement) to fit on; ``0`` or ``None`` fits on all.

    Returns:
        (m, 3) uint8 RGB palette, most frequent colour first, with ``m = k`` when the pixels hold
        at least ``k`` distinct colours; otherwise ``m`` = the number of distinct colours (every
        one of them, exactly). Rows are distinct.
    """
    from sklearn.cluster import KMeans

    space = _check_space(space)
    k = int(k)
    if k < 1:
        raise UsageError(f"the number of colours must be at least 1, got {k}")
    px = np.asarray(pixels)
    if px.ndim != 2:
        px = px.reshape(-1, px.shape[-1])
    if px.shape[1] != 3:
        raise ValueError(f"kmeans_palette expects (N, 3) RGB pixels, got shape {np.shape(pixels)}")
    if px.shape[0] == 0:
        raise UsageError("there are no (opaque) pixels to fit a palette to")
    px = px.astype(np.uint8, copy=False)
    rng = np.random.default_rng(seed)
    if sample and px.shape[0] > sample:
        fit_px = px[rng.choice(px.shape[0], size=int(sample), replace=False)]
    else:
        fit_px = px
    colors, counts = unique_colors(fit_px, return_counts=True)
    if len(colors) <= k and fit_px is not px:
        # the sample may have missed rare colours: decide on the whole image
        # (if there are more than k after all, they are few: fit on all the distinct colours)
        colors, counts = unique_colors(px, return_counts=True)
    if len(colors) <= k:
        order = np.argsort(-counts, kind="stable")
        return colors[order].copy()

    coords = to_space(colors, space).astype(np.float64)
    km = KMeans(n_clusters=k, init="k-means++", n_init=1, max_iter=300, tol=1e-4,
                random_state=int(seed) % (2**32))
    km.fit(coords, sample_weight=counts.astype(np.float64))
    palette = from_space(km.cluster_centers_.astype(np.float32), space)
    weight = np.bincount(km.labels_, weights=counts, minlength=k)
    palette = palette[np.argsort(-weight, kind="stable")]
    return _distinct_palette(palette, colors, counts, space)


def _distinct_palette(palette: np.ndarray, colors: np.ndarray, counts: np.ndarray, space: str) -> np.ndarray:
    """Replace palette rows that collided after rounding to uint8 with the colour (among
    ``colors``) worst served by the palette, so the palette keeps ``len(palette)`` distinct rows."""
    codes = _pack(palette)
    _, first = np.unique(codes, return_index=True)
    if len(first) == len(palette):
        return palette
    keep = np.zeros(len(palette), bool)
    keep[first] = True
    palette = palette.copy()
    for i in np.flatnonzero(~keep):
        d = _nearest_dist(to_space(colors, space), to_space(palette[keep], space))
        d[np.isin(_pack(colors), _pack(palette[keep]))] = -1
        palette[i] = colors[int(np.argmax(d * np.sqrt(counts)))]
        keep[i] = True
    return palette


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
    are Euclidean in ``space``; the work is chunked, so memory stays small at any image size.
    """
    space = _check_space(space)
    img = np.asarray(image)
    pal = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    if len(pal) == 0:
        raise UsageError("the palette is empty")
    if img.shape[-1] != 3:
        raise ValueError(f"map_to_palette expects RGB pixels (..., 3), got shape {img.shape}")
    flat = img.reshape(-1, 3)
    pal_c = to_space(pal, space)
    if space == "rgb":
        labels = _nearest(flat, pal_c)
    else:
        labels = np.empty(flat.shape[0], dtype=np.intp)
        for s in range(0, flat.shape[0], _CHUNK):
            labels[s:s + _CHUNK] = _nearest(to_space(flat[s:s + _CHUNK], space), pal_c)
    return labels.reshape(img.shape[:-1])
