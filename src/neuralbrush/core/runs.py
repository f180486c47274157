"""Run directories shared by every trainer: ``runs/NNNNN-<name>/`` with the resolved options
as JSON, snapshots, grids and stats, and ``latest`` resolution for ``--resume latest``."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from .checkpoint import write_json
from .errors import UsageError

RUN_RE = re.compile(r"^(\d{5})-")

# The one snapshot pattern of every neuralbrush trainer (StyleGAN2, DCGAN, pix2pix), and the one
# NVlabs runs use (read only: an NVlabs run folder can be given wherever a model is expected).
SNAPSHOT_GLOB = "network-snapshot-*.safetensors"
NVLABS_SNAPSHOT_GLOB = "network-snapshot-*.pkl"


def new_run_dir(root: str | os.PathLike, name: str) -> Path:
    """Create ``root/NNNNN-name`` with the next free number (one sentence if ``root`` cannot hold it)."""
    from .outputs import check_writable_output

    root = check_writable_output(root, "folder", what="folder of runs")
    root.mkdir(parents=True, exist_ok=True)
    ids = [int(m.group(1)) for p in root.iterdir() if (m := RUN_RE.match(p.name))]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "run"
    path = root / f"{(max(ids) + 1 if ids else 0):05d}-{safe}"
    path.mkdir()
    return path


def run_dirs(root: str | os.PathLike) -> list[Path]:
    """The run folders (``NNNNN-name``) directly under ``root``, oldest (lowest number) first."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and RUN_RE.match(p.name))


def latest_run_dir(root: str | os.PathLike, name_contains: str | None = None) -> Path:
    """The highest-numbered run under ``root`` (optionally whose name contains a string)."""
    root = Path(root)
    runs = run_dirs(root)
    if name_contains:
        runs = [p for p in runs if name_contains in p.name]
    if not runs:
        raise UsageError(f"no runs found in {root}")
    return runs[-1]


def snapshot_files(run_dir: str | os.PathLike, pattern: str = SNAPSHOT_GLOB) -> list[Path]:
    """Snapshot checkpoints of a run, oldest first (by the number in the name)."""
    files = list(Path(run_dir).glob(pattern))

    def key(p: Path) -> int:
        m = re.findall(r"(\d+)", p.stem)
        return int(m[-1]) if m else -1

    return sorted(files, key=key)


def latest_snapshot(run_dir: str | os.PathLike, pattern: str = SNAPSHOT_GLOB) -> Path:
    files = snapshot_files(run_dir, pattern)
    if not files:
        raise UsageError(f"run {run_dir} has no snapshots yet")
    return files[-1]


class StatsWriter:
    """Append one JSON object per line to ``stats.jsonl`` (and TensorBoard when installed)."""

    def __init__(self, run_dir: str | os.PathLike, *, tensorboard: bool = True) -> None:
        self.path = Path(run_dir) / "stats.jsonl"
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(run_dir))
            except Exception:  # tensorboard not installed: jsonl only
                self._tb = None

    def write(self, step: int, values: dict[str, Any]) -> None:
        row = {"step": step, "timestamp": time.time(), **values}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, default=float) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if self._tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)):
                    self._tb.add_scalar(k, v, step)
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def read_stats(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    path = Path(run_dir) / "stats.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a kill: skip it
                continue
    return rows


def save_options(run_dir: str | os.PathLike, options: dict[str, Any], name: str = "training_options.json") -> Path:
    return write_json(Path(run_dir) / name, options)
