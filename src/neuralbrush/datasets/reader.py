"""Reading a dataset for training: a folder or zip of images (NVlabs layout or plain).

``dataset.json`` (optional) holds ``{"labels": [[relative_path, label], ...]}`` as in the
NVlabs layout; integer labels become one-hot vectors. Images that are not square or not at
``resolution`` are centre-cropped and resized with Lanczos, so a plain folder of photos works
too. Items are uint8 CHW tensors; ``xflip`` doubles the dataset with mirrored copies.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..core.errors import ImageLoadError, UsageError
from ..core.imageio import is_image_file, load_image


def center_crop_resize(img: Image.Image, size: int) -> Image.Image:
    """Centre-crop to a square and resize to ``size`` (Lanczos; reducing_gap for quality)."""
    w, h = img.size
    s = min(w, h)
    if (w, h) != (s, s):
        left, top = (w - s) // 2, (h - s) // 2
        img = img.crop((left, top, left + s, top + s))
    if s != size:
        img = img.resize((size, size), Image.LANCZOS, reducing_gap=3.0 if s > 2 * size else None)
    return img


class ImageDataset(torch.utils.data.Dataset):
    """Images of a dataset folder or zip as uint8 CHW tensors with optional labels."""

    def __init__(self, path: str | os.PathLike, *, resolution: int | None = None, use_labels: bool = False,
                 xflip: bool = False, max_size: int | None = None, channels: int = 3) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise UsageError(f"dataset {self.path} does not exist")
        self._zip: zipfile.ZipFile | None = None
        self._is_zip = self.path.is_file() and zipfile.is_zipfile(self.path)
        if not self._is_zip and not self.path.is_dir():
            raise UsageError(f"dataset {self.path} is neither a folder nor a zip file")
        names = sorted(n for n in self._all_names() if is_image_file(n))
        if max_size is not None:
            names = names[:max_size]
        if not names:
            raise UsageError(f"dataset {self.path} holds no images")
        self.names = names
        self.channels = channels
        meta = self._read_json("dataset.json") or {}
        self.label_dim = 0
        self._labels: np.ndarray | None = None
        labels = meta.get("labels") if use_labels else None
        if labels:
            lut = {str(k).replace("\\", "/"): v for k, v in labels}
            raw = [lut.get(n) for n in names]
            if any(v is None for v in raw):
                raise UsageError(f"dataset {self.path}: dataset.json lacks labels for some images")
            arr = np.array(raw)
            if arr.ndim == 1:
                classes = int(arr.max()) + 1
                onehot = np.zeros((len(arr), classes), np.float32)
                onehot[np.arange(len(arr)), arr.astype(np.int64)] = 1
                arr = onehot
            self._labels = arr.astype(np.float32)
            self.label_dim = self._labels.shape[1]
        first = self._load(0)
        self.resolution = resolution or min(first.size)
        if self.resolution & (self.resolution - 1):
            raise UsageError(f"dataset resolution {self.resolution} is not a power of two; pass resolution=")
        self.xflip = xflip

    # -- raw access -------------------------------------------------------------------------
    def _all_names(self) -> list[str]:
        if self._is_zip:
            with zipfile.ZipFile(self.path) as z:
                return [n for n in z.namelist() if not n.endswith("/")]
        return [p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file()]

    def _zipfile(self) -> zipfile.ZipFile:
        if self._zip is None:
            self._zip = zipfile.ZipFile(self.path)
        return self._zip

    def _read_bytes(self, name: str) -> bytes:
        if self._is_zip:
            return self._zipfile().read(name)
        return (self.path / name).read_bytes()

    def _read_json(self, name: str) -> dict | None:
        try:
            return json.loads(self._read_bytes(name))
        except (KeyError, FileNotFoundError):
            return None
        except json.JSONDecodeError:
            raise UsageError(f"dataset {self.path}: {name} is not valid JSON") from None

    def _load(self, idx: int) -> Image.Image:
        name = self.names[idx]
        try:
            return load_image(self._read_bytes(name), "RGB" if self.channels == 3 else "L", name=f"{self.path}:{name}")
        except ImageLoadError as e:
            raise UsageError(f"dataset image {name} is unreadable ({e.reason}); rebuild the dataset with "
                             "'neuralbrush dataset build'") from None

    def __getstate__(self) -> dict:
        d = self.__dict__.copy()
        d["_zip"] = None  # each DataLoader worker opens its own handle
        return d

    # -- Dataset API ------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.names) * (2 if self.xflip else 1)

    def image(self, idx: int) -> np.ndarray:
        """uint8 HWC (or HW) array of item ``idx``."""
        n = len(self.names)
        img = center_crop_resize(self._load(idx % n), self.resolution)
        arr = np.array(img)  # a writable copy: np.asarray of a PIL image is read-only (torch warns on it)
        if idx >= n:
            arr = arr[:, ::-1]
        return np.ascontiguousarray(arr)

    def label(self, idx: int) -> torch.Tensor:
        if self._labels is None:
            return torch.zeros(0)
        return torch.from_numpy(self._labels[idx % len(self.names)])

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        arr = self.image(idx)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        return torch.from_numpy(arr).permute(2, 0, 1).contiguous(), self.label(idx)

    @property
    def name(self) -> str:
        return self.path.stem
