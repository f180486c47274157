"""pix2pix training: conditional GAN + L1, run directories, snapshots, resume, torchrun DDP.

One iteration (as in Isola et al.): G makes ``fake = G(A)``; D is updated on the pairs
``(A, B)`` (real) and ``(A, fake)`` (fake), each loss halved; then G is updated to fool the
updated D plus ``lambda_l1 * |fake - B|``. Adam (2e-4, betas 0.5/0.999) for both; the learning
rate is constant for the first half of the schedule and decays linearly to zero in the second
(``--epochs N`` = N constant + N decaying epochs, or ``--minutes M`` = a wall-clock budget).

The run folder comes from :class:`neuralbrush.core.training.TrainingRun` (the same as the GAN
trainer's): ``runs/NNNNN-<data>-pix2pix/`` with ``training_options.json``, ``log.txt``,
``fakes_init.png`` and ``fakesNNNNNNN.png`` grids (rows of input | output | target on held-out
images) with ``progress.gif``, ``network-snapshot-NNNNNNN.safetensors`` (NNNNNNN = step; format in
:mod:`.snapshot`) and ``stats.jsonl``. Resuming has one meaning: :func:`resume` continues a run in
place, its saved options and snapshot decide everything but :data:`CONTINUE_OVERRIDES`;
``--resume latest`` is the newest pix2pix run of ``--outdir`` with a snapshot, and ``--resume RUN``
that run (:func:`run_to_continue`). A snapshot file, junyanz ``.pth`` or weights-store name starts a
new run from those weights (step 0, fresh optimisers), as a GAN snapshot starts transfer learning.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core import distributed as dist
from ..core.checkpoint import unprefixed
from ..core.device import Adam, Runtime, fused_optimizer_kwargs, resolve_runtime, seed_everything
from ..core.errors import UsageError
from ..core.progress import ProgressFn
from ..core.runs import latest_snapshot
from ..core.training import (Budget, TrainingRun, check_overrides, latest_resumable_run, rank0_decides,
                             restore_state_tensors, saved_options, state_tensors)
from .data import PairSampler, load_training_pairs
from .evaluate import evaluate_l1, evaluate_snapshot, mean_image_l1, snapshot_grid  # noqa: F401 (public here too)
from .networks import ARCH_DEPTHS, NORMS, PatchConfig, build_discriminator, build_generator, init_weights
from .options import GAN_LOSSES, INPUT_KINDS, TrainOptions
from .snapshot import (FORMAT, SNAPSHOT_PATTERN, ResumeSource, auto_arch, discriminator_config,  # noqa: F401
                       generator_config, read_resume, resolve_resume, save_snapshot)

# What a continued run may change; the rest (networks, data, losses) comes from the run itself.
CONTINUE_OVERRIDES = ("epochs", "epochs_decay", "minutes", "snap_epochs", "snap_minutes", "keep", "device",
                      "precision")
RUN_LENGTH = ("epochs", "epochs_decay", "minutes")  # given on a continuation, they replace the saved run length


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
    if not isinstance(opts.keep, int) or isinstance(opts.keep, bool) or opts.keep < 0:
        raise UsageError(f"--keep must be 0 (keep all) or more, got {opts.keep}")


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


def train(opts: TrainOptions, *, progress: ProgressFn | None = None) -> TrainResult:
    """Train a pix2pix model; returns where it went and the final validation numbers.
    ``opts.resume`` = ``latest`` or a run folder continues that run (see :func:`resume`), taking
    from ``opts`` the continuable options that differ from their defaults; a snapshot, junyanz file
    or weights name starts a new run from those weights."""
    validate_options(opts)
    run_dir = run_to_continue(opts.resume, opts.outdir)
    if run_dir is not None:
        return resume(run_dir, progress=progress, **_changed(opts))
    return _Session(opts, resolve_resume(opts.resume), progress).train()


def run_to_continue(resume: str | None, outdir: str | os.PathLike) -> Path | None:
    """The run ``--resume`` continues in place: ``latest`` (the newest pix2pix run of ``outdir``
    with a snapshot) or a pix2pix run folder (a folder of runs: its newest pix2pix run). None for
    no ``resume`` or a snapshot file, junyanz ``.pth`` or weights-store name (a new run from them)."""
    if not resume:
        return None
    if resume == "latest":
        return latest_resumable_run(outdir, "pix2pix")
    source = resolve_resume(resume)  # one sentence when it names nothing pix2pix can start from
    return source.run_dir if source is not None and source.kind == "run" else None


def _changed(opts: TrainOptions) -> dict:
    default = TrainOptions()
    return {k: getattr(opts, k) for k in CONTINUE_OVERRIDES if getattr(opts, k) != getattr(default, k)}


def resume(run_dir: str | os.PathLike, *, progress: ProgressFn | None = None, **overrides) -> TrainResult:
    """Continue ``run_dir`` in place from its newest snapshot (optimisers, schedule, data order and
    RNG restored: bit-identical to an uninterrupted run). ``overrides`` may only name
    :data:`CONTINUE_OVERRIDES`; a run length given replaces the saved one."""
    check_overrides(overrides, CONTINUE_OVERRIDES)
    run_dir = Path(run_dir)
    opts = TrainOptions.from_dict(saved_options(run_dir))
    if set(overrides) & set(RUN_LENGTH):
        opts.epochs = opts.epochs_decay = opts.minutes = None
    for k, v in overrides.items():
        setattr(opts, k, v)
    validate_options(opts)
    return _Session(opts, ResumeSource("run", latest_snapshot(run_dir), run_dir), progress, overrides).train()


class _Session:
    """One training session: set up (data, networks, maybe a snapshot's state), loop, snapshot."""

    def __init__(self, opts: TrainOptions, source: ResumeSource | None, progress: ProgressFn | None,
                 overrides: dict | None = None) -> None:
        self.opts, self.source, self.progress, self.overrides = opts, source, progress, dict(overrides or {})
        resumed = read_resume(source, opts) if source is not None else None  # a bad file fails before the data
        self.rt = rt = resolve_runtime(opts.device, opts.precision)
        self.distributed = dist.init(rt.device)
        rank, world = self.rank, self.world = dist.rank(), dist.world_size()
        if opts.batch % world:
            raise UsageError(f"--batch {opts.batch} does not split evenly over {world} processes")
        self.main = rank == 0
        seed_everything(opts.seed + rank)
        meta = resumed.meta if resumed is not None else {}
        tensors = resumed.tensors if resumed is not None else {}
        gcfg, dcfg = generator_config(opts), discriminator_config(opts)
        if resumed is not None and resumed.dcfg is not None:
            gcfg, dcfg = resumed.gcfg, resumed.dcfg

        # data (every rank loads it; it is small and in memory)
        self.train_set, self.val_set = load_training_pairs(opts.data, input_kind=opts.input, size=opts.size,
                                                           clusters=opts.clusters, holdout=opts.holdout,
                                                           seed=opts.seed, max_images=opts.max_images)
        self.sampler = PairSampler(self.train_set, size=opts.size, batch=opts.batch // world, scale_max=opts.scale_max,
                                   flip=opts.flip, seed=opts.seed, rank=rank, world=world)

        init_gen = torch.Generator().manual_seed(opts.seed)
        G_plain = init_weights(build_generator(gcfg), generator=init_gen)
        D_plain = init_weights(build_discriminator(dcfg), generator=init_gen)
        self.finetune_note = None
        if resumed is not None and resumed.junyanz is not None:
            gcfg = resumed.gcfg
            G_plain = build_generator(gcfg)
            G_plain.load_state_dict(resumed.junyanz)
            dcfg = PatchConfig(6, opts.ndf, opts.n_layers, gcfg.norm)
            D_plain = init_weights(build_discriminator(dcfg), generator=init_gen)  # only G is published
            self.finetune_note = f"fine-tuning from {source.path.name} ({gcfg.arch}, {gcfg.norm} norm); D starts fresh"
        if tensors and resumed.dcfg is None:  # a generator-only file: D starts fresh at the run's --ndf
            gcfg = resumed.gcfg
            G_plain = build_generator(gcfg)
            G_plain.load_state_dict(unprefixed(tensors, "G"))  # float16 exports are copied into float32
            dcfg = PatchConfig(gcfg.in_channels + gcfg.out_channels, opts.ndf, opts.n_layers, gcfg.norm)
            D_plain = init_weights(build_discriminator(dcfg), generator=init_gen)
            self.finetune_note = (f"starting from the generator of {source.path.name} (step {int(meta['step'])} of "
                                  f"its run; {gcfg.arch}, {gcfg.norm} norm); D, step, optimisers and schedule start "
                                  "afresh")
            tensors = {}
        if tensors:
            G_plain.load_state_dict(unprefixed(tensors, "G"))
            D_plain.load_state_dict(unprefixed(tensors, "D"))
            if source.kind != "run":  # a snapshot file: its weights start a new run (step 0, fresh optimisers)
                self.finetune_note = (f"starting from the weights of {source.path.name} (step {int(meta['step'])} "
                                      f"of its run; {gcfg.arch}, {gcfg.norm} norm); step, optimisers and schedule "
                                      "start afresh")
                tensors = {}
        self.gcfg, self.dcfg = gcfg, dcfg
        self.G_plain, self.D_plain = rt.module(G_plain).train(), rt.module(D_plain).train()
        if self.distributed:
            dist.broadcast_module(self.G_plain)
            dist.broadcast_module(self.D_plain)
            self.G = nn.parallel.DistributedDataParallel(self.G_plain)
            self.D = nn.parallel.DistributedDataParallel(self.D_plain)
        else:
            self.G, self.D = self.G_plain, self.D_plain
        betas = (opts.beta1, opts.beta2)
        # fused Adam: one pass over U-Net-256's 54 M parameters instead of five foreach sweeps (the
        # unfused step was ~19 % of a bf16 batch-1 iteration on the CPU; docs/benchmarks/pix2pix.md)
        fused = fused_optimizer_kwargs(rt.device)
        self.opt_G = Adam(self.G_plain.parameters(), lr=opts.lr, betas=betas, **fused)
        self.opt_D = Adam(self.D_plain.parameters(), lr=opts.lr, betas=betas, **fused)
        self.step, self.elapsed_prev = 0, 0.0
        if tensors:
            self.step, self.elapsed_prev = int(meta["step"]), float(meta["elapsed_s"])
            self.sampler.set_state(meta["sampler"])
            if rank != 0:  # each rank keeps its own augmentation stream
                self.sampler.rng = np.random.default_rng([opts.seed, rank, self.step])
            restore_state_tensors(tensors, optimizers={"G": self.opt_G, "D": self.opt_D}, where=source.path)

    def _open_run(self) -> TrainingRun:
        opts, source = self.opts, self.source
        resolved = {"generator": self.gcfg.to_dict(), "discriminator": self.dcfg.to_dict(),
                    "runtime": self.rt.describe(), "world_size": self.world, "train_images": len(self.train_set),
                    "val_images": len(self.val_set), "steps_per_epoch": self.sampler.steps_per_epoch,
                    "resumed_from": str(source.path) if source else None}
        common = dict(trainer="pix2pix", unit="step", keep=opts.keep, progress=self.progress)
        if source is None or source.kind != "run":
            return TrainingRun.start(opts.outdir, f"{Path(opts.data).stem}-pix2pix", opts.to_dict(), resolved, **common)
        run = TrainingRun.continue_(source.run_dir, **common)
        run.record_resume(opts.to_dict(), resolved, snapshot=source.path, at=self.step, overrides=self.overrides)
        run.log(f"resuming {source.run_dir} at step {self.step} from {source.path.name}")
        return run

    def train(self) -> TrainResult:
        self.run = run = self._open_run()
        try:
            self._loop()
        finally:
            run.close()
        result = TrainResult(run.run_dir or Path(self.opts.outdir), self.last_snapshot, self.step, self.sampler.epoch,
                             self.budget.elapsed, self.val_l1, self.baseline.get("mean_image_L1"), self.history)
        if self.distributed:
            dist.shutdown()
        return result

    def _budget(self) -> tuple[Budget, float]:
        """The run's length and the constant share of its learning-rate schedule."""
        opts = self.opts
        if opts.minutes is not None:
            return Budget(minutes=opts.minutes, elapsed_before=self.elapsed_prev), 0.5
        n_const = 100 if opts.epochs is None else opts.epochs
        n_decay = n_const if opts.epochs_decay is None else opts.epochs_decay
        limit = (n_const + n_decay) * self.sampler.steps_per_epoch
        return Budget(limit=limit, elapsed_before=self.elapsed_prev), n_const / max(1, n_const + n_decay)

    def write_snapshot(self) -> None:
        self.budget.fraction(self.step)  # every rank: the elapsed time rank 0 measures
        run, opts, elapsed = self.run, self.opts, self.budget.elapsed
        self.snapshot_step = self.step
        if self.main:
            val = evaluate_l1(self.G_plain, self.val_set, self.rt)
            self.val_l1 = val.get("val_L1")
            grid = snapshot_grid(self.G_plain, self.grid_pairs, self.rt)
            meta = {"input": opts.input, "clusters": opts.clusters, "size": opts.size, "step": self.step,
                    "epoch": self.sampler.epoch, "elapsed_s": elapsed, "images_seen": self.step * opts.batch,
                    "sampler": self.sampler.state(), **val, **self.baseline, "options": opts.to_dict()}
            path = save_snapshot(run.snapshot_path(self.step), G=self.G_plain, D=self.D_plain, gcfg=self.gcfg,
                                 dcfg=self.dcfg, meta=meta,
                                 extra_tensors=state_tensors(optimizers={"G": self.opt_G, "D": self.opt_D}))
            self.last_snapshot = path
            run.retain()
            run.write_grid(grid, self.step, frame=self.step)
            row = {**val, **self.baseline, "epoch": self.sampler.epoch, "elapsed_s": elapsed, "snapshot": path.name}
            run.stats(self.step, row)
            self.history.append({"step": self.step, **row})
            if val:
                b = self.baseline
                run.log(f"snapshot {path.name}: validation L1 {val['val_L1']:.4f} (mean image {b['mean_image_L1']:.4f}), "
                        f"luma L1 {val['val_L1_luma']:.4f} (mean image {b['mean_image_L1_luma']:.4f})")
            else:
                run.log(f"snapshot {path.name} (no held-out images, so no validation L1)")
            run.event("snapshot", self.step, self.budget.bar(self.step), stats=row, snapshot=path, preview=grid,
                      message=path.name)
        dist.barrier()

    def _loop(self) -> None:
        opts, run, sampler = self.opts, self.run, self.sampler
        pairs = self.val_set if len(self.val_set) else self.train_set
        self.grid_pairs = type(pairs)(pairs.a[: opts.grid_rows], pairs.b[: opts.grid_rows], pairs.names[: opts.grid_rows])
        self.baseline = mean_image_l1(self.train_set, self.val_set) if self.main else {}
        self.last_snapshot, self.val_l1, self.history, self.snapshot_step = None, None, [], None
        if self.finetune_note:
            run.log(self.finetune_note)
        if self.main and not run.continued:
            run.write_grid(snapshot_grid(self.G_plain, self.grid_pairs, self.rt), None, frame=self.step)
        run.log(f"pix2pix: {len(self.train_set)} training / {len(self.val_set)} validation images at {opts.size}px, "
                f"{self.gcfg.arch} ({self.gcfg.norm}), batch {opts.batch}, {self.rt.describe()}, world {self.world}")
        self.budget, constant_fraction = self._budget()
        sums = {"loss_D_real": 0.0, "loss_D_fake": 0.0, "loss_G_gan": 0.0, "loss_G_L1": 0.0}
        n_sum = 0
        t_last_stats = t_last_snap = time.time()
        epoch_last_snap = sampler.epoch
        while True:
            frac = self.budget.fraction(self.step)
            if frac >= 1.0:
                break
            lr = opts.lr * lr_factor(frac, constant_fraction)
            for opt in (self.opt_G, self.opt_D):
                for g in opt.param_groups:
                    g["lr"] = lr
            a, b = sampler.next_batch()
            losses = train_step(self.G, self.D, self.D_plain, self.opt_G, self.opt_D, self.rt.tensor(a),
                                self.rt.tensor(b), rt=self.rt, gan_kind=opts.gan_loss, lambda_l1=opts.lambda_l1,
                                distributed=self.distributed)
            self.step += 1
            for k, v in losses.items():
                sums[k] += v
            n_sum += 1
            run.event("step", self.step, self.budget.bar(self.step), message=f"epoch {sampler.epoch} "
                      f"L1 {losses['loss_G_L1']:.3f} lr {lr:.1e}")
            now = time.time()
            if self.main and now - t_last_stats >= 30.0:
                row = {k: v / n_sum for k, v in sums.items()}
                row.update({"lr": lr, "epoch": sampler.epoch, "s_per_step": (now - t_last_stats) / n_sum,
                            "elapsed_s": self.budget.elapsed})
                run.stats(self.step, row)
                run.log(f"step {self.step} epoch {sampler.epoch} | D real {row['loss_D_real']:.3f} fake "
                        f"{row['loss_D_fake']:.3f} | G gan {row['loss_G_gan']:.3f} L1 {row['loss_G_L1']:.4f} | "
                        f"lr {lr:.2e} | {row['s_per_step']:.2f} s/step | {100 * frac:.0f}%")
                run.event("tick", self.step, self.budget.bar(self.step), stats=row, message=f"step {self.step}")
                sums, n_sum, t_last_stats = dict.fromkeys(sums, 0.0), 0, now
            # snapshot decisions must agree across ranks: shared counters, and rank 0's clock
            snap_due = sampler.epoch - epoch_last_snap >= opts.snap_epochs
            if opts.snap_minutes > 0:
                snap_due = snap_due or rank0_decides(now - t_last_snap) >= opts.snap_minutes * 60.0
            if snap_due:
                self.write_snapshot()
                t_last_snap, epoch_last_snap = time.time(), sampler.epoch
        if self.snapshot_step != self.step:  # the last step's snapshot, unless it was just written
            self.write_snapshot()
