"""Small, composable style-transfer losses.

Normalisation (why the defaults carry across image sizes, layers and weight files):

* Gram matrices are divided by C*H*W, so they are averages that do not grow with image size.
* Every content and style term is a *relative* squared error, ||x - t||^2 / ||t||^2 (means
  over elements), so each layer's loss is dimensionless: about 1 when unrelated, 0 when
  matched, whatever the scale of that layer's activations (deep layers, avg pooling, random
  weights and trained weights all give comparable numbers).
* Style-layer weights and the weights of several style images are normalised to sum to 1.
* Total variation is the mean squared difference of neighbouring [0, 1] pixels.

Features may come out of a bf16 autocast region; the Gram products and the losses are
computed in fp32.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-12


class _Gram(torch.autograd.Function):
    """G = X^T X * scale for X [N, P, C] (P pixels), in fp32, with a one-product backward.

    Autograd on ``bmm(x.transpose, x)`` sees two operands and returns two products and their sum;
    here dL/dX = X (dG + dG^T) * scale is one product. The product runs in X's own dtype: for bf16
    features (autocast) the gradient is rounded to bf16 on its way back into the network anyway,
    and X is exact in bf16, so only dG's rounding is added (and no fp32 copy of X is kept).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.scale = scale
        xf = x if x.dtype in (torch.float32, torch.float64) else x.float()
        return torch.bmm(xf.transpose(1, 2), xf) * scale

    @staticmethod
    def backward(ctx, dg: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return torch.bmm(x, ((dg + dg.transpose(1, 2)) * ctx.scale).to(x.dtype)), None


class _GramResidual(torch.autograd.Function):
    """R = X^T X * scale - A for reduced-precision X [N, P, C] and a Gram target A = hi + lo, in fp32.

    The product runs in X's dtype (bf16: twice the fp32 rate, and no fp32 copy of X) with the
    target's reduced-precision part subtracted inside it (``baddbmm``: accumulated in fp32, rounded
    once), so the rounding error is relative to the residual G - A, which is what the loss and its
    gradient are made of, not to G: close to convergence G and A agree to a few per cent and a G
    rounded to bf16 on its own would bury the residual in its rounding. ``lo``, the part of A that
    ``hi`` cannot hold, is taken off in fp32. The backward is _Gram's one product.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, hi: torch.Tensor, lo: torch.Tensor,  # type: ignore[override]
                scale: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.scale = scale
        return torch.baddbmm(-hi, x.transpose(1, 2), x, alpha=scale).float() - lo

    @staticmethod
    def backward(ctx, dr: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return torch.bmm(x, ((dr + dr.transpose(1, 2)) * ctx.scale).to(x.dtype)), None, None, None


def _pixels(features: torch.Tensor) -> torch.Tensor:
    """N x C x H x W -> N x (H*W) x C, a view for contiguous and channels-last features alike."""
    n, c, h, w = features.shape
    if features.is_contiguous(memory_format=torch.channels_last) and not features.is_contiguous():
        return features.permute(0, 2, 3, 1).reshape(n, h * w, c)  # a view: pixels are rows in memory already
    return features.reshape(n, c, h * w).transpose(1, 2)


def gram_residual(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """gram_matrix(features) - target in fp32; for bf16/fp16 features the product runs in their dtype
    with the target folded into it (see _GramResidual): 2-6x faster than the fp32 Gram on the CPU."""
    assert features.dim() == 4, f"expected NxCxHxW, got {tuple(features.shape)}"
    n, c, h, w = features.shape
    if features.dtype in (torch.float32, torch.float64):
        return gram_matrix(features) - target
    hi = target.to(features.dtype)
    return _GramResidual.apply(_pixels(features), hi, target - hi.float(), 1.0 / (c * h * w))


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """N x C x H x W features -> N x C x C Gram matrix divided by C*H*W (fp32; float64 stays).

    Channels-last features (the VGG passes under bf16) are read as [N, H*W, C] without a copy, so
    their gradient comes back channels-last too and adds to the convolution's without a relayout.
    """
    assert features.dim() == 4, f"expected NxCxHxW, got {tuple(features.shape)}"
    n, c, h, w = features.shape
    return _Gram.apply(_pixels(features), 1.0 / (c * h * w))


def relative_mse(x: torch.Tensor, target: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """mean((x - target)^2) / scale, with ``scale`` = mean(target^2) precomputed."""
    return (x.float() - target).pow(2).mean() / scale


class ContentLoss(nn.Module):
    """Relative MSE between a layer's features and the content image's."""

    def __init__(self, target: torch.Tensor) -> None:
        super().__init__()
        t = target.detach().float()
        self.register_buffer("target", t)
        self.register_buffer("scale", t.pow(2).mean().clamp_min(EPS))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return relative_mse(features, self.target, self.scale)


class StyleLoss(nn.Module):
    """Relative squared error between Gram matrices (target: a Gram or a blend of Grams)."""

    def __init__(self, target_gram: torch.Tensor) -> None:
        super().__init__()
        t = target_gram.detach().float()
        self.register_buffer("target", t)
        self.register_buffer("scale", t.pow(2).mean().clamp_min(EPS))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return gram_residual(features, self.target).pow(2).mean() / self.scale


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between horizontally and vertically neighbouring pixels."""
    img = image.float()
    dx = img[..., :, 1:] - img[..., :, :-1]
    dy = img[..., 1:, :] - img[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()


class TemporalLoss(nn.Module):
    """Masked MSE to the previous stylised frame warped into this one (Ruder et al.).

    ``mask`` (1 x 1 x H x W, in [0, 1]) is the flow reliability: 0 where the pixel was
    occluded or the flow is inconsistent, so those pixels are free to change.
    """

    def __init__(self, warped: torch.Tensor, mask: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("warped", warped.detach().float())
        self.register_buffer("mask", mask.detach().float())

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return (self.mask * (image.float() - self.warped).pow(2)).mean()


def normalised(weights: Sequence[float]) -> list[float]:
    """Weights divided by the sum of their absolute values (raises on an all-zero list)."""
    total = sum(abs(float(w)) for w in weights)
    if total <= 0:
        raise ValueError("weights must not all be zero")
    return [float(w) / total for w in weights]


def blend_grams(grams: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float]) -> dict[str, torch.Tensor]:
    """Weighted blend (weights normalised to sum 1) of per-layer Gram targets of several styles."""
    assert len(grams) == len(weights) and grams, "one weight per style"
    w = normalised(weights)
    out: dict[str, torch.Tensor] = {}
    for g, wi in zip(grams, w):
        for name, t in g.items():
            out[name] = out[name] + wi * t if name in out else wi * t
    return out


class StyleTransferLoss(nn.Module):
    """content_weight * sum_l w_l Content_l + style_weight * sum_l w_l Style_l + tv_weight * TV
    (+ temporal_weight * Temporal for video). ``forward(image, features)`` returns (total,
    parts) where parts holds each weighted term as a float for logging."""

    def __init__(self, *, content_targets: Mapping[str, torch.Tensor], content_layer_weights: Mapping[str, float],
                 style_grams: Mapping[str, torch.Tensor], style_layer_weights: Mapping[str, float],
                 content_weight: float, style_weight: float, tv_weight: float,
                 temporal: TemporalLoss | None = None, temporal_weight: float = 0.0) -> None:
        super().__init__()
        self.content = nn.ModuleDict({k: ContentLoss(v) for k, v in content_targets.items()})
        self.style = nn.ModuleDict({k: StyleLoss(v) for k, v in style_grams.items()})
        self.content_layer_weights = dict(content_layer_weights)
        self.style_layer_weights = dict(style_layer_weights)
        self.content_weight = float(content_weight)
        self.style_weight = float(style_weight)
        self.tv_weight = float(tv_weight)
        self.temporal = temporal
        self.temporal_weight = float(temporal_weight)

    def forward(self, image: torch.Tensor, features: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        zero = image.new_zeros((), dtype=torch.float32)
        content = sum((self.content_layer_weights[k] * m(features[k]) for k, m in self.content.items()), zero)
        style = sum((self.style_layer_weights[k] * m(features[k]) for k, m in self.style.items()), zero)
        total = self.content_weight * content + self.style_weight * style
        parts = {"content": float(self.content_weight * content.detach()), "style": float(self.style_weight * style.detach())}
        if self.tv_weight:
            tv = self.tv_weight * tv_loss(image)
            total = total + tv
            parts["tv"] = float(tv.detach())
        if self.temporal is not None and self.temporal_weight:
            tl = self.temporal_weight * self.temporal(image)
            total = total + tl
            parts["temporal"] = float(tl.detach())
        return total, parts


def pixel_match_loss(image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Plain MSE in pixel space (used by tests and diagnostics)."""
    return F.mse_loss(image.float(), target.float())
