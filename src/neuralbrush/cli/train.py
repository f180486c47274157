"""``neuralbrush train DATASET``: StyleGAN2-ADA or DCGAN training (the loop is gan.train)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..gan.presets import CFGS, TrainOptions

_D = TrainOptions()  # defaults declared once, in the dataclass


def train_cmd(
    ctx: typer.Context,
    data: Optional[str] = typer.Argument(None, help="Dataset folder or zip (neuralbrush dataset build). "
                                                    "Optional with --config or --resume latest."),
    config: Optional[Path] = typer.Option(None, "--config", help="A training_options.json to re-run; "
                                                                  "options given on the command line win."),
    arch: str = typer.Option(_D.arch, help="Network family: stylegan2 or dcgan."),
    cfg: str = typer.Option(_D.cfg, help=f"Preset: {', '.join(CFGS)} (small = CPU-sized, 32-128 px)."),
    res: Optional[int] = typer.Option(_D.res, help="Train at this resolution (images are centre-cropped and "
                                                   "resized); default: the dataset's own."),
    mirror: bool = typer.Option(_D.mirror, "--mirror/--no-mirror", help="Add x-flipped copies of the images."),
    cond: bool = typer.Option(_D.cond, "--cond/--no-cond", help="Train conditionally on dataset.json labels."),
    kimg: Optional[float] = typer.Option(_D.kimg, help="Stop after this many thousand real images shown "
                                                       "(default: the preset's)."),
    minutes: Optional[float] = typer.Option(_D.minutes, help="Stop after this many minutes (then snapshot)."),
    batch: Optional[int] = typer.Option(_D.batch, help="Total batch size over all processes (default: preset)."),
    gamma: Optional[float] = typer.Option(_D.gamma, help="R1 weight (default: preset)."),
    glr: Optional[float] = typer.Option(_D.glr, help="Generator learning rate (default: preset)."),
    dlr: Optional[float] = typer.Option(_D.dlr, help="Discriminator learning rate (default: preset)."),
    map: Optional[int] = typer.Option(_D.map, "--map", help="Mapping network depth (default: preset)."),
    cbase: Optional[int] = typer.Option(_D.cbase, help="Channel base: channels at res r = min(cbase // r, cmax)."),
    cmax: Optional[int] = typer.Option(_D.cmax, help="Maximum channels per layer (default: preset)."),
    mbstd: Optional[int] = typer.Option(_D.mbstd, help="Minibatch-stddev group size (default: preset)."),
    ema_kimg: Optional[float] = typer.Option(_D.ema_kimg, "--ema", help="EMA half-life in kimg (default: preset)."),
    style_mixing: Optional[float] = typer.Option(_D.style_mixing, help="Style mixing probability (default 0.9)."),
    pl_weight: Optional[float] = typer.Option(_D.pl_weight, help="Path length regularisation weight (default 2)."),
    aug: str = typer.Option(_D.aug, help="Augmentation: ada (adaptive p), fixed (--p), noaug."),
    p: float = typer.Option(_D.p, help="Augmentation probability (start value for ada, constant for fixed)."),
    target: float = typer.Option(_D.target, help="ADA target for E[sign(D(real))]."),
    ada_kimg: Optional[float] = typer.Option(_D.ada_kimg, help="ADA speed: kimg for p to go 0 -> 1 "
                                                               "(default 500, 100 when transfer learning)."),
    resume: Optional[str] = typer.Option(_D.resume, help="'latest' continues the newest run in --outdir; a snapshot, "
                                                         "run dir, weights name (ffhq256) or NVIDIA .pkl starts "
                                                         "transfer learning from it."),
    freezed: int = typer.Option(_D.freezed, help="Freeze-D: freeze this many discriminator layers from the top "
                                                 "resolution (10-13 suggested for transfer)."),
    tick: float = typer.Option(_D.tick, help="Progress/stats interval in kimg."),
    snap: int = typer.Option(_D.snap, help="Snapshot (and grid, metrics) every this many ticks."),
    grid: str = typer.Option(_D.grid, help="Sample grid COLSxROWS, or auto."),
    seed: int = typer.Option(_D.seed, help="Random seed."),
    outdir: str = typer.Option(_D.outdir, help="Where run directories are created."),
    device: str = typer.Option(_D.device, help="auto, cpu, cuda or mps."),
    precision: str = typer.Option(_D.precision, help="auto, fp32, bf16 or fp16."),
    metrics: str = typer.Option(_D.metrics, help="Comma-separated: swd, fid, kid, or none."),
    metric_images: int = typer.Option(_D.metric_images, help="Images per metric evaluation."),
    workers: int = typer.Option(_D.workers, help="Threads decoding images."),
    threads: int = typer.Option(_D.threads, help="Torch CPU threads; 0 = auto (1 when the CPU is already busy)."),
) -> None:
    """Train a StyleGAN2-ADA (or DCGAN) generator on a dataset; runs/NNNNN-<data>-<cfg>/ holds the results.

    Under torchrun --nproc_per_node N the same command trains with N processes (DDP).
    """
    from ..core.checkpoint import read_json
    from ..core.errors import UsageError
    from ..gan.train import train

    values = dict(data=data or "", arch=arch, cfg=cfg, res=res, mirror=mirror, cond=cond, kimg=kimg, minutes=minutes,
                  batch=batch, gamma=gamma, glr=glr, dlr=dlr, map=map, cbase=cbase, cmax=cmax, mbstd=mbstd,
                  ema_kimg=ema_kimg, style_mixing=style_mixing, pl_weight=pl_weight, aug=aug, p=p, target=target,
                  ada_kimg=ada_kimg, resume=resume, freezed=freezed, tick=tick, snap=snap, grid=grid, seed=seed,
                  outdir=outdir, device=device, precision=precision, metrics=metrics, metric_images=metric_images,
                  workers=workers, threads=threads)
    # Options the user actually typed (not defaults): they win over --config and --resume latest.
    explicit = {k for k in values if (src := ctx.get_parameter_source(k)) is not None and src.name != "DEFAULT"}
    if config is not None:
        if not config.is_file():
            raise UsageError(f"options file {config} does not exist")
        doc = read_json(config)
        if not isinstance(doc, dict):
            raise UsageError(f"{config} must hold a JSON object of training options, not a {type(doc).__name__}")
        doc.pop("resolved", None)
        base = TrainOptions.from_dict(doc).to_dict()
        values = {**base, **{k: v for k, v in values.items() if k in explicit}}
        explicit |= set(doc)
    opts = TrainOptions(**values).validate()  # every value, before anything is read or created
    if not values["data"] and values["resume"] != "latest":
        raise UsageError("give a DATASET folder or zip (or --config FILE, or --resume latest)")
    from ..core.outputs import claim_output

    claim_output(values["outdir"], "folder", what="--outdir")  # refused before the data or the networks load
    run_dir = train(opts, explicit=explicit)
    print(run_dir)


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
