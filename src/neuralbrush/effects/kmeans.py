"""Weighted k-means (k-means++ initialisation, Lloyd iterations), vectorised with numpy.

Colour quantization fits on at most a few ten thousand weighted points (distinct colours or
colour-cube cells with their pixel counts), where a plain numpy Lloyd loop converges in a
few milliseconds per restart; that beats calling into scikit-learn (thread pool start-up,
input validation) and keeps the result a pure function of the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_ASSIGN_BLOCK = 1 << 21  # distance-matrix entries per assignment chunk (16 MB of float64)


@dataclass
class KMeansFit:
    centres: np.ndarray  # (k, d) float64
    labels: np.ndarray  # (n,) cluster of each point
    inertia: float  # weighted sum of squared distances to the assigned centres
    iterations: int


def _sqdist(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.maximum((x * x).sum(1)[:, None] - 2.0 * (x @ c.T) + (c * c).sum(1)[None, :], 0.0)


def assign(x: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre of every point and the squared distance to it (chunked)."""
    n = len(x)
    labels = np.empty(n, dtype=np.intp)
    d2 = np.empty(n, dtype=np.float64)
    step = max(1, _ASSIGN_BLOCK // max(len(centres), 1))
    for s in range(0, n, step):
        d = _sqdist(x[s:s + step], centres)
        labels[s:s + step] = d.argmin(axis=1)
        d2[s:s + step] = d[np.arange(len(d)), labels[s:s + step]]
    return labels, d2


def kmeans_plusplus(x: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator,
                    trials: int | None = None) -> np.ndarray:
    """Greedy weighted k-means++: each new centre is the best of ``trials`` candidates drawn with
    probability proportional to weight x squared distance to the nearest chosen centre."""
    n = len(x)
    trials = trials or 2 + int(np.log(k))
    p = weights / weights.sum()
    centres = np.empty((k, x.shape[1]), dtype=np.float64)
    centres[0] = x[rng.choice(n, p=p)]
    d2 = ((x - centres[0]) ** 2).sum(axis=1)
    for i in range(1, k):
        mass = weights * d2
        total = mass.sum()
        cand = rng.choice(n, size=trials, p=(mass / total) if total > 0 else p)
        dc = np.minimum(d2[None, :], _sqdist(x[cand], x))  # (trials, n): potential with each candidate
        best = int(np.argmin(dc @ weights))
        centres[i] = x[cand[best]]
        d2 = dc[best]
    return centres


def weighted_kmeans(x: np.ndarray, weights: np.ndarray, k: int, *, seed: int = 0, n_init: int = 3,
                    max_iter: int = 300, tol: float = 1e-4) -> KMeansFit:
    """k-means of points ``x`` (n, d) with ``weights`` (n,); the best of ``n_init`` restarts.

    Stops when the centres move less than ``tol`` x the data's variance (summed squared shift).
    Deterministic for a given ``seed``.
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if len(x) < k:
        raise ValueError(f"k-means needs at least k={k} points, got {len(x)}")
    rng = np.random.default_rng(seed)
    mean = np.average(x, axis=0, weights=w)
    threshold = tol * float((w[:, None] * (x - mean) ** 2).sum() / w.sum())
    best: KMeansFit | None = None
    for _ in range(max(1, n_init)):
        c = kmeans_plusplus(x, w, k, rng)
        it = 0
        for it in range(1, max_iter + 1):
            labels, d2 = assign(x, c)
            mass = np.bincount(labels, weights=w, minlength=k)
            new = np.stack([np.bincount(labels, weights=w * x[:, j], minlength=k) for j in range(x.shape[1])], axis=1)
            empty = mass <= 0
            new[~empty] /= mass[~empty, None]
            if empty.any():  # restart empty clusters at the worst-served points
                far = np.argsort(-(w * d2), kind="stable")[: int(empty.sum())]
                new[empty] = x[far]
            shift = float(((new - c) ** 2).sum())
            c = new
            if shift <= threshold:
                break
        labels, d2 = assign(x, c)
        fit = KMeansFit(centres=c, labels=labels, inertia=float((w * d2).sum()), iterations=it)
        if best is None or fit.inertia < best.inertia:
            best = fit
    return best  # type: ignore[return-value]
