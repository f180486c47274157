"""Latent art commands: ``generate``, ``mix``, ``project``, ``neighbours``, ``video walk``,
``video storyboard``. MODEL is a run folder, a snapshot .safetensors, a weights-store name
(e.g. ffhq256) or an NVIDIA .pkl. The work happens in :mod:`neuralbrush.latent`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..core.outputs import claim_output
from ..latent.options import GEN, MIX, NB, PROJ, STORY, WALK

video_app = typer.Typer(help="Videos from a generator: latent walks and loops, storyboard films.",
                        no_args_is_help=True)

MODEL_HELP = "Run folder, snapshot .safetensors, weights-store name (e.g. ffhq256) or NVIDIA .pkl."
DEVICE = typer.Option("auto", "--device", help="auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps.")
PRECISION = typer.Option("auto", "--precision", help="auto (bf16 on AMX CPUs and CUDA), fp32, bf16 or fp16.")
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


def _setup(model: str, device: str, precision: str):
    from ..core.device import resolve_runtime
    from ..core.progress import info
    from ..latent.render import load_model

    runtime = resolve_runtime(device, precision)
    G = load_model(model, runtime)
    info(f"model {model}: {G.img_resolution}px, z {G.z_dim}"
         + (f", w {G.w_dim} x {G.num_ws}" if getattr(G, "num_ws", 0) else " (DCGAN, z only)")
         + f" on {runtime.describe()}")
    return G, runtime


def generate_cmd(
        model: str = typer.Argument(..., help=MODEL_HELP),
        seeds: str = typer.Option(GEN.seeds, "--seeds", help="Seeds, e.g. 0-31,77 (one image each)."),
        trunc: str = typer.Option(GEN.trunc, "--trunc", help="Truncation psi, or a sweep START:STOP:COUNT (grid of seeds x psi)."),
        trunc_cutoff: Optional[int] = typer.Option(GEN.trunc_cutoff, "--trunc-cutoff", help="Truncate only the first K layers."),
        noise_mode: str = typer.Option(GEN.noise_mode, "--noise-mode", help="Noise inputs: const, random or none."),
        class_idx: Optional[int] = typer.Option(GEN.class_idx, "--class", help="Class label for a conditional model."),
        w_file: Optional[Path] = typer.Option(None, "--w", help="Render the w latents of this .npz instead of seeds."),
        grid: Optional[str] = typer.Option(GEN.grid, "--grid", help="Grid layout COLSxROWS (default near-square)."),
        batch: int = typer.Option(GEN.batch, "--batch", min=1, help="Images per forward pass."),
        out: Path = typer.Option(Path("out/generate"), "-o", "--out", help="Output folder."),
        edit: Optional[list[str]] = EDIT,
        device: str = DEVICE, precision: str = PRECISION) -> None:
    """Images from seeds, one PNG + latents (.npz with z and w) each, and a labelled grid."""
    from ..core.progress import info
    from ..latent.generate import GenerateOptions, generate

    opts = GenerateOptions(seeds=seeds, trunc=trunc, trunc_cutoff=trunc_cutoff, noise_mode=noise_mode,
                           class_idx=class_idx, w_file=str(w_file) if w_file else None, grid=grid,
                           batch=batch).validate()  # before the model loads
    edits = _check_edits(edit)
    claim_output(out, "folder")  # an unwritable -o is refused before the model loads
    G, runtime = _setup(model, device, precision)
    res = generate(G, out, opts, runtime, model=model, edits=edits)
    info(f"wrote {len(res.images)} images and {res.grid}")


def mix_cmd(
        model: str = typer.Argument(..., help=MODEL_HELP),
        rows: str = typer.Option(MIX.rows, "--rows", help="Seeds of the row sources (they keep their other layers)."),
        cols: str = typer.Option(MIX.cols, "--cols", help="Seeds of the column sources (they give the mixed layers)."),
        styles: str = typer.Option(MIX.styles, "--styles", help="Layers taken from the column sources, e.g. 0-6."),
        trunc: float = typer.Option(MIX.trunc, "--trunc", help="Truncation psi."),
        noise_mode: str = typer.Option(MIX.noise_mode, "--noise-mode", help="Noise inputs: const, random or none."),
        class_idx: Optional[int] = typer.Option(MIX.class_idx, "--class", help="Class label for a conditional model."),
        out: Path = typer.Option(Path("out/mix"), "-o", "--out", help="Output folder."),
        edit: Optional[list[str]] = EDIT,
        device: str = DEVICE, precision: str = PRECISION) -> None:
    """Style-mixing grid: row and column headers are the source images."""
    from ..core.progress import info
    from ..latent.mix import style_mix
    from ..latent.options import MixOptions

    MixOptions(rows=rows, cols=cols, styles=styles, trunc=trunc, noise_mode=noise_mode,
               class_idx=class_idx).validate()  # before the model loads
    edits = _check_edits(edit)
    claim_output(out, "folder")
    G, runtime = _setup(model, device, precision)
    res = style_mix(G, out, rows=rows, cols=cols, styles=styles, trunc=trunc, noise_mode=noise_mode,
                    class_idx=class_idx, runtime=runtime, model=model, edits=edits)
    info(f"wrote {res.grid}")


def project_cmd(
        model: str = typer.Argument(..., help=MODEL_HELP),
        target: Path = typer.Argument(..., help="The image to find in the model (non-square: see --fit)."),
        steps: int = typer.Option(PROJ.steps, "--steps", min=1, help="Optimisation steps."),
        space: str = typer.Option(PROJ.space, "--space", help="w (one w), w+ (one per layer: closer) or z (DCGAN)."),
        loss: str = typer.Option(PROJ.loss, "--loss", help="lpips (needs vgg16 + lpips-vgg weights), mse or both."),
        fit: str = typer.Option(PROJ.fit, "--fit", help="Non-square targets: crop (centre) or pad."),
        pad_color: str = typer.Option(PROJ.pad_color, "--pad-color", help="Padding colour for --fit pad."),
        lr: float = typer.Option(PROJ.lr, "--lr", help="Initial Adam learning rate."),
        seed: int = typer.Option(PROJ.seed, "--seed", help="Seed of the noise buffers and w noise."),
        save_video: bool = typer.Option(False, "--save-video", help="Write proj.mp4: target | synthesis per step."),
        checkpoint_every: int = typer.Option(PROJ.checkpoint_every, "--checkpoint-every", min=0,
                                             help="Save resumable state every N steps (0: never)."),
        out: Path = typer.Option(Path("out/project"), "-o", "--out", help="Output folder."),
        edit: Optional[list[str]] = EDIT,
        device: str = DEVICE, precision: str = PRECISION) -> None:
    """Find the latent of a picture (NVIDIA schedule); writes projected_w.npz, proj.png, target.png."""
    from ..core.progress import info
    from ..latent.project import ProjectOptions, project_file

    opts = ProjectOptions(steps=steps, space=space, loss=loss, fit=fit, pad_color=pad_color, lr=lr, seed=seed,
                          checkpoint_every=checkpoint_every).check()  # before LPIPS and the model load
    edits = _check_edits(edit)
    claim_output(out, "folder")
    if loss in ("lpips", "both"):
        from ..latent.lpips import LPIPS

        lpips = LPIPS.from_store()  # fail before loading a big model when the weights are missing
    else:
        lpips = None
    G, runtime = _setup(model, device, precision)
    res = project_file(G, target, out, opts, runtime, save_video=save_video, model=model, lpips=lpips, edits=edits)
    info(f"PSNR {res.psnr:.2f} dB; wrote {res.w}, {res.proj}" + (f", {res.video}" if save_video else "")
         + (f", {res.edited_w}, {res.edited}" if edits else ""))


def neighbours_cmd(
        model: str = typer.Argument(..., help=MODEL_HELP),
        w_file: Path = typer.Option(..., "--w", help="Latent file (.npz with w or z), e.g. projected_w.npz."),
        count: int = typer.Option(NB["count"], "--count", min=1, help="How many neighbours."),
        sigma: float = typer.Option(NB["sigma"], "--sigma", min=0.0,
                                    help="Noise per dimension, in units of the space's spread (1 in z, std of w)."),
        space: str = typer.Option(NB["space"], "--space", help="Perturb w or z."),
        seed: int = typer.Option(NB["seed"], "--seed", help="Seed of the noise."),
        pick: Optional[int] = typer.Option(None, "--pick", help="Also save neighbour N as keyframe_N.npz/.png."),
        batch: int = typer.Option(8, "--batch", min=1, help="Images per forward pass."),
        out: Path = typer.Option(Path("out/neighbours/sheet.png"), "-o", "--out", help="Contact sheet (.png)."),
        edit: Optional[list[str]] = EDIT,
        device: str = DEVICE, precision: str = PRECISION) -> None:
    """Gaussian neighbours of a latent on a numbered contact sheet, each latent saved."""
    from ..core.progress import info
    from ..latent.latents import load_latents
    from ..latent.neighbours import neighbours_sheet
    from ..latent.options import NeighboursOptions

    NeighboursOptions(count=count, sigma=sigma, space=space, seed=seed, pick=pick, batch=batch).validate()
    load_latents(w_file)  # a broken latent file is refused before the model loads
    edits = _check_edits(edit)
    claim_output(out, "file")
    G, runtime = _setup(model, device, precision)
    res = neighbours_sheet(G, w_file, out, count=count, sigma=sigma, space=space, seed=seed, pick=pick,
                           runtime=runtime, batch=batch, model=model, edits=edits)
    info(f"wrote {res.sheet} and {res.latents}" + (f"; keyframe {res.keyframe}" if pick is not None else ""))


@video_app.command("walk")
def walk_cmd(
        model: str = typer.Argument(..., help=MODEL_HELP),
        seeds: str = typer.Option(WALK.seeds, "--seeds", help="Keyframe seeds, e.g. 1,5,9."),
        w_file: Optional[Path] = typer.Option(None, "--w", help="Keyframes from a latent .npz (its rows) instead of seeds."),
        kind: str = typer.Option(WALK.kind, "--kind", help="linear, slerp, circular, noise-loop or direction "
                                                           "(sweep --edit FILE:COMP:LO..HI and back, in w)."),
        space: str = typer.Option(WALK.space, "--space", help="Walk in z or w."),
        frames: int = typer.Option(WALK.frames, "--frames", min=2, help="Frames per transition (linear/slerp) or per loop."),
        fps: float = typer.Option(WALK.fps, "--fps", help="Frames per second."),
        easing: str = typer.Option(WALK.easing, "--easing", help="linear, ease-in-out, ease-in, ease-out, *-cubic, *-sine, smoothstep."),
        loop: bool = typer.Option(WALK.loop, "--loop/--no-loop", help="linear/slerp: return to the first keyframe."),
        trunc: float = typer.Option(WALK.trunc, "--trunc", help="Truncation psi."),
        trunc_cutoff: Optional[int] = typer.Option(None, "--trunc-cutoff", help="Truncate only the first K layers."),
        radius: float = typer.Option(WALK.radius, "--radius", help="Circular loop radius, relative to a typical latent's length."),
        sigma: float = typer.Option(WALK.sigma, "--sigma", help="Noise loop amplitude per dimension (units of the space's spread)."),
        harmonics: int = typer.Option(WALK.harmonics, "--harmonics", min=1, help="Noise loop smoothness: fewer is smoother."),
        seed: int = typer.Option(WALK.seed, "--seed", help="Seed of loop directions / noise."),
        noise_mode: str = typer.Option(WALK.noise_mode, "--noise-mode", help="Noise inputs: const, random or none."),
        class_idx: Optional[int] = typer.Option(None, "--class", help="Class label for a conditional model."),
        grid: Optional[str] = typer.Option(None, "--grid", help="COLSxROWS walks at once, each starting at the next keyframe."),
        batch: int = typer.Option(WALK.batch, "--batch", min=1, help="Images per forward pass."),
        out: Path = typer.Option(Path("out/walk.mp4"), "-o", "--out", help="Video file (.mp4 or .gif)."),
        edit: Optional[list[str]] = typer.Option(None, "--edit", help=EDIT_HELP + " Kind direction: one with a "
                                                 "range LO..HI, e.g. dirs.npz:3:-3..3."),
        device: str = DEVICE, precision: str = PRECISION) -> None:
    """A latent walk or seamless loop as MP4 or GIF, frames rendered in batches and streamed."""
    from ..core.progress import info
    from ..latent.walk import WalkOptions, render_walk

    opts = WalkOptions(seeds=seeds, w_file=str(w_file) if w_file else None, kind=kind, space=space, frames=frames,
                       fps=fps, easing=easing, loop=loop, trunc=trunc, trunc_cutoff=trunc_cutoff, radius=radius,
                       sigma=sigma, harmonics=harmonics, seed=seed, noise_mode=noise_mode, class_idx=class_idx,
                       grid=grid, batch=batch).validate()  # before the model loads
    edits = _check_edits(edit)
    claim_output(out, "file")
    G, runtime = _setup(model, device, precision)
    res = render_walk(G, out, opts, runtime, model=model, edits=edits)
    info(f"wrote {res.video} ({res.frames} frames)")


@video_app.command("storyboard")
def storyboard_cmd(
        story: Path = typer.Argument(..., help="Storyboard YAML (keyframes, loops, transitions; see docs/latent.md)."),
        model: Optional[str] = typer.Option(None, "--model", help=MODEL_HELP + " Overrides 'model:' in the file."),
        out: Path = typer.Option(Path("film.mp4"), "-o", "--out", help="Video file (.mp4 or .gif)."),
        cache: Optional[Path] = typer.Option(None, "--cache", help="Frame/projection cache folder (default OUT.cache)."),
        batch: Optional[int] = typer.Option(STORY["batch"], "--batch", min=1, help="Frames per forward pass (default: the file's)."),
        device: str = DEVICE, precision: str = PRECISION) -> None:
    """Render a storyboard film; resumes from cached frames, shards frames under torchrun."""
    from ..core.device import resolve_runtime
    from ..core.progress import info
    from ..latent.storyboard import render_storyboard

    claim_output(out, "file")
    claim_output(cache or out.with_name(out.stem + ".cache"), "folder", what="cache folder")
    runtime = resolve_runtime(device, precision)
    res = render_storyboard(story, out, model=model, runtime=runtime, cache=cache, batch=batch)
    info(f"wrote {res['video']}: {res['frames']} frames ({res['seconds']:.1f} s), {res['rendered']} rendered now, "
         f"{res['cached']} from the cache")


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_cmd)
    app.command("mix")(mix_cmd)
    app.command("project")(project_cmd)
    app.command("neighbours")(neighbours_cmd)
    app.add_typer(video_app, name="video")
