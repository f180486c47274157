"""Quality metrics that need no pretrained weights: sliced Wasserstein distance (SWD) on
Laplacian-pyramid patches, in the manner of the progressive-GAN paper; FID/KID only when the
weights store holds 'inception-fid'.

SWD: for each pyramid level (full resolution down to 16 px) take random 7x7 neighbourhoods from
every image (128 per image), normalise the descriptors per colour channel, project them onto
random unit directions, sort, and average the absolute difference of the sorted projections
(the 1-D Wasserstein distance). Reported x1000 per level and averaged over levels; lower is
better; identical distributions give values near the sampling noise floor.

FID: Frechet distance between Gaussians fitted to the 2048-d Inception pool3 features of reals
and fakes. KID: unbiased MMD^2 of the same features with the cubic kernel (x.y/d + 1)^3, averaged
over random subsets (reported x1e3 as ``kid``). Both need the 'inception-fid' weights
(``neuralbrush weights import inception-fid FILE``); without them a run says so once and keeps SWD.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F

from ..core.device import Runtime

_GAUSS = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _blur(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    k = _GAUSS.tolist()
    x = F.pad(x, [2, 2, 2, 2], mode="reflect")
    # Separable 5-tap binomial as shifted sums: much faster than a depthwise conv on the CPU.
    x = sum(k[i] * x[..., :, i:i + w] for i in range(5))
    return sum(k[i] * x[..., i:i + h, :] for i in range(5))


def laplacian_pyramid(images: torch.Tensor, min_res: int = 16) -> list[torch.Tensor]:
    """Band-pass levels, finest first; the last level is the low-pass residual at ``min_res``."""
    levels = []
    x = images.float()
    while x.shape[-1] > min_res:
        down = _blur(x)[:, :, ::2, ::2]
        up = F.interpolate(down, scale_factor=2, mode="nearest")
        levels.append(x - _blur(up))
        x = down
    levels.append(x)
    return levels


def patch_descriptors(level: torch.Tensor, per_image: int = 128, size: int = 7,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Random ``size`` x ``size`` neighbourhoods: (N * per_image, C * size * size)."""
    n, c, h, w = level.shape
    size = min(size, h, w)
    ys = torch.randint(0, h - size + 1, (n, per_image), generator=generator)
    xs = torch.randint(0, w - size + 1, (n, per_image), generator=generator)
    off = torch.arange(size)
    rows = (ys[..., None] + off).view(n, per_image, size, 1).expand(n, per_image, size, size)
    cols = (xs[..., None] + off).view(n, per_image, 1, size).expand(n, per_image, size, size)
    flat_idx = (rows * w + cols).reshape(n, 1, -1).expand(n, c, -1)
    patches = level.reshape(n, c, h * w).gather(2, flat_idx).view(n, c, per_image, size, size)
    return patches.permute(0, 2, 1, 3, 4).reshape(n * per_image, c * size * size)


def _normalise(desc: torch.Tensor, channels: int) -> torch.Tensor:
    """Zero mean, unit std per colour channel (over all positions of all patches)."""
    d = desc.view(desc.shape[0], channels, -1)
    mean = d.mean(dim=(0, 2), keepdim=True)
    std = d.std(dim=(0, 2), keepdim=True).clamp_min(1e-8)
    return ((d - mean) / std).view(desc.shape[0], -1)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, *, dirs: int = 128, repeats: int = 4,
                       generator: torch.Generator | None = None) -> float:
    """Mean 1-D Wasserstein distance between ``a`` and ``b`` (rows = samples) over random directions."""
    n = min(a.shape[0], b.shape[0])
    a, b = a[:n], b[:n]
    total = 0.0
    for _ in range(repeats):
        d = torch.randn(a.shape[1], dirs, generator=generator)
        d = d / d.norm(dim=0, keepdim=True)
        # numpy sorts contiguous rows several times faster than torch.sort on the CPU
        pa = np.sort((a @ d).t().contiguous().numpy(), axis=1)
        pb = np.sort((b @ d).t().contiguous().numpy(), axis=1)
        total += float(np.abs(pa - pb).mean())
    return total / repeats


@dataclass
class SWDReference:
    """Descriptors of the real images per level, computed once per run and reused."""

    descriptors: list[torch.Tensor]
    channels: int
    resolutions: list[int]


def swd_descriptors(images: torch.Tensor, *, seed: int = 123, per_image: int = 128,
                    min_res: int = 16) -> tuple[list[torch.Tensor], list[int]]:
    """Normalised descriptors per pyramid level for uint8 or [-1,1] float NCHW images."""
    x = images.float()
    if images.dtype == torch.uint8:
        x = x / 127.5 - 1
    g = torch.Generator().manual_seed(seed)
    out, res = [], []
    for level in laplacian_pyramid(x.cpu(), min_res=min(min_res, x.shape[-1])):
        out.append(_normalise(patch_descriptors(level, per_image, generator=g), x.shape[1]))
        res.append(level.shape[-1])
    return out, res


def swd(reference: SWDReference | torch.Tensor, images: torch.Tensor, *, seed: int = 123) -> dict[str, float]:
    """SWD x1e3 per level (``swd/<res>``) and their average (``swd``) between reals and ``images``."""
    if isinstance(reference, torch.Tensor):
        d, r = swd_descriptors(reference, seed=seed)
        reference = SWDReference(d, reference.shape[1], r)
    fake, res = swd_descriptors(images, seed=seed + 1)
    g = torch.Generator().manual_seed(seed + 2)
    result = {}
    for da, db, r in zip(reference.descriptors, fake, res):
        result[f"swd/{r}"] = sliced_wasserstein(da, db, generator=g) * 1e3
    result["swd"] = float(np.mean([v for k, v in result.items()]))
    return result


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) between two Gaussians.

    Tr (S1 S2)^(1/2) is the sum of the square roots of the eigenvalues of S1^(1/2) S2 S1^(1/2)
    (symmetric, positive semi-definite, similar to S1 S2): two symmetric eigendecompositions,
    exact for singular covariances (fewer samples than dimensions) and without the spurious
    imaginary parts a general matrix square root (scipy.linalg.sqrtm) produces there."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"mismatched shapes: mu {mu1.shape} / {mu2.shape}, sigma {s1.shape} / {s2.shape}")
    diff = mu1 - mu2
    r1 = _sqrt_psd(s1)
    ev = np.linalg.eigvalsh(r1 @ s2 @ r1)
    tr_covmean = float(np.sqrt(np.clip(ev, 0, None)).sum())
    return max(float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_covmean), 0.0)


def frechet_distance_features(f1, f2) -> float:
    """FID straight from two feature sets (rows = samples); equals ``frechet_distance`` of their
    means and covariances. With n samples below the dimension d, S = X^T X / (n - 1) for centred X,
    and the non-zero eigenvalues of S1 S2 are the squared singular values of X1 X2^T / sqrt((n1-1)(n2-1)),
    so an n1 x n2 SVD replaces d x d eigendecompositions (seconds -> milliseconds at d = 2048)."""
    f1, f2 = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    n1, n2, d = f1.shape[0], f2.shape[0], f1.shape[1]
    if min(n1, n2) < 2:
        raise ValueError("FID needs at least 2 samples per set")
    if max(n1, n2) >= d:
        return frechet_distance(*feature_statistics(f1), *feature_statistics(f2))
    mu1, mu2 = f1.mean(0), f2.mean(0)
    x1, x2 = f1 - mu1, f2 - mu2
    diff = mu1 - mu2
    tr1 = float((x1 * x1).sum()) / (n1 - 1)
    tr2 = float((x2 * x2).sum()) / (n2 - 1)
    sv = np.linalg.svd(x1 @ x2.T, compute_uv=False)
    tr_covmean = float(sv.sum()) / np.sqrt((n1 - 1) * (n2 - 1))
    return max(float(diff @ diff + tr1 + tr2 - 2 * tr_covmean), 0.0)


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (rows = samples) in float64."""
    f = np.asarray(features, np.float64)
    return f.mean(axis=0), np.cov(f, rowvar=False)


def kernel_inception_distance(f1, f2, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> float:
    """Unbiased MMD^2 with the kernel k(x, y) = (x.y / d + 1)^3, averaged over ``subsets`` random
    subsets of ``min(subset_size, len(f1), len(f2))`` rows drawn without replacement."""
    f1, f2 = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    m = min(subset_size, f1.shape[0], f2.shape[0])
    if m < 2:
        raise ValueError("KID needs at least 2 samples per set")
    d = f1.shape[1]
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(subsets):
        x = f1[rng.choice(f1.shape[0], m, replace=False)]
        y = f2[rng.choice(f2.shape[0], m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        total += ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                  - 2 * kxy.mean())
    return float(total / subsets)


class InceptionFeatures:
    """Pool3 features of uint8 or [-1, 1] float NCHW images, in batches under no_grad, in fp32 on the
    runtime's device (the bf16 autocast of training is not used: FID is sensitive to it)."""

    def __init__(self, net: torch.nn.Module | None = None, *, runtime: Runtime | None = None, batch: int = 32) -> None:
        from ..core.device import resolve_runtime
        from .inception import load_fid_inception

        self.runtime = runtime if runtime is not None else resolve_runtime("auto", "fp32")
        self.net = self.runtime.module((net if net is not None else load_fid_inception()).eval())
        self.batch = batch

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        out = []
        for i in range(0, images.shape[0], self.batch):
            x = images[i:i + self.batch]
            x = x.float() / 127.5 - 1 if x.dtype == torch.uint8 else x.float()
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            out.append(self.net(self.runtime.tensor(x.clamp(-1, 1))).float().cpu().numpy())
        return np.concatenate(out).astype(np.float64)


def fid_kid(real_features: np.ndarray, fake_features: np.ndarray, names: Iterable[str] = ("fid", "kid"),
            real_stats: tuple[np.ndarray, np.ndarray] | None = None, kid_subsets: int = 100,
            kid_subset_size: int = 1000) -> dict[str, float]:
    """``fid`` and/or ``kid`` (x1e3) between two feature sets."""
    names = set(names)
    out: dict[str, float] = {}
    if "fid" in names:
        if real_stats is not None and max(len(real_features), len(fake_features)) >= real_features.shape[1]:
            out["fid"] = frechet_distance(*real_stats, *feature_statistics(fake_features))
        else:
            out["fid"] = frechet_distance_features(real_features, fake_features)
    if "kid" in names:
        out["kid"] = kernel_inception_distance(real_features, fake_features, kid_subsets, kid_subset_size) * 1e3
    return out


class MetricRunner:
    """Computes the metrics a run asked for at init and at every snapshot.

    ``real_batches`` yields uint8 NCHW real images; ``generate(n)`` returns n fake images in [-1, 1]
    (the trainer passes G_ema with fixed seeds, so successive values are comparable).
    """

    def __init__(self, names: Iterable[str], real_images: torch.Tensor, *, num_images: int = 1024,
                 log: Callable[[str], None] | None = None, runtime: Runtime | None = None) -> None:
        self.names = [n for n in names if n and n != "none"]
        unknown = set(self.names) - {"swd", "fid", "kid"}
        if unknown:
            from ..core.errors import UsageError

            raise UsageError(f"unknown metric(s) {sorted(unknown)}; choose from swd, fid, kid, none")
        self.num_images = min(num_images, real_images.shape[0])
        self.log = log or (lambda m: None)
        self.reference: SWDReference | None = None
        if "swd" in self.names:
            d, r = swd_descriptors(real_images[: self.num_images])
            self.reference = SWDReference(d, real_images.shape[1], r)
        self.inception: InceptionFeatures | None = None
        self.real_features: np.ndarray | None = None
        self.real_stats: tuple[np.ndarray, np.ndarray] | None = None
        if {"fid", "kid"} & set(self.names) and self.num_images < 2:
            from ..core.errors import UsageError

            raise UsageError("FID/KID need at least 2 images: raise --metric-images")
        if {"fid", "kid"} & set(self.names):
            from ..core.errors import WeightsMissingError
            from ..weights import store

            try:
                store.require("inception-fid")
            except WeightsMissingError as err:
                self.log(f"FID/KID skipped ({err}); computing SWD only" if "swd" in self.names
                         else f"FID/KID skipped ({err})")
                self.names = [n for n in self.names if n == "swd"]
            else:
                import dataclasses

                fp32 = dataclasses.replace(runtime, precision="fp32") if runtime is not None else None
                self.inception = InceptionFeatures(runtime=fp32)
                self.real_features = self.inception(real_images[: self.num_images])
                self.real_stats = feature_statistics(self.real_features)

    @property
    def active(self) -> bool:
        return bool(self.names)

    def __call__(self, generate: Callable[[int], torch.Tensor]) -> dict[str, float]:
        out: dict[str, float] = {}
        if not self.names:
            return out
        fakes = generate(self.num_images)
        if self.reference is not None:
            out.update(swd(self.reference, fakes))
        if self.inception is not None:
            feats = self.inception(fakes)
            out.update(fid_kid(self.real_features, feats, [n for n in self.names if n in ("fid", "kid")],
                               real_stats=self.real_stats))
        return out
