"""neuralbrush studio: the library behind one local web page (Gradio), files identical to the CLI's.

``neuralbrush studio [WORKSPACE]`` (see :mod:`neuralbrush.cli.studio`) or, from Python::

    from neuralbrush.studio.app import serve
    serve("my-workspace", port=7860)

Layout: :mod:`.workspace` (the folder and its safety rules), :mod:`.jobs` (heavy work in worker
processes, state on disk), :mod:`.commands` (the equivalent CLI command), :mod:`.app` (the page and
:class:`~.app.StudioContext`), :mod:`.tabs` (one module per tab, each with ``build(ctx)``).
Importing this package imports neither gradio nor torch.
"""

from __future__ import annotations

__all__ = ["app", "commands", "jobs", "tabs", "workspace"]
