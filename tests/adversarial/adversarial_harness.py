"""The adversarial suite's one harness: run a command as a hostile world would, then check
that it failed the way a person needs (exit 2, one ``error:`` line, no traceback) and that it
left nothing behind (no new file outside what the case allows, no marker from a payload).

Commands run in-process through :func:`neuralbrush.cli.main.run` (torch is imported once for
the whole suite); any exception that escapes ``run`` is a traceback a user would have seen,
so it is recorded as such instead of failing the test with a confusing stack.
"""

from __future__ import annotations

import contextlib
import io
import os
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence


@dataclass
class Outcome:
    argv: list[str]
    code: int
    out: str
    err: str
    new_files: list[str] = field(default_factory=list)
    escaped: str = ""  # the traceback of an exception that escaped the CLI, if any

    def describe(self) -> str:
        return (f"neuralbrush {' '.join(self.argv)}\n exit {self.code}\n stdout: {self.out[-800:]!r}\n"
                f" stderr: {self.err[-1500:]!r}\n new files: {self.new_files[:20]}\n escaped: {self.escaped[-1500:]}")


def tree(root: Path) -> set[str]:
    """Every file and folder below ``root`` (relative paths), following no links."""
    found: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        for name in dirnames + filenames:
            found.add(str(rel / name))
    return found


def run_cli(argv: Sequence[str], *, watch: Path | None = None) -> Outcome:
    """Run ``neuralbrush ARGV`` in-process; ``watch`` is a folder whose new entries are reported."""
    from neuralbrush.cli.main import run

    before = tree(watch) if watch is not None else set()
    out, err = io.StringIO(), io.StringIO()
    escaped = ""
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = run([str(a) for a in argv])
        except BaseException:  # noqa: BLE001 - anything escaping run() is a traceback for the user
            escaped = traceback.format_exc()
            code = -1
    new = sorted(tree(watch) - before) if watch is not None else []
    return Outcome(list(map(str, argv)), code, out.getvalue(), err.getvalue(), new, escaped)


def assert_refused(o: Outcome, *, match: str | Iterable[str] | None = None,
                   allowed_new: Iterable[str] = (), markers: Iterable[Path] = ()) -> None:
    """The command failed as a user error: exit 2, exactly one ``error:`` line (optionally
    containing each of ``match``, case-insensitive), no traceback, no new file except those whose
    relative path starts with one of ``allowed_new``, and none of ``markers`` exists."""
    assert not o.escaped, "an exception escaped the CLI:\n" + o.describe()
    assert o.code == 2, "expected exit 2:\n" + o.describe()
    assert "Traceback" not in o.err and "Traceback" not in o.out, "traceback printed:\n" + o.describe()
    errors = [line for line in o.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, "expected exactly one 'error:' line:\n" + o.describe()
    if match is not None:
        for m in [match] if isinstance(match, str) else list(match):
            assert m.lower() in errors[0].lower(), f"{m!r} not in the error line:\n" + o.describe()
    allowed = tuple(allowed_new)
    stray = [f for f in o.new_files if not (allowed and f.startswith(allowed))]
    assert not stray, f"files left behind: {stray}\n" + o.describe()
    for m in markers:
        assert not Path(m).exists(), f"payload marker {m} exists:\n" + o.describe()


def assert_ok(o: Outcome) -> None:
    """The command succeeded without a traceback."""
    assert not o.escaped and o.code == 0 and "Traceback" not in o.err, o.describe()
