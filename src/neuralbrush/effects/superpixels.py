"""SLIC superpixels filled with their mean colour, optionally outlined (stained glass).

The fill is a ``np.bincount`` mean per region and channel: one pass over the pixels, tens of
milliseconds at a megapixel, where ``skimage.color.label2rgb(kind='avg')`` loops over regions.

Large photos: scikit-image's SLIC holds several float64 copies of the image (a 9500x9500
photo needs tens of GB), so images over :data:`SLIC_MAX_PIXELS` are segmented at a working
size (area-downsampled to that many pixels) and the labels are upsampled to full size
(nearest neighbour); the mean colours, the fill and the outlines are then computed on the
full-resolution pixels, in chunks. Regions of a few hundred segments span thousands of working
pixels, so the segmentation looks the same; the borders follow the working grid (steps of
``sqrt(pixels / SLIC_MAX_PIXELS)`` full-size pixels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .options import MAX_OUTLINE_WIDTH, MAX_SEGMENTS, SuperpixelOptions  # noqa: F401 (public here too)
from .quantize import merge_alpha, split_alpha

SLIC_MAX_PIXELS = 4_000_000  # SLIC runs on at most this many pixels (a working size beyond it)
_CHUNK_PIXELS = 1 << 22  # pixels per pass of the mean/fill loops: bounded temporaries on huge photos


@dataclass
class SuperpixelResult:
    image: np.ndarray  # same layout as the input (gray stays gray unless outlined in colour)
    labels: np.ndarray  # HxW region ids 0..n-1 (transparent pixels: -1)
    regions: int


def region_means(image: np.ndarray, labels: np.ndarray, count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean colour (count, C) float64 and pixel count (count,) of every label (labels >= 0)."""
    all_lab = np.asarray(labels).reshape(-1)
    arr = np.asarray(image)
    all_chans = arr.reshape(all_lab.shape[0], -1)
    n = int(all_lab.max()) + 1 if count is None else int(count)
    n = max(n, 1)
    sizes = np.zeros(n, np.float64)
    means = np.zeros((n, all_chans.shape[1]), np.float64)
    for start in range(0, all_lab.shape[0], _CHUNK_PIXELS):
        lab, chans = all_lab[start:start + _CHUNK_PIXELS], all_chans[start:start + _CHUNK_PIXELS]
        keep = lab >= 0
        if not keep.all():
            lab, chans = lab[keep], chans[keep]
        sizes += np.bincount(lab, minlength=n)
        for c in range(chans.shape[1]):
            means[:, c] += np.bincount(lab, weights=chans[:, c].astype(np.float64), minlength=n)
    means /= np.maximum(sizes, 1.0)[:, None]
    return means, sizes


def fill_regions(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Every pixel replaced by its region's mean colour (uint8, same shape as ``image``);
    pixels labelled -1 keep their value."""
    arr = np.asarray(image)
    lab = np.asarray(labels)
    means, _ = region_means(arr, lab)
    means_u8 = np.clip(np.rint(means), 0, 255).astype(np.uint8)
    flat_lab = lab.reshape(-1)
    flat_in = arr.reshape(flat_lab.shape[0], -1)
    out = np.empty_like(flat_in)
    for start in range(0, flat_lab.shape[0], _CHUNK_PIXELS):
        part = flat_lab[start:start + _CHUNK_PIXELS]
        filled = means_u8[np.maximum(part, 0)]
        hidden = part < 0
        if hidden.any():
            filled[hidden] = flat_in[start:start + _CHUNK_PIXELS][hidden]
        out[start:start + _CHUNK_PIXELS] = filled
    return out.reshape(arr.shape)


def region_boundaries(labels: np.ndarray, width: int = 1) -> np.ndarray:
    """Boolean HxW mask of lines between regions, ``width`` pixels wide."""
    lab = np.asarray(labels)
    edge = np.zeros(lab.shape, dtype=bool)
    edge[:, :-1] |= lab[:, 1:] != lab[:, :-1]
    edge[:-1, :] |= lab[1:, :] != lab[:-1, :]
    if width > 1:
        import cv2

        kernel = np.ones((width, width), np.uint8)
        # anchor at the kernel centre: the line grows on both sides of the 1-pixel seam
        edge = cv2.dilate(edge.astype(np.uint8), kernel, iterations=1).astype(bool)
    return edge


def slic_labels(rgb: np.ndarray, *, segments: int, compactness: float, sigma: float = 0.0,
                mask: np.ndarray | None = None) -> np.ndarray:
    """SLIC (scikit-image) region ids 0..n-1 for an HxWx3 uint8 image; -1 outside ``mask``."""
    from skimage.segmentation import slic

    if mask is not None and not mask.all():
        lab = slic(rgb, n_segments=int(segments), compactness=float(compactness), sigma=float(sigma),
                   start_label=1, mask=mask, channel_axis=-1)
        lab = lab.astype(np.int64) - 1  # outside the mask: 0 -> -1
    else:
        lab = slic(rgb, n_segments=int(segments), compactness=float(compactness), sigma=float(sigma),
                   start_label=0, channel_axis=-1).astype(np.int64)
    return _contiguous(lab)


def _contiguous(lab: np.ndarray) -> np.ndarray:
    """Region ids renumbered 0..n-1 in order (-1 stays -1): SLIC may leave gaps after enforcing
    connectivity. A lookup table over the id range, no sort: linear in the pixels."""
    lab = np.asarray(lab)
    if not np.issubdtype(lab.dtype, np.signedinteger):
        lab = lab.astype(np.int64)
    used = np.zeros(int(lab.max()) + 2, bool)  # slot 0: the -1 label
    flat = lab.reshape(-1)
    for start in range(0, flat.shape[0], _CHUNK_PIXELS):
        used[flat[start:start + _CHUNK_PIXELS] + 1] = True
    if used[1:].all():
        return lab  # already 0..n-1 (the usual case)
    lut = (np.cumsum(used) - 1 - int(used[0])).astype(lab.dtype)
    lut[0] = -1
    out = np.empty_like(lab)
    out_flat = out.reshape(-1)
    for start in range(0, flat.shape[0], _CHUNK_PIXELS):
        out_flat[start:start + _CHUNK_PIXELS] = lut[flat[start:start + _CHUNK_PIXELS] + 1]
    return out


def working_labels(rgb: np.ndarray, *, segments: int, compactness: float, sigma: float = 0.0,
                   mask: np.ndarray | None = None, max_pixels: int | None = None) -> np.ndarray:
    """:func:`slic_labels` for an image of any size: over ``max_pixels`` (default
    :data:`SLIC_MAX_PIXELS`) SLIC runs on an area-downsampled copy and its labels are upsampled
    to full size (nearest neighbour); -1 outside ``mask``."""
    import cv2

    limit = SLIC_MAX_PIXELS if max_pixels is None else int(max_pixels)
    h, w = rgb.shape[:2]
    if h * w <= limit:
        return slic_labels(rgb, segments=segments, compactness=compactness, sigma=sigma, mask=mask)
    scale = (limit / (h * w)) ** 0.5
    size = (max(1, int(w * scale)), max(1, int(h * scale)))
    small = cv2.resize(np.ascontiguousarray(rgb), size, interpolation=cv2.INTER_AREA)
    small_mask = None
    if mask is not None:  # a working pixel counts when any of the full pixels under it is visible
        small_mask = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
    lab = slic_labels(small, segments=segments, compactness=compactness, sigma=sigma * scale, mask=small_mask)
    full = cv2.resize(lab.astype(np.int32), (w, h), interpolation=cv2.INTER_NEAREST)
    if mask is not None:
        full[~mask] = -1
    return _contiguous(full)


def superpixels(image: np.ndarray, *, segments: int = SuperpixelOptions.segments,
                compactness: float = SuperpixelOptions.compactness, outline: str | None = SuperpixelOptions.outline,
                outline_width: int = SuperpixelOptions.outline_width,
                sigma: float = SuperpixelOptions.sigma) -> SuperpixelResult:
    """Segment ``image`` (uint8 HxW, HxWx3 or HxWx4) into about ``segments`` SLIC regions and
    paint each with its mean colour; ``outline`` draws the region borders in that colour.

    Transparent pixels (alpha 0) are left out of the regions; alpha is kept.
    """
    from ..core.imageio import parse_color

    SuperpixelOptions(segments=segments, compactness=compactness, outline=outline, outline_width=outline_width,
                      sigma=sigma).validate()
    rgb, alpha, gray = split_alpha(image)
    mask = None if alpha is None else alpha > 0
    if mask is not None and not mask.any():
        mask = None
    labels = working_labels(rgb, segments=segments, compactness=compactness, sigma=sigma, mask=mask)
    out = fill_regions(rgb, labels)
    if outline:
        color = np.array(parse_color(outline), dtype=np.uint8)
        edge = region_boundaries(labels, outline_width)
        if mask is not None:
            edge &= mask
        out[edge] = color
    return SuperpixelResult(image=merge_alpha(out, alpha, gray), labels=labels, regions=int(labels.max()) + 1)
