"""The studio's job records: a job as JSON on disk (``.studio/jobs/<id>.json``), the encoding of
library arguments as data (options dataclasses, paths, plain values; never pickled), and the
process and device helpers the runner needs. Split from :mod:`.jobs`, which runs them.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


# ------------------------------------------------------------------------------------- encoding

def encode(value: Any) -> Any:
    """A job argument as JSON: options dataclasses by class and field values, paths tagged."""
    from ..core.options import to_dict

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, os.PathLike):
        return {"__path__": os.fspath(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        return {"__options__": f"{cls.__module__}:{cls.__qualname__}", "values": to_dict(value)}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": {str(k): encode(v) for k, v in value.items()}}
    raise TypeError(f"a job argument must be options, a path or plain data, not {type(value).__name__}")


def _locate(name: str) -> Any:
    module, _, qual = name.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


def decode(value: Any) -> Any:
    """The inverse of :func:`encode` (path fields of options come back as paths)."""
    from ..core.options import _unwrap, from_dict, hints

    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__path__" in value:
        return Path(value["__path__"])
    if "__tuple__" in value:
        return tuple(decode(v) for v in value["__tuple__"])
    if "__dict__" in value:
        return {k: decode(v) for k, v in value["__dict__"].items()}
    if "__options__" in value:
        cls = _locate(value["__options__"])
        th = hints(cls)
        values = dict(value["values"])
        for f in dataclasses.fields(cls):
            if isinstance(values.get(f.name), str) and _unwrap(th[f.name])[0] is Path:
                values[f.name] = Path(values[f.name])
        return from_dict(cls, values)
    return value


def jsonable(value: Any, depth: int = 0) -> Any:
    """A result or event field as JSON for the job file (arrays and tensors summarised)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if depth > 4:
        return str(value)[:200]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)
                if f.name != "preview"}
    if isinstance(value, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in list(value.items())[:200]}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, depth + 1) for v in list(value)[:500]]
    shape = getattr(value, "shape", None)
    if shape is not None:
        if getattr(value, "ndim", 1) == 0 or tuple(shape) == ():
            try:
                return jsonable(value.item(), depth + 1)
            except Exception:  # noqa: BLE001
                pass
        return f"<{type(value).__name__} shape {tuple(shape)}>"
    return str(value)[:200]


def output_paths(result: Any) -> list[str]:
    """Files and folders a result names (its path fields, one level into lists), that exist."""
    found: list[str] = []

    def visit(v: Any, depth: int) -> None:
        if isinstance(v, os.PathLike):
            if Path(v).exists() and os.fspath(v) not in found:
                found.append(os.fspath(v))
        elif depth < 2 and isinstance(v, (list, tuple)):
            for x in list(v)[:200]:
                visit(x, depth + 1)
        elif depth < 2 and dataclasses.is_dataclass(v) and not isinstance(v, type):
            for f in dataclasses.fields(v):
                visit(getattr(v, f.name), depth + 1)

    visit(result, 0)
    return found


# ------------------------------------------------------------------------------------- the job file

@dataclass
class Job:
    """One job's state, as stored in ``.studio/jobs/<id>.json``."""

    id: str
    kind: str                      # train, pix2pix-train, dataset, pairs, render, style-folder, ...
    title: str
    target: str                    # "module:function" the worker calls
    args: list = field(default_factory=list)        # encoded (see encode)
    kwargs: dict = field(default_factory=dict)      # encoded
    heavy: bool = True
    device: str = "cpu"            # the slot it occupies (one heavy job per device)
    command: str = ""              # the equivalent CLI command, for the page
    status: str = "queued"         # queued, running, done, failed, cancelled, stopped, interrupted
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    pid: int | None = None
    progress: dict = field(default_factory=dict)    # the newest event's summary
    events: int = 0
    run_dir: str | None = None     # a training's run folder, as soon as the trainer names it
    preview: str | None = None     # the newest preview picture (absolute path)
    outputs: list = field(default_factory=list)
    result: Any = None
    error: str | None = None
    stop_requested: bool = False

    @property
    def finished_ok(self) -> bool:
        return self.status == "done"

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")

    def summary(self) -> str:
        """One line for the queue table: status, step/total, message."""
        p = self.progress
        where = ""
        if p.get("total"):
            where = f" {p.get('step', 0)}/{p['total']}"
        msg = f" {p['message']}" if p.get("message") else ""
        err = f": {self.error}" if self.error else ""
        return f"{self.title} [{self.status}{where}]{msg}{err}"


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _job_fields() -> set[str]:
    return {f.name for f in dataclasses.fields(Job)}


def read_job(path: Path) -> Job | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or "id" not in data:
        return None
    known = _job_fields()
    return Job(**{k: v for k, v in data.items() if k in known})


def pid_alive(pid: int | None, job_id: str | None = None) -> bool:
    """Whether ``pid`` runs (and, on Linux, is the worker of ``job_id``: a reused pid is not)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if job_id and cmdline.exists():
        try:
            raw = cmdline.read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return False  # a zombie: finished, not yet reaped
        return job_id.encode() in raw
    return True


def device_slot(device: str | None) -> str:
    """The device a job occupies: ``auto`` resolved the way the library resolves it (core.device)."""
    from ..core.device import resolve_device
    from ..core.errors import UsageError

    try:
        return str(resolve_device(device or "auto"))
    except UsageError:  # a device this machine lacks: the job itself will say so; queue it by name
        return (device or "auto").lower()
