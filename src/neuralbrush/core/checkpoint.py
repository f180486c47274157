"""Checkpoints: safetensors tensors + JSON metadata in one file, written atomically.

A checkpoint is a ``.safetensors`` file whose header metadata holds one key,
``neuralbrush``, a JSON document with at least ``format`` (e.g. ``neuralbrush.stylegan2``),
``version``, constructor kwargs and any training state that is not a tensor. Loading needs no
pickle. Writes go to a temporary file in the same folder, are fsynced, then renamed over the
target, so a killed process never leaves a half-written checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch
from safetensors import SafetensorError as SafetensorsError
from safetensors.torch import load_file, save_file

from .errors import CheckpointError

META_KEY = "neuralbrush"


def _new_file_mode() -> int:
    """The mode open() gives a new file under the current umask (mkstemp's temporaries are 0600)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success fsync it and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, _new_file_mode())
        os.replace(tmp_path, path)
        try:  # make the rename itself durable
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _json_default(o: Any) -> Any:
    """JSON for the values our metadata holds: paths, numpy/torch scalars and arrays, tuples."""
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_json(path: str | os.PathLike, obj: Any, *, indent: int = 2) -> Path:
    """Write JSON atomically (numpy/torch scalars and Paths are converted)."""

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=indent, default=_json_default) + "\n", encoding="utf-8")
    return Path(path)


def read_json(path: str | os.PathLike) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist") from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path} is not valid JSON (line {e.lineno}: {e.msg})") from None


def save_checkpoint(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> Path:
    """Save tensors (contiguous CPU copies) and JSON ``meta`` atomically to ``path``."""
    if "format" not in meta:
        raise ValueError("checkpoint meta needs a 'format' entry")
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    header = {META_KEY: json.dumps(dict(meta), default=_json_default)}
    with atomic_path(path) as tmp:
        save_file(flat, str(tmp), metadata=header)
    return Path(path)


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """Read only the JSON metadata of a checkpoint (cheap: the header alone)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            md = f.metadata() or {}
    except (SafetensorsError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is not a neuralbrush checkpoint ({str(e).splitlines()[0][:100]})") from None
    if META_KEY not in md:
        raise CheckpointError(f"{path} is a safetensors file without neuralbrush metadata")
    return json.loads(md[META_KEY])


def load_checkpoint(path: str | os.PathLike, *, expect_format: str | None = None,
                    device: str | torch.device = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load (tensors, meta); with ``expect_format`` a file of another kind is refused clearly."""
    meta = read_meta(path)
    if expect_format is not None and meta.get("format") != expect_format:
        raise CheckpointError(f"{path} holds a {meta.get('format')!r} checkpoint, expected {expect_format!r}")
    try:
        tensors = load_file(str(path), device=str(device))
    except (SafetensorsError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is damaged ({str(e).splitlines()[0][:100]})") from None
    return tensors, meta


def prefixed(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Add ``prefix.`` to every key (to store several modules in one file)."""
    return {f"{prefix}.{k}": v for k, v in state.items()}


def unprefixed(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries under ``prefix.``, with the prefix removed."""
    p = prefix + "."
    return {k[len(p):]: v for k, v in tensors.items() if k.startswith(p)}


def read_torch_state_dict(path: str | os.PathLike, *, what: str = "weights") -> dict[str, torch.Tensor]:
    """Read a foreign PyTorch ``.pth`` state_dict (torchvision, junyanz, pytorch-fid files).

    The one place such files are opened: :func:`neuralbrush.core.torchfile.load_torch_file`
    reads torch.save's format itself and resolves only tensors and plain containers, so no code in
    the file ever runs. A ``{"state_dict": ...}`` wrapper is unwrapped; anything that is not a
    mapping of tensors is refused with a one-line :class:`CheckpointError` naming ``what`` was
    expected.
    """
    from collections.abc import Mapping

    from .torchfile import load_torch_file

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{what} file {path} does not exist")
    obj = load_torch_file(path)
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} does not hold a {what} state_dict of tensors")
    return dict(obj)
