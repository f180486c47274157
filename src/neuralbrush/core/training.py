"""The training-run service both trainers compose (StyleGAN2/DCGAN in ``gan.train``, pix2pix in
``pix2pix.train``): the loops differ, their bookkeeping does not.

* :class:`TrainingRun` owns a run folder ``runs/NNNNN-<name>/``: ``training_options.json`` (the
  options, a ``resolved`` section and a ``resumed`` list with one record per continuation),
  ``log.txt``, ``stats.jsonl``, sample grids (``fakes_init.png``, ``fakes<N>.png`` and the frames
  of ``progress.gif``/``.mp4``), snapshot names from one pattern and ``keep=N`` retention.
* :func:`state_tensors` / :func:`restore_state_tensors`: optimiser and RNG state as plain tensors
  (snapshots stay pickle-free) under one prefix scheme: ``opt_<name>.<param>.<field>``,
  ``rng.torch``, ``rng.numpy_*``, ``rng.<generator>``.
* :class:`Budget`: a run length in counts (kimg, steps) and/or minutes, decided on rank 0 and
  broadcast so every torchrun rank stops (and schedules its learning rate) together.
* :class:`Cadence`: ticks and snapshots by the clock (rank 0's, so every rank agrees), and
  :func:`snapshot_minutes`, the default time between snapshots for a device.
* :class:`TrainEvent`: what a trainer hands ``progress=`` (a :class:`ProgressEvent`).

One resume meaning for both trainers: ``resume(run_dir, **overrides)`` continues a run in place;
the run's saved options and its snapshot decide every shape, and only the trainer's listed
run-length/device keys may change (:func:`check_overrides`). ``--resume latest`` is the newest run
of ``--outdir`` made by that trainer that has a snapshot (:func:`latest_resumable_run`).

Over 400 lines on purpose: this is the one place for run-folder bookkeeping (DESIGN: one obvious
place per concept); its parts (run, state tensors, budget, cadence, events) are small and used
together by both trainers.
"""

from __future__ import annotations

import datetime
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from . import distributed as dist
from .checkpoint import clean_stale_temporaries, read_json, write_json
from .errors import CheckpointError, UsageError
from .progress import ProgressEvent, ProgressFn, default_presenter, info
from .runs import RUN_RE, SNAPSHOT_GLOB, StatsWriter, new_run_dir, snapshot_files

OPTIONS_FILE = "training_options.json"
RUN_RECORD_KEYS = ("resolved", "resumed", "trainer")  # sections of OPTIONS_FILE that are not options
UNIT_WIDTH = {"kimg": 6, "step": 7}  # digits of the snapshot / grid number, one width per unit
INIT_GRID = "fakes_init.png"
OLD_INIT_GRIDS = ("fakes-init.png",)  # pix2pix runs made before the names were unified


def snapshot_name(count: int, unit: str) -> str:
    """``network-snapshot-<count>.safetensors`` with the unit's width (kimg: 6 digits, step: 7)."""
    return f"network-snapshot-{int(count):0{UNIT_WIDTH[unit]}d}.safetensors"


def grid_name(count: int, unit: str) -> str:
    return f"fakes{int(count):0{UNIT_WIDTH[unit]}d}.png"


def grid_frames(run_dir: Path) -> list[Path]:
    """The frames of the progress animation in training order: ``progress/<N>.png``, falling back to
    the init grid plus ``fakes<N>.png`` for runs without that folder."""
    frames = sorted((run_dir / "progress").glob("[0-9]*.png"))
    if frames:
        return frames
    files = sorted(run_dir.glob("fakes[0-9]*.png"), key=lambda p: int(re.findall(r"\d+", p.stem)[-1]))
    init = [run_dir / n for n in (INIT_GRID, *OLD_INIT_GRIDS) if (run_dir / n).exists()][:1]
    return init + files


# -- which run continues --------------------------------------------------------------------------


def run_trainer(run_dir: Path) -> str:
    """``gan`` or ``pix2pix``: the record in the options file, else (older runs) the folder name."""
    try:
        doc = read_json(run_dir / OPTIONS_FILE)
    except CheckpointError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("trainer"), str):
        return doc["trainer"]
    return "pix2pix" if run_dir.name.endswith("-pix2pix") else "gan"


def latest_resumable_run(outdir: str | os.PathLike, trainer: str) -> Path:
    """What ``--resume latest`` continues: the newest run of ``outdir`` that ``trainer`` made and
    that has a snapshot."""
    root = Path(outdir)
    runs = sorted(p for p in root.iterdir() if p.is_dir() and RUN_RE.match(p.name)) if root.is_dir() else []
    if not runs:
        raise UsageError(f"no runs found in {root} to resume (--resume latest continues the newest run of --outdir)")
    mine = [p for p in runs if run_trainer(p) == trainer]
    with_snapshot = [p for p in mine if snapshot_files(p, SNAPSHOT_GLOB)]
    if not with_snapshot:
        what = "pix2pix" if trainer == "pix2pix" else "GAN"
        raise UsageError(f"no {what} run in {root} has a snapshot to resume from yet")
    return with_snapshot[-1]


def check_overrides(overrides: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    """A continued run takes its shape from its snapshot: refuse any other change in one sentence."""
    bad = sorted(k for k in overrides if k not in allowed)
    if bad:
        flags = ", ".join("--" + k.replace("_", "-") for k in bad)
        raise UsageError(f"{flags} cannot change when a run continues (its saved options and snapshot decide them); "
                         f"a continued run may change only " + ", ".join("--" + k.replace("_", "-") for k in allowed))


def cli_overrides(typed: set[str], values: Mapping[str, Any], run_dir: Path,
                  allowed: tuple[str, ...]) -> dict[str, Any]:
    """The overrides a command line continuing ``run_dir`` asks for, from the options the user
    typed (parameter sources, not defaults): the ``allowed`` ones change; any other must repeat the
    run's saved value (DATA: the same folder), else one sentence refuses it."""
    saved = saved_options(run_dir)
    given = values.get("data")
    if "data" in typed and given:
        if not saved.get("data") or Path(str(given)).resolve() != Path(str(saved["data"])).resolve():
            raise UsageError(f"{run_dir.name} trains on {saved.get('data')}, not {given}; leave the data out to "
                             "continue it (or give --resume a snapshot or weights to start a new run from them)")
    keys = typed - {"data", "resume", "outdir", "config"}
    overrides = {k: values[k] for k in keys if k in allowed}
    changed = {k: values[k] for k in keys - set(allowed) if k not in saved or saved[k] != values[k]}
    check_overrides({**overrides, **changed}, allowed)
    return overrides


def saved_options(run_dir: Path) -> dict[str, Any]:
    """The options a run was started with (its options file without the run record sections)."""
    doc = read_json(run_dir / OPTIONS_FILE)
    if not isinstance(doc, dict):
        raise CheckpointError(f"{run_dir / OPTIONS_FILE} does not hold a JSON object of options")
    return {k: v for k, v in doc.items() if k not in RUN_RECORD_KEYS}


# -- optimiser and RNG state as tensors -----------------------------------------------------------


def state_tensors(*, optimizers: Mapping[str, torch.optim.Optimizer] = {},
                  generators: Mapping[str, torch.Generator] = {}) -> dict[str, torch.Tensor]:
    """Optimiser state (``opt_<name>.<param>.<field>``) and RNG state (``rng.torch``, ``rng.numpy_*``,
    ``rng.<name>`` for each generator) as CPU tensors for a snapshot."""
    out: dict[str, torch.Tensor] = {}
    for name, opt in optimizers.items():
        for pid, st in opt.state_dict()["state"].items():
            for k, v in st.items():
                out[f"opt_{name}.{pid}.{k}"] = (v if torch.is_tensor(v) else torch.tensor(v)).detach().cpu().clone()
    _, keys, pos, has_gauss, cached = np.random.get_state()
    out["rng.torch"] = torch.get_rng_state()
    out["rng.numpy_keys"] = torch.from_numpy(np.asarray(keys, np.int64))
    out["rng.numpy_extra"] = torch.tensor([float(pos), float(has_gauss), float(cached)], dtype=torch.float64)
    for name, g in generators.items():
        out[f"rng.{name}"] = g.get_state()
    return out


def restore_state_tensors(tensors: Mapping[str, torch.Tensor], *, optimizers: Mapping[str, torch.optim.Optimizer] = {},
                          generators: Mapping[str, torch.Generator] = {}, global_rng: bool = True,
                          where: str | os.PathLike = "the snapshot") -> None:
    """Put back what :func:`state_tensors` saved (entries that are absent leave the state as it is);
    damaged entries are one :class:`CheckpointError` naming ``where`` (the snapshot file)."""
    for name, opt in optimizers.items():
        _restore_optimizer(opt, tensors, f"opt_{name}", where)
    try:
        if global_rng and "rng.torch" in tensors:
            torch.set_rng_state(tensors["rng.torch"].to(torch.uint8))
        if global_rng and "rng.numpy_keys" in tensors:
            pos, has_gauss, cached = tensors["rng.numpy_extra"].tolist()
            np.random.set_state(("MT19937", tensors["rng.numpy_keys"].numpy().astype(np.uint32), int(pos),
                                 int(has_gauss), float(cached)))
        for name, g in generators.items():
            if f"rng.{name}" in tensors:
                g.set_state(tensors[f"rng.{name}"].to(torch.uint8))
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{where} has a damaged random-number state ({str(e)[:80] or type(e).__name__}); "
                              "resume from another snapshot") from None


def _restore_optimizer(opt: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor], prefix: str,
                       where: str | os.PathLike) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, v in tensors.items():
        if key.startswith(prefix + "."):
            pid, _, name = key[len(prefix) + 1:].partition(".")
            if not pid.isdigit() or not name:
                raise CheckpointError(f"{where} has a malformed optimiser entry {key!r}")
            state.setdefault(int(pid), {})[name] = v
    if not state:
        return
    sd = opt.state_dict()
    sd["state"] = state
    try:
        opt.load_state_dict(sd)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as e:
        raise CheckpointError(f"{where}: the {prefix} optimiser state does not fit this run "
                              f"({str(e)[:80] or type(e).__name__})") from None


# -- budget ---------------------------------------------------------------------------------------


def rank0_decides(value: float) -> float:
    """Rank 0's ``value`` on every rank (clocks differ between processes; decisions must not)."""
    if dist.world_size() <= 1:
        return value
    import torch.distributed as tdist

    t = torch.tensor([value], dtype=torch.float64)
    tdist.broadcast(t, src=0)
    return float(t.item())


# A clean stop from outside (the studio's Stop button, or a person): when the file this variable
# names exists, the budget reads as spent, so the trainer ends as at the end of its run: it writes
# its last snapshot and grid, then returns. E.g. NEURALBRUSH_STOP_FILE=stop neuralbrush train ...
# and later `touch stop`.
STOP_FILE_ENV = "NEURALBRUSH_STOP_FILE"


def stop_requested() -> bool:
    """Whether the stop file named by ``$NEURALBRUSH_STOP_FILE`` exists."""
    path = os.environ.get(STOP_FILE_ENV)
    return bool(path) and os.path.exists(path)


class Budget:
    """How long a run lasts: ``limit`` counts (images or steps) and/or ``minutes`` of wall clock,
    whichever ends first. ``elapsed_before`` carries a budget over a resume (pix2pix's learning-rate
    schedule spans the whole run; the GAN's ``--minutes`` counts from this session's start). A stop
    request (:func:`stop_requested`) spends the budget at once: the trainer snapshots and ends.
    """

    def __init__(self, *, limit: float | None = None, minutes: float | None = None, elapsed_before: float = 0.0):
        if limit is None and minutes is None:
            raise ValueError("a budget needs a count limit or minutes")
        self.limit, self.minutes, self.elapsed_before = limit, minutes, elapsed_before
        self.start = time.time()
        self.elapsed = elapsed_before

    def fraction(self, count: float) -> float:
        """Share of the budget used at ``count``, as rank 0 sees it (>= 1: done)."""
        elapsed = self.elapsed_before + time.time() - self.start
        parts = []
        if self.limit is not None:
            parts.append(count / self.limit if self.limit > 0 else 1.0)
        if self.minutes is not None:
            parts.append(elapsed / (self.minutes * 60))
        if stop_requested():  # rank 0's answer is broadcast below with the rest
            parts.append(1.0)
        if dist.world_size() > 1:
            import torch.distributed as tdist

            t = torch.tensor([max(parts), elapsed], dtype=torch.float64)
            tdist.broadcast(t, src=0)
            frac, self.elapsed = t.tolist()
            return frac
        self.elapsed = elapsed
        return max(parts)

    def done(self, count: float) -> bool:
        return self.fraction(count) >= 1.0

    def remaining_s(self, count: float, sec_per_count: float) -> float:
        """Estimated seconds left (for log lines)."""
        left = []
        if self.limit is not None:
            left.append((self.limit - count) * sec_per_count)
        if self.minutes is not None:
            left.append(self.minutes * 60 - self.elapsed)
        return max(min(left), 0.0)

    def bar(self, count: float) -> tuple[int, int]:
        """(step, total) for a progress bar: counts when the run is count-limited, else seconds."""
        if self.limit is not None and self.minutes is None:
            return int(count), int(self.limit)
        return int(self.elapsed), int(self.minutes * 60 if self.minutes is not None else 0)


# -- cadence --------------------------------------------------------------------------------------

# A run killed (kill -9, a crash, a closed laptop lid that never wakes) loses what it learned since
# its last snapshot. Counted in ticks, that is hours on a CPU (StyleGAN2 `small`: 50 ticks of 4 kimg
# at ~70 s each); by the clock it is minutes. CPU snapshots are small (a few MB), so every 10 minutes
# costs nothing noticeable; on CUDA (larger models, runs of days, snapshots of hundreds of MB) ticks
# stay the cadence unless --snap-minutes asks for a clock too.
SNAP_MINUTES_DEFAULT = {"cpu": 10.0, "mps": 10.0}  # device type -> minutes; others: 0 (ticks only)


def snapshot_minutes(value: float | None, device_type: str) -> float:
    """The snapshot clock a run uses: ``value`` when given (0: ticks only), else the device's default
    (:data:`SNAP_MINUTES_DEFAULT`)."""
    return float(value) if value is not None else SNAP_MINUTES_DEFAULT.get(device_type, 0.0)


class Cadence:
    """When a tick ends and when a snapshot is due by the clock.

    ``tick_s``: seconds per tick (None: the trainer counts its ticks itself, e.g. in kimg).
    ``snap_s``: at most this many seconds from the end of one snapshot write to the next snapshot
    (0: off), so a killed run's newest snapshot is at most ``snap_s`` plus one write old.
    :meth:`now` is rank 0's clock on every rank: call it on every rank at the same points (under
    torchrun it is a broadcast), and the decisions agree everywhere."""

    def __init__(self, *, tick_s: float | None, snap_s: float) -> None:
        self.tick_s, self.snap_s = tick_s, snap_s
        self.tick_start = self.last_snapshot = self.now()

    @staticmethod
    def now() -> float:
        return rank0_decides(time.time())

    def tick_due(self, now: float) -> bool:
        return self.tick_s is not None and now - self.tick_start >= self.tick_s

    def snapshot_due(self, now: float) -> bool:
        return self.snap_s > 0 and now - self.last_snapshot >= self.snap_s

    def new_tick(self, now: float) -> None:
        self.tick_start = now

    def snapshot_written(self) -> float:
        """Restart the snapshot clock (after the write); returns the time, which also starts the next tick."""
        self.last_snapshot = self.now()
        return self.last_snapshot


# -- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainEvent(ProgressEvent):
    """What a trainer hands ``progress=``: ``kind`` is ``step`` (every iteration), ``tick`` (a stats
    row was written) or ``snapshot`` (a snapshot was written; ``preview`` is its sample grid)."""

    kind: str = "step"
    unit: str = "kimg"          # what ``count`` counts: kimg or step
    count: float = 0.0
    stats: dict[str, float] = field(default_factory=dict)
    run_dir: Path | None = None
    snapshot: Path | None = None


# -- the run folder -------------------------------------------------------------------------------


class TrainingRun:
    """A run folder and its bookkeeping. Rank 0 writes; on other ranks every writing method is a
    no-op, so a loop calls them unconditionally. Make one with :meth:`start` or :meth:`continue_`."""

    def __init__(self, run_dir: Path | None, *, trainer: str, unit: str, keep: int = 0,
                 progress: ProgressFn | None = None, continued: bool = False) -> None:
        self.run_dir, self.trainer, self.unit, self.keep = run_dir, trainer, unit, keep
        self.main = dist.is_main()
        self.continued = continued
        self._presenter = default_presenter("train") if progress is None and self.main else None
        self.progress = progress if progress is not None else self._presenter
        self.stats_writer: StatsWriter | None = None

    @classmethod
    def start(cls, outdir: str | os.PathLike, name: str, options: Mapping[str, Any], resolved: Mapping[str, Any], *,
              trainer: str, unit: str, keep: int = 0, progress: ProgressFn | None = None) -> "TrainingRun":
        """A new ``outdir/NNNNN-name`` (rank 0 creates it) with the options written."""
        run_dir = new_run_dir(outdir, name) if dist.is_main() else None
        run = cls(run_dir, trainer=trainer, unit=unit, keep=keep, progress=progress)
        run._write_doc({**options, "trainer": trainer, "resolved": dict(resolved), "resumed": []})
        run._open_stats()
        return run

    @classmethod
    def continue_(cls, run_dir: str | os.PathLike, *, trainer: str, unit: str, keep: int = 0,
                  progress: ProgressFn | None = None) -> "TrainingRun":
        """An existing run, to continue in place: the temporaries of a snapshot write that a kill
        interrupted are removed (rank 0). Call :meth:`record_resume` once the snapshot is loaded."""
        run = cls(Path(run_dir), trainer=trainer, unit=unit, keep=keep, progress=progress, continued=True)
        if run.main:
            clean_stale_temporaries(run.run_dir, "network-snapshot-*", what="unfinished snapshot")
        return run

    def record_resume(self, options: Mapping[str, Any], resolved: Mapping[str, Any], *, snapshot: Path, at: float,
                      overrides: Mapping[str, Any]) -> None:
        """Rewrite the options file for this session: the (overridden) options, this session's
        resolved values, and one more ``resumed`` record (which snapshot, at which count, what changed)."""
        if not self.main:
            return
        try:
            doc = read_json(self.run_dir / OPTIONS_FILE)
        except CheckpointError:
            doc = {}
        history = doc.get("resumed") if isinstance(doc, dict) and isinstance(doc.get("resumed"), list) else []
        history.append({"from": snapshot.name, "at": at, "unit": self.unit, "overrides": dict(overrides),
                        "time": datetime.datetime.now().isoformat(timespec="seconds")})
        self._write_doc({**options, "trainer": self.trainer, "resolved": dict(resolved), "resumed": history})
        self._open_stats()

    def _write_doc(self, doc: Mapping[str, Any]) -> None:
        if self.main:
            write_json(self.run_dir / OPTIONS_FILE, dict(doc))

    def _open_stats(self) -> None:
        if self.main and self.stats_writer is None:
            self.stats_writer = StatsWriter(self.run_dir)

    # -- writing ----------------------------------------------------------------------------------
    def log(self, message: str) -> None:
        """A status line on screen and in ``log.txt``."""
        if not self.main:
            return
        info(message)
        with open(self.run_dir / "log.txt", "a", encoding="utf-8") as f:
            f.write(message + "\n")

    def stats(self, step: int, values: Mapping[str, Any]) -> None:
        if self.stats_writer is not None:
            self.stats_writer.write(step, dict(values))

    def snapshot_path(self, count: int) -> Path:
        return self.run_dir / snapshot_name(count, self.unit)

    def snapshots(self) -> list[Path]:
        return snapshot_files(self.run_dir, SNAPSHOT_GLOB)

    def retain(self) -> None:
        """``keep=N``: delete all but the newest N snapshots (0 keeps all)."""
        if self.main and self.keep > 0:
            for old in self.snapshots()[:-self.keep]:
                old.unlink(missing_ok=True)

    def write_grid(self, image: Any, count: int | None, frame: int) -> None:
        """A sample grid: ``fakes_init.png`` (count None) or ``fakes<count>.png``, plus frame
        ``progress/<frame>.png`` of the animation (grids sharing a count keep their own frames),
        then ``progress.gif`` and ``.mp4`` are rebuilt."""
        if not self.main:
            return
        from .imageio import save_image

        save_image(image, self.run_dir / (INIT_GRID if count is None else grid_name(count, self.unit)))
        save_image(image, self.run_dir / "progress" / f"{frame:09d}.png")
        self._write_animation()

    def _write_animation(self) -> None:
        from PIL import Image

        from .media import VideoWriter

        frames = grid_frames(self.run_dir)
        if len(frames) < 2:
            return
        for suffix in (".gif", ".mp4"):
            with VideoWriter(self.run_dir / f"progress{suffix}", fps=4) as w:
                for f in frames:
                    im = Image.open(f).convert("RGB")
                    if suffix == ".gif" and im.width > 1024:
                        im = im.resize((1024, round(im.height * 1024 / im.width)), Image.LANCZOS)
                    w.append(im)

    def event(self, kind: str, count: float, bar: tuple[int, int], *, message: str = "",
              stats: Mapping[str, float] | None = None, snapshot: Path | None = None, preview: Any = None) -> None:
        if self.main and self.progress is not None:
            self.progress(TrainEvent(step=bar[0], total=bar[1], message=message, task="train", preview=preview,
                                     kind=kind, unit=self.unit, count=count, stats=dict(stats or {}),
                                     run_dir=self.run_dir, snapshot=snapshot))

    def close(self) -> None:
        if self.stats_writer is not None:
            self.stats_writer.close()
            self.stats_writer = None
        if self._presenter is not None:
            self._presenter.close()
