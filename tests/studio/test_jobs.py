"""The job runner: worker processes, one heavy job per device with a queue, cancel, state on disk,
reattach after a restart, and stop = snapshot then stop for a real training; the queue and cancel
also through the page."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from neuralbrush.core.errors import UsageError
from neuralbrush.core.progress import ProgressEvent
from neuralbrush.studio.jobs import JobRunner, pid_alive
from neuralbrush.studio.workspace import Workspace

HERE = Path(__file__).resolve().parent
WORKER_ENV = {"PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}


# -- job targets (the worker imports this module by name: test_jobs) ---------------------------------

@dataclass
class CountResult:
    out: Path
    count: int


def counting_job(n: int, delay: float, *, out: Path, progress) -> CountResult:
    """Counts to ``n`` with a preview per step, then writes ``out``."""
    for i in range(n):
        time.sleep(delay)
        progress(ProgressEvent(i + 1, n, message=f"count {i + 1}", task="count",
                               preview=np.full((8, 8, 3), (10 * i) % 256, np.uint8)))
    out.write_text(str(n))
    return CountResult(out, n)


def failing_job(kind: str, *, progress) -> None:
    if kind == "user":
        raise UsageError("the folder images/empty has no images")
    raise ValueError("a bug, not the user's fault")


def _runner(ws: Workspace, **kw) -> JobRunner:
    return JobRunner(ws, worker_env=WORKER_ENV, interval=0.1, **kw)


def _wait(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture()
def runner(workspace):
    r = _runner(workspace)
    yield r
    r.shutdown()
    for job in r.jobs():
        if job.active:
            r.cancel(job.id)


# -- the runner ----------------------------------------------------------------------------------------

def test_job_runs_in_a_worker_and_records_progress_preview_and_outputs(runner, workspace):
    out = workspace.art / "count.txt"
    job = runner.submit("count", "test_jobs:counting_job", 3, 0.05, out=out, title="count to 3", device="cpu")
    done = runner.wait(job.id, timeout=60)
    assert done.status == "done", (done.error, runner.log_file(job.id).read_text())
    assert done.pid != os.getpid()
    _wait(lambda: not pid_alive(done.pid, done.id), 30, "the worker to exit")  # and the runner reaps it
    assert out.read_text() == "3"
    assert done.progress["step"] == 3 and done.progress["total"] == 3 and done.progress["message"] == "count 3"
    assert done.events == 3 and done.outputs == [str(out)] and done.result["count"] == 3
    assert Path(done.preview).is_file() and Path(done.preview).parent == runner.files_dir(job.id)
    on_disk = json.loads(runner.path(job.id).read_text())  # the state is plain JSON on disk
    assert on_disk["status"] == "done" and on_disk["args"] == [3, 0.05] and on_disk["kwargs"]["out"] == {"__path__": str(out)}


def test_one_heavy_job_per_device_queue_and_cancel(runner, workspace):
    first = runner.submit("count", "test_jobs:counting_job", 3000, 0.05, out=workspace.art / "a.txt", device="cpu")
    second = runner.submit("count", "test_jobs:counting_job", 2, 0.01, out=workspace.art / "b.txt", device="cpu")
    light = runner.submit("count", "test_jobs:counting_job", 2, 0.01, out=workspace.art / "c.txt", heavy=False)
    other = runner.submit("count", "test_jobs:counting_job", 2, 0.01, out=workspace.art / "d.txt", device="cuda:1")
    _wait(lambda: runner.get(first.id).progress.get("step"), 60, "the first job to report")
    assert runner.wait(light.id, 60).status == "done"   # light jobs do not wait for the device
    assert runner.wait(other.id, 60).status == "done"   # another device has its own slot
    assert runner.get(second.id).status == "queued"     # the CPU is taken by the first
    assert [j.id for j in runner.queue()] == [first.id, second.id]

    runner.cancel(second.id)
    assert runner.get(second.id).status == "cancelled" and runner.get(second.id).pid is None
    pid = runner.get(first.id).pid
    assert pid_alive(pid, first.id)
    runner.cancel(first.id)
    assert runner.get(first.id).status == "cancelled"
    assert not pid_alive(pid, first.id)
    time.sleep(0.5)
    assert not (workspace.art / "a.txt").exists() and not (workspace.art / "b.txt").exists()
    assert runner.queue() == []


def test_failures_are_one_sentence_with_the_traceback_in_the_log(runner):
    user = runner.wait(runner.submit("fail", "test_jobs:failing_job", "user").id, 60)
    assert user.status == "failed" and user.error == "the folder images/empty has no images"
    bug = runner.wait(runner.submit("fail", "test_jobs:failing_job", "bug").id, 60)
    assert bug.status == "failed" and bug.error == "ValueError: a bug, not the user's fault"
    assert "Traceback" in runner.log_file(bug.id).read_text()
    with pytest.raises((ImportError, AttributeError)):
        runner.submit("nope", "test_jobs:no_such_function")


def test_a_restarted_runner_reattaches_to_running_workers(workspace):
    first = _runner(workspace)
    job = first.submit("count", "test_jobs:counting_job", 60, 0.1, out=workspace.art / "long.txt", device="cpu")
    _wait(lambda: first.get(job.id).progress.get("step"), 60, "the job to start")
    first.shutdown()  # the studio goes away; its worker does not
    victim = workspace.jobs_dir / "19990101-000000-dead00.json"  # a worker that died while nobody watched
    victim.write_text(json.dumps({"id": "19990101-000000-dead00", "kind": "train", "title": "old", "target": "x:y",
                                  "status": "running", "pid": 2 ** 22 + 17, "created": 1.0}))
    second = _runner(workspace)
    try:
        again = second.get(job.id)
        assert again.status == "running" and pid_alive(again.pid, job.id)
        assert second.get("19990101-000000-dead00").status == "interrupted"
        step = again.progress["step"]
        _wait(lambda: second.get(job.id).progress["step"] > step, 30, "progress after the restart")
        done = second.wait(job.id, timeout=90)
        assert done.status == "done" and (workspace.art / "long.txt").read_text() == "60"
    finally:
        second.shutdown()
        if second.get(job.id).active:
            second.cancel(job.id)


def test_stop_makes_a_training_snapshot_then_end(runner, workspace):
    from neuralbrush.datasets.samples import write_blooms
    from neuralbrush.gan.presets import TrainOptions
    from neuralbrush.gan.train import train

    write_blooms(workspace.images / "blooms16", 8, 16, seed=0)
    opts = TrainOptions(data=str(workspace.images / "blooms16"), outdir=str(workspace.runs), arch="dcgan", ngf=8, ndf=8,
                        res=16, batch=4, minutes=5.0, tick=1000, snap=1000, grid="2x2", metrics="none", aug="noaug",
                        device="cpu", precision="fp32", workers=1, threads=1)
    job = runner.submit("train", train, opts, title="tiny dcgan")
    _wait(lambda: runner.get(job.id).run_dir and runner.get(job.id).progress.get("kind") == "step", 120,
          "training steps")
    run_dir = Path(runner.get(job.id).run_dir)
    assert not list(run_dir.glob("network-snapshot-*"))  # no snapshot before the stop (snap=1000 ticks)
    t0 = time.time()
    runner.stop(job.id)
    stopped = runner.wait(job.id, timeout=90)
    assert stopped.status == "stopped", (stopped.error, runner.log_file(job.id).read_text()[-2000:])
    assert time.time() - t0 < 60  # not the 5 minutes the run was given
    snaps = list(run_dir.glob("network-snapshot-*.safetensors"))
    assert len(snaps) == 1 and stopped.progress.get("kind") in ("tick", "snapshot")
    assert stopped.outputs == [str(run_dir)] and stopped.run_dir == str(run_dir)
    rows = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert rows and rows[-1]["kimg"] > 0


# -- through the page ----------------------------------------------------------------------------------

def _rows(page) -> str:
    return page.locator("#jobs-table").inner_text()


def test_queue_cancel_and_reattach_in_the_page(studio_server, ui, page, workspace):
    server = studio_server(workspace, env=WORKER_ENV)
    submitter = JobRunner(workspace, autostart=False, worker_env=WORKER_ENV)
    running = submitter.submit("count", "test_jobs:counting_job", 150, 0.2, out=workspace.art / "r.txt",
                               title="long count", device="cpu")
    waiting = submitter.submit("count", "test_jobs:counting_job", 2, 0.01, out=workspace.art / "w.txt",
                               title="waiting count", device="cpu")
    ui.open(page, server.url)
    page.locator("#jobs-panel").get_by_text("Jobs").first.click()
    _wait(lambda: "waiting count" in _rows(page) and "running" in _rows(page) and "queued" in _rows(page), 30,
          "running and queued rows")

    page.locator("#jobs-id textarea, #jobs-id input").first.fill(waiting.id)
    page.locator("#jobs-cancel").click()
    page.locator("#jobs-status").get_by_text("waiting count: cancelled").wait_for(timeout=30_000)
    _wait(lambda: "waiting count" not in _rows(page), 30, "the cancelled job to leave the queue")
    assert submitter.get(waiting.id).status == "cancelled"

    server.restart()  # the studio restarts; the worker keeps counting and the new page finds it
    assert pid_alive(submitter.get(running.id).pid, running.id)
    ui.open(page, server.url)
    page.locator("#jobs-panel").get_by_text("Jobs").first.click()
    _wait(lambda: "long count" in _rows(page) and "running" in _rows(page), 30, "the running job after the restart")
    first = submitter.get(running.id).progress["step"]
    _wait(lambda: submitter.get(running.id).progress["step"] > first, 30, "progress after the restart")

    page.locator("#jobs-id textarea, #jobs-id input").first.fill(running.id)
    page.locator("#jobs-cancel").click()
    page.locator("#jobs-status").get_by_text("long count: cancelled").wait_for(timeout=30_000)
    job = submitter.get(running.id)
    assert job.status == "cancelled" and not pid_alive(job.pid, job.id)
    assert not (workspace.art / "r.txt").exists()
