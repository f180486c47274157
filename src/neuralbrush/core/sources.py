"""One "name or path" resolver for every model and weights argument.

A command's MODEL, every ``--resume``, ``--vgg`` and the LPIPS weights name a file in one of a
few ways, and :func:`resolve_source` understands them all the same way:

* a run folder: its newest snapshot (``SNAPSHOT_GLOB``, or another pattern the caller names);
* a folder of runs: the newest run that has a snapshot of the expected format;
* a file: used as it is (its kind is sniffed: our safetensors snapshot or a foreign pickle);
* a weights-store name: its catalogue kind must be one the caller expects.

Anything else is one sentence that says what was expected: the shapes a path may have and the
store names of the expected kind. Each package keeps its own ``load_*`` that turns the
:class:`Source` into modules (diffusers' ``from_pretrained`` idea, without a hub).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .errors import CheckpointError, UsageError
from .runs import SNAPSHOT_GLOB, run_dirs, snapshot_files

SNAPSHOT = "snapshot"  # a neuralbrush safetensors checkpoint (JSON metadata names its format)
PICKLE = "pickle"  # a foreign PyTorch / pickle file (.pkl, .pth), read only by an allowlisting importer


@dataclass(frozen=True)
class Source:
    """Where a model argument points: the file to load and how to read it."""

    path: Path
    kind: str  # SNAPSHOT | PICKLE
    run_dir: Path | None = None  # the run the snapshot belongs to, when a folder was named
    name: str | None = None  # the weights-store name, when one was named


@dataclass(frozen=True)
class _Expect:
    kinds: tuple[str, ...]
    what: str
    formats: tuple[str, ...]
    suffixes: tuple[str, ...]
    globs: tuple[str, ...]
    extra_names: tuple[str, ...]

    def valid(self) -> str:
        """What would have been accepted, as the tail of a sentence."""
        from ..weights import store

        shapes = ["a run folder (or a folder of runs)"] if self.globs else []
        if self.globs or self.formats:
            shapes.append("a snapshot (.safetensors)")
        shapes += [f"a {s} file" for s in self.suffixes]
        names = store.names_of_kind(*self.kinds)
        words = "/".join(dict.fromkeys(store.KIND_WORDS.get(k, k) for k in self.kinds))
        if len(names) == 1:
            shapes.append(f"the {words} weights name {names[0]}")
        elif names:
            shapes.append(f"one of the {words} weights names {', '.join(names)}")
        return _join(shapes + list(self.extra_names), "or")


def _join(items: Sequence[str], word: str) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


def resolve_source(text: str | os.PathLike, *, kinds: Sequence[str], what: str | None = None,
                   formats: Sequence[str] = (), suffixes: Sequence[str] = (),
                   snapshot_globs: Sequence[str] = (SNAPSHOT_GLOB,), extra_names: Sequence[str] = ()) -> Source:
    """The file ``text`` names, for a consumer expecting one of the catalogue ``kinds``.

    Args:
        text: what the user wrote: a path or a weights-store name (``--resume latest`` is the
            trainers' own: :func:`neuralbrush.core.training.latest_resumable_run`).
        kinds: catalogue kinds a store name may have (``("stylegan2-pkl",)``, ``("pix2pix-g",)``...).
        what: the expected thing in words (``"GAN generator"``); from ``kinds`` by default.
        formats: checkpoint formats a snapshot may hold (its metadata ``format``); empty = any.
        suffixes: foreign file suffixes the consumer reads (named in the error sentence).
        snapshot_globs: snapshot patterns inside a run folder, tried in order; empty = no folders.
        extra_names: names the caller handles itself (``random``), listed among the valid names.
    """
    from ..weights import store

    kinds = tuple(kinds)
    exp = _Expect(kinds, what or f"{'/'.join(store.KIND_WORDS.get(k, k) for k in kinds)} weights",
                  tuple(formats), tuple(suffixes), tuple(snapshot_globs), tuple(extra_names))
    raw = os.fspath(text)
    if not str(raw).strip():  # Path("") would be the current folder
        raise UsageError(f"no {exp.what} was given (expected {exp.valid()})")
    p = Path(raw).expanduser()
    if p.is_dir():
        return _from_folder(p, exp)
    if p.is_file():
        return _from_file(p, exp)
    if raw in store.CATALOGUE:
        e = store.entry(raw)
        if e.kind not in kinds:
            raise UsageError(f"weights {raw!r} are {store.KIND_WORDS.get(e.kind, e.kind)} weights, not a {exp.what} "
                             f"(expected {exp.valid()})")
        path = store.require(raw)  # WeightsMissingError says where to download it and where to put it
        return Source(path, sniff_kind(path), name=raw)
    if p.exists():  # a device, pipe or socket
        raise UsageError(f"{p} is not a regular file (expected {exp.valid()})")
    looks_like_path = (os.sep in raw or "/" in raw or raw.startswith(("~", "."))
                       or p.suffix in (".safetensors", *exp.suffixes))
    if looks_like_path:
        raise UsageError(f"{raw} does not exist (expected {exp.valid()})")
    raise UsageError(f"{raw!r} is not a {exp.what} (expected {exp.valid()})")


def sniff_kind(path: Path) -> str:
    """SNAPSHOT for a safetensors file (8-byte header length, then ``{``), else PICKLE."""
    if path.suffix == ".safetensors":
        return SNAPSHOT
    if path.suffix in (".pkl", ".pth", ".pt"):
        return PICKLE
    with open(path, "rb") as f:
        head = f.read(9)
    return SNAPSHOT if len(head) == 9 and head[8:9] == b"{" else PICKLE


def _format_of(path: Path) -> str | None:
    """The ``format`` a snapshot's metadata declares; None when it cannot be read (the loader then
    reports the damage, naming the file)."""
    from .checkpoint import read_meta

    try:
        fmt = read_meta(path).get("format")
    except (CheckpointError, OSError):
        return None
    return fmt if isinstance(fmt, str) else None


def _from_file(path: Path, exp: _Expect, run_dir: Path | None = None) -> Source:
    kind = sniff_kind(path)
    if kind == SNAPSHOT and exp.formats:
        fmt = _format_of(path)
        if fmt is not None and fmt not in exp.formats:
            raise UsageError(f"{path} holds a {fmt!r} checkpoint, not a {exp.what} (expected {exp.valid()})")
    return Source(path, kind, run_dir=run_dir)


def _newest_snapshot(run: Path, exp: _Expect) -> Path | None:
    for pattern in exp.globs:
        files = snapshot_files(run, pattern)
        if files:
            return files[-1]
    return None


def _fits(snapshot: Path, exp: _Expect) -> bool:
    """A run of another trainer in the same folder is passed over (unreadable formats are not)."""
    if not exp.formats or sniff_kind(snapshot) != SNAPSHOT:
        return True
    fmt = _format_of(snapshot)
    return fmt is None or fmt in exp.formats


def _newest_run(root: Path, exp: _Expect) -> Source | None:
    for run in reversed(run_dirs(root)):
        snap = _newest_snapshot(run, exp)
        if snap is not None and _fits(snap, exp):
            return _from_file(snap, exp, run_dir=run)
    return None


def _from_folder(folder: Path, exp: _Expect) -> Source:
    if not exp.globs:
        raise UsageError(f"{folder} is a folder, not a {exp.what} (expected {exp.valid()})")
    snap = _newest_snapshot(folder, exp)
    if snap is not None:  # the run itself
        return _from_file(snap, exp, run_dir=folder)
    found = _newest_run(folder, exp)
    if found is None:
        raise UsageError(f"{folder} is a folder without network snapshots ({', '.join(exp.globs)}) of a {exp.what}, "
                         f"and none of the runs in it has one (expected {exp.valid()})")
    return found

