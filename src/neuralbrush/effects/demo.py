"""Demo stage: painterly effects on the scikit-image photographs.

Quantizes a photo to 8 k-means colours (with its swatch), compares the three dithering modes
at 4 colours, turns a photo into stained glass with SLIC superpixels, and enhances a third.
Everything goes through the same functions the CLI uses, so the palette files and options
JSON are written too. Takes a few seconds when ``full`` is false.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _photo(context: dict, name: str, size: int, folder: Path) -> Path:
    """The photo ``name`` resized to ``size`` px on its longer side, saved under ``folder``."""
    from PIL import Image

    from ..core.imageio import load_image
    from ..datasets.samples import skimage_photo

    photos = context.get("photos") or {}
    img = load_image(photos[name]) if name in photos else skimage_photo(name)
    scale = size / max(img.size)
    if scale < 1:
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.LANCZOS)
    path = folder / f"{name}.png"
    img.save(path)
    return path


def run_demo(out: Path, *, full: bool, context: dict[str, Any]) -> list[dict[str, str]]:
    from PIL import Image

    from ..core.imageio import load_array, save_image
    from ..core.media import side_by_side
    from ..core.progress import info
    from .enhance import EnhanceOptions
    from .palette import palette_paths
    from .quantize import quantize_colors
    from .runners import enhance_file, quantize_file, superpixels_file

    out = Path(out)
    root = out / "effects"
    inputs = root / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    size = 768 if full else 384
    photos = context.get("photos") or {}
    names = [n for n in ("chelsea", "astronaut", "coffee") if n in photos] or ["chelsea", "astronaut", "coffee"]
    while len(names) < 3:
        names.append(names[0])
    items: list[dict[str, str]] = []

    # 1. k-means quantization to 8 colours, with the palette swatch
    info("effects: quantize to 8 colours")
    src = _photo(context, names[0], size, inputs)
    q = quantize_file(src, root / "quantize-8.png", colors=8, space="lab")
    pal = palette_paths(q.output)
    hexes = pal["txt"].read_text().split()
    row = side_by_side([Image.open(src), Image.open(q.output)], labels=["photo", "8 colours (Lab k-means)"])
    swatch = Image.open(pal["swatch"]).convert("RGB")
    swatch = swatch.resize((row.width, max(24, round(swatch.height * row.width / swatch.width))), Image.NEAREST)
    sheet = Image.new("RGB", (row.width, row.height + swatch.height), (255, 255, 255))
    sheet.paste(row, (0, 0))
    sheet.paste(swatch, (0, row.height))
    save_image(sheet, root / "quantize-sheet.png")
    items.append({"title": "Quantized to 8 colours", "path": "effects/quantize-sheet.png",
                  "caption": f"k-means in L*a*b* on a pixel sample, every pixel mapped to its nearest colour; "
                             f"palette {' '.join(hexes)} (swatch shows each colour's share)."})

    # 2. dithering at 4 colours: none / Floyd-Steinberg / ordered
    info("effects: dithering at 4 colours")
    rgb = load_array(src, "RGB")
    shots = [rgb]
    labels = ["photo"]
    palette = None
    for dither in ("none", "floyd", "ordered"):
        res = quantize_colors(rgb, colors=4, dither=dither, palette=palette)
        palette = res.palette  # one palette for the three, so only the dithering differs
        shots.append(res.image)
        labels.append({"none": "4 colours", "floyd": "Floyd-Steinberg", "ordered": "ordered (Bayer)"}[dither])
    save_image(side_by_side(shots, labels=labels), root / "dither.png")
    items.append({"title": "Dithering with 4 colours", "path": "effects/dither.png",
                  "caption": "The same 4-colour palette without dithering, with Floyd-Steinberg error diffusion "
                             "and with an 8x8 Bayer pattern: dithering keeps the gradients from afar."})

    # 3. stained glass: SLIC superpixels with their mean colour and dark leading
    info("effects: superpixels")
    src2 = _photo(context, names[1], size, inputs)
    segments = 600 if full else 300
    s = superpixels_file(src2, root / "stained-glass.png", segments=segments, compactness=20, outline="#1a1a1a",
                         outline_width=2 if full else 1)
    regions = _json_field(s.options_file, "regions")
    save_image(side_by_side([Image.open(src2), Image.open(s.output)], labels=["photo", "stained glass"]),
               root / "stained-glass-pair.png")
    items.append({"title": "Stained glass", "path": "effects/stained-glass-pair.png",
                  "caption": f"SLIC superpixels ({segments} asked, {regions} made), each filled with its mean "
                             f"colour by a bincount mean, outlined in near-black."})

    # 4. enhancement
    info("effects: enhance")
    src3 = _photo(context, names[2], size, inputs)
    opts = EnhanceOptions(auto_contrast=True, saturation=1.2, gamma=0.9, clahe=True, sharpen=True)
    e = enhance_file(src3, root / "enhanced.png", opts)
    save_image(side_by_side([Image.open(src3), Image.open(e.output)], labels=["photo", "enhanced"]),
               root / "enhance-pair.png")
    items.append({"title": "Enhanced", "path": "effects/enhance-pair.png",
                  "caption": "Auto-contrast, gamma 0.9, saturation 1.2, CLAHE on L*, unsharp mask."})
    return items


def _json_field(path: Path | None, key: str) -> Any:
    from ..core.checkpoint import read_json

    if path is None:
        return None
    return read_json(path).get(key)

