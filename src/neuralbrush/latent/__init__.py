"""Making art with a trained generator: generate, mix, walk, project, neighbours, storyboards.

Names are imported lazily (``from neuralbrush.latent import walk``), so the CLI can read the
option dataclasses in :mod:`neuralbrush.latent.options` without importing torch.
"""

from __future__ import annotations

import importlib

_NAMES = {
    "GenerateOptions": "options", "WalkOptions": "options", "ProjectOptions": "options",
    "style_mix": "mix",
    "Latents": "latents", "latents_from_seeds": "latents", "load_latents": "latents", "map_z": "latents",
    "save_latents": "latents", "seed_z": "latents", "w_stats": "latents",
    "neighbour_latents": "neighbours", "neighbours_sheet": "neighbours",
    "fit_target": "project", "project_file": "project",
    "Renderer": "render", "load_model": "render",
    "parse_storyboard": "storyboard", "render_storyboard": "storyboard",
    "ease": "walk", "keyframe_path": "walk", "render_walk": "walk", "walk_path": "walk",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
