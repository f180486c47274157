"""Options declared once: a dataclass field carries its default, help, bounds and choices, and
the command line is generated from it.

::

    @dataclass
    class TrainOptions:
        norm: Literal["batch", "instance"] = option("batch", "Normalisation layer.")
        size: int = option(256, "Training crop in pixels (a multiple of 32).", min=32)

    @cli_from(TrainOptions)
    def train_cmd(data: Path = typer.Argument(...), *, opts: TrainOptions, explicit: set[str]) -> None: ...

:func:`cli_from` gives the command one typer option per field (help, ``min``/``max``, a
choice list from ``Literal``, the default shown), plus ``--config FILE`` (an earlier run's options
JSON; command-line values win) and ``--dry-run`` (print the resolved options as JSON and stop).
The command receives the built, checked dataclass(es) and ``explicit``: the options the user typed
on the command line. :func:`check` runs the generic checks (choices and
bounds from the metadata, with the option's flag in the message) and then the class's own
``check()`` or ``validate()``. Nothing here imports torch, so ``neuralbrush --help`` stays quick.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import types
import typing
from dataclasses import MISSING, field, fields
from pathlib import Path
from typing import Any, Callable, Literal, Optional, Union

from . import checks
from .errors import UsageError

# Keys an options record may hold besides options (run records, resume history, the dry-run's
# own header): ignored when the record is read back with --config.
RECORD_KEYS = frozenset({"command", "arguments", "resolved", "resumed"})
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

CONFIG_HELP = ("Options JSON of an earlier run (or a --dry-run's output) to run again; options given on the "
               "command line win.")
DRY_RUN_HELP = "Print the resolved options as JSON and stop: nothing is read beyond the options, nothing is written."


def option(default: Any = MISSING, help: str = "", *, min: float | None = None, max: float | None = None,
           flag: str | tuple[str, ...] | None = None, cli: bool | str = True,
           default_factory: Callable[[], Any] | Any = MISSING, parse: Callable[[str], Any] | None = None) -> Any:
    """A dataclass field with its help text and bounds in the metadata.

    ``flag``: the option's name(s) on the command line (default ``--field-name``; booleans get
    ``--x/--no-x``). ``cli``: False keeps the field off the command line (still in --config and
    --dry-run), ``"argument"`` makes it a positional argument. ``parse``: turns the command-line
    text into the value (sequences default to comma-separated items).
    """
    meta = {"help": help, "min": min, "max": max, "flag": flag, "cli": cli, "parse": parse}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


# ------------------------------------------------------------------------------------------ types

def _unwrap(tp: Any) -> tuple[Any, bool]:
    """(the type without None, whether None is allowed)."""
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def choices_of(tp: Any) -> tuple | None:
    base, _ = _unwrap(tp)
    return typing.get_args(base) if typing.get_origin(base) is Literal else None


def _sequence_item(tp: Any) -> Any | None:
    """The item type of a tuple/list field (None when the field is not a sequence)."""
    base, _ = _unwrap(tp)
    if typing.get_origin(base) in (tuple, list):
        args = [a for a in typing.get_args(base) if a is not Ellipsis]
        return args[0] if args else str
    return None


@functools.lru_cache(maxsize=None)
def hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def flags_of(f: dataclasses.Field) -> tuple[str, ...]:
    flag = f.metadata.get("flag")
    if flag is None:
        return ("--" + f.name.replace("_", "-"),)
    return (flag,) if isinstance(flag, str) else tuple(flag)


def label(f: dataclasses.Field) -> str:
    """How messages name a field: its long flag, or its name when it is not on the command line."""
    if not f.metadata.get("cli", True):
        return f.name
    if f.metadata.get("cli") == "argument":
        return f.name.upper()
    longs = [x.split("/")[0] for x in flags_of(f) if x.startswith("--")]
    return longs[0] if longs else flags_of(f)[0]


# ------------------------------------------------------------------------------------------ checks

def check(opts: Any) -> Any:
    """The generic checks of every field (type, choices, bounds; messages name the flag), then the
    class's own ``check()`` (model-free checks) or ``validate()``. Returns ``opts``."""
    th = hints(type(opts))
    for f in fields(opts):
        value = getattr(opts, f.name)
        base, optional = _unwrap(th[f.name])
        if value is None and optional:
            continue
        name, lo, hi = label(f), f.metadata.get("min"), f.metadata.get("max")
        ch = choices_of(base)
        if ch is not None:
            checks.choice(name, value, ch)
        elif base is bool:
            checks.flag(name, value)
        elif base is int:
            checks.whole(name, value, lo=lo, hi=hi)
        elif base is float:
            checks.number(name, value, lo=lo, hi=hi)
        elif base is str:
            checks.text(name, value, empty=True)
        elif _sequence_item(base) is not None and not isinstance(value, (list, tuple)):
            raise UsageError(f"{name} must be a list, not {value!r:.40}")
    own = getattr(opts, "check", None) or getattr(opts, "validate", None)
    if own is not None:
        own()
    return opts


def to_dict(opts: Any) -> dict[str, Any]:
    """The options as JSON-ready values (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(opts), default=str))


def from_dict(cls: type, data: dict[str, Any], *, where: str = "options") -> Any:
    """An options object from a saved mapping: old names renamed (``RENAMED_OPTIONS``), record keys
    ignored, unknown keys refused by name, JSON lists turned back into tuples."""
    return cls(**_field_values(cls, data, where))


def _field_values(cls: type, data: dict[str, Any], where: str, *, others: frozenset = frozenset()) -> dict:
    renamed = getattr(cls, "RENAMED_OPTIONS", {})
    th = hints(cls)
    names = {f.name for f in fields(cls)}
    ignore = RECORD_KEYS | frozenset(getattr(cls, "RECORD_KEYS", ()))
    out, unknown = {}, []
    for key, value in data.items():
        key = renamed.get(key, key)
        if key in names:
            item = _sequence_item(th[key])
            if item is not None and typing.get_origin(_unwrap(th[key])[0]) is tuple and isinstance(value, list):
                value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
            out[key] = value
        elif key not in ignore and key not in others:
            unknown.append(str(key))
    if unknown:
        kind = getattr(cls, "OPTIONS_KIND", "")
        what = f"unknown {kind} options" if kind else "options this command does not know"
        raise UsageError(f"{where} has {what}: {', '.join(sorted(unknown))}")
    return out


def read_config(path: Path, classes: dict[str, type]) -> dict[str, dict[str, Any]]:
    """``--config FILE`` read into {group: {field: value}}: a flat options object, or one under an
    ``options`` key (the layout of --dry-run and of the effects' records)."""
    if not path.is_file():
        raise UsageError(f"config file {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UsageError(f"config file {path} is not valid JSON ({e})") from None
    if isinstance(data, dict) and isinstance(data.get("options"), dict):
        data = data["options"]
    if not isinstance(data, dict):
        raise UsageError(f"{path} must hold a JSON object of options, not a {type(data).__name__}")
    groups = {}
    for group, cls in classes.items():
        rest = frozenset(n for c in classes.values() if c is not cls for n in _known(c))
        groups[group] = _field_values(cls, data, str(path), others=rest)
    return groups


def _known(cls: type) -> set[str]:
    return {f.name for f in fields(cls)} | set(getattr(cls, "RENAMED_OPTIONS", {}))


# ------------------------------------------------------------------------------------------ the CLI

def _cli_annotation(tp: Any) -> Any:
    base, optional = _unwrap(tp)
    if _sequence_item(base) is not None:
        base = str
    return Optional[base] if optional else base


def _cli_default(f: dataclasses.Field) -> Any:
    value = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
    if isinstance(value, (list, tuple)):
        return ",".join(",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v) for v in value)
    return value


def _typer_param(f: dataclasses.Field, tp: Any) -> Any:
    import typer

    meta = f.metadata
    kw: dict[str, Any] = {"help": meta.get("help") or None, "show_default": True}
    base, _ = _unwrap(tp)
    if meta.get("min") is not None and base in (int, float):
        kw["min"] = meta["min"]
    if meta.get("max") is not None and base in (int, float):
        kw["max"] = meta["max"]
    if choices_of(base) is not None:
        kw["case_sensitive"] = False
    default = _cli_default(f)
    if meta.get("cli") == "argument":
        return typer.Argument(default, **kw)
    decls = flags_of(f)
    if base is bool and meta.get("flag") is None:
        decls = (f"--{f.name.replace('_', '-')}/--no-{f.name.replace('_', '-')}",)
    return typer.Option(default, *decls, **kw)


def _from_cli(f: dataclasses.Field, tp: Any, value: Any) -> Any:
    """A command-line value as the field's type (sequences and ``parse`` fields come as text)."""
    parse = f.metadata.get("parse")
    item = _sequence_item(tp)
    if value is None or (parse is None and item is None):
        return value
    if parse is not None:
        return parse(value)
    parts = [v.strip() for v in str(value).split(",") if v.strip()]
    try:
        items = [item(v) for v in parts]
    except ValueError:
        kind = "numbers" if item in (int, float) else "values"
        raise UsageError(f"{label(f)} must be comma-separated {kind}, e.g. 100,45; got {value!r}") from None
    return tuple(items) if typing.get_origin(_unwrap(tp)[0]) is tuple else items


def cli_from(cls: type, /, **more: type) -> Callable[[Callable], Callable]:
    """Generate a command's options from options dataclasses.

    The decorated function declares its own parameters (arguments such as MODEL, ``-o``) and
    receives ``opts`` (a ``cls``), one object per keyword of ``more`` (e.g. ``runtime=
    RuntimeOptions``) and, if it asks for it, ``explicit``: the names of the options typed on the
    command line (they win over --config and over a resumed run's saved options). ``--config`` and ``--dry-run`` are added to every such command.
    """
    groups: dict[str, type] = {"opts": cls, **more}

    def decorate(fn: Callable) -> Callable:
        import typer

        sig = inspect.signature(fn)
        fn_hints = typing.get_type_hints(fn)
        wants_explicit = "explicit" in sig.parameters
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=fn_hints.get(p.name, p.annotation))
               for p in sig.parameters.values() if p.name not in groups and p.name != "explicit"]
        taken = {p.name for p in own}
        where: dict[str, tuple[str, dataclasses.Field, Any]] = {}
        arguments, options = [], []
        for group, c in groups.items():
            for f in fields(c):
                if not f.metadata.get("cli", True):
                    continue
                if f.name in taken or f.name in where:
                    raise TypeError(f"{fn.__name__}: option {f.name!r} is declared twice")
                tp = hints(c)[f.name]
                where[f.name] = (group, f, tp)
                param = inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=_typer_param(f, tp),
                                          annotation=_cli_annotation(tp))
                (arguments if f.metadata.get("cli") == "argument" else options).append(param)
        K = inspect.Parameter.KEYWORD_ONLY
        extra = [inspect.Parameter("config", K, annotation=Optional[Path],
                                   default=typer.Option(None, "--config", help=CONFIG_HELP)),
                 inspect.Parameter("dry_run", K, annotation=bool,
                                   default=typer.Option(False, "--dry-run", help=DRY_RUN_HELP)),
                 inspect.Parameter("cli_context__", K, annotation=typer.Context)]
        params = own + arguments + options + extra

        @functools.wraps(fn)
        def command(**kw: Any) -> Any:
            ctx = kw.pop("cli_context__")
            config, dry_run = kw.pop("config"), kw.pop("dry_run")
            given: dict[str, dict[str, Any]] = {g: {} for g in groups}
            for name, (group, f, tp) in where.items():
                value = kw.pop(name)
                source = ctx.get_parameter_source(name)
                if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
                    given[group][name] = _from_cli(f, tp, value)
            from_file = read_config(config, groups) if config is not None else {g: {} for g in groups}
            built = {g: groups[g](**{**from_file[g], **given[g]}) for g in groups}
            for obj in built.values():
                check(obj)
            if dry_run:
                merged: dict[str, Any] = {}
                for obj in built.values():
                    merged.update(to_dict(obj))
                command_name = " ".join(ctx.command_path.split()[1:])
                print(json.dumps({"command": command_name, "options": merged}, indent=2))
                return None
            if wants_explicit:
                kw["explicit"] = {n for g in groups for n in given[g]}
            return fn(**kw, **built)

        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        del command.__wrapped__  # typer must read the generated signature, not fn's
        command.options_classes = groups  # type: ignore[attr-defined]
        return command

    return decorate


# --------------------------------------------------------------------------- shared option groups

@dataclasses.dataclass
class RuntimeOptions:
    """Where a command runs (see :func:`neuralbrush.core.device.resolve_runtime`)."""

    device: str = option("auto", "auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = option(
        "auto", "auto (bf16 autocast on CPUs with native bf16 and on GPUs), fp32, bf16 or fp16.")

    def validate(self) -> "RuntimeOptions":
        check_device(self.device)
        return self


@dataclasses.dataclass
class CompileOptions:
    """Whether a command's network runs through ``torch.compile`` (the latent commands' generator:
    :mod:`neuralbrush.latent.compiled`)."""

    compile: Literal["auto", "on", "off"] = option(
        "auto", "torch.compile the generator: auto (only when the job is long enough to repay the compile time, "
                "estimated from the first batch), on or off.")


def check_device(device: Any, name: str = "--device") -> str:
    import re

    if not isinstance(device, str) or not re.match(r"^(auto|cpu|mps|cuda(:\d{1,3})?)$", device.lower()):
        raise UsageError(f"{name} must be auto, cpu, cuda, cuda:N or mps, not {device!r}")
    return device
