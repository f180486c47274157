"""Heavy studio work (training, dataset builds, full renders, folders and videos) as jobs in worker
processes, with their state on disk so a closed tab or a restarted studio finds them again.

A job is a library call written as data: ``target`` (``"neuralbrush.gan.train:train"``), its
arguments (options dataclasses, paths, plain values: stored as JSON, never pickled) and the
keyword ``progress=`` the worker adds. :meth:`JobRunner.submit` writes
``WORKSPACE/.studio/jobs/<id>.json`` and queues it; one heavy job runs per device at a time, the
rest wait in a visible queue. The worker is a fresh interpreter (``python -m
neuralbrush.studio.jobs WORKSPACE ID``, the spawn model) in its own session, so it outlives the
studio: a training started from the page keeps training while the studio restarts, and the new
studio reattaches (the job file names the worker's pid; the training's live view is read from its
run folder). The worker records each progress event's summary (step, total, message, the
trainer's kimg and stats, its run folder), the newest preview picture as ``<id>/preview.png``, and
at the end the result and its output files. ``stop`` asks a training to write a snapshot and
end (the stop file, ``core.training.STOP_FILE_ENV``: the trainer's budget reads as spent, so it
ends as at the end of its run); ``cancel`` drops a queued job or ends a running one at once.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable

FINISHED = ("done", "failed", "cancelled", "stopped", "interrupted")
PREVIEW_EVERY_S = 1.0   # newest preview written at most this often (and always on a snapshot)
WRITE_EVERY_S = 0.5     # job file rewritten at most this often while events stream in


from .job_files import (Job, _locate, _write_json_atomic, decode, device_slot, encode, jsonable,  # noqa: F401 (re-exported)
                        output_paths, pid_alive, read_job)


# ------------------------------------------------------------------------------------- the runner

class _FileLock:
    """An exclusive lock on a file (POSIX flock; elsewhere the in-process lock alone)."""

    def __init__(self, path: Path) -> None:
        self.path, self.fd = path, None

    def __enter__(self) -> "_FileLock":
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock
            self.fd = None


class JobRunner:
    """Queue, start, watch, stop and cancel the workspace's jobs.

    ``autostart``: run the scheduler thread (the studio does; tests of the queue may drive
    :meth:`poll` themselves). ``max_per_device``: heavy jobs at a time on one device.
    """

    def __init__(self, workspace: Any, *, autostart: bool = True, max_per_device: int = 1,
                 interval: float = 0.3, worker_env: dict[str, str] | None = None) -> None:
        self.workspace = workspace
        self.dir = Path(workspace.jobs_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_per_device = max_per_device
        self.interval = interval
        self.worker_env = dict(worker_env or {})
        self._lock = threading.RLock()
        self._procs: dict[str, subprocess.Popen] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reattach()
        if autostart:
            self.start()

    # -- files
    def path(self, job_id: str) -> Path:
        return self.dir / f"{job_id}.json"

    def files_dir(self, job_id: str) -> Path:
        return self.dir / job_id

    def stop_file(self, job_id: str) -> Path:
        return self.files_dir(job_id) / "STOP"

    def log_file(self, job_id: str) -> Path:
        return self.files_dir(job_id) / "worker.log"

    def _save(self, job: Job) -> None:
        _write_json_atomic(self.path(job.id), dataclasses.asdict(job))

    def get(self, job_id: str) -> Job | None:
        if not job_id or "/" in job_id or "\\" in job_id or job_id.startswith("."):
            return None
        return read_job(self.path(job_id))

    def jobs(self, kinds: Iterable[str] | None = None) -> list[Job]:
        """Every job on disk, oldest first (optionally only these kinds)."""
        kinds = set(kinds) if kinds is not None else None
        out = [j for p in self.dir.glob("*.json") if (j := read_job(p)) is not None]
        if kinds is not None:
            out = [j for j in out if j.kind in kinds]
        return sorted(out, key=lambda j: (j.created, j.id))

    def queue(self) -> list[Job]:
        """Running jobs first, then the queued ones in the order they will start."""
        jobs = [j for j in self.jobs() if j.active]
        return sorted(jobs, key=lambda j: (j.status != "running", j.created, j.id))

    def latest(self, kinds: Iterable[str] | None = None) -> Job | None:
        jobs = self.jobs(kinds)
        return jobs[-1] if jobs else None

    # -- submitting
    def submit(self, kind: str, target: str | Callable, *args: Any, title: str = "", heavy: bool = True,
               device: str | None = None, command: str = "", **kwargs: Any) -> Job:
        """Queue ``target(*args, progress=..., **kwargs)`` as a job; returns it (status ``queued``).

        ``target``: ``"module:function"`` or the function itself (module-level, importable).
        ``device``: which device slot it occupies (default: the ``device`` field of the first
        options argument that has one, else ``auto``).
        """
        if callable(target):
            target = f"{target.__module__}:{target.__qualname__}"
        _locate(target)  # fail now, in the page, not in the worker
        if device is None:
            device = next((getattr(a, "device") for a in (*args, *kwargs.values())
                           if dataclasses.is_dataclass(a) and isinstance(getattr(a, "device", None), str)), "auto")
        job = Job(id=time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6], kind=kind, title=title or kind,
                  target=target, args=[encode(a) for a in args], kwargs={k: encode(v) for k, v in kwargs.items()},
                  heavy=heavy, device=device_slot(device), command=command, created=time.time())
        with self._lock:
            self._save(job)
        self.poll()
        return self.get(job.id) or job

    # -- control
    def cancel(self, job_id: str) -> Job | None:
        """Drop a queued job, or end a running one now (no snapshot: use :meth:`stop` for that)."""
        with self._lock, _FileLock(self.dir / ".schedule.lock"):
            job = self.get(job_id)
            if job is None or not job.active:
                return job
            if job.status == "running":
                self._kill(job)
            job = self.get(job_id) or job
            if job.status in ("queued", "running"):
                job.status, job.finished = "cancelled", time.time()
                job.error = None
                self._save(job)
        self.poll()
        return self.get(job_id)

    def stop(self, job_id: str) -> Job | None:
        """Ask a running job to finish cleanly: a training writes a snapshot, then ends (status
        ``stopped``). A queued job is simply dropped."""
        job = self.get(job_id)
        if job is None or not job.active:
            return job
        if job.status == "queued":
            return self.cancel(job_id)
        self.files_dir(job_id).mkdir(parents=True, exist_ok=True)
        self.stop_file(job_id).write_text(str(time.time()))
        with self._lock:
            job = self.get(job_id) or job
            job.stop_requested = True
            self._save(job)
        return job

    def _kill(self, job: Job) -> None:
        proc = self._procs.pop(job.id, None)
        pid = job.pid or (proc.pid if proc else None)
        if not pid_alive(pid, job.id):
            return
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pid, sig)  # the worker leads its own session: its children go too
            except (ProcessLookupError, PermissionError, OSError):
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
            deadline = time.time() + wait
            while time.time() < deadline:
                if proc is not None and proc.poll() is not None:
                    return
                if proc is None and not pid_alive(pid, job.id):
                    return
                time.sleep(0.05)

    def wait(self, job_id: str, timeout: float = 60.0, statuses: Iterable[str] = FINISHED) -> Job | None:
        """Poll until the job reaches one of ``statuses`` (default: finished) or ``timeout`` passes."""
        statuses = tuple(statuses)
        deadline = time.time() + timeout
        while True:
            job = self.get(job_id)
            if job is not None and job.status in statuses:
                return job
            if time.time() > deadline:
                return job
            if self._thread is None:
                self.poll()
            time.sleep(0.1)

    # -- scheduling
    def reattach(self) -> list[Job]:
        """After a (re)start: running jobs whose worker is gone become ``interrupted`` (a training
        resumes from its run folder); those still alive are watched again."""
        found = []
        with self._lock:
            for job in self.jobs():
                if job.status == "running":
                    if pid_alive(job.pid, job.id):
                        found.append(job)
                    else:
                        job.status, job.finished = "interrupted", time.time()
                        job.error = job.error or "the worker ended while the studio was away"
                        self._save(job)
        return found

    def poll(self) -> None:
        """One scheduling round: notice workers that died, start queued jobs that fit. A lock file
        keeps two studios on one workspace from starting the same job twice."""
        with self._lock, _FileLock(self.dir / ".schedule.lock"):
            jobs = self.jobs()
            status = {j.id: j.status for j in jobs}
            for jid, proc in list(self._procs.items()):  # reap workers that finished their job
                if status.get(jid) != "running" and proc.poll() is not None:
                    self._procs.pop(jid, None)
            for job in jobs:
                if job.status != "running":
                    continue
                proc = self._procs.get(job.id)
                gone = proc.poll() is not None if proc is not None else not pid_alive(job.pid, job.id)
                if gone:
                    self._procs.pop(job.id, None)
                    fresh = self.get(job.id) or job  # the worker may have finished it meanwhile
                    if fresh.status == "running":
                        code = proc.returncode if proc is not None else None
                        fresh.status, fresh.finished = "failed", time.time()
                        fresh.error = (f"the worker ended unexpectedly (exit status {code}); see "
                                       f"{self.workspace.relative(self.log_file(job.id))}")
                        self._save(fresh)
            busy: dict[str, int] = {}
            for job in self.jobs():
                if job.status == "running" and job.heavy:
                    busy[job.device] = busy.get(job.device, 0) + 1
            for job in self.jobs():
                if job.status != "queued":
                    continue
                if job.heavy and busy.get(job.device, 0) >= self.max_per_device:
                    continue
                self._launch(job)
                if job.heavy:
                    busy[job.device] = busy.get(job.device, 0) + 1

    def _launch(self, job: Job) -> None:
        self.files_dir(job.id).mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "NEURALBRUSH_QUIET": "1", "PYTHONUNBUFFERED": "1", **self.worker_env}
        env.pop("GRADIO_SERVER_PORT", None)
        with open(self.log_file(job.id), "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "neuralbrush.studio.jobs", str(self.workspace.root), job.id],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    cwd=str(self.workspace.root), start_new_session=True)
        self._procs[job.id] = proc
        job.status, job.pid, job.started = "running", proc.pid, time.time()
        self._save(job)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="studio-jobs", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - the scheduler must outlive a bad job file
                traceback.print_exc()

    def shutdown(self) -> None:
        """Stop scheduling (workers keep running; a new runner reattaches to them)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


# ------------------------------------------------------------------------------------- the worker

class _Reporter:
    """The ``progress=`` a worker hands the library: writes event summaries and previews to the
    job's files, and turns a stop request into the library's stop (see core.training)."""

    def __init__(self, runner_dir: Path, job: Job) -> None:
        self.dir, self.job = runner_dir, job
        self.files = runner_dir / job.id
        self.files.mkdir(parents=True, exist_ok=True)
        self._last_write = 0.0
        self._last_preview = 0.0

    def save(self) -> None:
        _write_json_atomic(self.dir / f"{self.job.id}.json", dataclasses.asdict(self.job))

    def __call__(self, event: Any) -> None:
        from ..core.progress import preview_of

        job = self.job
        job.events += 1
        summary = {"step": event.step, "total": event.total, "message": event.message, "task": event.task,
                   "time": time.time()}
        for f in dataclasses.fields(event):
            if f.name not in summary and f.name != "preview":
                summary[f.name] = jsonable(getattr(event, f.name))
        job.progress = summary
        run_dir = getattr(event, "run_dir", None)
        if run_dir is not None:
            job.run_dir = os.fspath(run_dir)
        now = time.time()
        important = getattr(event, "kind", "") == "snapshot" or (event.total and event.step == event.total)
        if event.preview is not None and (important or now - self._last_preview >= PREVIEW_EVERY_S):
            try:
                from ..core.imageio import save_image

                picture = preview_of(event)
                if picture is not None:
                    target = self.files / "preview.png"
                    tmp = self.files / ".preview.tmp.png"
                    save_image(picture, tmp)
                    os.replace(tmp, target)
                    job.preview = os.fspath(target)
                    self._last_preview = now
            except Exception:  # noqa: BLE001 - a preview must never end the job
                traceback.print_exc()
        if important or now - self._last_write >= WRITE_EVERY_S:
            self.save()
            self._last_write = now


def run_worker(workspace_root: str, job_id: str) -> int:
    """The worker's main: run one job and record how it ended."""
    from ..core.errors import NeuralbrushError
    from ..core.training import STOP_FILE_ENV
    from .workspace import Workspace

    ws = Workspace(workspace_root)
    jobs_dir = ws.jobs_dir
    job = read_job(jobs_dir / f"{job_id}.json")
    if job is None:
        print(f"no job {job_id} in {jobs_dir}", file=sys.stderr)
        return 2
    job.status, job.pid = "running", os.getpid()
    job.started = job.started or time.time()
    reporter = _Reporter(jobs_dir, job)
    reporter.save()
    os.environ[STOP_FILE_ENV] = str(jobs_dir / job_id / "STOP")  # read by core.training.Budget
    try:
        fn = _locate(job.target)
        args = [decode(a) for a in job.args]
        kwargs = {k: decode(v) for k, v in job.kwargs.items()}
        result = fn(*args, progress=reporter, **kwargs)
        job.status = "stopped" if (jobs_dir / job_id / "STOP").exists() else "done"
        job.result = jsonable(result)
        job.outputs = output_paths(result)
        if isinstance(result, os.PathLike) and job.run_dir is None and job.kind.endswith("train"):
            job.run_dir = os.fspath(result)
    except NeuralbrushError as e:
        job.status, job.error = "failed", " ".join(str(e).split())
    except MemoryError:
        job.status, job.error = "failed", "not enough memory for this job; use a smaller size or count"
    except OSError as e:
        from ..cli.main import describe_os_error

        job.status, job.error = "failed", describe_os_error(e)
        traceback.print_exc()
    except Exception as e:  # noqa: BLE001 - reported in one line; the traceback goes to the log
        job.status, job.error = "failed", f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
        traceback.print_exc()
    job.finished = time.time()
    reporter.save()
    return 0 if job.status in ("done", "stopped") else 1


if __name__ == "__main__":  # python -m neuralbrush.studio.jobs WORKSPACE JOB_ID
    sys.exit(run_worker(sys.argv[1], sys.argv[2]))
