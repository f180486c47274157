"""Progress events of the steering tools (directions, sheets, breeding).

Library functions take ``progress=`` (any callable, or None) and hand it one small
:class:`SteerProgress` per step; the CLI's bars and a web studio's live view are presenters of
the same events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np


@dataclass
class SteerProgress:
    """``step`` of ``total`` done in ``stage`` (sampling, factorising, measuring, rendering)."""

    stage: str
    step: int
    total: int
    message: str = ""
    preview: np.ndarray | None = None  # uint8 [H, W, 3] when a picture exists (a rendered row)


ProgressFn = Optional[Callable[[SteerProgress], None]]


def emit(progress: ProgressFn, stage: str, step: int, total: int, message: str = "",
         preview: np.ndarray | None = None) -> None:
    if progress is not None:
        progress(SteerProgress(stage, step, total, message, preview))
