"""``neuralbrush pix2pix train|apply|video``: image-to-image translation (Learning to See)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..core.framecache import CACHE_HELP, RESTART_HELP
from ..core.outputs import claim_output
from ..core.options import cli_from
from ..pix2pix.options import ApplyOptions, TrainOptions, VideoOptions

pix2pix_app = typer.Typer(help="pix2pix: train a U-Net to turn edges or colour clusters into your images, "
                               "then apply it to photos and videos.", no_args_is_help=True)


@pix2pix_app.command("train")
@cli_from(TrainOptions)
def train_cmd(*, opts: TrainOptions, explicit: set[str]) -> None:
    """Train pix2pix; writes runs/NNNNN-<data>-pix2pix/ with grids, snapshots and stats."""
    from ..core.progress import console
    from ..pix2pix.train import run_to_continue, train

    run_dir = run_to_continue(opts.resume, opts.outdir)  # latest or a pix2pix run folder
    if run_dir is not None:  # continue in place: the command line may change only run length/device
        from ..core.training import cli_overrides
        from ..pix2pix.train import CONTINUE_OVERRIDES, resume

        values = {**opts.to_dict(), "data": opts.data or None}
        result = resume(run_dir, **cli_overrides(explicit, values, run_dir, CONTINUE_OVERRIDES))
    else:
        claim_output(opts.outdir, "folder", what="--outdir")  # refused before the data or the networks load
        result = train(opts)
    if result.snapshot is not None:
        last = result.history[-1] if result.history else {}
        done = f"trained {result.step} steps ({result.epoch} epochs, {result.elapsed_s / 60:.1f} min)"
        if result.val_l1 is None or result.mean_image_l1 is None or "val_L1_luma" not in last:
            console.print(f"{done}; no held-out images (--holdout 0), so no validation L1")
        else:
            console.print(f"{done}; held-out L1 {result.val_l1:.4f} vs {result.mean_image_l1:.4f} for the mean image "
                          f"(luma {last['val_L1_luma']:.4f} vs {last['mean_image_L1_luma']:.4f})")
        console.print(f"run: {result.run_dir}\nsnapshot: {result.snapshot}")


@pix2pix_app.command("apply")
@cli_from(ApplyOptions)
def apply_cmd(
    model: str = typer.Argument(..., help="A run folder, a snapshot .safetensors, a junyanz .pth or a weights name."),
    photos: list[Path] = typer.Argument(..., help="Photos or folders of photos."),
    out: Path = typer.Option(..., "-o", "--out", help="Output image (one photo) or folder."),
    *, opts: ApplyOptions,
) -> None:
    """Re-imagine photos with a trained generator (input derived as in training)."""
    from ..core.progress import console, info
    from ..pix2pix.apply import apply_paths

    from ..core.imageio import is_image_file

    claim_output(out, "file" if is_image_file(out) else "folder")
    result = apply_paths(model, photos, out, opts)
    written = result.outputs + result.side_by_side
    for p in written[:10]:
        console.print(str(p))
    if len(written) > 10:
        console.print(f"... {len(written)} files in {out}")
    info(f"options: {result.options_file}")


@pix2pix_app.command("video")
@cli_from(VideoOptions)
def video_cmd(
    model: str = typer.Argument(..., help="A run folder, a snapshot .safetensors, a junyanz .pth or a weights name."),
    source: Path = typer.Argument(..., help="A video file (.mp4, .gif, ...) or a folder of frames."),
    out: Path = typer.Option(..., "-o", "--out", help="Output .mp4/.gif, or a folder for PNG frames."),
    cache: Optional[Path] = typer.Option(None, "--cache", help=CACHE_HELP + " (default: .OUT.pix2pix-frames/ beside OUT)."),
    restart: bool = typer.Option(False, "--restart", help=RESTART_HELP),
    *, opts: VideoOptions,
) -> None:
    """Apply a generator to every frame of a video; resumable through a frame cache next to OUT."""
    from ..core.progress import console
    from ..pix2pix.video import apply_video

    from ..core.distributed import is_main

    from ..pix2pix.video import cache_dir_for

    claim_output(out, "folder" if out.suffix == "" or out.is_dir() else "file")
    claim_output(cache or cache_dir_for(out), "folder", what="frame cache")
    result = apply_video(model, source, out, opts, cache=cache, restart=restart)
    if is_main():
        console.print(f"{result.frames} frames ({result.reused} from the cache) -> {result.out}")


def register(app: typer.Typer) -> None:
    app.add_typer(pix2pix_app, name="pix2pix")
