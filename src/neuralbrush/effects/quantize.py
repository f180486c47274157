"""Colour quantization: k-means palettes, nearest-colour mapping and dithering.

The palette is fitted on a random sample of pixels (the distinct colours of the sample,
weighted by how often they occur), then every pixel is mapped to its nearest palette colour
with a chunked matrix product, so a megapixel photo quantizes in a fraction of a second.
Distances are measured in RGB or in CIE L*a*b* (``space='lab'``, perceptually closer).

Dithering diffuses the rounding error (Floyd-Steinberg) or adds a Bayer threshold pattern
(ordered) before the nearest-colour search. Floyd-Steinberg is computed exactly (the same
result as the classic raster scan) but vectorised over anti-diagonal wavefronts: pixel
(x, y) only depends on pixels whose ``x + 2y`` is smaller, so all pixels sharing ``x + 2y``
are processed in one numpy step. Colour spaces, mapping and dithering live in :mod:`.colormap`
(their names are importable from here too); this module fits palettes and is the effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import UsageError
from .options import DITHERS, QuantizeOptions  # noqa: F401 (public here too)
from .colormap import (SPACES, _check_space, _nearest, _nearest_dist, _pack, _unpack,  # noqa: F401 (public here too)
                       floyd_steinberg, from_space, map_to_palette, ordered_dither, to_space, unique_colors)

_MAX_FIT_POINTS = 8192  # beyond this many distinct colours, k-means runs on fine colour-cube cells


# ----------------------------------------------------------------------------- k-means

def kmeans_palette(pixels: np.ndarray, k: int, *, seed: int = 0, space: str = "rgb",
                   sample: int = 100_000, n_init: int = 3) -> np.ndarray:
    """Fit a ``k``-colour palette to ``pixels`` with k-means (k-means++ initialisation).

    The sample's distinct colours (pooled into 32-level colour-cube cells, each keeping its
    exact mean, when there are many) are clustered with their pixel counts as weights; the best
    of ``n_init`` restarts is kept.

    Args:
        pixels: (N, 3) uint8 RGB (an HxWx3 image is flattened).
        k: number of colours wanted (>= 1).
        seed: the sample and the k-means initialisation depend only on it (deterministic).
        space: ``'rgb'`` or ``'lab'``: where distances and means are computed.
        sample: pixels drawn (without replacement) to fit on; ``0`` or ``None`` fits on all.
        n_init: k-means restarts (each a few milliseconds on the pooled colours).

    Returns:
        (m, 3) uint8 RGB palette, most frequent colour first, with ``m = k`` when the pixels hold
        at least ``k`` distinct colours; otherwise ``m`` = the number of distinct colours (every
        one of them, exactly). Rows are distinct.
    """
    from .kmeans import weighted_kmeans

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

    points, weights = colors.astype(np.float32), counts
    if len(colors) > _MAX_FIT_POINTS:
        for bits in (5, 6):  # coarse cells unless they leave too few points for k clusters
            points, weights = _cell_means(colors, counts, bits=bits)
            if len(points) >= 4 * k:
                break
        if len(points) < 2 * k:
            points, weights = colors.astype(np.float32), counts
    fit = weighted_kmeans(_float_to_space(points, space), weights, k, seed=seed, n_init=n_init)
    palette = from_space(fit.centres.astype(np.float32), space)
    mass = np.bincount(fit.labels, weights=weights, minlength=k)
    palette = palette[np.argsort(-mass, kind="stable")]
    return _distinct_palette(palette, colors, counts, space)


def _cell_means(colors: np.ndarray, counts: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Pool colours into the cells of a 2**bits-per-channel colour cube: (weighted mean colour,
    total count) per occupied cell. Each cell keeps its exact mean, so k-means on the pooled points
    optimises the same objective up to within-cell assignments, with 5-20x fewer points."""
    shift = 8 - bits
    c = colors.astype(np.int64) >> shift
    cell = (c[:, 0] << (2 * bits)) | (c[:, 1] << bits) | c[:, 2]
    ids, inv = np.unique(cell, return_inverse=True)
    w = counts.astype(np.float64)
    total = np.bincount(inv, weights=w, minlength=len(ids))
    means = np.stack([np.bincount(inv, weights=w * colors[:, j], minlength=len(ids)) for j in range(3)], axis=1)
    return (means / total[:, None]).astype(np.float32), total


def _float_to_space(rgb: np.ndarray, space: str) -> np.ndarray:
    """float RGB (0..255) -> coordinates in ``space`` (RGB itself or L*a*b*)."""
    if space == "rgb":
        return rgb.astype(np.float32)
    import cv2

    return cv2.cvtColor((rgb.reshape(-1, 1, 3) / 255.0).astype(np.float32), cv2.COLOR_RGB2Lab).reshape(rgb.shape)


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


# ----------------------------------------------------------------------------- the effect

@dataclass
class QuantizeResult:
    """The quantized image (same layout as the input: HxW, HxWx3 or HxWx4 with alpha kept),
    the label of every pixel, the palette and each colour's share of the (visible) pixels."""

    image: np.ndarray
    labels: np.ndarray
    palette: np.ndarray
    shares: np.ndarray

    @property
    def hex(self) -> list[str]:
        return palette_hex(self.palette)

    @property
    def used_colors(self) -> int:
        return int((self.shares > 0).sum())


def palette_hex(palette: np.ndarray) -> list[str]:
    return ["#%02x%02x%02x" % tuple(int(v) for v in c) for c in np.asarray(palette).reshape(-1, 3)]


def split_alpha(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """(rgb HxWx3, alpha HxW or None, was_gray) from an HxW, HxWx1/2/3/4 uint8 array."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"effects work on uint8 images, got {arr.dtype} (load files with core.imageio)")
    if arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2), None, True
    c = arr.shape[2]
    if c == 1:
        return np.repeat(arr, 3, axis=2), None, True
    if c == 2:
        return np.repeat(arr[:, :, :1], 3, axis=2), arr[:, :, 1], True
    if c == 3:
        return arr, None, False
    if c == 4:
        return arr[:, :, :3], arr[:, :, 3], False
    raise ValueError(f"unsupported image shape {arr.shape}")


def merge_alpha(rgb: np.ndarray, alpha: np.ndarray | None, gray: bool) -> np.ndarray:
    """Inverse of :func:`split_alpha`: back to the input's layout (gray only if still gray)."""
    if gray and np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 0], rgb[:, :, 2]):
        out = rgb[:, :, 0]
        return out if alpha is None else np.dstack([out, alpha])
    return rgb if alpha is None else np.dstack([rgb, alpha])


def _visible_counts(labels: np.ndarray, visible: np.ndarray | None, k: int) -> np.ndarray:
    return np.bincount(labels if visible is None else labels[visible], minlength=k)


def _fill_unused(rgb_flat: np.ndarray, visible: np.ndarray | None, palette: np.ndarray, labels: np.ndarray,
                 space: str) -> tuple[np.ndarray, np.ndarray]:
    """Give palette entries that no visible pixel uses the colour of the worst-served pixel,
    until every entry is used: a fitted k-colour palette then yields exactly k colours."""
    k = len(palette)
    for _ in range(2 * k):
        empty = np.flatnonzero(_visible_counts(labels, visible, k) == 0)
        if len(empty) == 0:
            break
        vis_idx = np.arange(len(rgb_flat)) if visible is None else np.flatnonzero(visible)
        coords = to_space(rgb_flat[vis_idx], space)
        err = ((coords - to_space(palette, space)[labels[vis_idx]]) ** 2).sum(axis=1)
        err[np.isin(_pack(rgb_flat[vis_idx]), _pack(palette))] = -1.0
        worst = int(np.argmax(err))
        if err[worst] <= 0:  # every visible colour is already in the palette
            break
        palette = palette.copy()
        palette[empty[0]] = rgb_flat[vis_idx[worst]]
        labels = map_to_palette(rgb_flat, palette, space=space)
    return palette, labels


def quantize_colors(image: np.ndarray, *, colors: int = QuantizeOptions.colors, space: str = QuantizeOptions.space,
                    dither: str = QuantizeOptions.dither, palette: np.ndarray | None = None,
                    seed: int = QuantizeOptions.seed, sample: int = QuantizeOptions.sample) -> QuantizeResult:
    """Reduce ``image`` to a few colours.

    Args:
        image: uint8 HxW (gray), HxWx3 (RGB) or HxWx4 (RGBA: the palette is fitted on pixels with
            alpha > 0; alpha is kept as it is).
        colors: k, the palette size when the palette is fitted.
        space: distance space, ``'rgb'`` or ``'lab'``.
        dither: ``'none'``, ``'floyd'`` (Floyd-Steinberg) or ``'ordered'`` (8x8 Bayer).
        palette: a fixed (m, 3) uint8 palette instead of fitting one (video frames share one).
        seed, sample: see :func:`kmeans_palette`.

    Without dithering and with a fitted palette, the output has exactly ``colors`` distinct
    colours whenever the (visible) image has at least that many; gray input gets a gray palette
    and stays gray.
    """
    QuantizeOptions(colors=colors, space=space, dither=dither, seed=seed, sample=sample).validate()
    rgb, alpha, gray = split_alpha(image)
    h, w = rgb.shape[:2]
    flat = rgb.reshape(-1, 3)
    visible = None if alpha is None else alpha.reshape(-1) > 0
    if visible is not None and (visible.all() or not visible.any()):
        visible = None  # all visible, or all transparent: then fit on the hidden colours
    fitted = palette is None
    if fitted:
        pal = kmeans_palette(flat if visible is None else flat[visible], colors, seed=seed, space=space,
                             sample=sample)
        if gray:
            # (a rounding collision leaves an unused entry, which _fill_unused replaces below)
            pal = np.repeat(pal.astype(np.float32).mean(axis=1, keepdims=True).round(), 3, axis=1).astype(np.uint8)
    else:
        pal = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
        if len(pal) == 0:
            raise UsageError("the palette is empty")
    if dither == "floyd":
        labels = floyd_steinberg(rgb, pal, space=space).reshape(-1)
    elif dither == "ordered":
        labels = ordered_dither(rgb, pal, space=space).reshape(-1)
    else:
        labels = map_to_palette(flat, pal, space=space)
        if fitted:
            pal, labels = _fill_unused(flat, visible, pal, labels, space)
    counts = _visible_counts(labels, visible, len(pal)).astype(np.float64)
    if fitted:  # most used colour first (a user's fixed palette keeps its order)
        order = np.argsort(-counts, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        pal, counts, labels = pal[order], counts[order], rank[labels]
    shares = counts / max(counts.sum(), 1.0)
    out_rgb = pal[labels].reshape(h, w, 3)
    return QuantizeResult(image=merge_alpha(out_rgb, alpha, gray), labels=labels.reshape(h, w),
                          palette=pal, shares=shares)
