"""Read files written by ``torch.save`` without running anything in them.

Foreign ``.pth`` files (torchvision, junyanz pix2pix, pytorch-fid) and the tensor blobs nested in
NVIDIA network pickles are pickles. This module reads both of torch's layouts itself:

* the zip layout (torch >= 1.6): ``ARCHIVE/data.pkl`` plus one raw record per storage,
  ``ARCHIVE/data/KEY``;
* the legacy layout (older torchvision weights, ``pickle.dump`` of a tensor): four pickles
  (magic number, protocol, system info, the object) followed by the storage keys and, for each,
  an int64 element count and the raw bytes.

The unpickler resolves only the names in :data:`TENSOR_GLOBALS` (plus what a caller adds):
tensors, parameters, ordered dicts and the storage types. Storages become flat 1-D tensors read
from the file's own bytes, and tensors are strided views of them, bounds-checked. Any other
global, or a file with a different structure, is a one-line :class:`CheckpointError`.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, Callable, Mapping

import torch
from torch import nn

from .errors import CheckpointError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

STORAGE_DTYPES: dict[str, torch.dtype] = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
    "UntypedStorage": torch.uint8,
}


class StorageType:
    """What a pickled storage class (``torch.FloatStorage`` ...) resolves to: just its dtype."""

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


def _ints(x: Any, what: str) -> tuple[int, ...]:
    if not isinstance(x, (tuple, list, torch.Size)) or not all(isinstance(i, int) and i >= 0 for i in x):
        raise CheckpointError(f"a tensor {what} in this file is not a tuple of non-negative integers")
    return tuple(x)


def rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                   backward_hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    """``torch._utils._rebuild_tensor_v2`` on a flat storage tensor, with every index checked."""
    if not isinstance(storage, torch.Tensor) or storage.dim() != 1:
        raise CheckpointError("a tensor in this file is not backed by a tensor storage")
    if not isinstance(storage_offset, int) or storage_offset < 0:
        raise CheckpointError("a tensor offset in this file is not a non-negative integer")
    size, stride = _ints(size, "size"), _ints(stride, "stride")
    if len(size) != len(stride):
        raise CheckpointError("a tensor in this file has as many strides as sizes")
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else storage_offset - 1
    if last >= storage.numel():
        raise CheckpointError("a tensor in this file reaches past the end of its storage")
    t = storage.as_strided(size, stride, storage_offset)
    return t.requires_grad_(True) if requires_grad is True and t.is_floating_point() else t


def rebuild_parameter(data: Any, requires_grad: Any = True, backward_hooks: Any = None, state: Any = None) -> nn.Parameter:
    if not isinstance(data, torch.Tensor):
        raise CheckpointError("a parameter in this file does not hold a tensor")
    return nn.Parameter(data, requires_grad=bool(requires_grad) and data.is_floating_point())


TENSOR_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): rebuild_parameter,
    **{("torch", name): StorageType(dt) for name, dt in STORAGE_DTYPES.items()},
    ("torch.storage", "UntypedStorage"): StorageType(torch.uint8),
}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only ``allowed`` globals; storages come from ``storage(kind, key, numel, view)``."""

    def __init__(self, file: BinaryIO, *, allowed: Mapping[tuple[str, str], Any], label: str,
                 storage: Callable[[StorageType, str, int, Any], torch.Tensor] | None) -> None:
        super().__init__(file)
        self.allowed, self.label, self.storage = allowed, label, storage

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise CheckpointError(f"refusing to load {self.label}: it asks for {module}.{name}, which a weights file "
                                  "never needs (the file may be malicious; nothing in it was run)") from None

    def persistent_load(self, pid: Any) -> Any:
        if self.storage is None or not isinstance(pid, tuple) or len(pid) < 5 or pid[0] not in ("storage", b"storage"):
            raise CheckpointError(f"refusing to load {self.label}: it uses a persistent id that is not a tensor storage")
        kind, key, _location, numel = pid[1:5]
        if not isinstance(kind, StorageType) or not isinstance(numel, int) or numel < 0:
            raise CheckpointError(f"{self.label} has a malformed tensor storage record")
        return self.storage(kind, str(key), numel, pid[5] if len(pid) > 5 else None)


def _flat(raw: bytes | bytearray, dtype: torch.dtype, numel: int, label: str) -> torch.Tensor:
    need = numel * torch.empty((), dtype=dtype).element_size()
    if len(raw) < need:
        raise CheckpointError(f"{label} is truncated: a tensor storage is shorter than it says")
    if numel == 0:
        return torch.empty(0, dtype=dtype)
    return torch.frombuffer(bytearray(raw[:need]), dtype=dtype)


def _load_zip(zf: zipfile.ZipFile, allowed: Mapping, label: str) -> Any:
    pkls = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pkls) != 1:
        raise CheckpointError(f"{label} is a zip file but not one written by torch.save")
    prefix = pkls[0][: -len("data.pkl")]
    if prefix + "byteorder" in zf.namelist() and zf.read(prefix + "byteorder").strip() != b"little":
        raise CheckpointError(f"{label} was written on a big-endian machine, which is not supported")
    storages: dict[str, torch.Tensor] = {}

    def storage(kind: StorageType, key: str, numel: int, view: Any) -> torch.Tensor:
        if key not in storages:
            try:
                raw = zf.read(f"{prefix}data/{key}")
            except KeyError:
                raise CheckpointError(f"{label} lacks the data of tensor storage {key!r}") from None
            storages[key] = _flat(raw, kind.dtype, numel, label)
        return storages[key]

    return RestrictedUnpickler(io.BytesIO(zf.read(pkls[0])), allowed=allowed, label=label, storage=storage).load()


def _load_legacy(f: BinaryIO, allowed: Mapping, label: str) -> Any:
    def header() -> Any:
        return RestrictedUnpickler(f, allowed={}, label=label, storage=None).load()

    if header() != LEGACY_MAGIC or header() != LEGACY_PROTOCOL:
        raise CheckpointError(f"{label} is not a file written by torch.save")
    info = header()
    if not isinstance(info, dict) or not info.get("little_endian", True):
        raise CheckpointError(f"{label} was written on a big-endian machine, which is not supported")
    roots: dict[str, torch.Tensor] = {}  # filled in place once the bytes (after the pickle) are read

    def storage(kind: StorageType, key: str, numel: int, view: Any) -> torch.Tensor:
        root = roots.setdefault(key, torch.zeros(numel, dtype=kind.dtype))
        if root.numel() != numel or root.dtype != kind.dtype:
            raise CheckpointError(f"{label} describes tensor storage {key!r} in two different ways")
        if view is None:
            return root
        if not (isinstance(view, tuple) and len(view) == 3 and isinstance(view[1], int) and isinstance(view[2], int)
                and 0 <= view[1] and view[1] + view[2] <= numel):
            raise CheckpointError(f"{label} has a malformed storage view")
        return root[view[1]:view[1] + view[2]]

    obj = RestrictedUnpickler(f, allowed=allowed, label=label, storage=storage).load()
    keys = header()
    if not isinstance(keys, list) or set(map(str, keys)) != set(roots):
        raise CheckpointError(f"{label} lists other tensor storages than it uses")
    for key in map(str, keys):
        root = roots[key]
        head = f.read(8)
        if len(head) != 8:
            raise CheckpointError(f"{label} is truncated: the data of a tensor storage is missing")
        if struct.unpack("<q", head)[0] != root.numel():
            raise CheckpointError(f"{label} has a tensor storage whose size does not match its record")
        root.copy_(_flat(f.read(root.numel() * root.element_size()), root.dtype, root.numel(), label))
    return obj


def load_torch_file(source: str | os.PathLike | bytes, *, label: str | None = None,
                    extra_globals: Mapping[tuple[str, str], Any] | None = None) -> Any:
    """What ``torch.save`` wrote to ``source`` (a path or the bytes), read by the restricted
    unpickler; ``extra_globals`` allows more (module, name) pairs, mapped to safe callables."""
    allowed = {**TENSOR_GLOBALS, **(extra_globals or {})}
    if isinstance(source, (bytes, bytearray)):
        label = label or "this tensor blob"
        f: BinaryIO = io.BytesIO(bytes(source))
    else:
        path = Path(source)
        label = label or str(path)
        if not path.is_file():
            raise CheckpointError(f"{label} does not exist")
        f = open(path, "rb")
    try:
        if zipfile.is_zipfile(f):
            f.seek(0)
            with zipfile.ZipFile(f) as zf:
                return _load_zip(zf, allowed, label)
        f.seek(0)
        return _load_legacy(f, allowed, label)
    except CheckpointError:
        raise
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError, RecursionError, RuntimeError, struct.error) as e:
        raise CheckpointError(f"{label} is not a readable PyTorch file ({type(e).__name__}: {str(e)[:100]})") from None
    finally:
        f.close()
