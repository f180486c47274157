"""Training data for pix2pix: (A, B) pairs with the same random scale, crop and flip on both.

Two kinds of source:

* **paired**: a dataset written by ``neuralbrush dataset pairs`` (``train/`` and ``val/``
  folders of A|B images side by side) or any folder/zip of side-by-side pairs;
* **derived** ("Learning to See"): a plain folder/zip of target photos; the input A is derived
  from each photo (``edges`` or k-means ``clusters``) by :func:`neuralbrush.datasets.pairs.derive_input`.

Every image is loaded once, centre-cropped to a square of the training size (the input is
derived from that square) and kept in memory; each draw then applies
:func:`~neuralbrush.datasets.pairs.augment_pair` (random scale 100..130 %, crop, flip).
Some images are held out for a validation L1 (the ``val/`` split of a pairs dataset, or a
seeded fraction of the images).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..core.errors import ImageLoadError, UsageError
from ..core.imageio import load_image, to_tensor
from ..core.progress import ProgressFn, each, info


@dataclass
class PairSet:
    """Pairs as PIL images of ``size`` x ``size`` (A: input, B: target)."""

    a: list[Image.Image]
    b: list[Image.Image]
    names: list[str]

    def __len__(self) -> int:
        return len(self.a)

    def tensors(self, idx: list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Un-augmented A and B of the given items as [N, 3, S, S] tensors in [-1, 1]."""
        idx = list(range(len(self))) if idx is None else idx
        return (torch.stack([to_tensor(self.a[i]) for i in idx]), torch.stack([to_tensor(self.b[i]) for i in idx]))


def _square(img: Image.Image, size: int) -> Image.Image:
    from ..datasets.reader import center_crop_resize

    return center_crop_resize(img.convert("RGB"), size)


def _pairs_dataset_root(path: Path) -> bool:
    meta = path / "dataset.json"
    if not (path.is_dir() and meta.exists()):
        return False
    try:
        return json.loads(meta.read_text(encoding="utf-8")).get("format") == "neuralbrush-pairs"
    except (OSError, json.JSONDecodeError):
        return False


@dataclass
class _Source:
    name: str
    path: Path | None = None
    zip_path: Path | None = None
    member: str | None = None

    def read(self) -> bytes:
        if self.path is not None:
            return self.path.read_bytes()
        with zipfile.ZipFile(self.zip_path) as zf:  # type: ignore[arg-type]
            return zf.read(self.member)  # type: ignore[arg-type]


def _read_sources(path: Path, max_images: int | None) -> list[_Source]:
    """Image files of a folder (recursive) or a zip archive, sorted."""
    from ..core.imageio import is_image_file, list_images

    if not path.exists():
        raise UsageError(f"dataset {path} does not exist")
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            members = sorted(n for n in zf.namelist() if not n.endswith("/") and is_image_file(n)
                             and not Path(n).name.startswith("._"))
        items = [_Source(f"{path}:{m}", zip_path=path, member=m) for m in members]
    elif path.is_dir():
        items = [_Source(str(p), path=p) for p in list_images([path], recursive=True)]
    else:
        raise UsageError(f"dataset {path} is neither a folder nor a zip file")
    if max_images is not None:
        items = items[:max_images]
    if not items:
        raise UsageError(f"dataset {path} holds no images")
    return items


def _load_items(items, what: str, progress: ProgressFn | None) -> tuple[list[Image.Image], list[str]]:
    images, names, bad = [], [], []
    for item in each(items, progress, what):
        try:
            images.append(load_image(item.read(), name=item.name))
            names.append(item.name)
        except (ImageLoadError, OSError, KeyError) as e:
            bad.append(f"{item.name} ({getattr(e, 'reason', 'unreadable')})")
    if bad:
        info(f"skipped {len(bad)} unreadable image(s): " + ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else ""))
    if not images:
        raise UsageError("none of the dataset images could be read")
    return images, names


def derive_pairs(photos: list[Image.Image], names: list[str], *, kind: str, size: int, clusters: int = 7,
                 seed: int = 0, progress: ProgressFn | None = None) -> PairSet:
    """Square each photo to ``size`` and derive its input of ``kind`` (an event per photo to
    ``progress``; None: a bar)."""
    from ..datasets.pairs import derive_input

    a, b = [], []
    for photo in each(photos, progress, f"deriving {kind}"):
        target = _square(photo, size)
        a.append(derive_input(target, kind, clusters=clusters, seed=seed).convert("RGB"))
        b.append(target)
    return PairSet(a, b, list(names))


def split_pairs(images: list[Image.Image], names: list[str], size: int) -> PairSet:
    from ..datasets.pairs import split_pair

    a, b = [], []
    for img, name in zip(images, names):
        if img.width != 2 * img.height:
            raise UsageError(f"{name} is {img.width}x{img.height}, not an A|B pair twice as wide as high; "
                             "for a folder of plain photos pass --input edges or --input clusters")
        ia, ib = split_pair(img)
        a.append(_square(ia, size))
        b.append(_square(ib, size))
    return PairSet(a, b, list(names))


def holdout_indices(n: int, fraction: float, seed: int) -> list[int]:
    """A seeded choice of ``round(n * fraction)`` items (at least 1 when fraction > 0 and n > 1)."""
    if fraction <= 0 or n < 2:
        return []
    count = min(n - 1, max(1, int(round(n * fraction))))
    return sorted(np.random.default_rng(seed + 12345).permutation(n)[:count].tolist())


def _subset(ps: PairSet, idx: list[int]) -> PairSet:
    return PairSet([ps.a[i] for i in idx], [ps.b[i] for i in idx], [ps.names[i] for i in idx])


def load_training_pairs(data: str | Path, *, input_kind: str | None, size: int, clusters: int = 7,
                        holdout: float = 0.1, seed: int = 0, max_images: int | None = None,
                        progress: ProgressFn | None = None) -> tuple[PairSet, PairSet]:
    """(train, validation) pair sets of ``data`` at ``size`` pixels; ``progress`` gets an event
    per image read or derived (None: bars)."""
    path = Path(data)
    if input_kind is not None and input_kind not in ("edges", "clusters"):
        raise UsageError(f"unknown --input {input_kind!r}; use edges or clusters")
    if input_kind is None and _pairs_dataset_root(path):
        train_imgs, train_names = _load_items(_read_sources(path / "train", max_images), "loading pairs", progress)
        train = split_pairs(train_imgs, train_names, size)
        val_dir = path / "val"
        if val_dir.is_dir() and any(val_dir.glob("*.png")):
            val_imgs, val_names = _load_items(_read_sources(val_dir, None), "loading validation pairs", progress)
            return train, split_pairs(val_imgs, val_names, size)
    else:
        images, names = _load_items(_read_sources(path, max_images), "loading images", progress)
        if input_kind is None:
            train = split_pairs(images, names, size)
        else:
            train = derive_pairs(images, names, kind=input_kind, size=size, clusters=clusters, seed=seed,
                                     progress=progress)
    val_idx = holdout_indices(len(train), holdout, seed)
    keep = [i for i in range(len(train)) if i not in set(val_idx)]
    return _subset(train, keep), _subset(train, val_idx)


class PairSampler:
    """Endless seeded epochs of augmented batches; each torchrun rank draws its own share.

    ``state()`` / ``set_state()`` carry the permutation position and the NumPy generator, so a
    resumed run continues with the same sequence of batches.
    """

    def __init__(self, pairs: PairSet, *, size: int, batch: int, scale_max: float = 1.3, flip: bool = True,
                 seed: int = 0, rank: int = 0, world: int = 1) -> None:
        if len(pairs) == 0:
            raise UsageError("no training images left after holding out the validation images")
        self.pairs, self.size, self.batch = pairs, size, batch
        self.scale = (1.0, max(1.0, scale_max))
        self.flip = flip
        self.rank, self.world = rank, world
        self.rng = np.random.default_rng([seed, rank])
        self.order_rng = np.random.default_rng(seed)  # identical on every rank
        self.epoch = 0
        self.pos = 0
        self._order = self.order_rng.permutation(len(pairs))

    @property
    def steps_per_epoch(self) -> int:
        return max(1, len(self.pairs) // (self.batch * self.world))

    def _next_epoch(self) -> None:
        self.epoch += 1
        self.pos = 0
        self._order = self.order_rng.permutation(len(self.pairs))

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """[batch, 3, size, size] A and B tensors in [-1, 1] (this rank's share)."""
        if self.pos >= self.steps_per_epoch:
            self._next_epoch()
        start = self.pos * self.batch * self.world + self.rank * self.batch
        idx = self._order[start:start + self.batch]
        self.pos += 1
        a_list, b_list = [], []
        from ..datasets.pairs import augment_pair

        for i in idx:
            a, b = augment_pair(self.pairs.a[i], self.pairs.b[i], size=self.size, scale=self.scale, flip=self.flip,
                                rng=self.rng)
            a_list.append(to_tensor(a))
            b_list.append(to_tensor(b))
        return torch.stack(a_list), torch.stack(b_list)

    def state(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos, "rng": self.rng.bit_generator.state,
                "order_rng": self.order_rng.bit_generator.state, "order": self._order.tolist()}

    def set_state(self, s: dict) -> None:
        from ..core.errors import CheckpointError

        try:
            epoch, pos = int(s["epoch"]), int(s["pos"])
            order = np.asarray(s["order"], dtype=np.int64)
            if order.ndim != 1:
                raise ValueError("order is not a list")
            rng, order_rng = self.rng.bit_generator.state, self.order_rng.bit_generator.state
            self.rng.bit_generator.state = s["rng"]
            self.order_rng.bit_generator.state = s["order_rng"]
        except (KeyError, TypeError, ValueError, OverflowError):
            raise CheckpointError("the snapshot's data-order state is damaged; resume from another snapshot") from None
        if len(order) != len(self.pairs):
            self.rng.bit_generator.state, self.order_rng.bit_generator.state = rng, order_rng
            raise UsageError("the dataset changed size since the run started; resume with the same data")
        if epoch < 0 or pos < 0 or not np.array_equal(np.sort(order), np.arange(len(order))):
            self.rng.bit_generator.state, self.order_rng.bit_generator.state = rng, order_rng
            raise CheckpointError("the snapshot's data-order state is damaged; resume from another snapshot")
        self.epoch, self.pos, self._order = epoch, pos, order
