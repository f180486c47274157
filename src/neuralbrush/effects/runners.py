"""The three effects as :class:`~neuralbrush.effects.batch.Effect` objects, and one-call
functions that run them on an image, a folder or a video (what the CLI calls)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .batch import Effect, EffectRun, run_effect
from .enhance import EnhanceOptions, enhance_image
from .quantize import QuantizeOptions, kmeans_palette, palette_hex, quantize_colors
from .superpixels import SuperpixelOptions, superpixels


class QuantizeEffect(Effect):
    """k-means colours; a fixed ``--palette`` or a video palette (fitted once on frames sampled
    across the video, so colours do not flicker) is shared by every frame."""

    name = "quantize"

    def __init__(self, options: QuantizeOptions) -> None:
        super().__init__(options)
        self.fixed: np.ndarray | None = None
        if options.palette:
            from .palette import parse_palette

            self.fixed = parse_palette(options.palette, colors=options.colors, seed=options.seed, space=options.space)
        self.last = None
        self._video_counts: np.ndarray | None = None

    def apply(self, image: np.ndarray) -> np.ndarray:
        o = self.options
        res = quantize_colors(image, colors=o.colors, space=o.space, dither=o.dither, palette=self.fixed,
                              seed=o.seed, sample=o.sample)
        self.last = res
        if self._video_counts is not None:
            self._video_counts += np.bincount(res.labels.reshape(-1), minlength=len(res.palette))
        return res.image

    def wants_video_sample(self) -> bool:
        return self.fixed is None  # a palette is fitted on sampled frames unless --palette fixed it

    def prepare_video(self, frames: list[np.ndarray]) -> None:
        if self.fixed is None:
            o = self.options
            pixels = np.concatenate([np.asarray(f)[:, :, :3].reshape(-1, 3) for f in frames])
            self.fixed = kmeans_palette(pixels, o.colors, seed=o.seed, space=o.space, sample=o.sample)
        self._video_counts = np.zeros(len(self.fixed), dtype=np.int64)

    def write_extras(self, output: Path) -> dict[str, str]:
        from .palette import write_palette_files

        if self._video_counts is not None:
            pal, shares = self.fixed, self._video_counts / max(self._video_counts.sum(), 1)
        elif self.last is not None:
            pal, shares = self.last.palette, self.last.shares
        else:
            return {}
        paths = write_palette_files(output, pal, shares, extra={"space": self.options.space})
        return {k: str(v) for k, v in paths.items()}

    def summary(self) -> dict[str, Any]:
        if self._video_counts is not None and self.fixed is not None:
            return {"palette": palette_hex(self.fixed)}
        if self.last is not None:
            return {"palette": self.last.hex, "used_colors": self.last.used_colors}
        return {}


class SuperpixelEffect(Effect):
    name = "superpixels"

    def __init__(self, options: SuperpixelOptions) -> None:
        super().__init__(options)
        self.regions: list[int] = []

    def apply(self, image: np.ndarray) -> np.ndarray:
        o = self.options
        res = superpixels(image, segments=o.segments, compactness=o.compactness, outline=o.outline,
                          outline_width=o.outline_width, sigma=o.sigma)
        self.regions.append(res.regions)
        return res.image

    def summary(self) -> dict[str, Any]:
        if not self.regions:
            return {}
        return {"regions": self.regions[0] if len(self.regions) == 1 else
                {"min": min(self.regions), "max": max(self.regions), "mean": float(np.mean(self.regions))}}


class EnhanceEffect(Effect):
    name = "enhance"

    def apply(self, image: np.ndarray) -> np.ndarray:
        return enhance_image(image, self.options)


def quantize_file(input: str | os.PathLike, output: str | os.PathLike | None = None,
                  options: QuantizeOptions | None = None, **kw: Any) -> EffectRun:
    """Quantize an image, folder or video; writes palette files and options JSON beside it."""
    return run_effect(QuantizeEffect(options or QuantizeOptions(**kw)), input, output)


def superpixels_file(input: str | os.PathLike, output: str | os.PathLike | None = None,
                     options: SuperpixelOptions | None = None, **kw: Any) -> EffectRun:
    return run_effect(SuperpixelEffect(options or SuperpixelOptions(**kw)), input, output)


def enhance_file(input: str | os.PathLike, output: str | os.PathLike | None = None,
                 options: EnhanceOptions | None = None, **kw: Any) -> EffectRun:
    return run_effect(EnhanceEffect(options or EnhanceOptions(**kw)), input, output)
