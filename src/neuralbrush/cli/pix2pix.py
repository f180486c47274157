"""``neuralbrush pix2pix train|apply|video``: image-to-image translation (Learning to See)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from ..core.framecache import CACHE_HELP, RESTART_HELP
from ..core.outputs import claim_output
from ..pix2pix.options import MAX_APPLY_SIZE, NORM_STATS, ApplyOptions, TrainOptions, VideoOptions

pix2pix_app = typer.Typer(help="pix2pix: train a U-Net to turn edges or colour clusters into your images, "
                               "then apply it to photos and videos.", no_args_is_help=True)

_T = TrainOptions()
_A = ApplyOptions()
_V = VideoOptions()

NormStats = Enum("NormStats", {c: c for c in NORM_STATS}, type=str)  # choices shown by --help
NORM_STATS_HELP = ("Batch-norm statistics: running (stored in training; junyanz test.py --eval) or batch "
                   "(each image's own; junyanz test.py's default, the paper's protocol, usually with --dropout).")


@pix2pix_app.command("train")
def train_cmd(
    data: Path = typer.Argument(..., help="A pairs dataset (`neuralbrush dataset pairs`), a folder/zip of A|B pairs, "
                                          "or a folder/zip of target photos together with --input."),
    input: Optional[str] = typer.Option(_T.input, "--input", help="Derive the input from each photo on the fly: "
                                        "edges or clusters (default: the data are A|B pairs)."),
    clusters: int = typer.Option(_T.clusters, "--clusters", min=1, max=20, help="Colour count for --input clusters."),
    size: int = typer.Option(_T.size, "--size", min=32, help="Training crop size in pixels (a multiple of 32)."),
    epochs: Optional[int] = typer.Option(_T.epochs, "--epochs", min=0,
                                         help="Epochs at a constant learning rate, followed by as many decaying to 0 "
                                              "(default 100 + 100 unless --minutes is given)."),
    epochs_decay: Optional[int] = typer.Option(_T.epochs_decay, "--epochs-decay", min=0,
                                               help="Epochs of linear decay (default: the same as --epochs)."),
    minutes: Optional[float] = typer.Option(_T.minutes, "--minutes", help="Train for this wall-clock time instead "
                                            "(constant learning rate for half, linear decay for the other half)."),
    arch: str = typer.Option(_T.arch, "--arch", help="Generator: auto (by --size), unet_256, unet_128, unet_64, unet_32."),
    ngf: int = typer.Option(_T.ngf, "--ngf", min=1, help="Generator width (filters of the first level)."),
    ndf: int = typer.Option(_T.ndf, "--ndf", min=1, help="Discriminator width."),
    n_layers: int = typer.Option(_T.n_layers, "--n-layers", min=1, help="PatchGAN depth (3 = 70x70 patches)."),
    norm: str = typer.Option(_T.norm, "--norm", help="Normalisation: batch or instance."),
    dropout: float = typer.Option(_T.dropout, "--dropout", min=0.0, max=0.99, help="Dropout in the decoder levels nearest the bottleneck."),
    gan_loss: str = typer.Option(_T.gan_loss, "--gan-loss", help="vanilla (BCE with logits) or lsgan (least squares)."),
    lambda_l1: float = typer.Option(_T.lambda_l1, "--lambda-l1", min=0.0, help="Weight of the L1 term."),
    lr: float = typer.Option(_T.lr, "--lr", min=0.0, help="Adam learning rate of G and D."),
    batch: int = typer.Option(_T.batch, "--batch", min=1, help="Global batch size (split across torchrun processes)."),
    scale_max: float = typer.Option(_T.scale_max, "--scale-max", min=1.0, help="Random scale up to this factor before the crop."),
    flip: bool = typer.Option(_T.flip, "--flip/--no-flip", help="Random horizontal flips (the same on input and target)."),
    holdout: float = typer.Option(_T.holdout, "--holdout", min=0.0, max=0.9,
                                  help="Fraction of images held out for the validation L1 (a pairs dataset's val/ is used when present)."),
    snap_epochs: int = typer.Option(_T.snap_epochs, "--snap-epochs", min=1, help="Snapshot every N epochs..."),
    snap_minutes: float = typer.Option(_T.snap_minutes, "--snap-minutes", min=0.0, help="...or every M minutes (0: off)."),
    keep: int = typer.Option(_T.keep, "--keep", min=0, help="Snapshots kept on disk (0 keeps all)."),
    resume: Optional[str] = typer.Option(_T.resume, "--resume", help="latest, a run folder, a .safetensors snapshot, "
                                         "a weights name (pix2pix-edges2shoes...) or a junyanz .pth generator."),
    outdir: Path = typer.Option(Path(_T.outdir), "--outdir", help="Parent folder of run directories."),
    seed: int = typer.Option(_T.seed, "--seed", help="Seed for initialisation, data order and augmentation."),
    device: str = typer.Option(_T.device, "--device", help="auto, cpu, cuda or mps."),
    precision: str = typer.Option(_T.precision, "--precision", help="auto, fp32, bf16 or fp16."),
    max_images: Optional[int] = typer.Option(_T.max_images, "--max-images", min=1, help="Use at most this many images."),
) -> None:
    """Train pix2pix; writes runs/NNNNN-<data>-pix2pix/ with grids, snapshots and stats."""
    from ..core.progress import console
    from ..pix2pix.train import train

    opts = TrainOptions(data=str(data), input=input, clusters=clusters, size=size, epochs=epochs,
                        epochs_decay=epochs_decay, minutes=minutes, arch=arch, ngf=ngf, ndf=ndf, n_layers=n_layers,
                        norm=norm, dropout=dropout, gan_loss=gan_loss, lambda_l1=lambda_l1, lr=lr, batch=batch,
                        scale_max=scale_max, flip=flip, holdout=holdout, snap_epochs=snap_epochs,
                        snap_minutes=snap_minutes, keep=keep, resume=resume, outdir=str(outdir), seed=seed,
                        device=device, precision=precision, max_images=max_images)
    claim_output(outdir, "folder", what="--outdir")  # refused before the data or the networks load
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
def apply_cmd(
    model: str = typer.Argument(..., help="A run folder, a snapshot .safetensors, a junyanz .pth or a weights name."),
    photos: list[Path] = typer.Argument(..., help="Photos or folders of photos."),
    out: Path = typer.Option(..., "-o", "--out", help="Output image (one photo) or folder."),
    input: Optional[str] = typer.Option(_A.input, "--input", help="edges, clusters or none (the photo is the input); "
                                        "default: as in training."),
    clusters: Optional[int] = typer.Option(_A.clusters, "--clusters", min=1, max=20, help="Colour count (default: as in training)."),
    size: Optional[int] = typer.Option(_A.size, "--size", min=32, max=MAX_APPLY_SIZE, help="Longer side the network "
                                       "runs at (default: the training size); the output is resized back to the photo's size."),
    dropout: bool = typer.Option(_A.dropout, "--dropout", help="Keep dropout on (the paper's test-time noise)."),
    norm_stats: NormStats = typer.Option(_A.norm_stats, "--norm-stats", help=NORM_STATS_HELP),
    seed: int = typer.Option(_A.seed, "--seed", help="Noise seed for --dropout."),
    side_by_side: bool = typer.Option(_A.side_by_side, "--side-by-side", help="Also write original | input | output."),
    device: str = typer.Option(_A.device, "--device", help="auto, cpu, cuda or mps."),
    precision: str = typer.Option(_A.precision, "--precision", help="auto, fp32, bf16 or fp16."),
) -> None:
    """Re-imagine photos with a trained generator (input derived as in training)."""
    from ..core.progress import console
    from ..pix2pix.apply import apply_paths

    opts = ApplyOptions(input=input, clusters=clusters, size=size, dropout=dropout, seed=seed,
                        side_by_side=side_by_side, device=device, precision=precision,
                        norm_stats=NormStats(norm_stats).value)
    from ..core.imageio import is_image_file

    claim_output(out, "file" if is_image_file(out) else "folder")
    written = apply_paths(model, photos, out, opts)
    for p in written[:10]:
        console.print(str(p))
    if len(written) > 10:
        console.print(f"... {len(written)} files in {out}")


@pix2pix_app.command("video")
def video_cmd(
    model: str = typer.Argument(..., help="A run folder, a snapshot .safetensors, a junyanz .pth or a weights name."),
    source: Path = typer.Argument(..., help="A video file (.mp4, .gif, ...) or a folder of frames."),
    out: Path = typer.Option(..., "-o", "--out", help="Output .mp4/.gif, or a folder for PNG frames."),
    blend: float = typer.Option(_V.blend, "--blend", min=0.0, max=0.95, help="Temporal blending against flicker: "
                                "each output is (1-blend)*new + blend*previous output."),
    input: Optional[str] = typer.Option(_V.input, "--input", help="edges, clusters or none; default: as in training."),
    clusters: Optional[int] = typer.Option(_V.clusters, "--clusters", min=1, max=20, help="Colour count (default: as in training)."),
    size: Optional[int] = typer.Option(_V.size, "--size", min=32, max=MAX_APPLY_SIZE,
                                       help="Longer side the network runs at (default: the training size)."),
    dropout: bool = typer.Option(_V.dropout, "--dropout", help="Keep dropout on, with the same noise seed on every frame."),
    norm_stats: NormStats = typer.Option(_V.norm_stats, "--norm-stats", help=NORM_STATS_HELP),
    seed: int = typer.Option(_V.seed, "--seed", help="Noise seed (fixed for every frame)."),
    side_by_side: bool = typer.Option(_V.side_by_side, "--side-by-side", help="Frames show original | input | output."),
    fps: Optional[float] = typer.Option(_V.fps, "--fps", help="Output frame rate (default: the input's; 24 for folders)."),
    max_frames: Optional[int] = typer.Option(_V.max_frames, "--max-frames", min=1, help="Stop after this many frames."),
    device: str = typer.Option(_V.device, "--device", help="auto, cpu, cuda or mps."),
    precision: str = typer.Option(_V.precision, "--precision", help="auto, fp32, bf16 or fp16."),
    cache: Optional[Path] = typer.Option(None, "--cache", help=CACHE_HELP + " (default: .OUT.pix2pix-frames/ beside OUT)."),
    restart: bool = typer.Option(False, "--restart", help=RESTART_HELP),
) -> None:
    """Apply a generator to every frame of a video; resumable through a frame cache next to OUT."""
    from ..core.progress import console
    from ..pix2pix.video import apply_video

    opts = VideoOptions(input=input, clusters=clusters, size=size, dropout=dropout, seed=seed,
                        side_by_side=side_by_side, device=device, precision=precision, blend=blend, fps=fps,
                        max_frames=max_frames, norm_stats=NormStats(norm_stats).value)
    from ..core.distributed import is_main

    from ..pix2pix.video import cache_dir_for

    claim_output(out, "folder" if out.suffix == "" or out.is_dir() else "file")
    claim_output(cache or cache_dir_for(out), "folder", what="frame cache")
    result = apply_video(model, source, out, opts, cache=cache, restart=restart)
    if is_main():
        console.print(f"{result.frames} frames ({result.reused} from the cache) -> {result.out}")


def register(app: typer.Typer) -> None:
    app.add_typer(pix2pix_app, name="pix2pix")
