"""Errors meant for people.

Anything a user can cause (a missing file, a bad option, an unreadable image, missing
weights) raises a subclass of :class:`NeuralbrushError` with a one-sentence message. The CLI
prints that sentence and exits non-zero; a traceback is shown only with ``--debug``.
"""

from __future__ import annotations


class NeuralbrushError(Exception):
    """A user-facing error whose message is one clear sentence."""


class UsageError(NeuralbrushError):
    """A wrong option or combination of options."""


class ImageLoadError(NeuralbrushError):
    """An input file could not be read as an image.

    ``reason`` is a short machine-friendly tag (``corrupt``, ``truncated``, ``empty``,
    ``not-an-image``, ``too-large``, ``missing``) and ``path`` the offending file.
    """

    def __init__(self, path: object, reason: str, detail: str = "") -> None:
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        msg = f"cannot read image {self.path}: {reason}"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)


class WeightsMissingError(NeuralbrushError):
    """Pretrained weights are not in the local store and could not be fetched."""


class CheckpointError(NeuralbrushError):
    """A checkpoint or foreign network file is missing, malformed or unsafe."""
