"""``neuralbrush style`` (photos, bursts) and ``neuralbrush style-video``: Gatys style transfer.

Defaults and help texts come from :meth:`neuralbrush.style.transfer.StyleTransfer.stylize`'s
signature and ``OPTION_HELP`` (and :class:`neuralbrush.style.video.VideoOptions`), so the
library and the command line cannot drift apart. Heavy imports stay inside the commands.
"""

from __future__ import annotations

import glob
import inspect
from dataclasses import fields
from pathlib import Path
from typing import Any, Optional

import typer

from ..style.options import OPTION_DEFAULTS as D
from ..style.options import OPTION_HELP as H
from ..style.options import VIDEO_DEFAULTS as V
from ..style.options import VIDEO_HELP as VH

_GLOB_CHARS = set("*?[")


def _csv_floats(value: str | None, what: str) -> list[float] | None:
    from ..core.errors import UsageError

    if value is None or value == "":
        return None
    try:
        return [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{what} must be comma-separated numbers, e.g. 100,45; got {value!r}") from None


def _csv_names(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


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


def _style_kwargs(p: dict[str, Any], n_styles: int) -> dict[str, Any]:
    """Library keywords from the shared CLI parameters, checked before anything is loaded."""
    from ..style.transfer import check_options

    kwargs = {
        "style_weights": _csv_floats(p["style_weights"], "--style-weights"),
        "content_layers": _csv_names(p["content_layers"]),
        "style_layers": _csv_names(p["style_layers"]),
        "style_layer_weights": _csv_floats(p["style_layer_weights"], "--style-layer-weights"),
        "content_weight": p["content_weight"], "style_weight": p["style_weight"], "tv_weight": p["tv_weight"],
        "init": p["init"], "optimizer": p["optimizer"], "step_size": p["step_size"],
        "iterations": p["iterations"], "initial_iterations": p["initial_iterations"], "scales": p["scales"],
        "min_scale": p["min_scale"], "ema": p["ema"], "style_scale": p["style_scale"], "size": p["size"],
        "max_size": p["max_size"], "preserve_color": p["preserve_color"], "seed": p["seed"],
    }
    check_options(kwargs, n_styles)
    return kwargs


def _load_styles(paths: list[Path]):
    from ..core.errors import UsageError
    from ..core.imageio import load_image

    if not paths:
        raise UsageError("give at least one --style image")
    return [load_image(p) for p in paths]


def _make_transfer(p: dict[str, Any], kwargs: dict[str, Any]):
    """The transfer object with its VGG-19 extractor loaded now, so a bad weights file is refused
    before any photo is touched."""
    from ..core.progress import info
    from ..style.transfer import StyleTransfer

    st = StyleTransfer(vgg=p["vgg"] or "store", device=p["device"], precision=p["precision"], pooling=p["pooling"],
                       seed=p["seed"])
    st.model((*kwargs["content_layers"], *kwargs["style_layers"]))
    info(f"style transfer on {st.runtime.describe()}, VGG-19 weights: {p['vgg'] or 'store'}")
    return st


def _opt(name: str, *flags: str, **kw):
    return typer.Option(D[name], *flags, help=H[name], show_default=True, **kw)


def _shared_options() -> list[tuple[str, Any, Any]]:
    """(name, type, typer.Option) of the options ``style`` and ``style-video`` share; defaults and
    help come from the library. Built fresh for each command (typer keeps state on them)."""
    return [
        ("style_weights", Optional[str], typer.Option(None, "--style-weights", help=H["style_weights"])),
        ("content_layers", str, typer.Option(",".join(D["content_layers"]), help=H["content_layers"])),
        ("style_layers", str, typer.Option(",".join(D["style_layers"]), help=H["style_layers"])),
        ("style_layer_weights", Optional[str], typer.Option(None, help=H["style_layer_weights"])),
        ("content_weight", float, _opt("content_weight", min=0.0)),
        ("style_weight", float, _opt("style_weight", min=0.0)),
        ("tv_weight", float, _opt("tv_weight", min=0.0)),
        ("init", str, _opt("init")),
        ("optimizer", str, _opt("optimizer")),
        ("step_size", float, _opt("step_size", min=0.0)),
        ("iterations", int, _opt("iterations", min=0)),
        ("initial_iterations", int, _opt("initial_iterations", min=0)),
        ("scales", bool, typer.Option(D["scales"], "--scales/--no-scales", help=H["scales"])),
        ("min_scale", int, _opt("min_scale", min=16)),
        ("ema", float, _opt("ema", min=0.0, max=0.9999)),
        ("style_scale", float, _opt("style_scale", min=0.01)),
        ("size", Optional[int], typer.Option(None, help=H["size"])),
        ("max_size", int, _opt("max_size", min=16)),
        ("preserve_color", str, _opt("preserve_color")),
        ("seed", int, _opt("seed")),
        ("vgg", Optional[str], typer.Option(None, "--vgg", help="VGG-19 weights: a torchvision .pth FILE, or 'random' "
                                            "(not meaningful art; tests). Default: the weights store's vgg19.")),
        ("pooling", str, typer.Option("max", help="VGG pooling: max (as trained) or avg (smoother).")),
        ("device", str, typer.Option("auto", help="auto, cpu, cuda or mps.")),
        ("precision", str, typer.Option("auto", help="auto (bf16 on CPUs with native bf16 and on GPUs), fp32, bf16 "
                                        "or fp16.")),
    ]


def _with_style_options(fn):
    """Give a command the shared style options: typer reads them from the signature, the command
    receives them in its ``**options``."""
    sig = inspect.signature(fn)
    own = [q for q in sig.parameters.values() if q.kind is not inspect.Parameter.VAR_KEYWORD]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
              for name, kind, option in _shared_options()]
    fn.__signature__ = sig.replace(parameters=own + shared)
    return fn


@_with_style_options
def style_cmd(
    content: str = typer.Argument(..., help="Content photo, a folder of photos or a glob like 'shots/*.jpg' (a burst)."),
    style: list[Path] = typer.Option(..., "--style", "-s", help="Style image (repeat for several styles)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output image (a folder for bursts). Default: CONTENT_styled.png or ./styled/."),
    save_every: int = typer.Option(0, min=0, help="Write a snapshot every N steps and an animation of the image becoming styled (0: off)."),
    progress_video: Optional[Path] = typer.Option(None, help="Where the --save-every animation goes (.gif or .mp4). Default: OUT-progress.gif."),
    animate: Optional[Path] = typer.Option(None, help="Bursts: also write the stylised photos as an animation (.gif or .mp4)."),
    fps: float = typer.Option(8.0, min=0.1, help="Frame rate of the animations."),
    **options: Any,
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
    from ..style.options import StyleOptions

    params = options
    kwargs = _style_kwargs(params, len(style))
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
    st = _make_transfer(params, kwargs)
    opts = StyleOptions(**{f.name: kwargs[f.name] for f in fields(StyleOptions)})
    about = {"command": "style", "content": content, "styles": [str(p) for p in style],
             "vgg": params["vgg"] or "store", "pooling": params["pooling"]}
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


@_with_style_options
def style_video_cmd(
    input: Path = typer.Argument(..., help="Input video (.mp4, .mov, .gif ...)."),
    style: list[Path] = typer.Option(..., "--style", "-s", help="Style image (repeat for several styles)."),
    output: Path = typer.Option(Path("styled.mp4"), "--output", "-o", help="Output video (.mp4 or .gif)."),
    temporal_weight: float = typer.Option(V["temporal_weight"], min=0.0, help=VH["temporal_weight"]),
    later_iterations: int = typer.Option(V["later_iterations"], min=0, help=VH["later_iterations"]),
    flow: str = typer.Option(V["flow"], help=VH["flow"]),
    coherent: bool = typer.Option(V["coherent"], "--coherent/--no-coherent", help=VH["coherent"]),
    max_frames: Optional[int] = typer.Option(None, min=1, help=VH["max_frames"]),
    fps: Optional[float] = typer.Option(None, min=0.1, help=VH["fps"]),
    cache: Optional[Path] = typer.Option(None, help="Frame cache folder (resume point). Default: OUT.frames/ beside the output."),
    restart: bool = typer.Option(False, help="Discard cached frames and start over."),
    **options: Any,
) -> None:
    """Stylise a video with temporal coherence (flow-warped init + occlusion-masked temporal loss).

    Frames are cached so a killed run resumes; under torchrun ranks take contiguous chunks.
    """
    from ..core import distributed as dist
    from ..core.checkpoint import write_json
    from ..core.errors import UsageError
    from ..core.progress import info
    from ..style.video import VideoOptions, stylize_video

    params = options
    kwargs = _style_kwargs(params, len(style))
    if not input.exists():
        raise UsageError(f"input video {input} does not exist")
    if output.suffix.lower() not in (".mp4", ".gif", ".mov", ".m4v"):
        raise UsageError(f"output {output} must be a .mp4 or .gif file")
    from ..core.outputs import claim_output
    from ..style.video import default_cache_dir

    claim_output(output, "file")
    claim_output(cache or default_cache_dir(output), "folder", what="frame cache")
    styles = _load_styles(list(style))
    vopts = VideoOptions(temporal_weight=temporal_weight, later_iterations=later_iterations, flow=flow,
                         coherent=coherent, max_frames=max_frames, fps=fps)
    st = _make_transfer(params, kwargs)
    dist.init(st.runtime.device)
    result = stylize_video(input, styles, output, transfer=st, style_options=kwargs, video=vopts, cache_dir=cache,
                           restart=restart)
    if result is not None:
        write_json(output.with_suffix(".json"), {"command": "style-video", "input": str(input),
                                                 "styles": [str(p) for p in style], "output": str(output),
                                                 "vgg": params["vgg"] or "store", "pooling": params["pooling"],
                                                 "device": str(st.runtime.device), "precision": st.runtime.precision,
                                                 "cache": str(cache or default_cache_dir(output)),
                                                 **kwargs, **{f.name: getattr(vopts, f.name) for f in fields(vopts)}})
        info(f"wrote {result}")
    dist.shutdown()


def register(app: typer.Typer) -> None:
    app.command("style", help="Paint photos in the style of one or more images (Gatys, coarse-to-fine).")(style_cmd)
    app.command("style-video", help="Stylise a video with temporal coherence (optical flow, occlusion mask).")(style_video_cmd)
