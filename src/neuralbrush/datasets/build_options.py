"""Options of ``dataset build``, declared once for the library and the CLI.

Kept free of heavy imports so ``neuralbrush --help`` can read the defaults quickly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..core.errors import UsageError
from ..core.options import option

CROPS = ("center", "pad", "face")


@dataclass
class BuildOptions:
    """Options of :func:`build_dataset` (and of ``neuralbrush dataset build``), declared once."""

    size: int = option(256, "Output resolution in pixels (a power of two).", min=4, max=8192)
    crop: Literal["center", "pad", "face"] = option(
        "center", "center: crop the middle square; pad: letterbox the whole image; face: detect the eyes and align "
                  "like FFHQ.")
    min_size: int = option(800, "Reject images whose used region is smaller (shorter side for center, longer side "
                                "for pad, face crop side for face).", min=0)
    mirror: bool = option(False, "Also write x-flipped copies.")
    dedupe: bool = option(False, "Drop exact (same pixels) and near (perceptual hash) duplicates.")
    dedupe_threshold: int = option(10, "Near duplicates: largest Hamming distance of the 64-bit pHash.", min=0, max=31)
    dedupe_difference: float = option(8.0, "Near duplicates: largest mean colour difference (0-255) of 16x16 "
                                           "thumbnails that confirms a pHash match.", min=0, max=255)
    labels_from_folders: bool = option(False, "Label images by their top-level folder (class names sorted).",
                                       flag="--labels-from-folders")
    max_images: int | None = option(None, "Stop after this many accepted images (default: all).", min=1)
    pad_color: str = option("#000000", "Letterbox colour for --crop pad.")
    background: str = option("#ffffff", "Colour transparent pixels are composited on.")
    workers: int = option(1, "Worker processes (0 = one per CPU core).", min=0)
    sample_count: int = option(64, "Images shown in the contact sheet and preview GIF.", min=0)
    seed: int = option(0, "Seed for choosing the sample images.", cli=False)
    overwrite: bool = option(False, "Replace an existing output.", flag="--overwrite")
    max_pixels: int | None = option(None, "Decompression-bomb limit: images with more pixels are rejected as "
                                          "too-large, unread (None: the loader's default).", cli=False)
    png_compress_level: int = option(6, "zlib level of the written PNGs (0-9).", cli=False)

    def validate(self) -> None:
        s = self.size
        if s < 4 or s > 8192 or s & (s - 1):
            raise UsageError(f"--size must be a power of two between 4 and 8192, got {s}")
        if self.crop not in CROPS:
            raise UsageError(f"--crop must be one of {', '.join(CROPS)}, got {self.crop!r}")
        if self.min_size < 0:
            raise UsageError("--min-size cannot be negative")
        if self.max_images is not None and self.max_images < 1:
            raise UsageError("--max-images must be at least 1")
        if self.workers < 0:
            raise UsageError("--workers cannot be negative")
        if not 0 <= self.dedupe_threshold < 32:
            raise UsageError("--dedupe-threshold must be between 0 and 31 bits")
        if not 0 <= self.dedupe_difference <= 255:
            raise UsageError("--dedupe-difference must be between 0 and 255")
        if not 0 <= self.png_compress_level <= 9:
            raise UsageError("the PNG compression level must be between 0 and 9")
        if self.sample_count < 0:
            raise UsageError("the sample count cannot be negative")
        from ..core.imageio import parse_color

        parse_color(self.pad_color)
        parse_color(self.background)
