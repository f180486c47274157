"""pix2pix inputs derived from a photo. Split from :mod:`.pairs` (which pairs them with the photo
and writes datasets) so each stays under ~400 lines; its names are re-exported there.

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

from typing import Sequence

import numpy as np
from PIL import Image

from ..core.errors import UsageError
from .pair_options import CLUSTER_PALETTE, INPUT_KINDS, MAX_CLUSTERS, InputKind  # noqa: F401 (public here too)


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
