"""Checkpoints: safetensors tensors + JSON metadata in one file, written atomically.

A checkpoint is a ``.safetensors`` file whose header metadata holds one key,
``neuralbrush``, a JSON document with at least ``format`` (e.g. ``neuralbrush.stylegan2``),
``version``, constructor kwargs and any training state that is not a tensor. Loading needs no
pickle. Writes go to a temporary file in the same folder, are fsynced, then renamed over the
target, so a killed process never leaves a half-written checkpoint (a ``kill -9`` can leave the
hidden temporary itself, ``.NAME.<random>.tmp.SUFFIX``; :func:`clean_stale_temporaries` removes
those when a run resumes). Every way a checkpoint can be damaged (a header that is not JSON, a
header length past the end of the file, a truncated file, metadata that is not a JSON object)
ends as one :class:`CheckpointError` naming the file, raised here so every reader gets it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from safetensors import SafetensorError as SafetensorsError

from .errors import CheckpointError

if TYPE_CHECKING:  # torch loads with the first checkpoint, not with the JSON and atomic-write helpers
    import torch


def save_file(tensors: Mapping[str, torch.Tensor], filename: str, metadata: dict | None = None) -> None:
    """safetensors' writer (imported on first use: image-only commands never load torch)."""
    from safetensors.torch import save_file as write

    write(tensors, filename, metadata=metadata)


def load_file(filename: str, device: str = "cpu") -> dict[str, torch.Tensor]:
    """safetensors' reader (imported on first use)."""
    from safetensors.torch import load_file as read

    return read(filename, device=device)

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
    if path.exists() and not path.is_file():  # a folder, or a device such as /dev/null: never replaced
        raise OSError(errno.EISDIR if path.is_dir() else errno.EINVAL, "not a regular file", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    except OSError as e:  # a folder we may not write to: name the file asked for, not the temporary
        raise OSError(e.errno, e.strerror, str(path)) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
            with open(tmp_path, "rb+") as f:
                os.fsync(f.fileno())
            os.chmod(tmp_path, _new_file_mode())
            os.replace(tmp_path, path)
        except OSError as e:
            if e.filename is None or Path(e.filename) == tmp_path:  # name the file people asked for
                raise OSError(e.errno, e.strerror, str(path)) from None
            raise
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
    except (UnicodeDecodeError, RecursionError):
        raise CheckpointError(f"{path} is not a JSON text file") from None


def _os_error_code(e: Exception) -> int | None:
    """The errno inside a safetensors I/O error (its message ends with ``(os error N)``)."""
    m = re.search(r"os error (\d+)", str(e))
    return int(m.group(1)) if m else None


def save_checkpoint(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> Path:
    """Save tensors (contiguous CPU copies) and JSON ``meta`` atomically to ``path``."""
    if "format" not in meta:
        raise ValueError("checkpoint meta needs a 'format' entry")
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    header = {META_KEY: json.dumps(dict(meta), default=_json_default)}
    with atomic_path(path) as tmp:
        try:
            save_file(flat, str(tmp), metadata=header)
        except SafetensorsError as e:  # an I/O failure inside safetensors: the OSError it stands for
            code = _os_error_code(e)
            if code is None:
                raise
            raise OSError(code, os.strerror(code), str(tmp)) from None
    return Path(path)


def is_disk_full(e: BaseException) -> bool:
    """True for the error a full disk (or an exhausted quota) gives a write."""
    return isinstance(e, OSError) and e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def save_snapshot_checkpoint(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any],
                             pattern: str | None = None) -> Path:
    """:func:`save_checkpoint` for a trainer's snapshots: a full disk becomes one sentence saying
    which snapshot is still intact (the write went to a temporary, so nothing on disk was touched).
    ``pattern`` names the run's snapshots (:data:`.runs.SNAPSHOT_GLOB` by default)."""
    import fnmatch

    from .runs import SNAPSHOT_GLOB, snapshot_files

    pattern = pattern or SNAPSHOT_GLOB
    path = Path(path)
    try:
        return save_checkpoint(path, tensors, meta)
    except OSError as e:
        if not is_disk_full(e):
            raise
        earlier = [p for p in snapshot_files(path.parent, pattern) if p.name != path.name]
        kept = (f"the earlier {path.name} is unchanged" if path.exists() else
                f"the previous snapshot {earlier[-1].name} is intact" if earlier else "no earlier snapshot was touched")
        then = "continue with --resume latest" if fnmatch.fnmatchcase(path.name, pattern) else "run again"
        raise CheckpointError(f"disk full while writing {path} ({e.strerror or 'no space left'}): nothing was "
                              f"replaced and {kept}; free some space and {then}") from None


def _first_line(e: Exception, limit: int = 100) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:limit] if text else type(e).__name__


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """Read only the JSON metadata of a checkpoint (cheap: the header alone)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} is not a file")
    try:
        with safe_open(str(path), framework="pt") as f:
            md = f.metadata() or {}
    except (SafetensorsError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path} is not a readable neuralbrush checkpoint ({_first_line(e)}); "
                              "it is damaged, truncated or another kind of file") from None
    if not isinstance(md, dict) or META_KEY not in md:
        raise CheckpointError(f"{path} is a safetensors file without neuralbrush metadata")
    try:
        meta = json.loads(md[META_KEY])
    except (TypeError, ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError
        raise CheckpointError(f"{path} has damaged neuralbrush metadata (not valid JSON: {_first_line(e, 60)})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} has damaged neuralbrush metadata (a JSON {type(meta).__name__}, "
                              "not an object)")
    if not isinstance(meta.get("format"), str):
        raise CheckpointError(f"{path} has neuralbrush metadata without a 'format' name")
    return meta


def meta_entry(meta: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: str | os.PathLike) -> Any:
    """``meta[key]`` when it is of ``kind``; a one-line :class:`CheckpointError` naming the file otherwise."""
    value = meta.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        what = "lacks" if key not in meta else f"has a malformed (not {names})"
        raise CheckpointError(f"{path} {what} '{key}' entry in its metadata; it is damaged or was not written "
                              "by this version of neuralbrush")
    return value


def load_checkpoint(path: str | os.PathLike, *, expect_format: str | None = None,
                    device: str | torch.device = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load (tensors, meta); with ``expect_format`` a file of another kind is refused clearly."""
    meta = read_meta(path)
    if expect_format is not None and meta.get("format") != expect_format:
        raise CheckpointError(f"{path} holds a {meta.get('format')!r} checkpoint, expected {expect_format!r}")
    try:
        tensors = load_file(str(path), device=str(device))
    except (SafetensorsError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path} is damaged ({_first_line(e)})") from None
    return tensors, meta


# mkstemp's names (see atomic_path): "." + target name + "." + 8 random characters + ".tmp" + suffix
_TEMP_RE = re.compile(r"^\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)?$")


def stale_temporaries(folder: str | os.PathLike, target_glob: str = "*") -> list[Path]:
    """Temporaries :func:`atomic_path` left in ``folder`` (a killed writer), for targets matching ``target_glob``."""
    import fnmatch

    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _TEMP_RE.match(p.name)
        if m and fnmatch.fnmatchcase(m.group("target"), target_glob) and p.is_file() and not p.is_symlink():
            found.append(p)
    return sorted(found)


def clean_stale_temporaries(folder: str | os.PathLike, target_glob: str = "*", *,
                            what: str = "unfinished file") -> tuple[int, int]:
    """Remove what a killed writer left in ``folder`` (see :func:`stale_temporaries`) and say so in one
    info line; returns (files removed, bytes freed). Call it only when no process writes there."""
    from .progress import info

    count = freed = 0
    for p in stale_temporaries(folder, target_glob):
        try:
            size = p.stat().st_size
            p.unlink()
        except FileNotFoundError:
            continue
        count += 1
        freed += size
    if count:
        info(f"removed {count} {what}{'s' if count != 1 else ''} left by an interrupted run in {folder} "
             f"({_human_bytes(freed)} freed)")
    return count, freed


def _human_bytes(n: float) -> str:
    if n < 1024:
        return f"{int(n)} bytes"
    for unit in ("KB", "MB", "GB", "TB"):
        n /= 1024
        if n < 1024 or unit == "TB":
            break
    return f"{n:.1f} {unit}"


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

    import torch

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
