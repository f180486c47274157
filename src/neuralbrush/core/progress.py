"""Progress bars and console output (rich), one style for the whole studio."""

from __future__ import annotations

import os
import sys
from typing import Iterable, Iterator, TypeVar

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

T = TypeVar("T")

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
