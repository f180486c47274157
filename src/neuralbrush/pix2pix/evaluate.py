"""How good a pix2pix generator is: L1 on held-out pairs (RGB and luma), the mean-image baseline it
has to beat, and the input | output | target grid of a snapshot."""

from __future__ import annotations

import os

import torch
from torch import nn

from ..core.checkpoint import meta_entry, unprefixed
from ..core.device import Runtime, resolve_runtime
from ..core.media import make_grid
from .data import PairSet, load_training_pairs
from .networks import build_generator, generator_config_from, load_state
from .options import TrainOptions
from .snapshot import read_snapshot

LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def _l1_rgb_and_luma(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image mean |x - y| over RGB, and over luma (Rec. 601), for [N, 3, H, W] batches."""
    d = x - y
    return d.abs().mean(dim=(1, 2, 3)), (d * LUMA).sum(1).abs().mean(dim=(1, 2))


def evaluate_l1(G: nn.Module, pairs: PairSet, rt: Runtime, batch: int = 16) -> dict[str, float]:
    """Mean |G(A) - B| over ``pairs`` in [-1, 1] units, on RGB and on luma (eval mode, no augmentation).

    Luma L1 measures structure (light and dark in the right places) without penalising a
    plausible colour that differs from the photo's, which edges alone cannot determine.
    """
    if len(pairs) == 0:  # no held-out images: nothing to measure (and no NaN to record)
        return {}
    was_training = G.training
    G.eval()
    rgb, luma, count = 0.0, 0.0, 0
    with torch.no_grad():
        for i in range(0, len(pairs), batch):
            a, b = pairs.tensors(list(range(i, min(len(pairs), i + batch))))
            with rt.autocast():
                fake = G(rt.tensor(a))
            l_rgb, l_luma = _l1_rgb_and_luma(fake.float().cpu(), b)
            rgb += l_rgb.sum().item()
            luma += l_luma.sum().item()
            count += a.shape[0]
    G.train(was_training)
    return {"val_L1": rgb / count, "val_L1_luma": luma / count}


def mean_image_l1(train: PairSet, val: PairSet) -> dict[str, float]:
    """The L1 of always predicting the mean training target (the baseline to beat), RGB and luma."""
    if len(val) == 0:
        return {}
    mean = torch.zeros_like(train.tensors([0])[1][0])
    for i in range(0, len(train), 64):
        mean += train.tensors(list(range(i, min(len(train), i + 64))))[1].sum(0)
    mean /= len(train)
    _, vb = val.tensors()
    l_rgb, l_luma = _l1_rgb_and_luma(mean[None].expand_as(vb), vb)
    return {"mean_image_L1": l_rgb.mean().item(), "mean_image_L1_luma": l_luma.mean().item()}


def evaluate_snapshot(snapshot: str | os.PathLike, data: str | os.PathLike | None = None, *,
                      device: str = "auto", precision: str = "fp32") -> dict[str, float]:
    """Validation numbers of a snapshot on the held-out images of its own run (same split; empty
    without held-out images)."""
    from .apply import pix2pix_source  # the one name-or-path resolver (run folder -> newest snapshot)

    path = pix2pix_source(snapshot).path
    tensors, meta = read_snapshot(path)
    label = str(snapshot)
    o = TrainOptions.from_dict(meta_entry(meta, "options", dict, label))
    train_set, val_set = load_training_pairs(data or o.data, input_kind=o.input, size=o.size, clusters=o.clusters,
                                             holdout=o.holdout, seed=o.seed, max_images=o.max_images)
    rt = resolve_runtime(device, precision)
    G = build_generator(generator_config_from(meta.get("generator"), label))
    load_state(G, unprefixed(tensors, "G"), label, "generator")
    return {**evaluate_l1(rt.module(G), val_set, rt), **mean_image_l1(train_set, val_set),
            "step": meta["step"], "elapsed_s": meta["elapsed_s"]}


def snapshot_grid(G: nn.Module, pairs: PairSet, rt: Runtime):
    """Rows of input | output | target for ``pairs`` (eval mode)."""
    a, b = pairs.tensors()
    was_training = G.training
    G.eval()
    with torch.no_grad(), rt.autocast():
        fake = G(rt.tensor(a)).float().cpu()
    G.train(was_training)
    cells = []
    for i in range(a.shape[0]):
        cells += [a[i], fake[i], b[i]]
    labels = ["input", "output", "target"] + [""] * (len(cells) - 3)
    return make_grid(torch.stack(cells), (3, a.shape[0]), labels=labels, pad=2)


def unseen_blooms_check(G: nn.Module, rt: Runtime, folder: str | os.PathLike, *, count: int = 64, seed: int = 4242,
                        baseline_count: int = 256, rows: int = 6, size: int | None = None) -> dict:
    """How an edges -> blooms generator does on species blooms it never saw.

    Writes ``count`` fresh species blooms (``seed``: not a training seed) and ``baseline_count``
    training-seed blooms under ``folder``, derives their edges as training does, and returns the
    held-out L1 (RGB and luma, [-1, 1] units) against the mean-image baseline (the mean of the
    training-seed blooms), plus an input | output | target grid of the first ``rows``."""
    from pathlib import Path

    from ..datasets.samples import write_blooms

    folder = Path(folder)
    size = int(size or 2 ** G.depth)
    write_blooms(folder / "unseen", count, size, seed=seed, species=True)
    write_blooms(folder / "train-like", baseline_count, size, seed=0, species=True)
    unseen, _ = load_training_pairs(folder / "unseen", input_kind="edges", size=size, holdout=0.0, progress=lambda e: None)
    train_like, _ = load_training_pairs(folder / "train-like", input_kind="edges", size=size, holdout=0.0,
                                        progress=lambda e: None)
    result = {**evaluate_l1(rt.module(G), unseen, rt), **mean_image_l1(train_like, unseen), "images": count}
    k = min(rows, count)
    result["grid"] = snapshot_grid(G, PairSet(unseen.a[:k], unseen.b[:k], unseen.names[:k]), rt)
    return result
