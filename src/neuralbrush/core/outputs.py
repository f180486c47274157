"""Where outputs go: one preflight for every command that writes, and tidying after a failure.

:func:`check_writable_output` answers, *without creating anything*, whether a file or folder
could be written at a path: the path is not of the other kind already, it is not below a regular
file, and its nearest existing ancestor is a folder on real, writable storage (not read-only,
not ``/proc`` or ``/sys``, with permission). Commands call it before any model loads or any
image is decoded, so a mistyped ``-o`` costs a second, not a training run, and the refusal is
one sentence naming the path and the reason.

:func:`claim_output` does the same check and remembers the folders the command is about to
create; when the command then fails (``cli.main.run`` calls :func:`remove_empty_claims`), the
ones still empty are removed again, so a failed command leaves no empty ``out/`` behind. Files
are never removed here: atomic writers clean their own temporaries, and resumable state (frame
caches, snapshots) is kept on purpose.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import UsageError

KINDS = ("file", "folder")

# Kernel file systems that look like folders but hold no user files: writing there fails with
# confusing errors (ENOENT for a new name under /proc), so they are refused up front.
PSEUDO_FILESYSTEMS = frozenset({
    "proc", "sysfs", "cgroup", "cgroup2", "devpts", "securityfs", "debugfs", "tracefs", "configfs", "pstore",
    "bpf", "fusectl", "mqueue", "efivarfs", "binfmt_misc", "autofs", "rpc_pipefs", "nsfs",
})


class OutputError(UsageError):
    """An output path that cannot be written (wrong kind, under a file, read-only, no permission)."""


def _mount_of(path: str) -> tuple[str, str] | None:
    """(mount point, file system type) holding ``path`` on Linux, else None."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    best: tuple[str, str] | None = None
    for line in lines:
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or not tail:
            continue
        point = fields[4].encode().decode("unicode_escape") if "\\" in fields[4] else fields[4]
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best[0])):
            best = (point, tail[0])
    return best


def _nearest_existing(path: Path) -> Path:
    p = path
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p if os.path.lexists(p) else Path(os.path.abspath(p))


def _name_too_long(path: Path, existing: Path) -> str | None:
    try:
        limit = os.pathconf(existing if existing.is_dir() else existing.parent, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        limit = 255
    for part in path.parts:
        if len(os.fsencode(part)) > limit:
            return f"the name {part[:40]}... is longer than the file system allows ({limit} bytes)"
    return None


def _folder_problem(folder: Path) -> str | None:
    """Why new entries cannot be made in the existing folder ``folder`` (None when they can)."""
    real = os.path.realpath(folder)
    mount = _mount_of(real)
    if mount is not None and mount[1] in PSEUDO_FILESYSTEMS:
        return f"{folder} is part of the {mount[1]} system file system, not storage for files"
    try:
        if os.statvfs(real).f_flag & os.ST_RDONLY:
            return f"{folder} is on a read-only file system"
    except (OSError, AttributeError):
        pass
    if not os.access(real, os.W_OK | os.X_OK):
        return f"no permission to write in {folder}"
    return None


def output_problem(path: str | os.PathLike, kind: str = "file") -> str | None:
    """Why a ``kind`` ("file" or "folder") could not be written at ``path``, or None. Creates nothing."""
    if kind not in KINDS:
        raise ValueError(f"kind must be 'file' or 'folder', not {kind!r}")
    if os.fspath(path) == "":
        return "it is not a file name"
    p = Path(path)  # as the user wrote it, so the sentence names what they typed
    if kind == "file" and Path(os.path.abspath(p)) == Path(os.path.abspath(p)).parent:
        return "it is not a file name"
    if os.path.lexists(p):
        if kind == "file" and p.is_dir():
            return "it is a folder, and a file is written there; give a file name"
        if kind == "folder" and not p.is_dir():
            return "it is a file, and a folder is written there; give a folder name"
        if kind == "file" and not p.is_file() and not p.is_symlink():
            return "it is not a regular file (a device or pipe)"
        return _folder_problem(p if kind == "folder" else p.parent)
    existing = _nearest_existing(p)
    if not existing.is_dir():
        return f"{existing} is a file, not a folder, so nothing can be created inside it"
    too_long = _name_too_long(p.relative_to(existing), existing)
    if too_long:
        return too_long
    return _folder_problem(existing)


def check_writable_output(path: str | os.PathLike, kind: str = "file", *, what: str = "output") -> Path:
    """Refuse, before any work and without creating anything, an output that cannot be written.

    ``kind`` says what will be written at ``path``: a ``"file"`` (its folder may not exist
    yet) or a ``"folder"``. Raises :class:`OutputError` with one sentence naming the path and
    the reason; returns ``Path(path)``.
    """
    problem = output_problem(path, kind)
    if problem is not None:
        raise OutputError(f"cannot write the {what} {os.fspath(path)}: {problem}")
    return Path(path)


def renamed_error(error: OSError, path: str | os.PathLike) -> OSError:
    """``error`` as if it had happened on ``path``: the file the user asked for, not the hidden
    temporary it was being written through (``.name.tmp`` means nothing to a person)."""
    if error.errno is None:
        return error
    return type(error)(error.errno, error.strerror or os.strerror(error.errno), os.fspath(path))


_claims: list[Path] = []


def claim_output(path: str | os.PathLike, kind: str = "file", *, what: str = "output") -> Path:
    """:func:`check_writable_output`, and remember the folders a failed command should not leave.

    The top-most folder that does not exist yet (``path`` itself for a folder, or its missing
    parent) is recorded; :func:`remove_empty_claims` removes it again if it is still empty.
    """
    checked = check_writable_output(path, kind, what=what)
    p = Path(os.path.abspath(os.fspath(path)))
    missing = None
    q = p if kind == "folder" else p.parent
    while not os.path.lexists(q) and q != q.parent:
        missing = q
        q = q.parent
    if missing is not None and missing not in _claims:
        _claims.append(missing)
    return checked


def forget_claims() -> None:
    """Start afresh (the CLI calls this before each command)."""
    _claims.clear()


def _prune(folder: Path) -> None:
    """Remove ``folder`` and the folders below it, bottom-up, wherever they hold nothing else."""
    if not folder.is_dir() or folder.is_symlink():
        return
    for dirpath, dirnames, _ in os.walk(folder, topdown=False):
        for d in dirnames:
            try:
                os.rmdir(os.path.join(dirpath, d))
            except OSError:
                pass
    try:
        folder.rmdir()
    except OSError:
        pass


def remove_empty_claims() -> None:
    """After a failed command: remove the claimed folders (and empty folders below them) that
    hold no file, newest claim first; anything holding a file stays."""
    for folder in reversed(_claims):
        _prune(folder)
    _claims.clear()
