"""Built-in sample data: procedural "blooms" and the photographs scikit-image ships.

Blooms are flower-like images in varied palettes: a soft background gradient, one or two
layers of petals drawn from a polar rose curve, and a textured centre disc. Any size, any
count, fully determined by the seed, so the demo and the tests need no downloads.
"""

from __future__ import annotations

import colorsys
import os
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0), 1), min(max(v, 0), 1)), dtype=np.float32)


#: Species mode: the base hue of each petal count k (4..12), spread by the golden ratio so that
#: neighbouring counts get well-separated hue families.
SPECIES_HUES = {k: float(((k - 4) * 0.381966) % 1.0) for k in range(4, 13)}


def _species_traits(k: int, layers: int) -> dict:
    """Colour traits fixed by a species (petal count ``k``, layer count ``layers``)."""
    return {
        "hue": SPECIES_HUES[k],
        # background hue relative to the petals: complementary for even k, a third away for odd k
        "bg_offset": 0.5 if k % 2 == 0 else 0.33,
        # single-layer species grow on dark grounds, layered species on light ones
        "bg_value": (0.10, 0.30) if layers == 1 else (0.45, 0.70),
        # petal brightness/saturation: fewer petals -> vivid and bright, many petals -> paler
        "petal_sat": (0.75, 1.0) if k <= 8 else (0.45, 0.7),
        "petal_value": (0.85, 1.0) if k % 3 != 0 else (0.6, 0.75),
        "layer_shift": 0.06,
    }


def _canvas(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixel grids and polar coordinates around a slightly jittered centre."""
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    cx = n * (0.5 + rng.uniform(-0.08, 0.08))
    cy = n * (0.5 + rng.uniform(-0.08, 0.08))
    dx, dy = (xx - cx) / n, (yy - cy) / n
    return yy, xx, np.sqrt(dx * dx + dy * dy), np.arctan2(dy, dx)


def _petal_shape(r: np.ndarray, theta: np.ndarray, k: int, R: float, sharp: float, rot: float,
                 edge: float) -> tuple[np.ndarray, np.ndarray]:
    """A polar rose of ``k`` petals: its radius per angle and an anti-aliased inside mask."""
    petal = R * (0.35 + 0.65 * np.abs(np.cos(k * (theta + rot) / 2.0)) ** sharp)
    return petal, np.clip((petal - r) * edge + 0.5, 0, 1)[..., None]


def _paint_petals(img: np.ndarray, r: np.ndarray, theta: np.ndarray, petal: np.ndarray, inside: np.ndarray,
                  k: int, rot: float, col_in: np.ndarray, col_out: np.ndarray) -> np.ndarray:
    """Petals shaded from ``col_in`` at the centre to ``col_out`` at the tips, with veins."""
    g = np.clip(r / np.maximum(petal, 1e-6), 0, 1)[..., None]
    veins = (0.92 + 0.08 * np.cos(theta * k * 6 + rot))[..., None]
    petal_col = (col_in * (1 - g) + col_out * g) * veins
    return img * (1 - inside) + petal_col * inside


def _to_image(img: np.ndarray, size: int, ss: int) -> Image.Image:
    arr = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    im = Image.fromarray(arr, "RGB")
    return im.resize((size, size), Image.BOX) if ss > 1 else im


def bloom(size: int = 64, seed: int = 0, *, species: bool = False) -> Image.Image:
    """One procedural bloom as an RGB image of ``size`` x ``size``.

    By default (``species=False``) every colour is drawn at random, independently of the petal
    shape (this output is fixed: the documented GAN numbers were measured on it). With
    ``species=True`` the bloom belongs to a species given by its petal count k (4..12) and its
    layer count (1..3), as the flowers of one kind in a real photo collection do: all layers have
    k petals, the species fixes the base hue (``SPECIES_HUES[k]``, jittered by +-0.04), the
    background hue relative to the petals, the ground's lightness (dark for one layer, light for
    more) and the petal saturation/value ranges, so the colours are predictable from the shape.
    Positions, sizes, sharpness and rotations stay random in both modes.
    """
    rng = np.random.default_rng(seed)
    if species:
        return _species_bloom(size, rng)
    ss = 2 if size <= 256 else 1  # supersample small images for smooth edges
    n = size * ss
    yy, xx, r, theta = _canvas(n, rng)

    base_hue = rng.uniform(0, 1)
    bg_a = _hsv(base_hue + 0.5 + rng.uniform(-0.1, 0.1), rng.uniform(0.2, 0.6), rng.uniform(0.15, 0.45))
    bg_b = _hsv(base_hue + 0.4 + rng.uniform(-0.1, 0.1), rng.uniform(0.2, 0.6), rng.uniform(0.35, 0.7))
    t = np.clip((yy / n) * 0.8 + r * 0.4, 0, 1)[..., None]
    img = bg_a * (1 - t) + bg_b * t

    layers = rng.integers(1, 3, endpoint=True)
    radius = rng.uniform(0.28, 0.42)
    for layer in range(layers):
        k = int(rng.integers(4, 13))
        sharp = rng.uniform(0.6, 3.0)
        rot = rng.uniform(0, 2 * np.pi)
        R = radius * (1.0 - 0.3 * layer)
        petal, inside = _petal_shape(r, theta, k, R, sharp, rot, n / (1.5 * ss))
        hue = base_hue + layer * rng.uniform(-0.12, 0.12)
        col_out = _hsv(hue, rng.uniform(0.55, 1.0), rng.uniform(0.75, 1.0))
        col_in = _hsv(hue + rng.uniform(-0.08, 0.08), rng.uniform(0.3, 0.9), rng.uniform(0.5, 0.95))
        img = _paint_petals(img, r, theta, petal, inside, k, rot, col_in, col_out)

    disc_r = radius * rng.uniform(0.12, 0.25)
    disc = np.clip((disc_r - r) * n / (1.5 * ss) + 0.5, 0, 1)[..., None]
    dots = 0.8 + 0.2 * np.sin(xx * 0.9 / ss) * np.sin(yy * 0.9 / ss)
    disc_col = _hsv(base_hue + rng.uniform(0.08, 0.2), rng.uniform(0.6, 1), rng.uniform(0.4, 0.9)) * dots[..., None]
    img = img * (1 - disc) + disc_col * disc

    im = _to_image(img, size, ss)
    return im


def _draw_species(rng: np.random.Generator) -> tuple[int, int]:
    layers = int(rng.integers(1, 3, endpoint=True))
    k = int(rng.integers(4, 13))
    return k, layers


def bloom_species(seed: int) -> tuple[int, int]:
    """The species ``(petal count k, layer count)`` of ``bloom(size, seed, species=True)``."""
    return _draw_species(np.random.default_rng(seed))


def _species_bloom(size: int, rng: np.random.Generator) -> Image.Image:
    """``bloom(..., species=True)``: colours follow from the species (petal count, layers)."""
    k, layers = _draw_species(rng)
    tr = _species_traits(k, layers)
    ss = 2 if size <= 256 else 1
    n = size * ss
    yy, xx, r, theta = _canvas(n, rng)

    base_hue = tr["hue"] + rng.uniform(-0.04, 0.04)
    v0, v1 = tr["bg_value"]
    bg_hue = base_hue + tr["bg_offset"]
    bg_a = _hsv(bg_hue + rng.uniform(-0.03, 0.03), rng.uniform(0.3, 0.5), rng.uniform(v0, v1))
    bg_b = _hsv(bg_hue + rng.uniform(-0.03, 0.03), rng.uniform(0.3, 0.5), min(v1 + 0.15, rng.uniform(v0, v1) + 0.15))
    t = np.clip((yy / n) * 0.8 + r * 0.4, 0, 1)[..., None]
    img = bg_a * (1 - t) + bg_b * t

    radius = rng.uniform(0.28, 0.42)
    for layer in range(layers):
        sharp = rng.uniform(0.6, 3.0)
        rot = rng.uniform(0, 2 * np.pi)
        R = radius * (1.0 - 0.3 * layer)
        petal, inside = _petal_shape(r, theta, k, R, sharp, rot, n / (1.5 * ss))
        hue = base_hue + layer * tr["layer_shift"]
        col_out = _hsv(hue, rng.uniform(*tr["petal_sat"]), rng.uniform(*tr["petal_value"]))
        col_in = _hsv(hue + rng.uniform(-0.02, 0.02), rng.uniform(*tr["petal_sat"]) * 0.8,
                      rng.uniform(*tr["petal_value"]) * 0.8)
        img = _paint_petals(img, r, theta, petal, inside, k, rot, col_in, col_out)

    disc_r = radius * rng.uniform(0.12, 0.25)
    disc = np.clip((disc_r - r) * n / (1.5 * ss) + 0.5, 0, 1)[..., None]
    dots = 0.8 + 0.2 * np.sin(xx * 0.9 / ss) * np.sin(yy * 0.9 / ss)
    disc_col = _hsv(base_hue + 0.14 + rng.uniform(-0.03, 0.03), rng.uniform(0.7, 1), rng.uniform(0.6, 0.8))
    img = img * (1 - disc) + disc_col * dots[..., None] * disc

    im = _to_image(img, size, ss)
    return im


def blooms(count: int, size: int = 64, seed: int = 0, *, species: bool = False) -> Iterator[Image.Image]:
    """``count`` blooms; image ``i`` is ``bloom(size, seed * 1_000_003 + i, species=species)``."""
    for i in range(count):
        yield bloom(size, seed * 1_000_003 + i, species=species)


def write_blooms(folder: str | os.PathLike, count: int, size: int = 64, seed: int = 0, fmt: str = "png", *,
                 species: bool = False) -> list[Path]:
    """Write ``count`` blooms as ``bloom_00000.png``... into ``folder``; returns the paths.

    ``species=True`` writes species blooms (colour follows petal count; see :func:`bloom`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, im in enumerate(blooms(count, size, seed, species=species)):
        p = folder / f"bloom_{i:05d}.{fmt}"
        im.save(p)
        paths.append(p)
    return paths


SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "motorcycle_left", "camera",
                  "cat")


def skimage_photo(name: str) -> Image.Image:
    """One of the photographs scikit-image ships, as an RGB image."""
    from skimage import data

    if name == "motorcycle_left":
        arr = data.stereo_motorcycle()[0]
    else:
        arr = getattr(data, name)()
    im = Image.fromarray(np.asarray(arr))
    return im.convert("RGB")


def skimage_photos(names: tuple[str, ...] = ("astronaut", "coffee", "chelsea", "rocket")) -> dict[str, Image.Image]:
    return {n: skimage_photo(n) for n in names}
