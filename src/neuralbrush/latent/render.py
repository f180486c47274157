"""Turning latents into pictures: load a generator once, render batches on the runtime.

``load_model`` accepts everything a command's MODEL argument may be (a run folder, a snapshot
``.safetensors``, a weights-store name, an NVIDIA ``.pkl``) and returns the EMA generator on
the chosen device with gradients off. ``Renderer`` maps z (fp32; it is cheap) and runs the
synthesis network under the runtime's autocast (bf16 + channels_last on AMX CPUs), returning
uint8 HWC frames ready for PNG or video. Its ``compile`` (``--compile auto|on|off``) runs the
synthesis network through ``torch.compile`` where that pays (:mod:`neuralbrush.latent.compiled`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..core.device import Runtime
from ..core.errors import UsageError
from .latents import NOISE_MODES, check_space, class_labels, has_w, truncate_w


def model_file(source: str | os.PathLike) -> Path | None:
    """The file a MODEL argument resolves to (for fingerprints), or None when it names nothing."""
    from ..gan.loading import gan_source

    try:
        return gan_source(source).path
    except UsageError:
        return None


def load_model(source: str | os.PathLike, runtime: Runtime | None = None) -> torch.nn.Module:
    """Load the generator named by ``source`` onto ``runtime`` (eval mode, no gradients)."""
    from ..gan.loading import load_generator

    runtime = runtime or Runtime.default()
    G = load_generator(str(source), device="cpu")
    G = G.eval().requires_grad_(False)
    return runtime.module(G)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] in [-1, 1] -> uint8 [N, H, W, 3]."""
    x = (images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5
    x = x.round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    return np.ascontiguousarray(x)


@dataclass
class Renderer:
    """Render z or w latents with one generator, one runtime and fixed synthesis options."""

    G: torch.nn.Module
    runtime: Runtime
    psi: float = 1.0
    cutoff: int | None = None
    noise_mode: str = "const"
    class_idx: int | None = None
    batch: int = 8
    noise_seed: int = 0
    compile: str = "off"  # auto | on | off: see neuralbrush.latent.compiled
    images_expected: int | None = None  # images this job renders in all (what --compile auto weighs)

    def __post_init__(self) -> None:
        from .compiled import generator_forward

        if self.noise_mode not in NOISE_MODES:
            raise UsageError(f"unknown noise mode {self.noise_mode!r}; choose const, random or none")
        if self.batch < 1:
            raise UsageError("batch size must be at least 1")
        class_labels(self.G, self.class_idx, 1)  # validates --class early
        self.forward = generator_forward(self.G, self.runtime, self.compile, noise_mode=self.noise_mode,
                                         images_expected=self.images_expected)

    @property
    def resolution(self) -> int:
        return int(self.G.img_resolution)

    @torch.no_grad()
    def images(self, latents: torch.Tensor, space: str) -> torch.Tensor:
        """One batch of latents -> float images [N, C, H, W] in [-1, 1] on the CPU."""
        space = check_space(self.G, space)
        dev = self.runtime.device
        lat = latents.to(dev, torch.float32)
        n = lat.shape[0]
        if self.noise_mode == "random":
            torch.manual_seed(self.noise_seed)
        c = class_labels(self.G, self.class_idx, n).to(dev)
        if has_w(self.G):
            if space == "z":
                ws = self.G.mapping(lat, c, truncation_psi=1)
                ws = truncate_w(self.G, ws.float(), self.psi, self.cutoff)
            else:
                ws = lat
            with self.runtime.autocast():
                img = self.forward(ws)  # G.synthesis(ws, noise_mode=...), eager or compiled
        else:
            z = lat if self.psi == 1 else lat * self.psi  # z-space truncation (DCGAN, lite)
            with self.runtime.autocast():
                img = self.forward(z, c)  # G(z, c), eager or compiled
        return img.float().cpu()

    def frames(self, latents: torch.Tensor, space: str) -> np.ndarray:
        """Latents -> uint8 frames [N, H, W, 3], rendered in batches of ``self.batch``."""
        out = [to_uint8(self.images(chunk, space)) for chunk in latents.split(self.batch)]
        return np.concatenate(out) if out else np.zeros((0, self.resolution, self.resolution, 3), np.uint8)

    def stream(self, latents_at, count: int, space: str) -> Iterator[np.ndarray]:
        """Yield ``count`` frames one by one; ``latents_at(indices)`` supplies latents per batch."""
        for start in range(0, count, self.batch):
            idx = np.arange(start, min(count, start + self.batch))
            yield from self.frames(latents_at(idx), space)


def grid_cell_side(cells: int, resolution: int) -> int:
    """The side of one cell of a labelled grid or contact sheet of ``cells`` images: the native
    resolution, or smaller so the whole sheet stays within ``MAX_GRID_PIXELS`` (a sheet of
    thousands of 1024 px images would not fit in memory; the images' own PNGs stay native)."""
    from .options import MAX_GRID_PIXELS

    return max(1, min(int(resolution), int((MAX_GRID_PIXELS / max(int(cells), 1)) ** 0.5)))


def shrink(frame: np.ndarray, side: int) -> np.ndarray:
    """A uint8 HWC frame reduced to ``side`` pixels (box filter), unchanged when it is not larger."""
    if frame.shape[0] <= side and frame.shape[1] <= side:
        return frame
    from PIL import Image

    return np.asarray(Image.fromarray(frame).resize((side, side), Image.BOX))


def for_display(frames, min_size: int = 128) -> list[np.ndarray]:
    """Frames for a labelled grid: small images (a 32 px model) are enlarged by an integer
    factor (nearest neighbour, no blur) so labels do not cover them; the PNGs stay native."""
    frames = list(frames)
    if not frames:
        return frames
    h = frames[0].shape[0]
    k = max(1, -(-min_size // h)) if h < min_size else 1
    if k == 1:
        return frames
    return [np.repeat(np.repeat(f, k, axis=0), k, axis=1) for f in frames]
