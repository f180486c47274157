"""Shape checks at network block boundaries (the one place for them).

NVIDIA's networks assert the shape of every tensor entering a block; a wrong channel count or
resolution then fails at the block that was built for something else, naming it, instead of
deep inside a convolution. :func:`assert_shape` is that check, cheap enough for every forward
(a few integer comparisons, no tensor work, nothing recorded by autograd) and a real exception,
so it also holds under ``python -O``.
"""

from __future__ import annotations

from typing import Sequence

import torch


class ShapeError(ValueError):
    """A tensor reached a network block with a shape the block was not built for."""


def _fmt(shape: Sequence[int | None]) -> str:
    return "[" + ", ".join("*" if s is None else str(int(s)) for s in shape) + "]"


def assert_shape(x: torch.Tensor, shape: Sequence[int | None], what: str = "input") -> None:
    """Raise :class:`ShapeError` unless ``x.shape`` matches ``shape`` (None = any size).

    ``what`` names the tensor in the message, e.g. ``"b64 x"``.
    """
    got = x.shape
    if len(got) != len(shape) or any(s is not None and g != s for g, s in zip(got, shape)):
        raise ShapeError(f"{what} must have shape {_fmt(shape)}, got {_fmt(list(got))}")
