"""Checks for option values where they enter (dataclass ``validate()`` methods, storyboard and
config files, notebooks): a wrong type, NaN, infinity or a value out of range becomes one
:class:`UsageError` sentence naming the option, before any file is created or work begins.

``name`` is what the user typed or wrote (``--frames``, ``storyboard film.yaml: fps``), so the
same sentence serves the command line, a YAML file and a notebook.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable

from .errors import UsageError


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def whole(name: str, value: Any, *, lo: int | None = None, hi: int | None = None, why: str = "") -> int:
    """``value`` as an int in [lo, hi]; bools, floats and strings are refused (``why`` explains hi)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UsageError(f"{name} must be a whole number, not {_show(value)}")
    value = int(value)
    if lo is not None and value < lo:
        raise UsageError(f"{name} must be at least {lo}, got {value}")
    if hi is not None and value > hi:
        raise UsageError(f"{name} must be at most {hi}{f' ({why})' if why else ''}, got {value}")
    return value


def optional_whole(name: str, value: Any, **kw: Any) -> int | None:
    return None if value is None else whole(name, value, **kw)


def number(name: str, value: Any, *, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
           hi_open: bool = False, why: str = "") -> float:
    """``value`` as a finite float within the bounds (``*_open``: the bound itself is refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UsageError(f"{name} must be a number, not {_show(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise UsageError(f"{name} must be a finite number, not {value}")
    if lo is not None and (value < lo or (lo_open and value == lo)):
        raise UsageError(f"{name} must be {'greater than' if lo_open else 'at least'} {lo:g}, got {value:g}")
    if hi is not None and (value > hi or (hi_open and value == hi)):
        raise UsageError(f"{name} must be {'less than' if hi_open else 'at most'} {hi:g}"
                         f"{f' ({why})' if why else ''}, got {value:g}")
    return value


def optional_number(name: str, value: Any, **kw: Any) -> float | None:
    return None if value is None else number(name, value, **kw)


def choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices`` (strings only)."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise UsageError(f"{name} must be one of {', '.join(choices)}, not {_show(value)}")
    return value


def text(name: str, value: Any, *, empty: bool = False) -> str:
    """A string option (a path, a name); refused when not a string or, unless ``empty``, blank."""
    if not isinstance(value, str):
        raise UsageError(f"{name} must be text, not {_show(value)}")
    if not empty and not value.strip():
        raise UsageError(f"{name} must not be empty")
    return value


def flag(name: str, value: Any) -> bool:
    """A yes/no option: only real booleans (a YAML 'yes' is one; the string 'no' is not)."""
    if not isinstance(value, bool):
        raise UsageError(f"{name} must be true or false, not {_show(value)}")
    return value
