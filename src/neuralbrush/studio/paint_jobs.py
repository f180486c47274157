"""The Paint tab's worker jobs: folders and videos painted in a worker process (see
:mod:`neuralbrush.studio.jobs`), the same library calls as ``neuralbrush style``, ``style-video``
and the effect commands. No gradio here: the worker imports only what the job needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.errors import UsageError


def style_job(source: Path, styles: list[Path], output: Path, opts: Any, engine: Any, *,
              video: Any = None, progress=None) -> Any:
    """Worker job: stylise every photo of the folder ``source`` into the folder ``output`` (what
    ``neuralbrush style FOLDER -o OUT`` does), or the video ``source`` into ``output``
    (``neuralbrush style-video``)."""
    from dataclasses import asdict

    from ..core.checkpoint import write_json
    from ..core.imageio import list_images, load_image
    from ..effects.batch import input_kind
    from ..style.transfer import StyleTransfer

    opts.check(len(styles))
    images = [load_image(p) for p in styles]
    st = StyleTransfer(vgg=engine.vgg or "store", device=engine.device, precision=engine.precision,
                       pooling=engine.pooling, seed=opts.seed)
    about = {"command": "style", "content": str(source), "styles": [str(p) for p in styles],
             "vgg": engine.vgg or "store", "pooling": engine.pooling}
    if input_kind(Path(source)) == "video":
        from ..style.options import VideoOptions
        from ..style.video import default_cache_dir, stylize_video

        vopts = video or VideoOptions()
        result = stylize_video(source, images, output, opts, transfer=st, video=vopts, progress=progress)
        write_json(Path(output).with_suffix(".json"), {**about, "command": "style-video", "input": str(source),
                                                       "output": str(output), "cache": str(default_cache_dir(output)),
                                                       **asdict(opts), **asdict(vopts)})
        return Path(output)
    from ..style.burst import stylize_files

    contents = list_images([Path(source)], recursive=False)
    if not contents:
        raise UsageError(f"no images in folder {source}")
    outputs = [Path(output) / f"{p.stem}.png" for p in contents]
    return stylize_files(contents, images, outputs, opts, transfer=st, record=Path(output) / "style-options.json",
                         about=about, label=str(source), progress=progress)


def make_effect(name: str, options: Any) -> Any:
    from ..effects.runners import EnhanceEffect, QuantizeEffect, SuperpixelEffect

    return {"quantize": QuantizeEffect, "superpixels": SuperpixelEffect, "enhance": EnhanceEffect}[name](options)


def effect_job(effect: str, options: Any, source: Path, output: Path, *, progress=None) -> Any:
    """Worker job: an effect on a folder or a video (``neuralbrush quantize SOURCE -o OUTPUT``...)."""
    from ..effects.batch import run_effect

    return run_effect(make_effect(effect, options), source, output, progress=progress)
