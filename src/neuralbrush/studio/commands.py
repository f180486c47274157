"""The command line equivalent to what the studio is about to do, as copyable text.

Every studio action calls a library function with an options dataclass; the same dataclass
generates the CLI (:func:`neuralbrush.core.options.cli_from`), so its field metadata says how each
value is written on the command line. :func:`command_text` writes ``neuralbrush <command>`` with
the positional arguments and only the options that differ from their defaults::

    command_text("train", TrainOptions(data="datasets/blooms32", cfg="small", minutes=1),
                 args=["datasets/blooms32"], skip={"data"})
    # 'neuralbrush train datasets/blooms32 --cfg small --minutes 1.0'
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..core.options import _unwrap, flags_of, hints


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return MISSING


def _same(a: Any, b: Any) -> bool:
    norm = lambda v: [norm(x) for x in v] if isinstance(v, (list, tuple)) else (os.fspath(v) if isinstance(v, Path) else v)
    return norm(a) == norm(b)


def _text(value: Any) -> str:
    """A value as the CLI parses it: sequences comma-separated (pairs flattened), paths as text."""
    if isinstance(value, (list, tuple)):
        return ",".join(",".join(map(_text, v)) if isinstance(v, (list, tuple)) else _text(v) for v in value)
    if isinstance(value, Path):
        return value.as_posix()
    return str(value)


def _relative(value: Any, base: Path | None) -> Any:
    """Paths inside ``base`` (the workspace) written relative to it, so the command runs from there."""
    if base is None or not isinstance(value, (str, Path)):
        return value
    try:
        p = Path(value)
        if p.is_absolute() and (p == base or base in p.parents):
            rel = p.relative_to(base).as_posix()
            return rel or "."
    except (ValueError, OSError):
        pass
    return value


def option_words(opts: Any, *, skip: Iterable[str] = (), base: Path | None = None) -> list[str]:
    """The command-line words for the fields of ``opts`` that differ from their defaults (fields kept
    off the command line and those in ``skip`` left out)."""
    skip = set(skip)
    words: list[str] = []
    th = hints(type(opts))
    for f in fields(opts):
        cli = f.metadata.get("cli", True)
        if f.name in skip or cli is False or cli == "argument":
            continue
        value, default = getattr(opts, f.name), _default_of(f)
        if default is not MISSING and _same(value, default):
            continue
        base_type, _ = _unwrap(th[f.name])
        flag_decl = flags_of(f)
        if base_type is bool:
            if f.metadata.get("flag") is None:
                name = f.name.replace("_", "-")
                words.append(f"--{name}" if value else f"--no-{name}")
            else:  # an explicit "--on/--off" declaration, or a plain flag
                first = flag_decl[0]
                on, _, off = first.partition("/")
                if value:
                    words.append(on)
                elif off:
                    words.append(off)
            continue
        if value is None:
            continue  # None is every optional field's "not given"; the CLI has no way to type it
        longs = [x for x in flag_decl if x.startswith("--")]
        words += [(longs or list(flag_decl))[0], _text(_relative(value, base))]
    return words


def command_text(command: str, *options: Any, args: Iterable[Any] = (), skip: Iterable[str] = (),
                 extra: Mapping[str, Any] | Iterable[str] = (), workspace: Any = None) -> str:
    """``neuralbrush <command> ARGS... --option value ...`` for the given options dataclass(es).

    ``args``: positional arguments (paths inside the workspace are written relative to it); when
    none are given, the dataclasses' own positional fields (``cli="argument"``) are used;
    ``skip``: fields already given as arguments; ``extra``: more words (a mapping ``{"-o": path}``
    or a list of words) for options that are not dataclass fields (the output path, for one).
    ``workspace``: a :class:`Workspace` (or folder); paths inside it become relative, so the text
    runs from the workspace folder (``cd WORKSPACE && ...``).
    """
    base = None
    if workspace is not None:
        base = Path(getattr(workspace, "root", workspace)).resolve()
    words = ["neuralbrush", *command.split()]
    args = list(args)
    if not args:  # the dataclasses' own positional fields (DATA, MODEL), in field order
        args = [getattr(o, f.name) for o in options if o is not None for f in fields(o)
                if f.metadata.get("cli") == "argument" and f.name not in set(skip) and getattr(o, f.name) is not None]
    words += [_text(_relative(a, base)) for a in args]
    for opts in options:
        if opts is not None:
            words += option_words(opts, skip=skip, base=base)
    if isinstance(extra, Mapping):
        for flag, value in extra.items():
            if value is not None:
                words += [flag, _text(_relative(value, base))]
    else:
        words += [str(w) for w in extra]
    return shlex.join(words)
