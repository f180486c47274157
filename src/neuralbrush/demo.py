"""The demo: the studio's main job, end to end, on built-in data.

Each capability contributes a stage (``neuralbrush.<area>.demo.run_demo``) that writes its
outputs under ``out/<area>/`` and returns gallery items; stages pass results forward through a
shared ``context`` dict (the dataset folder, the photos, the trained generator...). The demo
ends with ``out/index.html``, a gallery page showing every output, and ``out/demo.json``.
"""

from __future__ import annotations

import errno
import html
import importlib
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .core.checkpoint import write_json
from .core.errors import NeuralbrushError, UsageError
from .core.progress import info

# (stage name, module, title, stages it needs)
STAGES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("datasets", "neuralbrush.datasets.demo", "Datasets: from a messy folder to a clean dataset", ()),
    ("effects", "neuralbrush.effects.demo", "Painterly effects: colours, superpixels, enhancement", ("datasets",)),
    ("gan", "neuralbrush.gan.demo", "Training a generator on the blooms", ("datasets",)),
    ("latent", "neuralbrush.latent.demo", "Making art with the trained generator", ("gan",)),
    ("style", "neuralbrush.style.demo", "Neural style transfer", ("datasets",)),
    ("pix2pix", "neuralbrush.pix2pix.demo", "pix2pix: seeing the world as blooms", ("datasets",)),
)
STAGE_NAMES = tuple(s[0] for s in STAGES)
_STORAGE_ERRNOS = {getattr(errno, n) for n in ("ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM") if hasattr(errno, n)}


@dataclass
class StageResult:
    name: str
    title: str
    seconds: float
    items: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None


def resolve_stages(requested: list[str] | None) -> list[str]:
    """The requested stages plus everything they need, in pipeline order."""
    if not requested:
        return list(STAGE_NAMES)
    unknown = [s for s in requested if s not in STAGE_NAMES]
    if unknown:
        raise UsageError(f"unknown demo stage {unknown[0]!r}; choose from {', '.join(STAGE_NAMES)}")
    needs = {name: deps for name, _, _, deps in STAGES}
    wanted: set[str] = set()

    def add(s: str) -> None:
        if s not in wanted:
            wanted.add(s)
            for d in needs[s]:
                add(d)

    for s in requested:
        add(s)
    return [s for s in STAGE_NAMES if s in wanted]


def run_demo(out: str | os.PathLike, *, full: bool = False, stages: list[str] | None = None,
             keep_going: bool = True) -> list[StageResult]:
    """Run the demo stages into ``out`` and write ``index.html``; returns the stage results."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    chosen = resolve_stages(stages)
    context: dict[str, Any] = {}
    results: list[StageResult] = []
    failed: set[str] = set()
    for name, module, title, deps in STAGES:
        if name not in chosen:
            continue
        if any(d in failed for d in deps):
            results.append(StageResult(name, title, 0.0, error=f"skipped: needs {', '.join(deps)}, which failed"))
            failed.add(name)
            continue
        info(f"[bold cyan]demo stage {name}[/]: {title}")
        t0 = time.perf_counter()
        try:
            items = importlib.import_module(module).run_demo(out, full=full, context=context)
            results.append(StageResult(name, title, time.perf_counter() - t0, list(items)))
        except Exception as e:  # a failing stage is reported in the gallery, the rest still runs
            if not keep_going or (isinstance(e, OSError) and e.errno in _STORAGE_ERRNOS):
                raise  # a full disk or a refused write stops every stage alike
            msg = str(e) if isinstance(e, NeuralbrushError) else f"{type(e).__name__}: {e}"
            (out / f"{name}-error.txt").write_text(traceback.format_exc(), encoding="utf-8")
            results.append(StageResult(name, title, time.perf_counter() - t0, error=msg))
            failed.add(name)
        info(f"  {name} took {results[-1].seconds:.0f} s" + (f" [red]failed: {results[-1].error}[/]" if results[-1].error else ""))
    write_index(out, results, full=full)
    write_json(out / "demo.json", {"full": full, "stages": [r.__dict__ for r in results],
                                   "context": {k: str(v) for k, v in context.items() if isinstance(v, (str, Path))}})
    return results


def _media_tag(path: str, title: str) -> str:
    src = html.escape(path)
    if path.lower().endswith((".mp4", ".webm", ".mov")):
        return f'<video src="{src}" controls loop autoplay muted playsinline></video>'
    return f'<a href="{src}"><img src="{src}" alt="{html.escape(title)}" loading="lazy"></a>'


def write_index(out: Path, results: list[StageResult], *, full: bool) -> Path:
    """A self-contained gallery page (no scripts, no external assets)."""
    sections = []
    for r in results:
        cards = []
        for item in r.items:
            cards.append(
                f'<figure>{_media_tag(item["path"], item.get("title", ""))}'
                f'<figcaption><b>{html.escape(item.get("title", ""))}</b><br>{html.escape(item.get("caption", ""))}'
                f'</figcaption></figure>')
        status = (f'<p class="err">This stage did not finish: {html.escape(r.error)}</p>' if r.error else "")
        sections.append(f'<section><h2>{html.escape(r.title)} <small>({r.seconds:.0f} s)</small></h2>{status}'
                        f'<div class="grid">{"".join(cards)}</div></section>')
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>neuralbrush demo</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; background: #111; color: #eee; }}
h1 {{ font-weight: 600; }} h2 {{ border-bottom: 1px solid #444; padding-bottom: .3rem; }}
small {{ color: #999; font-weight: normal; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 1.2rem; }}
figure {{ margin: 0; background: #1c1c1c; padding: .6rem; border-radius: 6px; }}
img, video {{ width: 100%; image-rendering: auto; border-radius: 3px; }}
figcaption {{ font-size: .9rem; margin-top: .4rem; color: #ccc; }}
.err {{ color: #f88; }}
</style></head><body>
<h1>neuralbrush demo{' (full)' if full else ''}</h1>
<p>Every image, animation and video below was made by <code>neuralbrush demo</code> from built-in data:
procedural blooms and the photographs scikit-image ships.</p>
{''.join(sections)}
</body></html>
"""
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
