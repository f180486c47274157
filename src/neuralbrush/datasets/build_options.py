"""Options of ``dataset build``, declared once for the library and the CLI.

Kept free of heavy imports so ``neuralbrush --help`` can read the defaults quickly.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import UsageError

CROPS = ("center", "pad", "face")


@dataclass
class BuildOptions:
    """Options of :func:`build_dataset` (and of ``neuralbrush dataset build``), declared once."""

    size: int = 256
    """Output resolution (square, a power of two)."""
    crop: str = "center"
    """center: crop the middle square; pad: letterbox the whole image; face: align on the eyes."""
    min_size: int = 800
    """Reject images whose used region is smaller: shorter side (center), longer side (pad), face crop side (face)."""
    mirror: bool = False
    """Also write an x-flipped copy of every image."""
    dedupe: bool = False
    """Drop exact duplicates (same pixels) and near duplicates (perceptual hash)."""
    dedupe_threshold: int = 10
    """Near duplicates: the largest pHash Hamming distance (of 64 bits) that makes a candidate."""
    dedupe_difference: float = 8.0
    """Near duplicates: the largest mean colour difference (0-255) of 16x16 thumbnails confirming a candidate."""
    labels_from_folders: bool = False
    """Label each image by its top-level folder below the source (class names sorted)."""
    max_images: int | None = None
    """Stop after this many accepted images (before mirroring)."""
    pad_color: str = "#000000"
    """Letterbox colour for --crop pad."""
    background: str = "#ffffff"
    """Colour that transparent pixels are composited on."""
    workers: int = 1
    """Worker processes (0 = one per CPU core)."""
    sample_count: int = 64
    """Images in the contact sheet and preview GIF."""
    seed: int = 0
    """Seed for choosing the sample images."""
    overwrite: bool = False
    """Replace an existing output."""
    max_pixels: int | None = None
    """Decompression-bomb limit: images with more pixels are rejected as too-large, unread (None: the loader's default)."""
    png_compress_level: int = 6
    """zlib level of the written PNGs (0-9)."""

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
