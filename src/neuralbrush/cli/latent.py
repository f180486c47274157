"""Latent art commands: ``generate``, ``mix``, ``project``, ``neighbours``, ``video walk``,
``video storyboard``. MODEL is a run folder, a snapshot .safetensors, a weights-store name
(e.g. ffhq256) or an NVIDIA .pkl. The work happens in :mod:`neuralbrush.latent`; the options
are generated from its option dataclasses (:func:`neuralbrush.core.options.cli_from`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..core.framecache import RESTART_HELP
from ..core.outputs import claim_output
from ..core.options import CompileOptions, RuntimeOptions, cli_from
from ..latent.options import (GenerateOptions, MixOptions, NeighboursOptions, ProjectOptions,
                             StoryboardOptions, WalkOptions)

video_app = typer.Typer(help="Videos from a generator: latent walks and loops, storyboard films.",
                        no_args_is_help=True)

MODEL_HELP = "Run folder, snapshot .safetensors, weights-store name (e.g. ffhq256) or NVIDIA .pkl."
EDIT_HELP = ("Edit along a direction from neuralbrush directions: FILE.npz:COMPONENT:AMOUNT[@LAYERS], amount in "
             "standard deviations, layers inclusive (e.g. dirs.npz:2:+1.5@0-5); repeatable.")
EDIT = typer.Option(None, "--edit", help=EDIT_HELP)


def _check_edits(edit) -> list:
    """Read every --edit and its directions file before the model loads (the model check follows)."""
    from ..latent.directions import Directions
    from ..latent.steer_options import parse_edits

    specs = parse_edits(edit)
    for spec in specs:
        Directions.load(spec.file)
    return list(edit or [])


def _setup(model: str, rt: RuntimeOptions):
    from ..core.device import resolve_runtime
    from ..core.progress import info
    from ..latent.render import load_model

    runtime = resolve_runtime(rt.device, rt.precision)
    G = load_model(model, runtime)
    info(f"model {model}: {G.img_resolution}px, z {G.z_dim}"
         + (f", w {G.w_dim} x {G.num_ws}" if getattr(G, "num_ws", 0) else " (no w space: z only)")
         + f" on {runtime.describe()}")
    return G, runtime


@cli_from(GenerateOptions, rt=RuntimeOptions, cc=CompileOptions)
def generate_cmd(
        model: str = typer.Argument(..., help=MODEL_HELP),
        out: Path = typer.Option(Path("out/generate"), "-o", "--out", help="Output folder."),
        edit: Optional[list[str]] = EDIT,
        *, opts: GenerateOptions, rt: RuntimeOptions, cc: CompileOptions) -> None:
    """Images from seeds, one PNG + latents (.npz with z and w) each, and a labelled grid."""
    from ..core.progress import info
    from ..latent.generate import generate

    edits = _check_edits(edit)
    claim_output(out, "folder")  # an unwritable -o is refused before the model loads
    G, runtime = _setup(model, rt)
    res = generate(G, out, opts, runtime, model=model, edits=edits, compile=cc.compile)
    info(f"wrote {len(res.images)} images and {res.grid}")


@cli_from(MixOptions, rt=RuntimeOptions, cc=CompileOptions)
def mix_cmd(
        model: str = typer.Argument(..., help=MODEL_HELP),
        out: Path = typer.Option(Path("out/mix"), "-o", "--out", help="Output folder."),
        edit: Optional[list[str]] = EDIT,
        *, opts: MixOptions, rt: RuntimeOptions, cc: CompileOptions) -> None:
    """Style-mixing grid: row and column headers are the source images."""
    from ..core.progress import info
    from ..latent.mix import style_mix

    edits = _check_edits(edit)
    claim_output(out, "folder")
    G, runtime = _setup(model, rt)
    res = style_mix(G, out, rows=opts.rows, cols=opts.cols, styles=opts.styles, trunc=opts.trunc,
                    noise_mode=opts.noise_mode, class_idx=opts.class_idx, runtime=runtime, model=model, edits=edits,
                    compile=cc.compile)
    info(f"wrote {res.grid}")


@cli_from(ProjectOptions, rt=RuntimeOptions)
def project_cmd(
        model: str = typer.Argument(..., help=MODEL_HELP),
        target: Path = typer.Argument(..., help="The image to find in the model (non-square: see --fit)."),
        save_video: bool = typer.Option(False, "--save-video", help="Write proj.mp4: target | synthesis per step."),
        out: Path = typer.Option(Path("out/project"), "-o", "--out", help="Output folder."),
        edit: Optional[list[str]] = EDIT,
        *, opts: ProjectOptions, rt: RuntimeOptions) -> None:
    """Find the latent of a picture (NVIDIA schedule); writes projected_w.npz, proj.png, target.png."""
    from ..core.progress import info
    from ..latent.project import project_file

    edits = _check_edits(edit)
    claim_output(out, "folder")
    if opts.loss in ("lpips", "both"):
        from ..latent.lpips import LPIPS

        lpips = LPIPS.from_store()  # fail before loading a big model when the weights are missing
    else:
        lpips = None
    G, runtime = _setup(model, rt)
    res = project_file(G, target, out, opts, runtime, save_video=save_video, model=model, lpips=lpips, edits=edits)
    info(f"PSNR {res.psnr:.2f} dB; wrote {res.w}, {res.proj}" + (f", {res.video}" if save_video else "")
         + (f", {res.edited_w}, {res.edited}" if edits else ""))


@cli_from(NeighboursOptions, rt=RuntimeOptions, cc=CompileOptions)
def neighbours_cmd(
        model: str = typer.Argument(..., help=MODEL_HELP),
        w_file: Path = typer.Option(..., "--w", help="Latent file (.npz with w or z), e.g. projected_w.npz."),
        out: Path = typer.Option(Path("out/neighbours/sheet.png"), "-o", "--out", help="Contact sheet (.png)."),
        edit: Optional[list[str]] = EDIT,
        *, opts: NeighboursOptions, rt: RuntimeOptions, cc: CompileOptions) -> None:
    """Gaussian neighbours of a latent on a numbered contact sheet, each latent saved."""
    from ..core.progress import info
    from ..latent.latents import load_latents
    from ..latent.neighbours import neighbours_sheet

    load_latents(w_file)  # a broken latent file is refused before the model loads
    edits = _check_edits(edit)
    claim_output(out, "file")
    G, runtime = _setup(model, rt)
    res = neighbours_sheet(G, w_file, out, count=opts.count, sigma=opts.sigma, space=opts.space, seed=opts.seed,
                           pick=opts.pick, runtime=runtime, batch=opts.batch, model=model, edits=edits,
                           noise_mode=opts.noise_mode, compile=cc.compile)
    info(f"wrote {res.sheet} and {res.latents}" + (f"; keyframe {res.keyframe}" if opts.pick is not None else ""))


@video_app.command("walk")
@cli_from(WalkOptions, rt=RuntimeOptions, cc=CompileOptions)
def walk_cmd(
        model: str = typer.Argument(..., help=MODEL_HELP),
        out: Path = typer.Option(Path("out/walk.mp4"), "-o", "--out", help="Video file (.mp4 or .gif)."),
        edit: Optional[list[str]] = typer.Option(None, "--edit", help=EDIT_HELP + " Kind direction: one with a "
                                                 "range LO..HI, e.g. dirs.npz:3:-3..3."),
        *, opts: WalkOptions, rt: RuntimeOptions, cc: CompileOptions) -> None:
    """A latent walk or seamless loop as MP4 or GIF, frames rendered in batches and streamed."""
    from ..core.progress import info
    from ..latent.walk import render_walk

    edits = _check_edits(edit)
    claim_output(out, "file")
    G, runtime = _setup(model, rt)
    res = render_walk(G, out, opts, runtime, model=model, edits=edits, compile=cc.compile)
    info(f"wrote {res.video} ({res.frames} frames)")


@video_app.command("storyboard")
@cli_from(StoryboardOptions, rt=RuntimeOptions, cc=CompileOptions)
def storyboard_cmd(
        story: Path = typer.Argument(..., help="Storyboard YAML (keyframes, loops, transitions; see docs/latent.md)."),
        out: Path = typer.Option(Path("film.mp4"), "-o", "--out", help="Video file (.mp4 or .gif)."),
        cache: Optional[Path] = typer.Option(None, "--cache", help="Frame/projection cache folder (default OUT.cache)."),
        restart: bool = typer.Option(False, "--restart", help=RESTART_HELP),
        *, opts: StoryboardOptions, rt: RuntimeOptions, cc: CompileOptions) -> None:
    """Render a storyboard film; resumes from cached frames, shards frames under torchrun."""
    from ..core.device import resolve_runtime
    from ..core.progress import info
    from ..latent.storyboard import render_storyboard

    claim_output(out, "file")
    claim_output(cache or out.with_name(out.stem + ".cache"), "folder", what="cache folder")
    runtime = resolve_runtime(rt.device, rt.precision)
    res = render_storyboard(story, out, model=opts.model, runtime=runtime, cache=cache, batch=opts.batch,
                            restart=restart, compile=cc.compile)
    info(f"wrote {res.video}: {res.frames} frames ({res.seconds:.1f} s), {res.rendered} rendered now, "
         f"{res.cached} from the cache")


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_cmd)
    app.command("mix")(mix_cmd)
    app.command("project")(project_cmd)
    app.command("neighbours")(neighbours_cmd)
    app.add_typer(video_app, name="video")
