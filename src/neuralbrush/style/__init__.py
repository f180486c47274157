"""Neural style transfer: VGG-19 features, Gatys transfer, colour preservation, coherent video.

``from neuralbrush.style import StyleTransfer, stylize, stylize_video`` works; the names are
imported lazily so that reading the options (``neuralbrush.style.options``) stays free of torch.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "StyleTransfer": "transfer", "StyleIterate": "transfer", "stylize": "transfer",
    "stylize_video": "video", "VGGFeatures": "vgg",
    "StyleOptions": "options", "VideoOptions": "options",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
