"""The coarse-to-fine schedule of style transfer and the optimisers that walk it.

:func:`plan_scales` turns the output size and :class:`~neuralbrush.style.options.StyleOptions`
into the list of (size, steps) the optimisation runs through: sizes growing by sqrt(2) from
``min_scale`` to the output, each scale starting from the previous result upsampled.
:func:`run_lbfgs` and :func:`run_adam` optimise the pixels at one scale; both call ``report``
after every step (a loss evaluation for L-BFGS), so the cost of a run is known in advance.
:class:`~neuralbrush.style.transfer.StyleTransfer` holds the network and the losses and strings
these together.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from ..core.errors import UsageError
from .losses import StyleTransferLoss

# report(step, loss, weighted loss parts, getter of the image as it stands)
Report = Callable[[int, float, dict, Callable[[], torch.Tensor]], None]
# features(image) -> {layer: activations}
Features = Callable[[torch.Tensor], dict]


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


def plan_scales(out_wh: tuple[int, int], long_side: int, *, min_scale: int, coarse_to_fine: bool,
                initial_iterations: int, iterations: int,
                final_iterations: int | None = None) -> list[tuple[tuple[int, int], int]]:
    """The (width, height) and step count of every scale, coarse to fine: ``initial_iterations``
    at the first of several scales, ``final_iterations`` (default ``iterations``) at the last of
    several, ``iterations`` at each one between (and at a single scale)."""
    sizes = scale_sizes(long_side, min_scale, coarse_to_fine)
    whs = [fit_size(out_wh, s) if s != long_side else out_wh for s in sizes]
    for wh in whs:
        if min(wh) < 16:
            raise UsageError(f"scale {wh[0]}x{wh[1]} is too small for VGG-19; raise --min-scale")
    steps = [initial_iterations if (i == 0 and len(whs) > 1) else iterations for i in range(len(whs))]
    if len(whs) > 1 and final_iterations is not None:
        steps[-1] = final_iterations
    return list(zip(whs, steps))


def resize_tensor(x: torch.Tensor, size_wh: tuple[int, int]) -> torch.Tensor:
    """Bicubic resize of an Nx3xHxW [0, 1] image to (width, height), antialiased when shrinking."""
    w, h = size_wh
    if x.shape[-2:] == (h, w):
        return x
    down = h < x.shape[-2] or w < x.shape[-1]
    return F.interpolate(x.float(), size=(h, w), mode="bicubic", align_corners=False, antialias=down).clamp(0, 1)


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


def run_adam(x: torch.Tensor, loss_fn: StyleTransferLoss, features: Features, nsteps: int, step_size: float,
             ema_decay: float, state: dict[str, torch.Tensor] | None,
             report: Report) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
    """``nsteps`` Adam steps on the pixels ``x`` (already on the device, in its layout), clamped to
    [0, 1]. ``state``: the previous scale's moments, upsampled here as a warm start. Returns the
    result (the EMA of the iterates when ``ema_decay`` > 0) and the moments for the next scale."""
    x = x.requires_grad_(True)
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
        loss, parts = loss_fn(x, features(x))
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


# An evaluation above this multiple of the best loss so far (or not finite) means the step diverged.
DIVERGED = 2.0


class _Diverged(Exception):
    pass


def run_lbfgs(x: torch.Tensor, loss_fn: StyleTransferLoss, features: Features, nsteps: int,
              report: Report, *, line_search: bool = False) -> torch.Tensor:
    """L-BFGS on the pixels ``x`` (contiguous, on the device) for ``nsteps`` loss evaluations;
    returns the best iterate, clamped to [0, 1].

    Without ``line_search`` every iteration takes the quasi-Newton step at its full length, one
    evaluation each (neural-style's way; at 512 px it got lower in the same evaluations than the
    strong-Wolfe search, which also stalls on bf16 gradients near the minimum: docs/style.md).
    Should such a step blow the loss up (above ``DIVERGED`` x the best so far, or not finite),
    the best iterate is restored and the evaluations left run with the strong-Wolfe line search,
    which only accepts steps that lower the loss.
    """
    # L-BFGS flattens the gradient with .view(-1), so the pixels stay contiguous (the VGG input is
    # still converted to channels_last inside features()).
    x = x.requires_grad_(True)
    if nsteps <= 0:
        return x.detach()
    history = max(10, min(50, int(1.5e9 // (8 * x.numel()))))  # at most ~1.5 GB of curvature pairs
    count = [0]
    best: dict = {"loss": math.inf, "x": None}
    guarded = [not line_search]

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss, parts = loss_fn(x, features(x))
        loss.backward()
        count[0] += 1
        value = float(loss.detach())
        if count[0] <= nsteps:
            report(count[0], value, parts, lambda: x.detach())
        if value < best["loss"]:
            if best["x"] is None:
                best["x"] = torch.empty_like(x)
            best["loss"] = value
            best["x"].copy_(x.detach())
        elif guarded[0] and best["x"] is not None and not value <= DIVERGED * best["loss"]:
            raise _Diverged
        return loss

    def optimizer(search: bool) -> torch.optim.LBFGS:
        return torch.optim.LBFGS([x], lr=1.0, max_iter=nsteps, max_eval=nsteps, history_size=history,
                                 tolerance_grad=0.0, tolerance_change=0.0,
                                 line_search_fn="strong_wolfe" if search else None)

    opt = optimizer(line_search)
    # L-BFGS may stop short of its budget (a zero step after a failed line search, e.g. on
    # bf16 noise): go on from the same curvature history until the evaluations are spent.
    while count[0] < nsteps:
        before = count[0]
        opt.param_groups[0]["max_iter"] = opt.param_groups[0]["max_eval"] = nsteps - count[0]
        try:
            opt.step(closure)
        except _Diverged:
            with torch.no_grad():
                x.copy_(best["x"])
            guarded[0] = False
            opt = optimizer(True)
            continue
        if count[0] - before <= 1:  # converged: nothing left to gain
            break
    return (best["x"] if best["x"] is not None else x.detach()).clamp(0, 1)


def scale_styles(styles: Sequence[torch.Tensor], wh: tuple[int, int], style_scale: float) -> list[torch.Tensor]:
    """The style images at one scale: long side ``style_scale`` times the scale's (at least 16 px)."""
    return [resize_tensor(s, fit_size((s.shape[-1], s.shape[-2]), max(16, round(max(wh) * style_scale))))
            for s in styles]
