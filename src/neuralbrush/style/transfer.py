"""Gatys neural style transfer, tuned for quality per unit of compute.

The default recipe (REFERENCE.md's quality-per-compute list, biggest first, measured in
``benchmarks/bench_style_recipes.py``):

* coarse-to-fine: optimise at ``min_scale`` (128 px long side) first, then at sizes growing by
  sqrt(2) up to the output size, each scale starting from the previous result upsampled;
* init from the content image;
* L-BFGS (strong-Wolfe line search) at every scale, with steps counted as loss evaluations so
  the cost of a run is known in advance; it reached the same full-resolution loss in well under
  the time of Adam + EMA (``optimizer='adam'``: step 0.02 on [0, 1] pixels clamped to the box,
  Adam's moments upsampled between scales, an EMA of the iterates handed on);
* bf16 autocast + channels_last on CPUs with native bf16 (fp16/bf16 on GPUs) for the VGG passes;
  Gram matrices and losses stay fp32.

Style Gram targets are computed once per scale (and cached across calls on the same
:class:`StyleTransfer`, so a burst of photos reuses them). The classic recipe (single scale,
fp32, L-BFGS) is ``scales=False, optimizer='lbfgs', precision='fp32'``.

Library use::

    st = StyleTransfer(vgg="store")            # or vgg="random" / a .pth path
    out = st.stylize(content, [style_a, style_b], style_weights=[100, 45], progress=print)
"""

from __future__ import annotations

import hashlib
import inspect
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..core.errors import UsageError
from ..core.progress import ProgressEvent, ProgressFn, presenting
from . import color
from .options import OPTION_HELP, StyleOptions  # noqa: F401 (re-exported)
from .losses import StyleTransferLoss, TemporalLoss, blend_grams, gram_matrix, normalised
from .vgg import VGGFeatures, layer_index

_O = StyleOptions()
DEFAULT_CONTENT_LAYERS: tuple[str, ...] = _O.content_layers
DEFAULT_STYLE_LAYERS: tuple[str, ...] = _O.style_layers
INIT_CHOICES = ("content", "noise", "style")
OPTIMIZER_CHOICES = ("adam", "lbfgs")


def default_layer_weights(n: int) -> list[float]:
    """Earlier (finer) style layers weigh more: 2^-i, normalised to sum 1."""
    return normalised([2.0 ** -i for i in range(n)])


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
        return tensor_to_pil(self.tensor())


# ----------------------------------------------------------------------------------------- helpers

def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()


def tensor_to_pil(t: torch.Tensor) -> Image.Image:
    t = t.detach().float().cpu()
    if t.dim() == 4:
        t = t[0]
    arr = t.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(np.ascontiguousarray(arr))


def fit_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(w, h) scaled so the longer side is ``long_side`` (aspect kept, at least 1 px)."""
    w, h = size
    s = long_side / max(w, h)
    return max(1, round(w * s)), max(1, round(h * s))


def scale_sizes(long_side: int, min_scale: int, coarse_to_fine: bool) -> list[int]:
    """Long sides from coarse to fine: ``long_side`` / sqrt(2)^k down to ``min_scale``."""
    if not coarse_to_fine or long_side <= min_scale:
        return [long_side]
    sizes, k = [], 0
    while True:
        s = round(long_side / math.sqrt(2) ** k)
        if s < min_scale:
            break
        sizes.append(s)
        k += 1
    return sorted(set(sizes))


def resize_tensor(x: torch.Tensor, size_wh: tuple[int, int]) -> torch.Tensor:
    w, h = size_wh
    if x.shape[-2:] == (h, w):
        return x
    down = h < x.shape[-2] or w < x.shape[-1]
    return F.interpolate(x.float(), size=(h, w), mode="bicubic", align_corners=False, antialias=down).clamp(0, 1)


def _digest(t: torch.Tensor) -> str:
    return hashlib.sha1(t.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()


class _EMA:
    """Bias-corrected exponential moving average of the iterates (as Adam's moments)."""

    def __init__(self, x: torch.Tensor, decay: float) -> None:
        self.decay = decay
        self.value = torch.zeros_like(x)
        self.weight = 0.0
        self.update(x)

    def update(self, x: torch.Tensor) -> None:
        self.value.mul_(self.decay).add_(x.detach(), alpha=1 - self.decay)
        self.weight = self.weight * self.decay + (1 - self.decay)

    def get(self) -> torch.Tensor:
        return self.value / self.weight


# ----------------------------------------------------------------------------------------- options



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
    def stylize(self, content: Image.Image, styles: Sequence[Image.Image], *,
                style_weights: Sequence[float] | None = _O.style_weights,
                content_layers: Sequence[str] = _O.content_layers,
                style_layers: Sequence[str] = _O.style_layers,
                style_layer_weights: Sequence[float] | None = _O.style_layer_weights,
                content_weight: float = _O.content_weight,
                style_weight: float = _O.style_weight,
                tv_weight: float = _O.tv_weight,
                init: str = _O.init,
                optimizer: str = _O.optimizer,
                step_size: float = _O.step_size,
                iterations: int = _O.iterations,
                initial_iterations: int = _O.initial_iterations,
                scales: bool = _O.scales,
                min_scale: int = _O.min_scale,
                ema: float = _O.ema,
                style_scale: float = _O.style_scale,
                size: int | None = _O.size,
                max_size: int = _O.max_size,
                preserve_color: str = _O.preserve_color,
                seed: int = _O.seed,
                progress: ProgressFn | None = None,
                init_image: torch.Tensor | None = None,
                temporal: tuple[torch.Tensor, torch.Tensor, float] | None = None) -> Image.Image:
        """Paint ``content`` in the style of ``styles`` (blended by ``style_weights``).

        ``init_image`` (1x3xHxW in [0, 1]) overrides ``init``; ``temporal`` = (warped previous
        frame, reliability mask, weight) adds the video temporal loss at the output scale.
        Returns the stylised image at the output size. ``progress`` receives a
        :class:`StyleIterate` after every step (None: a bar).
        """
        kw = {k: v for k, v in locals().items() if k not in ("self", "progress")}
        with presenting(progress, "stylizing") as report:
            return tensor_to_pil(self.stylize_tensor(**kw, progress=report))

    def stylize_tensor(self, content: Image.Image, styles: Sequence[Image.Image], **kw: Any) -> torch.Tensor:
        """Like :meth:`stylize` but returns the 1x3xHxW [0, 1] tensor (before 8-bit rounding);
        here ``progress=None`` reports nothing."""
        styles = list(styles)
        o = check_options(kw, len(styles))
        sw, slw = o["style_weights"], o["style_layer_weights"]
        content_layers, style_layers = tuple(o["content_layers"]), tuple(o["style_layers"])

        t0 = time.perf_counter()
        gen = torch.Generator().manual_seed(int(o["seed"]))
        content_rgb = content.convert("RGB")
        long_side = int(o["size"]) if o["size"] else min(max(content_rgb.size), int(o["max_size"]))
        if long_side < 16:
            raise UsageError("the output must be at least 16 px on its long side (VGG-19 pools 4 times)")
        out_wh = fit_size(content_rgb.size, long_side)
        if min(out_wh) < 16:
            raise UsageError(f"output size {out_wh[0]}x{out_wh[1]} is too thin; VGG-19 needs 16 px on each side")
        content_full = pil_to_tensor(content_rgb.resize(out_wh, Image.LANCZOS))

        # Prepare styles once per call (colour handling depends on the content).
        mode = o["preserve_color"]
        style_full = []
        for s in styles:
            st = pil_to_tensor(s.convert("RGB"))
            if max(st.shape[-2:]) > 2048:  # no need to keep huge style images around
                st = resize_tensor(st, fit_size((st.shape[-1], st.shape[-2]), 2048))
            if mode == "histogram":
                st = color.match_color_histogram(st, content_full)
            elif mode == "luminance":
                st = color.to_luminance_image(st, match_to=content_full)
            style_full.append(st)
        work_content = color.to_luminance_image(content_full) if mode == "luminance" else content_full

        sizes = scale_sizes(long_side, int(o["min_scale"]), bool(o["scales"]) and o["init_image"] is None)
        whs = [fit_size(out_wh, s) if s != long_side else out_wh for s in sizes]
        for wh in whs:
            if min(wh) < 16:
                raise UsageError(f"scale {wh[0]}x{wh[1]} is too small for VGG-19; raise --min-scale")
        steps = [int(o["initial_iterations"]) if (i == 0 and len(whs) > 1) else int(o["iterations"]) for i in range(len(whs))]
        if len(whs) == 1 and o["init_image"] is None and not o["scales"]:
            steps = [int(o["iterations"])]

        # The starting image at the first scale.
        x = self._initial_image(o, whs[0], work_content, style_full, gen)
        layers = tuple(dict.fromkeys((*content_layers, *style_layers)))
        total_steps, done = sum(steps), 0
        adam_state: dict[str, torch.Tensor] | None = None
        for si, (wh, nsteps) in enumerate(zip(whs, steps)):
            x = resize_tensor(x, wh)
            content_s = resize_tensor(work_content, wh)
            styles_s = [resize_tensor(s, fit_size((s.shape[-1], s.shape[-2]), max(16, round(max(wh) * o["style_scale"]))))
                        for s in style_full]
            temporal_loss, tw = None, 0.0
            if o["temporal"] is not None and si == len(whs) - 1:
                warped, mask, tw = o["temporal"]
                warped_w = color.to_luminance_image(warped) if mode == "luminance" else warped
                temporal_loss = TemporalLoss(resize_tensor(warped_w, wh).to(self.runtime.device),
                                             F.interpolate(mask.float(), size=(wh[1], wh[0]), mode="bilinear").to(self.runtime.device))
            loss_fn = self.build_loss(content_s, styles_s, style_weights=sw, content_layers=content_layers,
                                      style_layers=style_layers, style_layer_weights=slw,
                                      content_weight=o["content_weight"], style_weight=o["style_weight"],
                                      tv_weight=o["tv_weight"], temporal=temporal_loss, temporal_weight=tw)

            def report(step: int, loss: float, parts: dict[str, float], getter: Callable[[], torch.Tensor]) -> None:
                if o["progress"] is not None:
                    o["progress"](StyleIterate(
                        step=done + step, total=total_steps, message=f"{wh[0]}x{wh[1]} loss {loss:.4f}", task="stylize",
                        preview=lambda: np.asarray(tensor_to_pil(getter().detach())), scale=si, scales=len(whs),
                        size=wh, scale_step=step, scale_steps=nsteps, loss=loss, parts=parts,
                        elapsed=time.perf_counter() - t0, get_tensor=getter))

            if o["optimizer"] == "adam":
                x, adam_state = self._run_adam(x, loss_fn, layers, nsteps, float(o["step_size"]), float(o["ema"]),
                                               adam_state, report)
            else:
                x = self._run_lbfgs(x, loss_fn, layers, nsteps, report)
            done += nsteps

        x = x.detach().float().cpu().clamp(0, 1)
        if mode == "luminance":
            x = color.combine_luma_with_chroma(x, content_full)
        return x

    # -- pieces ------------------------------------------------------------------------------------
    def _initial_image(self, o: Mapping[str, Any], wh: tuple[int, int], content: torch.Tensor,
                       styles: Sequence[torch.Tensor], gen: torch.Generator) -> torch.Tensor:
        if o["init_image"] is not None:
            t = o["init_image"].detach().float().cpu()
            t = resize_tensor(t if t.dim() == 4 else t.unsqueeze(0), wh)
            return color.to_luminance_image(t) if o["preserve_color"] == "luminance" else t
        init = str(o["init"])
        if init == "content":
            return resize_tensor(content, wh)
        if init == "noise":
            return torch.rand((1, 3, wh[1], wh[0]), generator=gen)
        if init == "style":
            return resize_tensor(styles[0], wh)
        from ..core.imageio import load_image

        return pil_to_tensor(load_image(Path(init)).resize(wh, Image.LANCZOS))  # a file (check_options saw it)

    def _run_adam(self, x0: torch.Tensor, loss_fn: StyleTransferLoss, layers: Sequence[str], nsteps: int,
                  step_size: float, ema_decay: float, state: dict[str, torch.Tensor] | None,
                  report: Callable) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        x = self.runtime.tensor(x0.detach().float().clone()).requires_grad_(True)
        opt = torch.optim.Adam([x], lr=step_size)
        if state is not None:  # warm start: upsample the moment estimates from the previous scale
            h, w = x.shape[-2:]
            m = F.interpolate(state["exp_avg"].float(), size=(h, w), mode="bicubic", align_corners=False)
            v = F.interpolate(state["exp_avg_sq"].float(), size=(h, w), mode="bilinear", align_corners=False).clamp_min(0)
            opt.state[x] = {"step": state["step"].clone(), "exp_avg": torch.empty_like(x).copy_(m),
                            "exp_avg_sq": torch.empty_like(x).copy_(v)}
        avg = _EMA(x.detach(), ema_decay) if ema_decay > 0 else None
        getter = (lambda: avg.get()) if avg is not None else (lambda: x.detach())
        for step in range(1, nsteps + 1):
            opt.zero_grad(set_to_none=True)
            loss, parts = loss_fn(x, self.features(x, layers))
            loss.backward()
            opt.step()
            with torch.no_grad():
                x.clamp_(0, 1)
            if avg is not None:
                avg.update(x)
            report(step, float(loss.detach()), parts, getter)
        out = getter().detach().clone()
        st = opt.state.get(x)
        new_state = None
        if st and "exp_avg" in st:
            new_state = {"step": st["step"], "exp_avg": st["exp_avg"].detach(), "exp_avg_sq": st["exp_avg_sq"].detach()}
        return out, (new_state if new_state is not None else state)

    def _run_lbfgs(self, x0: torch.Tensor, loss_fn: StyleTransferLoss, layers: Sequence[str], nsteps: int,
                   report: Callable) -> torch.Tensor:
        # L-BFGS flattens the gradient with .view(-1), so the pixels stay contiguous (the VGG input is
        # still converted to channels_last inside features()).
        x = x0.detach().float().clone().contiguous().to(self.runtime.device).requires_grad_(True)
        if nsteps <= 0:
            return x.detach()
        history = max(10, min(50, int(1.5e9 // (8 * x.numel()))))  # at most ~1.5 GB of curvature pairs
        opt = torch.optim.LBFGS([x], lr=1.0, max_iter=nsteps, max_eval=nsteps, history_size=history,
                                tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe")
        count = [0]

        def closure() -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            loss, parts = loss_fn(x, self.features(x, layers))
            loss.backward()
            count[0] += 1
            if count[0] <= nsteps:
                report(count[0], float(loss.detach()), parts, lambda: x.detach())
            return loss

        # L-BFGS may stop short of its budget (a zero step after a failed line search, e.g. on
        # bf16 noise): go on from the same curvature history until the evaluations are spent.
        while count[0] < nsteps:
            before = count[0]
            opt.param_groups[0]["max_iter"] = opt.param_groups[0]["max_eval"] = nsteps - count[0]
            opt.step(closure)
            if count[0] - before <= 1:  # converged: nothing left to gain
                break
        return x.detach().clamp(0, 1)


def _weights(name: str, values: Any) -> list[float]:
    """A list of finite, non-negative weights, not all zero."""
    from ..core import checks

    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise UsageError(f"{name} must be a list of numbers, not {values!r:.40}")
    out = [checks.number(name, v, lo=0) for v in values]
    if out and sum(out) <= 0:
        raise UsageError(f"{name} must not all be zero")
    return out


def _layers(name: str, values: Any) -> tuple[str, ...]:
    """A non-empty tuple of VGG-19 layer names (each checked)."""
    if isinstance(values, str) or not isinstance(values, Sequence) or not all(isinstance(v, str) for v in values):
        raise UsageError(f"{name} must be a list of VGG-19 layer names such as relu4_2, not {values!r:.40}")
    if not values:
        raise UsageError(f"{name} must name at least one VGG-19 layer, e.g. relu1_1,relu2_1")
    for n in values:
        layer_index(n)
    return tuple(values)


def check_options(options: Mapping[str, Any], n_styles: int) -> dict[str, Any]:
    """The options of :meth:`StyleTransfer.stylize` with defaults filled in and checked (one-line
    :class:`UsageError` naming the option on a wrong type, NaN, infinity or a value out of range),
    so a command can refuse them before loading anything. ``style_weights`` and
    ``style_layer_weights`` come back resolved to lists."""
    from ..core import checks
    from .options import MAX_ITERATIONS, MAX_SEED, MAX_SIDE, MAX_STYLE_SCALE

    o = {**option_defaults(), **options}
    if n_styles < 1:
        raise UsageError("give at least one style image")
    sw = _weights("--style-weights", o["style_weights"]) if o["style_weights"] is not None else [1.0] * n_styles
    if len(sw) != n_styles:
        raise UsageError(f"{len(sw)} style weights for {n_styles} style images; give one weight per style")
    if sum(sw) <= 0:
        raise UsageError("--style-weights must not all be zero")
    _layers("--content-layers", o["content_layers"])
    style_layers = _layers("--style-layers", o["style_layers"])
    if o["style_layer_weights"] is not None:
        slw = _weights("--style-layer-weights", o["style_layer_weights"])
    else:
        slw = list(default_layer_weights(len(style_layers)))
    if len(slw) != len(style_layers):
        raise UsageError(f"{len(slw)} style-layer weights for {len(style_layers)} style layers")
    checks.choice("--optimizer", o["optimizer"], OPTIMIZER_CHOICES)
    if o["preserve_color"] in (None, "", False):
        o["preserve_color"] = "none"
    checks.choice("--preserve-color", o["preserve_color"], color.PRESERVE_CHOICES)
    for k in ("content_weight", "style_weight", "tv_weight"):
        checks.number("--" + k.replace("_", "-"), o[k], lo=0)
    checks.number("--step-size", o["step_size"], lo=0, lo_open=True)
    for k in ("iterations", "initial_iterations"):
        checks.whole("--" + k.replace("_", "-"), o[k], lo=0, hi=MAX_ITERATIONS)
    checks.flag("--scales", o["scales"])
    checks.whole("--min-scale", o["min_scale"], lo=16, hi=MAX_SIDE)
    checks.number("--ema", o["ema"], lo=0, hi=1, hi_open=True)
    checks.number("--style-scale", o["style_scale"], lo=0, lo_open=True, hi=MAX_STYLE_SCALE)
    if o["size"] is not None:
        checks.whole("--size", o["size"], lo=16, hi=MAX_SIDE, why="VGG-19 pools 4 times; pixels on the long side")
    checks.whole("--max-size", o["max_size"], lo=16, hi=MAX_SIDE)
    checks.whole("--seed", o["seed"], lo=0, hi=MAX_SEED)
    init = o["init"]
    if o.get("init_image") is None and (not isinstance(init, (str, os.PathLike)) or (
            init not in INIT_CHOICES and not Path(init).is_file())):
        raise UsageError(f"--init must be content, noise, style or an existing image file; {init!r} is none of these")
    o["style_weights"], o["style_layer_weights"] = sw, slw
    return o


def option_defaults() -> dict[str, Any]:
    """Every keyword option of :meth:`StyleTransfer.stylize` with its default (the CLI's source)."""
    sig = inspect.signature(StyleTransfer.stylize)
    return {n: p.default for n, p in sig.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def stylize(content: Image.Image, styles: Sequence[Image.Image], *, vgg: str | os.PathLike | None = "store",
            device: str = "auto", precision: str = "auto", pooling: str = "max", **options: Any) -> Image.Image:
    """One-call convenience: build a :class:`StyleTransfer` and run :meth:`StyleTransfer.stylize`."""
    st = StyleTransfer(vgg=vgg, device=device, precision=precision, pooling=pooling, seed=int(options.get("seed", 0)))
    return st.stylize(content, styles, **options)
