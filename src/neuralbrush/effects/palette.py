"""Palettes as files a person can open: parse a user's palette, write hex lists, JSON shares
and swatch images."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..core.errors import UsageError

_HEX = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")


def _color(token: str) -> tuple[int, int, int]:
    from PIL import ImageColor

    t = token.strip()
    if _HEX.match(t):
        return ImageColor.getrgb(t if t.startswith("#") else "#" + t)[:3]  # type: ignore[return-value]
    try:
        return ImageColor.getrgb(t)[:3]  # type: ignore[return-value]
    except ValueError:
        raise UsageError(f"cannot understand the palette colour {token!r}; use #RRGGBB hex or a colour name") from None


def _from_json(obj) -> list[tuple[int, int, int]]:
    if isinstance(obj, dict):
        for key in ("palette", "colors", "colours"):
            if key in obj:
                return _from_json(obj[key])
        raise UsageError("a palette JSON object needs a 'palette' (or 'colors') list")
    if not isinstance(obj, list):
        raise UsageError("a palette JSON file must hold a list of colours")
    out = []
    for item in obj:
        if isinstance(item, dict):
            item = item.get("hex") or item.get("rgb") or item.get("color")
        if isinstance(item, str):
            out.append(_color(item))
        elif isinstance(item, (list, tuple)) and len(item) == 3 and all(isinstance(v, (int, float)) for v in item):
            if not all(0 <= v <= 255 for v in item):
                raise UsageError(f"palette colour {item} is outside 0..255")
            out.append(tuple(int(round(v)) for v in item))  # type: ignore[arg-type]
        else:
            raise UsageError(f"cannot understand the palette entry {item!r}")
    return out


def parse_palette(spec: str | os.PathLike, *, colors: int = 8, seed: int = 0, space: str = "rgb") -> np.ndarray:
    """A fixed palette from a file or a list.

    ``spec`` is: a text file with one colour per line (hex or names; ``#`` comments ok); a JSON
    file (a list of hex strings or [r, g, b], or our own ``*-palette.json``); an image file (its
    colours if it has at most 256, e.g. a swatch, otherwise ``colors`` k-means colours of it); or
    an inline list ``"#ff0000,#00ff00,navy"``. Returns (m, 3) uint8, duplicates removed.
    """
    from ..core.imageio import is_image_file, load_array
    from .quantize import kmeans_palette, unique_colors

    text = str(spec).strip()
    p = Path(text)
    if not text:
        raise UsageError("the palette is empty")
    if p.is_file():
        if is_image_file(p):
            px = load_array(p, "RGB").reshape(-1, 3)
            distinct = unique_colors(px)
            if len(distinct) <= 256:
                _, first = np.unique(px[:, 0].astype(np.int64) << 16 | px[:, 1].astype(np.int64) << 8 | px[:, 2],
                                         return_index=True)
                return px[np.sort(first)]  # in order of first appearance (a swatch keeps its order)
            return kmeans_palette(px, colors, seed=seed, space=space)
        raw = p.read_text(encoding="utf-8")
        if p.suffix.lower() == ".json":
            try:
                cols = _from_json(json.loads(raw))
            except json.JSONDecodeError as e:
                raise UsageError(f"{p} is not valid JSON (line {e.lineno}: {e.msg})") from None
        else:
            tokens = []
            for line in raw.splitlines():
                line = line.split("//")[0].strip()
                if not line or (line.startswith("#") and not _HEX.match(line.split()[0])):
                    continue  # blank or comment
                tokens.extend(t for t in re.split(r"[\s,;]+", line) if t)
            cols = [_color(t) for t in tokens]
    elif p.suffix and not any(c in text for c in ",;"):
        if p.suffix.lower() in (".txt", ".json", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".hex"):
            raise UsageError(f"palette file {p} does not exist")
        cols = [_color(text)]
    else:
        cols = [_color(t) for t in re.split(r"[\s,;]+", text) if t]
    if not cols:
        raise UsageError(f"no colours found in the palette {text!r}")
    arr = np.array(cols, dtype=np.uint8).reshape(-1, 3)
    _, first = np.unique(arr.astype(np.int64) @ np.array([65536, 256, 1]), return_index=True)
    return arr[np.sort(first)]


def swatch_image(palette: np.ndarray, shares: np.ndarray | None = None, *, height: int = 96,
                 cell: int = 96, labels: bool = True) -> Image.Image:
    """A strip of colour cells (equal widths), each labelled with its hex code and share."""
    from ..core.media import _font
    from .quantize import palette_hex

    pal = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    img = Image.new("RGB", (cell * len(pal), height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = _font(max(9, cell // 8))
    for i, (c, hx) in enumerate(zip(pal, palette_hex(pal))):
        x0 = i * cell
        draw.rectangle((x0, 0, x0 + cell - 1, height - 1), fill=tuple(int(v) for v in c))
        if labels:
            lum = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
            ink = (0, 0, 0) if lum > 140 else (255, 255, 255)
            draw.text((x0 + 4, height - 2 * (cell // 8) - 8), hx, fill=ink, font=font)
            if shares is not None:
                draw.text((x0 + 4, 4), f"{100 * float(shares[i]):.1f}%", fill=ink, font=font)
    return img


def palette_paths(output: str | os.PathLike) -> dict[str, Path]:
    """Where the palette files for an output file go: ``<stem>-palette.txt``,
    ``<stem>-palette.json`` and ``<stem>-swatch.png`` beside it."""
    out = Path(output)
    return {"txt": out.with_name(f"{out.stem}-palette.txt"), "json": out.with_name(f"{out.stem}-palette.json"),
            "swatch": out.with_name(f"{out.stem}-swatch.png")}


def write_palette_files(output: str | os.PathLike, palette: np.ndarray, shares: np.ndarray | None = None,
                        *, extra: dict | None = None) -> dict[str, Path]:
    """Write the hex list, the JSON (hex, rgb and share of each colour) and the swatch PNG."""
    from ..core.checkpoint import atomic_path, write_json
    from ..core.imageio import save_image
    from .quantize import palette_hex

    paths = palette_paths(output)
    pal = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    hexes = palette_hex(pal)
    with atomic_path(paths["txt"]) as tmp:
        tmp.write_text("\n".join(hexes) + "\n", encoding="utf-8")
    entries = [{"hex": hx, "rgb": [int(v) for v in c]} for hx, c in zip(hexes, pal)]
    if shares is not None:
        for e, s in zip(entries, shares):
            e["share"] = float(s)
    write_json(paths["json"], {"palette": entries, "colors": len(pal), **(extra or {})})
    save_image(swatch_image(pal, shares), paths["swatch"])
    return paths
