"""Parsing seed lists and numeric ranges as users type them on the command line."""

from __future__ import annotations

from .errors import UsageError


def parse_int_list(text: str | int | list[int], *, what: str = "seeds") -> list[int]:
    """``'0-3,7,10-11'`` -> ``[0, 1, 2, 3, 7, 10, 11]``; ints and lists pass through."""
    if isinstance(text, int):
        return [text]
    if isinstance(text, list):
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
                out.extend(range(a, b + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise UsageError(f"cannot read {what} {text!r}: use a list like 0-7,12") from None
    if not out:
        raise UsageError(f"no {what} given")
    return out


def parse_float_sweep(text: str | float) -> list[float]:
    """``'0.7'`` -> ``[0.7]``; ``'0.3:1.2:8'`` -> 8 evenly spaced values from 0.3 to 1.2."""
    if isinstance(text, (int, float)):
        return [float(text)]
    s = str(text).strip()
    try:
        if ":" in s:
            parts = s.split(":")
            if len(parts) != 3:
                raise ValueError
            lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
            if n < 1:
                raise ValueError
            if n == 1:
                return [lo]
            return [lo + (hi - lo) * i / (n - 1) for i in range(n)]
        return [float(v) for v in s.split(",") if v]
    except ValueError:
        raise UsageError(f"cannot read {text!r}: use a number, a list 0.5,0.7 or a sweep START:STOP:COUNT") from None


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
