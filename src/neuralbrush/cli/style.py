"""``neuralbrush style`` (photos, bursts) and ``neuralbrush style-video``: Gatys style transfer.

The options are generated from :class:`neuralbrush.style.options.StyleOptions`,
:class:`~neuralbrush.style.options.TransferOptions` and :class:`~neuralbrush.style.options.VideoOptions`
(:func:`neuralbrush.core.options.cli_from`), so the library and the command line cannot drift
apart. Heavy imports stay inside the commands.
"""

from __future__ import annotations

import glob
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import typer

from ..core.framecache import CACHE_HELP, RESTART_HELP
from ..core.options import cli_from
from ..style.options import StyleOptions, TransferOptions, VideoOptions

_GLOB_CHARS = set("*?[")


def _contents(spec: str) -> tuple[list[Path], bool]:
    """CONTENT as a list of photos and whether it is a burst (folder or glob)."""
    from ..core.errors import UsageError
    from ..core.imageio import is_image_file, list_images

    if _GLOB_CHARS & set(spec):
        files = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file() and is_image_file(p))
        if not files:
            raise UsageError(f"no images match {spec!r}")
        return files, True
    p = Path(spec)
    if p.is_dir():
        files = list_images([p], recursive=False)
        if not files:
            raise UsageError(f"no images in folder {p}")
        return files, True
    if not p.exists():
        raise UsageError(f"content image {p} does not exist")
    return [p], False


def _load_styles(paths: list[Path]):
    from ..core.errors import UsageError
    from ..core.imageio import load_image

    if not paths:
        raise UsageError("give at least one --style image")
    return [load_image(p) for p in paths]


def _make_transfer(engine: TransferOptions, opts: StyleOptions):
    """The transfer object with its VGG-19 extractor loaded now, so a bad weights file is refused
    before any photo is touched."""
    from ..core.progress import info
    from ..style.transfer import StyleTransfer

    st = StyleTransfer(vgg=engine.vgg or "store", device=engine.device, precision=engine.precision,
                       pooling=engine.pooling, seed=opts.seed)
    st.model((*opts.content_layers, *opts.style_layers))
    info(f"style transfer on {st.runtime.describe()}, VGG-19 weights: {engine.vgg or 'store'}")
    return st


@cli_from(StyleOptions, engine=TransferOptions)
def style_cmd(
    content: str = typer.Argument(..., help="Content photo, a folder of photos or a glob like 'shots/*.jpg' (a burst)."),
    style: list[Path] = typer.Option(..., "--style", "-s", help="Style image (repeat for several styles)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output image (a folder for bursts). Default: CONTENT_styled.png or ./styled/."),
    save_every: int = typer.Option(0, min=0, help="Write a snapshot every N steps and an animation of the image becoming styled (0: off)."),
    progress_video: Optional[Path] = typer.Option(None, help="Where the --save-every animation goes (.gif or .mp4). Default: OUT-progress.gif."),
    animate: Optional[Path] = typer.Option(None, help="Bursts: also write the stylised photos as an animation (.gif or .mp4)."),
    fps: float = typer.Option(8.0, min=0.1, help="Frame rate of the animations."),
    *, opts: StyleOptions, engine: TransferOptions,
) -> None:
    """Paint a photo (or every photo of a folder/glob) in the style of one or more images.

    In a burst a photo that cannot be read is skipped and listed with its reason; the command
    fails only when none could be painted."""
    from ..core import distributed as dist
    from ..core.errors import UsageError
    from ..core.imageio import load_image
    from ..core.outputs import claim_output
    from ..core.progress import info, report_skipped
    from ..style.burst import progress_animation, snapshot_folder, stylize_files

    opts.check(len(style))  # the style weights against the style count, before anything loads
    contents, burst = _contents(content)
    if burst:
        out_dir = output or Path("styled")
        if out_dir.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"):
            raise UsageError(f"{content!r} is a burst of {len(contents)} photos: -o must be a folder, not {out_dir.name}")
        outputs = [out_dir / f"{p.stem}.png" for p in contents]
        options_path = out_dir / "style-options.json"
        claim_output(out_dir, "folder")
    else:
        out = output or Path(f"{contents[0].stem}_styled.png")
        if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
            raise UsageError(f"output {out} must be a .png, .jpg or .webp file")
        outputs = [out]
        options_path = out.with_suffix(".json")
        claim_output(out, "file")
    if save_every:
        for out in outputs:
            claim_output(snapshot_folder(out), "folder", what="snapshot folder")
            claim_output(progress_animation(out, progress_video, burst), "file", what="--progress-video")
    if burst and animate is not None:
        claim_output(animate, "file", what="--animate")
    styles = _load_styles(list(style))
    if not burst:
        load_image(contents[0])  # a bad photo is refused before VGG-19 loads
    st = _make_transfer(engine, opts)
    about = {"command": "style", "content": content, "styles": [str(p) for p in style],
             "vgg": engine.vgg or "store", "pooling": engine.pooling}
    res = stylize_files(contents, styles, outputs, opts, transfer=st, save_every=save_every,
                        progress_video=progress_video, animate=animate if burst else None, fps=fps,
                        record=options_path, about=about, label=repr(content))
    if dist.is_main():
        report_skipped(res.skipped, str(options_path))
        for anim in res.animations:
            info(f"animation of the image becoming styled: {anim}")
        info(f"wrote {len(res.outputs)} images to {out_dir}" if burst else f"wrote {res.outputs[0]}")
        if res.animation is not None:
            info(f"wrote {res.animation}")
    if res.random_weights:
        info("[yellow]note:[/] random VGG weights were used; the picture is not meaningful art")


@cli_from(StyleOptions, engine=TransferOptions, video=VideoOptions)
def style_video_cmd(
    input: Path = typer.Argument(..., help="Input video (.mp4, .mov, .gif ...)."),
    style: list[Path] = typer.Option(..., "--style", "-s", help="Style image (repeat for several styles)."),
    output: Path = typer.Option(Path("styled.mp4"), "--output", "-o", help="Output video (.mp4 or .gif)."),
    cache: Optional[Path] = typer.Option(None, "--cache", help=CACHE_HELP + " (default: OUT.frames/ beside the output)."),
    restart: bool = typer.Option(False, "--restart", help=RESTART_HELP),
    *, opts: StyleOptions, engine: TransferOptions, video: VideoOptions,
) -> None:
    """Stylise a video with temporal coherence (flow-warped init + occlusion-masked temporal loss).

    Frames are cached so a killed run resumes; under torchrun ranks take contiguous chunks.
    """
    from ..core import distributed as dist
    from ..core.checkpoint import write_json
    from ..core.errors import UsageError
    from ..core.progress import info
    from ..style.video import stylize_video

    opts.check(len(style))  # the style weights against the style count, before anything loads
    if not input.exists():
        raise UsageError(f"input video {input} does not exist")
    if output.suffix.lower() not in (".mp4", ".gif", ".mov", ".m4v"):
        raise UsageError(f"output {output} must be a .mp4 or .gif file")
    from ..core.outputs import claim_output
    from ..style.video import default_cache_dir

    claim_output(output, "file")
    claim_output(cache or default_cache_dir(output), "folder", what="frame cache")
    styles = _load_styles(list(style))
    vopts = video
    st = _make_transfer(engine, opts)
    dist.init(st.runtime.device)
    result = stylize_video(input, styles, output, opts, transfer=st, video=vopts, cache_dir=cache, restart=restart)
    if result is not None:
        write_json(output.with_suffix(".json"), {"command": "style-video", "input": str(input),
                                                 "styles": [str(p) for p in style], "output": str(output),
                                                 "vgg": engine.vgg or "store", "pooling": engine.pooling,
                                                 "device": str(st.runtime.device), "precision": st.runtime.precision,
                                                 "cache": str(cache or default_cache_dir(output)),
                                                 **asdict(opts), **asdict(vopts)})
        info(f"wrote {result}")
    dist.shutdown()


def register(app: typer.Typer) -> None:
    app.command("style", help="Paint photos in the style of one or more images (Gatys, coarse-to-fine).")(style_cmd)
    app.command("style-video", help="Stylise a video with temporal coherence (optical flow, occlusion mask).")(style_video_cmd)
