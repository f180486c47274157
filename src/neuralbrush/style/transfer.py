"""Gatys neural style transfer, tuned for quality per unit of compute.

The default recipe (REFERENCE.md's quality-per-compute list, biggest first, measured in
``benchmarks/bench_style_recipes.py``):

* coarse-to-fine: optimise at ``min_scale`` (128 px long side) first, then at sizes growing by
  sqrt(2) up to the output size, each scale starting from the previous result upsampled;
* init from the content image;
* L-BFGS at every scale taking full quasi-Newton steps (a strong-Wolfe line search takes over
  from the best image should a step blow the loss up), with steps counted as loss evaluations so
  the cost of a run is known in advance; it reached the same full-resolution loss in well under
  the time of Adam + EMA (``optimizer='adam'``: step 0.02 on [0, 1] pixels clamped to the box,
  Adam's moments upsampled between scales, an EMA of the iterates handed on);
* bf16 autocast + channels_last on CPUs with native bf16 (fp16/bf16 on GPUs) for the VGG passes;
  the frozen VGG's convolutions are held in that dtype; Gram matrices and losses stay fp32.

Style Gram targets are computed once per scale (and cached across calls on the same
:class:`StyleTransfer`, so a burst of photos reuses them). The classic recipe (single scale,
fp32, L-BFGS) is ``StyleOptions(scales=False, optimizer='lbfgs')`` on a ``precision='fp32'``
transfer. The schedule and the optimiser loops are in :mod:`neuralbrush.style.schedule`, the
options and their checks in :mod:`neuralbrush.style.options`.

Library use::

    st = StyleTransfer(vgg="store")            # or vgg="random" / a .pth path
    out = st.stylize(content, [style_a, style_b], StyleOptions(style_weights=(100, 45)), progress=print)
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..core.errors import UsageError
from ..core.imageio import to_pil, to_tensor
from ..core.progress import ProgressEvent, ProgressFn, presenting
from . import color
from .losses import StyleTransferLoss, TemporalLoss, blend_grams, gram_matrix, normalised
from .options import StyleOptions
from .schedule import fit_size, plan_scales, resize_tensor, run_adam, run_lbfgs, scale_styles
from .vgg import VGGFeatures, layer_index


@dataclass(frozen=True, kw_only=True)
class StyleIterate(ProgressEvent):
    """What ``progress`` receives after every optimisation step: ``step`` of ``total`` steps over
    all scales; the ``preview`` (the image as it stands, uint8 HWC) is made only when asked for."""

    scale: int            # index of the current scale, 0-based
    scales: int           # number of scales
    size: tuple[int, int]  # (width, height) at this scale
    scale_step: int       # 1-based step within this scale
    scale_steps: int      # steps at this scale
    loss: float           # total loss of the current iterate at this scale
    parts: dict[str, float] = field(default_factory=dict)  # weighted content/style/tv/temporal terms
    elapsed: float = 0.0  # seconds since stylize() started
    get_tensor: Callable[[], torch.Tensor] | None = field(default=None, repr=False)

    def tensor(self) -> torch.Tensor:
        """The image as it stands (the EMA when enabled): 1x3xHxW in [0, 1] on the CPU."""
        assert self.get_tensor is not None
        return self.get_tensor().detach().float().clamp(0, 1).cpu()

    def image(self) -> Image.Image:
        return to_pil(self.tensor(), value_range=(0, 1))


def image_tensor(image: Image.Image | np.ndarray) -> torch.Tensor:
    """An RGB image as the 1x3xHxW [0, 1] float tensor the transfer works on (contiguous)."""
    rgb = image.convert("RGB") if isinstance(image, Image.Image) else image
    return to_tensor(rgb, value_range=(0, 1)).unsqueeze(0).contiguous()


def _digest(t: torch.Tensor) -> str:
    return hashlib.sha1(t.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()


class StyleTransfer:
    """Holds the VGG-19 feature extractor and the per-scale style-target cache.

    Args:
        vgg: ``'store'`` (weights store vgg19), ``'random'`` (seeded random weights; tests) or a
            path to a torchvision VGG-19 ``.pth``.
        device, precision: see :func:`neuralbrush.core.device.resolve_runtime`.
        pooling: ``'max'`` or ``'avg'``.
        seed: seed for random VGG weights.
    """

    def __init__(self, *, vgg: str | os.PathLike | None = "store", device: str = "auto", precision: str = "auto",
                 pooling: str = "max", seed: int = 0) -> None:
        from ..core.device import resolve_runtime
        from .vgg import resolve_vgg_source

        self.runtime = resolve_runtime(device, precision)
        self.vgg = vgg
        self.pooling = pooling
        self.vgg_seed = seed
        resolve_vgg_source(vgg)  # fail early (missing weights / file)
        self._model: VGGFeatures | None = None
        self._gram_cache: dict[tuple, dict[str, torch.Tensor]] = {}
        self.stats = {"gram_computations": 0, "gram_cache_hits": 0}

    # -- model ----------------------------------------------------------------------------------
    def model(self, layers: Sequence[str]) -> VGGFeatures:
        need = set(layers)
        if self._model is None or not need <= set(self._model.layers):
            have = set(self._model.layers) if self._model is not None else set()
            ordered = sorted(need | have, key=layer_index)
            m = VGGFeatures(ordered, vgg=self.vgg, pooling=self.pooling, seed=self.vgg_seed, warn=self._model is None)
            self._model = self.runtime.module(m)  # type: ignore[assignment]
            low = self.runtime.autocast_dtype
            if low is not None:
                # the network is frozen: hold its convolutions in the autocast dtype once, instead of
                # autocast casting every weight again at every evaluation (the same rounding, so the
                # same numbers; about 2 % of a bf16 evaluation at 512 px)
                for layer in self._model.modules():
                    if isinstance(layer, torch.nn.Conv2d):
                        layer.to(low)
        return self._model  # type: ignore[return-value]

    @property
    def random_weights(self) -> bool:
        return str(self.vgg) == "random"

    def features(self, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        model = self.model(layers)
        x = self.runtime.tensor(image)
        with self.runtime.autocast():
            return model(x, layers)

    def style_grams(self, style: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """Gram targets of one prepared style tensor (cached by content hash, size and layers)."""
        key = (_digest(style), tuple(style.shape), tuple(layers), self.pooling, self.runtime.precision)
        hit = self._gram_cache.get(key)
        if hit is not None:
            self.stats["gram_cache_hits"] += 1
            return hit
        with torch.no_grad():
            feats = self.features(style, layers)
            grams = {k: gram_matrix(v).detach() for k, v in feats.items()}
        self.stats["gram_computations"] += 1
        self._gram_cache[key] = grams
        return grams

    # -- the loss ------------------------------------------------------------------------------
    def build_loss(self, content: torch.Tensor, styles: Sequence[torch.Tensor], *, style_weights: Sequence[float],
                   content_layers: Sequence[str], style_layers: Sequence[str], style_layer_weights: Sequence[float],
                   content_weight: float, style_weight: float, tv_weight: float,
                   temporal: TemporalLoss | None = None, temporal_weight: float = 0.0) -> StyleTransferLoss:
        """The loss at one scale: ``content`` and ``styles`` already at this scale's sizes."""
        self.model((*content_layers, *style_layers))  # one extractor for both (no rebuild in between)
        with torch.no_grad():
            cfeats = self.features(content, content_layers)
        grams = blend_grams([self.style_grams(s, style_layers) for s in styles], style_weights)
        lw = normalised(style_layer_weights)
        return StyleTransferLoss(
            content_targets={k: cfeats[k] for k in content_layers},
            content_layer_weights={k: 1.0 / len(content_layers) for k in content_layers},
            style_grams=grams, style_layer_weights=dict(zip(style_layers, lw)),
            content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
            temporal=temporal, temporal_weight=temporal_weight).to(self.runtime.device)

    def loss_value(self, image: torch.Tensor, loss: StyleTransferLoss, layers: Sequence[str]) -> float:
        with torch.no_grad():
            total, _ = loss(image.to(self.runtime.device), self.features(image, layers))
        return float(total)

    # -- the main entry point ------------------------------------------------------------------
    def stylize(self, content: Image.Image, styles: Sequence[Image.Image], opts: StyleOptions = StyleOptions(), *,
                progress: ProgressFn | None = None, init_image: torch.Tensor | None = None,
                temporal: tuple[torch.Tensor, torch.Tensor, float] | None = None) -> Image.Image:
        """Paint ``content`` in the style of ``styles`` (blended by ``opts.style_weights``).

        ``init_image`` (1x3xHxW in [0, 1]) overrides ``opts.init``; ``temporal`` = (warped
        previous frame, reliability mask, weight) adds the video temporal loss at the output
        scale. Returns the stylised image at the output size. ``progress`` receives a
        :class:`StyleIterate` after every step (None: a bar).
        """
        with presenting(progress, "stylizing") as report:
            x = self.stylize_tensor(content, styles, opts, progress=report, init_image=init_image, temporal=temporal)
            return to_pil(x, value_range=(0, 1))

    def stylize_tensor(self, content: Image.Image, styles: Sequence[Image.Image], opts: StyleOptions = StyleOptions(),
                       *, progress: ProgressFn | None = None, init_image: torch.Tensor | None = None,
                       temporal: tuple[torch.Tensor, torch.Tensor, float] | None = None) -> torch.Tensor:
        """Like :meth:`stylize` but returns the 1x3xHxW [0, 1] tensor (before 8-bit rounding);
        here ``progress=None`` reports nothing."""
        if not isinstance(opts, StyleOptions):
            raise TypeError(f"stylize takes its options as a StyleOptions, not {type(opts).__name__} "
                            "(e.g. StyleOptions(style_weight=20))")
        styles = list(styles)
        o = opts.check(len(styles), init_image=init_image is not None)
        content_layers, style_layers = tuple(o.content_layers), tuple(o.style_layers)

        t0 = time.perf_counter()
        gen = torch.Generator().manual_seed(int(o.seed))
        content_rgb = content.convert("RGB")
        long_side = int(o.size) if o.size else min(max(content_rgb.size), int(o.max_size))
        if long_side < 16:
            raise UsageError("the output must be at least 16 px on its long side (VGG-19 pools 4 times)")
        out_wh = fit_size(content_rgb.size, long_side)
        if min(out_wh) < 16:
            raise UsageError(f"output size {out_wh[0]}x{out_wh[1]} is too thin; VGG-19 needs 16 px on each side")
        content_full = image_tensor(content_rgb.resize(out_wh, Image.LANCZOS))

        # Prepare styles once per call (colour handling depends on the content).
        mode = o.preserve_color
        style_full = []
        for s in styles:
            st = image_tensor(s)
            if max(st.shape[-2:]) > 2048:  # no need to keep huge style images around
                st = resize_tensor(st, fit_size((st.shape[-1], st.shape[-2]), 2048))
            if mode == "histogram":
                st = color.match_color_histogram(st, content_full)
            elif mode == "luminance":
                st = color.to_luminance_image(st, match_to=content_full)
            style_full.append(st)
        work_content = color.to_luminance_image(content_full) if mode == "luminance" else content_full

        plan = plan_scales(out_wh, long_side, min_scale=int(o.min_scale), initial_iterations=int(o.initial_iterations),
                           coarse_to_fine=bool(o.scales) and init_image is None, iterations=int(o.iterations),
                           final_iterations=o.final_steps())
        # The starting image at the first scale.
        x = self._initial_image(o, plan[0][0], work_content, style_full, gen, init_image)
        layers = tuple(dict.fromkeys((*content_layers, *style_layers)))
        features = lambda image: self.features(image, layers)  # noqa: E731
        total_steps, done = sum(n for _, n in plan), 0
        adam_state: dict[str, torch.Tensor] | None = None
        for si, (wh, nsteps) in enumerate(plan):
            x = resize_tensor(x, wh)
            content_s = resize_tensor(work_content, wh)
            styles_s = scale_styles(style_full, wh, o.style_scale)
            temporal_loss, tw = None, 0.0
            if temporal is not None and si == len(plan) - 1:
                warped, mask, tw = temporal
                warped_w = color.to_luminance_image(warped) if mode == "luminance" else warped
                temporal_loss = TemporalLoss(resize_tensor(warped_w, wh).to(self.runtime.device),
                                             F.interpolate(mask.float(), size=(wh[1], wh[0]), mode="bilinear").to(self.runtime.device))
            loss_fn = self.build_loss(content_s, styles_s, style_weights=o.style_weights, content_layers=content_layers,
                                      style_layers=style_layers, style_layer_weights=o.style_layer_weights,
                                      content_weight=o.content_weight, style_weight=o.style_weight,
                                      tv_weight=o.tv_weight, temporal=temporal_loss, temporal_weight=tw)

            def report(step: int, loss: float, parts: dict[str, float], getter: Callable[[], torch.Tensor]) -> None:
                if progress is not None:
                    progress(StyleIterate(
                        step=done + step, total=total_steps, message=f"{wh[0]}x{wh[1]} loss {loss:.4f}", task="stylize",
                        preview=lambda: np.asarray(to_pil(getter().detach(), value_range=(0, 1))), scale=si,
                        scales=len(plan), size=wh, scale_step=step, scale_steps=nsteps, loss=loss, parts=parts,
                        elapsed=time.perf_counter() - t0, get_tensor=getter))

            if o.optimizer == "adam":
                start = self.runtime.tensor(x.detach().float().clone())
                x, adam_state = run_adam(start, loss_fn, features, nsteps, float(o.step_size), float(o.ema),
                                         adam_state, report)
            else:
                x = run_lbfgs(x.detach().float().clone().contiguous().to(self.runtime.device), loss_fn, features,
                              nsteps, report, line_search=bool(o.line_search))
            done += nsteps

        x = x.detach().float().cpu().clamp(0, 1)
        if mode == "luminance":
            x = color.combine_luma_with_chroma(x, content_full)
        return x

    def _initial_image(self, o: StyleOptions, wh: tuple[int, int], content: torch.Tensor,
                       styles: Sequence[torch.Tensor], gen: torch.Generator,
                       init_image: torch.Tensor | None) -> torch.Tensor:
        if init_image is not None:
            t = init_image.detach().float().cpu()
            t = resize_tensor(t if t.dim() == 4 else t.unsqueeze(0), wh)
            return color.to_luminance_image(t) if o.preserve_color == "luminance" else t
        init = str(o.init)
        if init == "content":
            return resize_tensor(content, wh)
        if init == "noise":
            return torch.rand((1, 3, wh[1], wh[0]), generator=gen)
        if init == "style":
            return resize_tensor(styles[0], wh)
        from ..core.imageio import load_image

        return image_tensor(load_image(Path(init)).resize(wh, Image.LANCZOS))  # a file (StyleOptions.check saw it)


def stylize(content: Image.Image, styles: Sequence[Image.Image], opts: StyleOptions = StyleOptions(), *,
            vgg: str | os.PathLike | None = "store", device: str = "auto", precision: str = "auto",
            pooling: str = "max", progress: ProgressFn | None = None) -> Image.Image:
    """One-call convenience: build a :class:`StyleTransfer` and run :meth:`StyleTransfer.stylize`."""
    st = StyleTransfer(vgg=vgg, device=device, precision=precision, pooling=pooling, seed=int(opts.seed))
    return st.stylize(content, styles, opts, progress=progress)
