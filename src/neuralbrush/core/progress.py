"""Progress events and their one default presenter (rich bars), one style for the whole studio.

The convention (DESIGN.md "events out, presenters outside"): every long library function takes
``progress: ProgressFn | None = None`` and calls it with a :class:`ProgressEvent` (or an area's
subclass of it: more fields, same three core ones) as work advances, and returns a result
dataclass. ``None`` means :func:`default_presenter`, a rich bar on stderr, so a notebook shows
progress without a CLI; the CLI passes nothing (or its own presenter) and the web studio passes a
reporter that updates the page. Library code never builds bars itself.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, TypeVar

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

T = TypeVar("T")


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a long job. Areas subclass it to add their own fields (loss, kimg, frame path).

    ``step`` counts finished units of ``total`` (``None`` when the total is unknown); ``task`` names
    the job for a presenter that shows several ("train", "project", "frames"); ``preview`` is an
    HxWx3 uint8 array where the job has a picture to show (a sample grid, the current iterate), or
    a function returning one where making it costs work on every step (the picture then exists
    only for a presenter that asks: read it with :func:`preview_of`).
    """

    step: int
    total: int | None
    message: str = ""
    task: str = ""
    preview: Any = None


ProgressFn = Callable[[ProgressEvent], None]


@dataclass(frozen=True, kw_only=True)
class FrameEvent(ProgressEvent):
    """A video frame done (``step`` of ``total`` frames of this process's share): ``index`` is its
    place in the film, ``cached`` says it came from the frame cache instead of being made now."""

    index: int
    cached: bool = False

console = Console(stderr=True, highlight=False)


def quiet() -> bool:
    """Progress is hidden under pytest, with NEURALBRUSH_QUIET=1, or on non-main ranks."""
    return bool(os.environ.get("NEURALBRUSH_QUIET")) or int(os.environ.get("RANK", "0")) != 0 or "pytest" in sys.modules


def make_progress(transient: bool = False) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                    TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                    console=console, transient=transient, disable=quiet())


def track(items: Iterable[T], description: str = "working", total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar (hidden when quiet)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with make_progress() as prog:
        task = prog.add_task(description, total=total, info="")
        for item in items:
            yield item
            prog.advance(task)


def info(message: str) -> None:
    """A status line for people (stderr, suppressed when quiet)."""
    if not quiet():
        console.print(message)


def report_skipped(skipped: list[tuple[str, str]], where: str, shown: int = 10) -> None:
    """List the inputs a batch skipped, with their reasons: shown even when quiet, because it is
    a result (which files were not painted), not progress."""
    if not skipped:
        return
    lines = [f"skipped {len(skipped)} file(s) that could not be used (all listed in {where}):"]
    lines += [f"  {path}: {reason}" for path, reason in skipped[:shown]]
    if len(skipped) > shown:
        lines.append(f"  ... and {len(skipped) - shown} more")
    console.print("\n".join(lines), soft_wrap=True, markup=False, highlight=False)


class BarPresenter:
    """The default presenter: one rich bar per ``task`` name, advanced to each event's ``step``,
    with the event's message beside it. Use it as a context manager (the bars close on exit), or
    call :meth:`close` yourself."""

    def __init__(self, description: str = "working", transient: bool = False) -> None:
        self.description = description
        self._progress = make_progress(transient)
        self._tasks: dict[str, Any] = {}
        self._started = False

    def __call__(self, event: ProgressEvent) -> None:
        if not self._started:
            self._progress.start()
            self._started = True
        key = event.task or self.description
        if key not in self._tasks:
            self._tasks[key] = self._progress.add_task(key, total=event.total, info="")
        self._progress.update(self._tasks[key], completed=event.step, total=event.total, info=event.message)

    def close(self) -> None:
        if self._started:
            self._progress.stop()
            self._started = False

    def __enter__(self) -> "BarPresenter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_presenter(description: str = "working") -> BarPresenter:
    """The presenter a library function uses when it was given ``progress=None``."""
    return BarPresenter(description)


def emit(progress: ProgressFn | None, event: ProgressEvent) -> None:
    """Send ``event`` to ``progress`` if there is one (for code that reports optionally)."""
    if progress is not None:
        progress(event)


def preview_of(event: ProgressEvent) -> Any:
    """The event's preview picture (HxWx3 uint8), made now if it was deferred; None if it has none."""
    return event.preview() if callable(event.preview) else event.preview


@contextmanager
def presenting(progress: ProgressFn | None, description: str = "working") -> Iterator[ProgressFn]:
    """What a long library function reports to: ``progress`` itself, or for ``None`` the default
    presenter, closed when the block ends (so the bar never outlives the work)::

        with presenting(progress, "frames") as report:
            for i, frame in enumerate(frames):
                ...
                report(ProgressEvent(i + 1, len(frames), task="frames"))
    """
    if progress is not None:
        yield progress
        return
    with default_presenter(description) as bar:
        yield bar


def each(items: Iterable[T], progress: ProgressFn | None, task: str, total: int | None = None) -> Iterator[T]:
    """Iterate ``items``, reporting ``ProgressEvent(n, total, task=task)`` after the n-th one to
    ``progress`` (``None``: the default presenter). ``total`` defaults to ``len(items)``."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with presenting(progress, task) as report:
        for n, item in enumerate(items, 1):
            yield item
            report(ProgressEvent(n, total, task=task))
