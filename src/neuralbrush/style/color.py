"""Colour preservation for style transfer (Gatys et al., "Preserving color in neural artistic
style transfer", 2016).

* ``luminance``: transfer on luminance only. Content and styles become grey images of their
  luma (the style's luma mean/std matched to the content's), the transfer runs on those, and
  the output's luma is recombined with the content's chroma (YCbCr, BT.601, full range).
* ``histogram``: before transfer, recolour each style image so its colour mean and
  covariance equal the content's (x' = A (x - mu_s) + mu_c with A = Sigma_c^1/2 Sigma_s^-1/2).

Tensors are N x 3 x H x W RGB in [0, 1].
"""

from __future__ import annotations

import torch

PRESERVE_CHOICES = ("none", "luminance", "histogram")

# BT.601 full-range RGB <-> YCbCr (the JPEG convention), offsets in [0, 1] units.
_RGB2YCC = torch.tensor([[0.299, 0.587, 0.114],
                         [-0.168736, -0.331264, 0.5],
                         [0.5, -0.418688, -0.081312]])
_YCC2RGB = torch.linalg.inv(_RGB2YCC)
_OFFSET = torch.tensor([0.0, 0.5, 0.5])


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    m = _RGB2YCC.to(rgb)
    return torch.einsum("ij,njhw->nihw", m, rgb) + _OFFSET.to(rgb).view(1, 3, 1, 1)


def ycbcr_to_rgb(ycc: torch.Tensor) -> torch.Tensor:
    m = _YCC2RGB.to(ycc)
    return torch.einsum("ij,njhw->nihw", m, ycc - _OFFSET.to(ycc).view(1, 3, 1, 1))


def luminance(rgb: torch.Tensor) -> torch.Tensor:
    """N x 1 x H x W luma."""
    return rgb_to_ycbcr(rgb)[:, :1]


def to_luminance_image(rgb: torch.Tensor, match_to: torch.Tensor | None = None) -> torch.Tensor:
    """Grey 3-channel image of ``rgb``'s luma; with ``match_to`` its mean/std match that image's luma."""
    y = luminance(rgb)
    if match_to is not None:
        yt = luminance(match_to)
        y = (y - y.mean()) / y.std().clamp_min(1e-6) * yt.std() + yt.mean()
    return y.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


def combine_luma_with_chroma(luma_image: torch.Tensor, chroma_from: torch.Tensor) -> torch.Tensor:
    """RGB with the luma of ``luma_image`` and the Cb/Cr of ``chroma_from`` (same size).

    The result is not clamped: clamping to [0, 1] would shift the chroma of saturated pixels.
    Callers clamp (or quantise) when they save.
    """
    y = luminance(luma_image)
    ycc = rgb_to_ycbcr(chroma_from)
    return ycbcr_to_rgb(torch.cat([y, ycc[:, 1:]], dim=1))


def _mean_cov(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    p = x.double().reshape(3, -1)
    mu = p.mean(dim=1, keepdim=True)
    d = p - mu
    cov = d @ d.T / max(p.shape[1] - 1, 1) + 1e-5 * torch.eye(3, dtype=p.dtype)
    return mu, cov


def _sqrtm(cov: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(cov)
    vals = vals.clamp_min(1e-8)
    d = vals.rsqrt() if inverse else vals.sqrt()
    return vecs @ torch.diag(d) @ vecs.T


def match_color_histogram(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Recolour ``style`` (1x3xHxW) so its colour mean and covariance equal ``content``'s."""
    mu_s, cov_s = _mean_cov(style[0])
    mu_c, cov_c = _mean_cov(content[0])
    a = _sqrtm(cov_c) @ _sqrtm(cov_s, inverse=True)
    p = style[0].double().reshape(3, -1)
    out = a @ (p - mu_s) + mu_c
    return out.reshape_as(style[0]).unsqueeze(0).to(style.dtype).clamp(0, 1)
