"""pix2pix training: conditional GAN + L1, run directories, snapshots, resume, torchrun DDP.

One iteration (as in Isola et al.): G makes ``fake = G(A)``; D is updated on the pairs
``(A, B)`` (real) and ``(A, fake)`` (fake), each loss halved; then G is updated to fool the
updated D plus ``lambda_l1 * |fake - B|``. Adam (2e-4, betas 0.5/0.999) for both; the learning
rate is constant for the first half of the schedule and decays linearly to zero in the second
(``--epochs N`` = N constant + N decaying epochs, or ``--minutes M`` = a wall-clock budget).

The run directory follows the studio convention (``core.runs``): ``runs/NNNNN-<data>-pix2pix/``
with ``training_options.json``, ``fakes-init.png`` and ``fakesNNNNNNN.png`` grids (rows of
input | output | target on held-out images), ``network-snapshot-NNNNNNN.safetensors``
checkpoints (G, D, both optimisers, counters, RNG, data order) written atomically, and
``stats.jsonl``. ``--resume latest`` continues the newest pix2pix run where its last snapshot
left off.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..core import distributed as dist
from ..core.checkpoint import (clean_stale_temporaries, load_checkpoint, meta_entry, prefixed,
                               save_snapshot_checkpoint, unprefixed)
from ..core.device import Runtime, resolve_runtime, seed_everything
from ..core.errors import CheckpointError, UsageError
from ..core.media import make_grid
from ..core.imageio import save_image
from ..core.progress import info
from ..core.runs import StatsWriter, latest_run_dir, latest_snapshot, new_run_dir, save_options, snapshot_files
from .data import PairSampler, PairSet, load_training_pairs
from .networks import (ARCH_DEPTHS, NORMS, PatchConfig, UNetConfig, build_discriminator, build_generator,
                       check_state, discriminator_config_from, generator_config_from, init_weights,
                       load_state)
from .options import GAN_LOSSES, INPUT_KINDS, TrainOptions

FORMAT = "neuralbrush.pix2pix"
SNAPSHOT_PATTERN = "network-snapshot-*.safetensors"


# ----------------------------------------------------------------------------- configuration

def auto_arch(size: int) -> str:
    """The deepest U-Net (at most unet_256) whose input multiple divides ``size``."""
    for arch, depth in sorted(ARCH_DEPTHS.items(), key=lambda kv: -kv[1]):
        if size % (2 ** depth) == 0:
            return arch
    raise UsageError(f"--size {size} is not a multiple of 32; pix2pix U-Nets need multiples of 32 (e.g. 64, 128, 256)")


def validate_options(opts: TrainOptions) -> None:
    if not opts.data:
        raise UsageError("give the training data: a pairs dataset or a folder/zip of photos with --input")
    if opts.input is not None and opts.input not in INPUT_KINDS:
        raise UsageError(f"unknown --input {opts.input!r}; use edges or clusters")
    if opts.norm not in NORMS:
        raise UsageError(f"unknown --norm {opts.norm!r}; use batch or instance")
    if opts.gan_loss not in GAN_LOSSES:
        raise UsageError(f"unknown --gan-loss {opts.gan_loss!r}; use vanilla or lsgan")
    if opts.arch != "auto" and opts.arch not in ARCH_DEPTHS:
        raise UsageError(f"unknown --arch {opts.arch!r}; choose auto, " + ", ".join(ARCH_DEPTHS))
    if opts.arch != "auto" and opts.size % (2 ** ARCH_DEPTHS[opts.arch]):
        raise UsageError(f"{opts.arch} needs a size divisible by {2 ** ARCH_DEPTHS[opts.arch]}, got --size {opts.size}; "
                         f"use --arch {auto_arch(opts.size)}")
    if opts.size < 32:
        raise UsageError(f"--size must be at least 32, got {opts.size}")
    if opts.batch < 1:
        raise UsageError("--batch must be at least 1")
    if opts.minutes is not None and opts.minutes <= 0:
        raise UsageError("--minutes must be positive")
    if opts.epochs is not None and opts.epochs < 0 or (opts.epochs_decay is not None and opts.epochs_decay < 0):
        raise UsageError("--epochs must not be negative")
    if not 0 <= opts.holdout < 1:
        raise UsageError("--holdout must be in [0, 1)")


def generator_config(opts: TrainOptions) -> UNetConfig:
    arch = auto_arch(opts.size) if opts.arch == "auto" else opts.arch
    return UNetConfig(arch=arch, ngf=opts.ngf, norm=opts.norm, dropout=opts.dropout)


def discriminator_config(opts: TrainOptions) -> PatchConfig:
    return PatchConfig(in_channels=6, ndf=opts.ndf, n_layers=opts.n_layers, norm=opts.norm)


# ----------------------------------------------------------------------------- losses

def gan_loss(logits: torch.Tensor, real: bool, kind: str) -> torch.Tensor:
    """Vanilla (BCE with logits) or least-squares GAN loss against an all-real/all-fake target."""
    logits = logits.float()
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    if kind == "lsgan":
        return nn.functional.mse_loss(logits, target)
    return nn.functional.binary_cross_entropy_with_logits(logits, target)


def lr_factor(progress: float, constant_fraction: float) -> float:
    """1 during the constant part, then linear decay to 0 at progress 1."""
    if progress < constant_fraction:
        return 1.0
    return max(0.0, (1.0 - progress) / max(1e-12, 1.0 - constant_fraction))


# ----------------------------------------------------------------------------- optimiser state

def optimizer_to_tensors(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], list[dict]]:
    sd = opt.state_dict()
    tensors = {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            tensors[f"{prefix}.{pid}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    return tensors, sd["param_groups"]


def optimizer_from_tensors(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], prefix: str,
                           groups: list[dict]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    try:
        for k, v in unprefixed(tensors, prefix).items():
            pid, name = k.split(".", 1)
            state.setdefault(int(pid), {})[name] = v
        opt.load_state_dict({"state": state, "param_groups": groups})
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as e:
        raise CheckpointError(f"the snapshot's {prefix} optimiser state is damaged ({str(e)[:80] or type(e).__name__}); "
                              "resume from another snapshot") from None


# ----------------------------------------------------------------------------- resume sources

@dataclass
class ResumeSource:
    kind: str  # run | checkpoint | junyanz
    path: Path
    run_dir: Path | None = None


def resolve_resume(resume: str | None, outdir: str | os.PathLike) -> ResumeSource | None:
    """Interpret ``--resume``: latest | RUN dir | our checkpoint | weights-store name | .pth file."""
    if not resume:
        return None
    if resume == "latest":
        run = latest_run_dir(outdir, name_contains="pix2pix")
        return ResumeSource("run", latest_snapshot(run, SNAPSHOT_PATTERN), run)
    p = Path(resume)
    if p.is_dir():
        return ResumeSource("run", latest_snapshot(p, SNAPSHOT_PATTERN), p)
    if p.exists():
        if p.suffix == ".safetensors":
            return ResumeSource("checkpoint", p)
        return ResumeSource("junyanz", p)
    from ..weights import store

    if resume in store.CATALOGUE:
        if store.entry(resume).kind != "pix2pix-g":
            raise UsageError(f"{resume} is not a pix2pix generator; choose one of "
                             + ", ".join(n for n, e in store.CATALOGUE.items() if e.kind == "pix2pix-g"))
        return ResumeSource("junyanz", store.require(resume))
    raise UsageError(f"--resume {resume}: no such run, checkpoint or weights name (use latest, a run folder, "
                     "a .safetensors snapshot, a junyanz .pth file or e.g. pix2pix-edges2shoes)")


@dataclass
class ResumeState:
    """What a resume source gives, read and checked before any data is loaded."""

    source: ResumeSource
    gcfg: UNetConfig
    dcfg: PatchConfig | None = None
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)  # our snapshots
    meta: dict[str, Any] = field(default_factory=dict)
    junyanz: dict[str, torch.Tensor] | None = None  # a published generator, flat names


def read_resume(source: ResumeSource, opts: TrainOptions) -> ResumeState:
    """Read and check everything ``source`` holds (a bad file is refused before the data loads)."""
    if source.kind == "junyanz":
        from .junyanz import junyanz_to_flat, read_junyanz_file

        expect = None if opts.arch == "auto" else generator_config(opts)
        found, flat = junyanz_to_flat(read_junyanz_file(source.path), expect, label=str(source.path))
        gcfg = UNetConfig(found.arch, found.in_channels, found.out_channels, found.ngf, found.norm, opts.dropout)
        if opts.size % (2 ** gcfg.depth):
            raise UsageError(f"{source.path.name} is a {gcfg.arch}, which needs a size divisible by "
                             f"{2 ** gcfg.depth}; got --size {opts.size}")
        return ResumeState(source, gcfg, junyanz=flat)
    label = str(source.path)
    tensors, meta = load_checkpoint(source.path, expect_format=FORMAT)
    gcfg = generator_config_from(meta.get("generator"), label)
    dcfg = discriminator_config_from(meta.get("discriminator"), label)
    for key, kind in (("step", int), ("elapsed_s", (int, float)), ("sampler", dict), ("optG_groups", list),
                      ("optD_groups", list)):
        meta_entry(meta, key, kind, label)
    if meta["step"] < 0:
        raise CheckpointError(f"{label} has a negative step count in its metadata; it is damaged")
    with torch.device("meta"):  # names and shapes only: nothing is allocated
        check_state(build_generator(gcfg), unprefixed(tensors, "G"), label, "generator")
        check_state(build_discriminator(dcfg), unprefixed(tensors, "D"), label, "discriminator")
    if opts.size % (2 ** gcfg.depth):
        raise UsageError(f"the checkpoint's {gcfg.arch} needs a size divisible by {2 ** gcfg.depth}, got {opts.size}")
    return ResumeState(source, gcfg, dcfg, tensors, meta)


# ----------------------------------------------------------------------------- results

@dataclass
class TrainResult:
    run_dir: Path
    snapshot: Path | None
    step: int
    epoch: int
    elapsed_s: float
    val_l1: float | None
    mean_image_l1: float | None
    history: list[dict] = field(default_factory=list)


LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def _l1_rgb_and_luma(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image mean |x - y| over RGB, and over luma (Rec. 601), for [N, 3, H, W] batches."""
    d = x - y
    return d.abs().mean(dim=(1, 2, 3)), (d * LUMA).sum(1).abs().mean(dim=(1, 2))


def evaluate_l1(G: nn.Module, pairs: PairSet, rt: Runtime, batch: int = 16) -> dict[str, float]:
    """Mean |G(A) - B| over ``pairs`` in [-1, 1] units, on RGB and on luma (eval mode, no augmentation).

    Luma L1 measures structure (light and dark in the right places) without penalising a
    plausible colour that differs from the photo's, which edges alone cannot determine.
    """
    if len(pairs) == 0:  # no held-out images: nothing to measure (and no NaN to record)
        return {}
    was_training = G.training
    G.eval()
    rgb, luma, count = 0.0, 0.0, 0
    with torch.no_grad():
        for i in range(0, len(pairs), batch):
            a, b = pairs.tensors(list(range(i, min(len(pairs), i + batch))))
            with rt.autocast():
                fake = G(rt.tensor(a))
            l_rgb, l_luma = _l1_rgb_and_luma(fake.float().cpu(), b)
            rgb += l_rgb.sum().item()
            luma += l_luma.sum().item()
            count += a.shape[0]
    G.train(was_training)
    return {"val_L1": rgb / count, "val_L1_luma": luma / count}


def mean_image_l1(train: PairSet, val: PairSet) -> dict[str, float]:
    """The L1 of always predicting the mean training target (the baseline to beat), RGB and luma."""
    if len(val) == 0:
        return {}
    mean = torch.zeros_like(train.tensors([0])[1][0])
    for i in range(0, len(train), 64):
        mean += train.tensors(list(range(i, min(len(train), i + 64))))[1].sum(0)
    mean /= len(train)
    _, vb = val.tensors()
    l_rgb, l_luma = _l1_rgb_and_luma(mean[None].expand_as(vb), vb)
    return {"mean_image_L1": l_rgb.mean().item(), "mean_image_L1_luma": l_luma.mean().item()}


def evaluate_snapshot(snapshot: str | os.PathLike, data: str | os.PathLike | None = None, *,
                      device: str = "auto", precision: str = "fp32") -> dict[str, float]:
    """Validation numbers of a snapshot on the held-out images of its own run (same split; empty
    without held-out images)."""
    tensors, meta = load_checkpoint(latest_snapshot(snapshot, SNAPSHOT_PATTERN) if Path(snapshot).is_dir()
                                    else snapshot, expect_format=FORMAT)
    label = str(snapshot)
    o = TrainOptions.from_dict(meta_entry(meta, "options", dict, label))
    train_set, val_set = load_training_pairs(data or o.data, input_kind=o.input, size=o.size, clusters=o.clusters,
                                             holdout=o.holdout, seed=o.seed, max_images=o.max_images)
    rt = resolve_runtime(device, precision)
    G = build_generator(generator_config_from(meta.get("generator"), label))
    load_state(G, unprefixed(tensors, "G"), label, "generator")
    return {**evaluate_l1(rt.module(G), val_set, rt), **mean_image_l1(train_set, val_set),
            "step": meta["step"], "elapsed_s": meta["elapsed_s"]}


def snapshot_grid(G: nn.Module, pairs: PairSet, rt: Runtime):
    """Rows of input | output | target for ``pairs`` (eval mode)."""
    a, b = pairs.tensors()
    was_training = G.training
    G.eval()
    with torch.no_grad(), rt.autocast():
        fake = G(rt.tensor(a)).float().cpu()
    G.train(was_training)
    cells = []
    for i in range(a.shape[0]):
        cells += [a[i], fake[i], b[i]]
    labels = ["input", "output", "target"] + [""] * (len(cells) - 3)
    return make_grid(torch.stack(cells), (3, a.shape[0]), labels=labels, pad=2)


# ----------------------------------------------------------------------------- training

def train_step(G: nn.Module, D: nn.Module, D_plain: nn.Module, opt_G: torch.optim.Optimizer,
               opt_D: torch.optim.Optimizer, a: torch.Tensor, b: torch.Tensor, *, rt: Runtime,
               gan_kind: str = "vanilla", lambda_l1: float = 100.0, distributed: bool = False) -> dict[str, float]:
    """One pix2pix iteration: update D on real (A, B) and fake (A, G(A)) pairs, then G.

    ``G`` and ``D`` may be DDP wrappers; ``D_plain`` is the bare discriminator, used for G's
    step with its parameters frozen (so DDP never waits for gradients D does not get).
    """
    with rt.autocast():
        fake = G(a)

    # D: real pairs vs generated pairs (the two halves averaged)
    opt_D.zero_grad(set_to_none=True)
    with D.no_sync() if distributed else contextlib.nullcontext():  # one all-reduce, after both halves
        with rt.autocast():
            pred_fake = D(torch.cat([a, fake.detach()], 1))
        loss_D_fake = gan_loss(pred_fake, False, gan_kind)
        (0.5 * loss_D_fake).backward()
    with rt.autocast():
        pred_real = D(torch.cat([a, b], 1))
    loss_D_real = gan_loss(pred_real, True, gan_kind)
    (0.5 * loss_D_real).backward()
    opt_D.step()

    # G: fool the updated D, stay close to the target in L1
    D_plain.requires_grad_(False)
    opt_G.zero_grad(set_to_none=True)
    with rt.autocast():
        pred = D_plain(torch.cat([a, fake], 1))
    loss_G_gan = gan_loss(pred, True, gan_kind)
    loss_G_l1 = (fake.float() - b.float()).abs().mean()
    (loss_G_gan + lambda_l1 * loss_G_l1).backward()
    opt_G.step()
    D_plain.requires_grad_(True)
    return {"loss_D_real": float(loss_D_real.detach()), "loss_D_fake": float(loss_D_fake.detach()),
            "loss_G_gan": float(loss_G_gan.detach()), "loss_G_L1": float(loss_G_l1.detach())}


def train(opts: TrainOptions, *, callback: Callable[[dict], None] | None = None) -> TrainResult:
    """Train a pix2pix model; returns where it went and the final validation numbers."""
    validate_options(opts)
    source = resolve_resume(opts.resume, opts.outdir)
    resumed = read_resume(source, opts) if source is not None else None  # a bad file fails before the data loads
    rt = resolve_runtime(opts.device, opts.precision)
    distributed = dist.init(rt.device)
    rank, world = dist.rank(), dist.world_size()
    if opts.batch % world:
        raise UsageError(f"--batch {opts.batch} does not split evenly over {world} processes")
    main = rank == 0
    seed_everything(opts.seed + rank)

    meta: dict[str, Any] = resumed.meta if resumed is not None else {}
    tensors: dict[str, torch.Tensor] = resumed.tensors if resumed is not None else {}
    gcfg, dcfg = generator_config(opts), discriminator_config(opts)
    if resumed is not None and resumed.dcfg is not None:
        gcfg, dcfg = resumed.gcfg, resumed.dcfg

    # data (every rank loads it; it is small and in memory)
    train_set, val_set = load_training_pairs(opts.data, input_kind=opts.input, size=opts.size, clusters=opts.clusters,
                                             holdout=opts.holdout, seed=opts.seed, max_images=opts.max_images)
    sampler = PairSampler(train_set, size=opts.size, batch=opts.batch // world, scale_max=opts.scale_max,
                          flip=opts.flip, seed=opts.seed, rank=rank, world=world)

    # networks
    init_gen = torch.Generator().manual_seed(opts.seed)
    G_plain = init_weights(build_generator(gcfg), generator=init_gen)
    D_plain = init_weights(build_discriminator(dcfg), generator=init_gen)
    if resumed is not None and resumed.junyanz is not None:
        gcfg = resumed.gcfg
        G_plain = build_generator(gcfg)
        G_plain.load_state_dict(resumed.junyanz)
        dcfg = PatchConfig(6, opts.ndf, opts.n_layers, gcfg.norm)
        D_plain = init_weights(build_discriminator(dcfg), generator=init_gen)  # only G is published
        info(f"fine-tuning from {source.path.name} ({gcfg.arch}, {gcfg.norm} norm); D starts fresh")
    if tensors:
        G_plain.load_state_dict(unprefixed(tensors, "G"))
        D_plain.load_state_dict(unprefixed(tensors, "D"))
    G_plain, D_plain = rt.module(G_plain).train(), rt.module(D_plain).train()
    if distributed:
        dist.broadcast_module(G_plain)
        dist.broadcast_module(D_plain)
        G = nn.parallel.DistributedDataParallel(G_plain)
        D = nn.parallel.DistributedDataParallel(D_plain)
    else:
        G, D = G_plain, D_plain

    betas = (opts.beta1, opts.beta2)
    opt_G = torch.optim.Adam(G_plain.parameters(), lr=opts.lr, betas=betas)
    opt_D = torch.optim.Adam(D_plain.parameters(), lr=opts.lr, betas=betas)

    step, elapsed_prev = 0, 0.0
    if tensors:
        optimizer_from_tensors(opt_G, tensors, "optG", meta["optG_groups"])
        optimizer_from_tensors(opt_D, tensors, "optD", meta["optD_groups"])
        step, elapsed_prev = int(meta["step"]), float(meta["elapsed_s"])
        sampler.set_state(meta["sampler"])
        if rank != 0:  # each rank keeps its own augmentation stream
            sampler.rng = np.random.default_rng([opts.seed, rank, step])
        if "rng_torch" in tensors:
            try:
                torch.set_rng_state(tensors["rng_torch"])
            except (RuntimeError, TypeError):
                raise CheckpointError(f"{source.path} has a damaged random-number state; resume from another "
                                      "snapshot") from None

    # budget: epochs (constant + decay) or minutes (half constant, half decay)
    spe = sampler.steps_per_epoch
    if opts.minutes is not None:
        total_steps, total_s, constant_fraction = None, opts.minutes * 60.0, 0.5
    else:
        n_const = 100 if opts.epochs is None else opts.epochs
        n_decay = n_const if opts.epochs_decay is None else opts.epochs_decay
        total_steps, total_s = (n_const + n_decay) * spe, None
        constant_fraction = n_const / max(1, n_const + n_decay)

    # run directory (rank 0 writes)
    run_dir: Path | None = None
    stats: StatsWriter | None = None
    grid_pairs = val_set if len(val_set) else train_set
    grid_pairs = type(grid_pairs)(grid_pairs.a[: opts.grid_rows], grid_pairs.b[: opts.grid_rows],
                                  grid_pairs.names[: opts.grid_rows])
    baseline = mean_image_l1(train_set, val_set) if main else {}
    if main:
        if source is not None and source.kind == "run":
            run_dir = source.run_dir
            info(f"resuming {run_dir} at step {step} from {source.path.name}")
            clean_stale_temporaries(run_dir, "network-snapshot-*", what="unfinished snapshot")
        else:
            run_dir = new_run_dir(opts.outdir, f"{Path(opts.data).stem}-pix2pix")
        resolved = {**opts.to_dict(), "generator": gcfg.to_dict(), "discriminator": dcfg.to_dict(),
                    "runtime": rt.describe(), "world_size": world, "train_images": len(train_set),
                    "val_images": len(val_set), "steps_per_epoch": spe,
                    "resumed_from": str(source.path) if source else None}
        continuing = source is not None and source.kind == "run"
        save_options(run_dir, resolved, f"training_options-resume{step:07d}.json" if continuing else "training_options.json")
        stats = StatsWriter(run_dir)
        if not continuing:
            save_image(snapshot_grid(G_plain, grid_pairs, rt), run_dir / "fakes-init.png")
        info(f"pix2pix: {len(train_set)} training / {len(val_set)} validation images at {opts.size}px, "
             f"{gcfg.arch} ({gcfg.norm}), batch {opts.batch}, {rt.describe()}, world {world}")

    def progress_of(step_now: int, elapsed_now: float) -> float:
        if total_steps is not None:
            return step_now / total_steps if total_steps > 0 else 1.0
        return elapsed_now / total_s  # type: ignore[operator]

    sums = {"loss_D_real": 0.0, "loss_D_fake": 0.0, "loss_G_gan": 0.0, "loss_G_L1": 0.0}
    n_sum = 0
    t_start = time.time()
    t_last_stats = t_last_snap = t_start
    epoch_last_snap = sampler.epoch
    last_snapshot: Path | None = None
    val_l1: float | None = None
    history: list[dict] = []

    def elapsed_now() -> float:
        e = torch.tensor([elapsed_prev + time.time() - t_start], dtype=torch.float64)
        return float(dist.all_reduce_mean(e).item()) if distributed else float(e.item())

    def write_snapshot(elapsed: float) -> None:
        nonlocal last_snapshot, val_l1
        if main:
            assert run_dir is not None and stats is not None
            val = evaluate_l1(G_plain, val_set, rt)
            val_l1 = val.get("val_L1")
            save_image(snapshot_grid(G_plain, grid_pairs, rt), run_dir / f"fakes{step:07d}.png")
            t_opt_g, groups_g = optimizer_to_tensors(opt_G, "optG")
            t_opt_d, groups_d = optimizer_to_tensors(opt_D, "optD")
            out_tensors = {**prefixed(G_plain.state_dict(), "G"), **prefixed(D_plain.state_dict(), "D"),
                           **t_opt_g, **t_opt_d, "rng_torch": torch.get_rng_state()}
            ckpt_meta = {"format": FORMAT, "version": 1, "generator": gcfg.to_dict(), "discriminator": dcfg.to_dict(),
                         "input": opts.input, "clusters": opts.clusters, "size": opts.size,
                         "step": step, "epoch": sampler.epoch, "elapsed_s": elapsed,
                         "images_seen": step * opts.batch, "sampler": sampler.state(),
                         "optG_groups": groups_g, "optD_groups": groups_d, **val, **baseline,
                         "options": opts.to_dict()}
            path = run_dir / f"network-snapshot-{step:07d}.safetensors"
            save_snapshot_checkpoint(path, out_tensors, ckpt_meta, SNAPSHOT_PATTERN)
            last_snapshot = path
            if opts.keep > 0:
                for old in snapshot_files(run_dir, SNAPSHOT_PATTERN)[:-opts.keep]:
                    old.unlink(missing_ok=True)
            row = {**val, **baseline, "epoch": sampler.epoch, "elapsed_s": elapsed, "snapshot": path.name}
            stats.write(step, row)
            history.append({"step": step, **row})
            if val:
                info(f"snapshot {path.name}: validation L1 {val['val_L1']:.4f} "
                     f"(mean image {baseline['mean_image_L1']:.4f}), luma L1 {val['val_L1_luma']:.4f} "
                     f"(mean image {baseline['mean_image_L1_luma']:.4f})")
            else:
                info(f"snapshot {path.name} (no held-out images, so no validation L1)")
            if callback is not None:
                callback({"event": "snapshot", "step": step, **row})
        dist.barrier()

    while True:
        elapsed = elapsed_now()
        progress = progress_of(step, elapsed)
        if progress >= 1.0:
            break
        lr = opts.lr * lr_factor(progress, constant_fraction)
        for opt in (opt_G, opt_D):
            for g in opt.param_groups:
                g["lr"] = lr

        a, b = sampler.next_batch()
        losses = train_step(G, D, D_plain, opt_G, opt_D, rt.tensor(a), rt.tensor(b), rt=rt, gan_kind=opts.gan_loss,
                            lambda_l1=opts.lambda_l1, distributed=distributed)
        step += 1

        for k, v in losses.items():
            sums[k] += v
        n_sum += 1

        now = time.time()
        if main and now - t_last_stats >= 30.0:
            assert stats is not None
            row = {k: v / n_sum for k, v in sums.items()}
            row.update({"lr": lr, "epoch": sampler.epoch, "s_per_step": (now - t_last_stats) / n_sum,
                        "elapsed_s": elapsed_prev + now - t_start})
            stats.write(step, row)
            info(f"step {step} epoch {sampler.epoch} | D real {row['loss_D_real']:.3f} fake {row['loss_D_fake']:.3f} "
                 f"| G gan {row['loss_G_gan']:.3f} L1 {row['loss_G_L1']:.4f} | lr {lr:.2e} | "
                 f"{row['s_per_step']:.2f} s/step | {100 * progress:.0f}%")
            if callback is not None:
                callback({"event": "tick", "step": step, **row})
            sums = dict.fromkeys(sums, 0.0)
            n_sum = 0
            t_last_stats = now
        # snapshot decisions must agree across ranks: based on shared counters and averaged time
        snap_due = sampler.epoch - epoch_last_snap >= opts.snap_epochs
        if opts.snap_minutes > 0:
            since = torch.tensor([now - t_last_snap], dtype=torch.float64)
            since = dist.all_reduce_mean(since) if distributed else since
            snap_due = snap_due or since.item() >= opts.snap_minutes * 60.0
        if snap_due:
            write_snapshot(elapsed_now())
            t_last_snap, epoch_last_snap = time.time(), sampler.epoch

    write_snapshot(elapsed_now())
    if stats is not None:
        stats.close()
    result = TrainResult(run_dir or Path(opts.outdir), last_snapshot, step, sampler.epoch, elapsed_now(),
                         val_l1, baseline.get("mean_image_L1"), history)
    if distributed:
        dist.shutdown()
    return result
