"""Parsing seed lists and numeric ranges as users type them on the command line."""

from __future__ import annotations

from .errors import UsageError


def _over(what: str, text: object, count: int, limit: int | None, unit: str) -> None:
    if limit is not None and count > limit:
        raise UsageError(f"{what} {text!s:.40} asks for {count} {unit}; the limit is {limit}")


def parse_int_list(text: str | int | list[int], *, what: str = "seeds", limit: int | None = None,
                   unit: str = "values") -> list[int]:
    """``'0-3,7,10-11'`` -> ``[0, 1, 2, 3, 7, 10, 11]``; ints and lists pass through. More than
    ``limit`` values are refused before any range is expanded."""
    if isinstance(text, bool):
        raise UsageError(f"cannot read {what} {text!r}: use a list like 0-7,12")
    if isinstance(text, int):
        return [text]
    if isinstance(text, list):
        _over(what, text, len(text), limit, unit)
        return [int(v) for v in text]
    out: list[int] = []
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        try:
            if "-" in part[1:]:
                idx = part.index("-", 1)
                a, b = int(part[:idx]), int(part[idx + 1:])
                if b < a:
                    raise UsageError(f"{what} range {part!r} runs backwards")
                _over(what, text, len(out) + b - a + 1, limit, unit)
                out.extend(range(a, b + 1))
            else:
                out.append(int(part))
                _over(what, text, len(out), limit, unit)
        except ValueError:
            raise UsageError(f"cannot read {what} {text!r}: use a list like 0-7,12") from None
    if not out:
        raise UsageError(f"no {what} given")
    return out


def parse_float_sweep(text: str | float, *, what: str = "", limit: int | None = None) -> list[float]:
    """``'0.7'`` -> ``[0.7]``; ``'0.3:1.2:8'`` -> 8 evenly spaced values from 0.3 to 1.2.
    NaN and infinity are refused; so is a sweep of more than ``limit`` values, before it is built."""
    import math

    label = f"{what} " if what else ""
    if isinstance(text, bool):
        raise _unreadable_sweep(label, text)
    try:
        if isinstance(text, (int, float)):
            values = [float(text)]
        else:
            s = str(text).strip()
            if ":" in s:
                parts = s.split(":")
                if len(parts) != 3:
                    raise ValueError
                lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
                if n < 1 or not (math.isfinite(lo) and math.isfinite(hi)):
                    raise ValueError
                _over(what or "the sweep", text, n, limit, "values")
                values = [lo] if n == 1 else [lo + (hi - lo) * i / (n - 1) for i in range(n)]
            else:
                values = [float(v) for v in s.split(",") if v]
                _over(what or "the list", text, len(values), limit, "values")
        if not values or not all(math.isfinite(v) for v in values):
            raise ValueError
        return values
    except ValueError:
        raise _unreadable_sweep(label, text) from None


def _unreadable_sweep(label: str, text: object) -> UsageError:
    return UsageError(f"cannot read {label}{text!r}: use a finite number, a list 0.5,0.7 or a sweep "
                      "START:STOP:COUNT")


def parse_grid(text: str | None) -> tuple[int, int] | None:
    """``'7x4'`` -> (7, 4) columns x rows; ``None``/``'auto'`` -> None."""
    if text is None or str(text).lower() == "auto":
        return None
    try:
        c, r = str(text).lower().split("x")
        cols, rows = int(c), int(r)
        if cols < 1 or rows < 1:
            raise ValueError
        return cols, rows
    except ValueError:
        raise UsageError(f"cannot read grid {text!r}: use COLSxROWS such as 7x4, or auto") from None
