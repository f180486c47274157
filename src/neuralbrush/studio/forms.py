"""Widgets generated from an options dataclass's field metadata, and the dataclass built back
from what the page holds.

The options classes (``BuildOptions``, ``PairsOptions``, ``gan.presets.TrainOptions``,
``pix2pix.options.TrainOptions``) declare each field's default, help, bounds and choices once
(:func:`neuralbrush.core.options.option`); the CLI is generated from them, and so are these
widgets: a choice list becomes a dropdown, a flag a checkbox, a number a number box with the
field's bounds, an optional number a box left empty for "default". :meth:`OptionsForm.options`
turns the page's values into the dataclass and runs the same checks as the command line
(:func:`neuralbrush.core.options.check`), so a bad value is the CLI's sentence.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import MISSING, fields
from typing import Any, Iterable, Sequence

from ..core.errors import UsageError
from ..core.options import _sequence_item, _unwrap, check, choices_of, hints, label as flag_label


def _default(f: dataclasses.Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def _title(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _as_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(_as_text(v) for v in value)
    return "" if value is None else str(value)


def _number(flag: str, raw: Any) -> float:
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise UsageError(f"{flag} must be a number, not {str(raw)[:40]!r}") from None
    if not math.isfinite(number):
        raise UsageError(f"{flag} must be a finite number, not {raw}")
    return number


class OptionsForm:
    """One widget per chosen field of ``cls`` (create it inside a gradio Blocks context).

    ``names``: the fields shown (default: every command-line field except ``skip``), in that
    order; ``labels``/``infos``: overrides of the generated label and help line; ``values``:
    starting values other than the defaults. Fields without a widget keep their defaults, or
    what :meth:`options` is given as ``fixed``.
    """

    def __init__(self, cls: type, names: Iterable[str] | None = None, *, skip: Iterable[str] = (),
                 labels: dict[str, str] | None = None, infos: dict[str, str] | None = None,
                 values: dict[str, Any] | None = None, elem_prefix: str = "") -> None:
        import gradio as gr

        self.cls = cls
        self.fields = {f.name: f for f in fields(cls)}
        skip = set(skip)
        if names is None:
            names = [f.name for f in fields(cls) if f.metadata.get("cli", True) and f.name not in skip]
        self.names = list(names)
        unknown = [n for n in self.names if n not in self.fields]
        if unknown:
            raise TypeError(f"{cls.__name__} has no field(s) {unknown}")
        labels, infos, values = labels or {}, infos or {}, values or {}
        th = hints(cls)
        self.components: dict[str, Any] = {}
        for name in self.names:
            f = self.fields[name]
            base, optional = _unwrap(th[name])
            value = values.get(name, _default(f))
            kw = dict(label=labels.get(name, _title(name)), info=infos.get(name, f.metadata.get("help") or None),
                      elem_id=f"{elem_prefix}{name}" if elem_prefix else None)
            choices = choices_of(base)
            if choices is not None:
                opts = ([("default", "")] if optional else []) + [(str(c), str(c)) for c in choices]
                comp = gr.Dropdown(choices=opts, value="" if value is None else str(value), **kw)
            elif base is bool:
                comp = gr.Checkbox(value=bool(value), **kw)
            elif base in (int, float) and f.metadata.get("parse") is None and not optional:
                # no minimum/maximum here: out-of-range values get the CLI's sentence naming the option
                comp = gr.Number(value=value, precision=0 if base is int else None, step=1 if base is int else 0.1,
                                 **kw)
            else:  # text, optional numbers (empty: the default), values the CLI parses
                comp = gr.Textbox(value=_as_text(value), placeholder="default" if optional else None, **kw)
            self.components[name] = comp

    def inputs(self) -> list[Any]:
        """The widgets, in :attr:`names` order (a handler receives their values in that order)."""
        return [self.components[n] for n in self.names]

    def values(self, page_values: Sequence[Any]) -> dict[str, Any]:
        """The fields' typed values from the widgets' values (in :meth:`inputs` order); one
        sentence naming the CLI flag for a value that has the wrong shape."""
        th = hints(self.cls)
        out: dict[str, Any] = {}
        for name, raw in zip(self.names, page_values):
            f = self.fields[name]
            base, optional = _unwrap(th[name])
            flag = flag_label(f)
            if isinstance(raw, str):
                raw = raw.strip()
            if raw is None or raw == "" or (isinstance(raw, float) and math.isnan(raw)):
                if optional:
                    out[name] = None
                    continue
                if base is str:
                    out[name] = ""
                    continue
                raise UsageError(f"{flag} needs a value (default {_as_text(_default(f))})")
            parse = f.metadata.get("parse")
            if parse is not None:
                out[name] = parse(str(raw))
            elif choices_of(base) is not None:
                out[name] = raw
            elif base is bool:
                out[name] = bool(raw)
            elif base is int:
                number = _number(flag, raw)
                if not number.is_integer():
                    raise UsageError(f"{flag} must be a whole number, not {raw}")
                out[name] = int(number)
            elif base is float:
                out[name] = _number(flag, raw)
            elif _sequence_item(base) is not None:
                item = _sequence_item(base)
                try:
                    items = [item(v.strip()) for v in str(raw).split(",") if v.strip()]
                except ValueError:
                    raise UsageError(f"{flag} must be comma-separated values, not {raw!r}") from None
                out[name] = tuple(items) if typing.get_origin(base) is tuple else items
            else:
                out[name] = str(raw)
        return out

    def options(self, page_values: Sequence[Any], **fixed: Any) -> Any:
        """The options dataclass from the page (plus ``fixed`` fields), checked like the CLI checks it."""
        obj = self.cls(**{**self.values(page_values), **fixed})
        return check(obj)
