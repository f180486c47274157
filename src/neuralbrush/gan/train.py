"""The GAN training loop (StyleGAN2-ADA, DCGAN and lite share it).

``train(TrainOptions(data='blooms/', cfg='small', minutes=10))`` creates
``runs/NNNNN-<dataset>-<cfg>/`` through :class:`neuralbrush.core.training.TrainingRun`:
training_options.json, reals.png, fakes_init.png, fakesNNNNNN.png +
network-snapshot-NNNNNN.safetensors at every snapshot (NNNNNN = kimg), stats.jsonl (and
TensorBoard events), metrics.jsonl, log.txt and progress.gif/.mp4.

Resuming has one meaning (shared with pix2pix): :func:`resume` continues a run in place with
kimg, augment p, optimiser and RNG states restored; the run's saved options decide everything
except :data:`CONTINUE_OVERRIDES`. ``resume='latest'`` (the newest GAN run of ``outdir`` with a
snapshot) and ``resume=RUN_DIR`` (a GAN run folder) continue that run; a snapshot file, NVIDIA
``.pkl`` or weights-store name is transfer learning into a new run (:func:`run_to_continue`).

Under ``torchrun`` every rank trains on batch/N images; gradients are averaged across ranks by
hand after each phase (works with R1's double backward and lazy regularisation), and rank 0
writes all outputs.

Slightly over 400 lines: the loop for three architectures, ADA, metrics and the clock cadence;
the run bookkeeping already lives in core/training.py and the state tensors in trainer_state.py.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import torch

from ..core import distributed as dist
from ..core.checkpoint import read_json
from ..core.errors import UsageError
from ..core.progress import ProgressFn
from ..core.runs import latest_snapshot
from ..core.sources import SNAPSHOT
from ..core.training import (OPTIONS_FILE, Budget, Cadence, TrainingRun, check_overrides, latest_resumable_run,
                             restore_state_tensors, run_trainer, saved_options, snapshot_minutes, state_tensors)
from . import build_discriminator, build_generator
from .augment import AdaController, AugmentPipe, make_augment_pipe
from .loading import gan_source
from .loss import GANLoss, LiteLoss
from .metrics import MetricRunner
from .presets import AUGS, TrainOptions, lazy_optimizer_kwargs, resolve
from .snapshot import load_snapshot, restore_networks, save_snapshot
from .trainer_state import (RealImages, average_grads, frozen_parameters, generate_images, grid_size,
                            load_transfer_source, reduce_sum, set_threads, to_float)

_set_threads = set_threads  # the benchmarks' name for it

# What a continued run may change; everything else (network shape, data, losses) comes from the
# run being continued, whose snapshot holds the weights.
CONTINUE_OVERRIDES = ("kimg", "minutes", "tick", "tick_minutes", "snap", "snap_minutes", "keep", "device", "precision",
                      "metrics", "metric_images", "workers", "threads")
RUN_LENGTH = ("kimg", "minutes")  # given on a continuation, they replace the saved run length


def train(opts: TrainOptions, *, progress: ProgressFn | None = None) -> Path:
    """Train a GAN; returns the run directory. ``opts.resume`` = ``latest`` or a GAN run folder
    continues that run in place (see :func:`resume`), taking from ``opts`` the continuable options
    that differ from their defaults; any other ``opts.resume`` is transfer learning into a new run."""
    opts.validate()  # every option, before the dataset is read or any folder is created
    run_dir = run_to_continue(opts.resume, opts.outdir)
    if run_dir is not None:
        default = TrainOptions()
        overrides = {k: getattr(opts, k) for k in CONTINUE_OVERRIDES if getattr(opts, k) != getattr(default, k)}
        return resume(run_dir, progress=progress, **overrides)
    return _Loop(opts, progress=progress).train()


def run_to_continue(resume: str | None, outdir: str | os.PathLike) -> Path | None:
    """The run ``--resume`` continues in place: ``latest`` (the newest GAN run of ``outdir`` with a
    snapshot) or a GAN run folder (a folder of runs: its newest GAN run). None for no ``resume``
    or a snapshot file, NVIDIA ``.pkl`` (or NVlabs run folder) or weights-store name: those start
    transfer learning into a new run."""
    if not resume:
        return None
    if resume == "latest":
        return latest_resumable_run(outdir, "gan")
    src = gan_source(resume)  # one sentence when it names nothing a GAN can start from
    if src.run_dir is not None and src.kind == SNAPSHOT and (src.run_dir / OPTIONS_FILE).is_file() \
            and run_trainer(src.run_dir) == "gan":
        return src.run_dir
    return None


def pin_to_record(opts: TrainOptions, resolved: dict | None) -> None:
    """A continued run keeps the learning rates, R1 weight, augmentation (and DiffAugment's colour
    share), minibatch-stddev group and D's reconstruction weight it started with where its
    options left them to the preset: a preset changed since (issue 14 changed ``small``'s) must not
    change a run half-way. ``resolved`` is the run record's section of that name."""
    if not isinstance(resolved, dict):
        return
    for name, key, sub in (("glr", "G_opt", "lr"), ("dlr", "D_opt", "lr"), ("gamma", "r1_gamma", None)):
        value = resolved.get(key)
        value = value.get(sub) if sub and isinstance(value, dict) else value
        if getattr(opts, name) is None and isinstance(value, (int, float)) and not isinstance(value, bool):
            setattr(opts, name, float(value))
    if opts.aug == "auto":
        opts.aug = resolved.get("aug") if resolved.get("aug") in AUGS and resolved.get("aug") != "auto" else "ada"
    d_kwargs = resolved.get("D_kwargs") if isinstance(resolved.get("D_kwargs"), dict) else {}
    group = d_kwargs.get("mbstd_group_size")
    if opts.mbstd is None and isinstance(group, int) and not isinstance(group, bool) and group >= 1:
        opts.mbstd = group  # the minibatch-stddev group (the ninth round changed small's from 4 to 16)
    if opts.diffaugment_color_p is None:  # records from before the option recoloured every image
        share = resolved.get("color_p", 1.0)
        opts.diffaugment_color_p = float(share) if isinstance(share, (int, float)) and not isinstance(share, bool) else 1.0
    if opts.d_recon is None and "mbstd_group_size" in d_kwargs:  # StyleGAN2: D's decoders, or none
        weight = resolved.get("recon_weight", 0.0)  # records from before --d-recon have none
        opts.d_recon = float(weight) if isinstance(weight, (int, float)) and not isinstance(weight, bool) else 0.0


def resume(run_dir: str | os.PathLike, *, progress: ProgressFn | None = None, **overrides) -> Path:
    """Continue ``run_dir`` from its newest snapshot, in place. ``overrides`` may only name
    :data:`CONTINUE_OVERRIDES` (a run length given replaces the saved one)."""
    check_overrides(overrides, CONTINUE_OVERRIDES)
    if "kimg" in overrides and "minutes" in overrides:
        raise UsageError("give either --kimg or --minutes, not both")
    run_dir = Path(run_dir)
    opts = TrainOptions.from_dict(saved_options(run_dir))
    pin_to_record(opts, read_json(run_dir / OPTIONS_FILE).get("resolved"))
    if set(overrides) & set(RUN_LENGTH):
        opts.kimg = opts.minutes = None
    for k, v in overrides.items():
        setattr(opts, k, v)
    opts.validate()  # the continued run's saved options, too
    return _Loop(opts, progress=progress, continue_dir=run_dir, overrides=overrides).train()


class _Loop:
    """One training session: set up (networks, optimisers, maybe a snapshot), loop, snapshot."""

    # The lean loop: fused Adam steps (one kernel per optimiser instead of a Python loop over every
    # tensor), the EMA as one foreach lerp, ADA's resampling as matrix products and its sampling by
    # grid_sample's kernel, the layers' weight gains folded into their activation gains, D's main
    # phase scoring fakes and reals in one call. ``lean=False`` keeps the per-tensor loops, the
    # depthwise-convolution resampling, the gather sampler, a scaled weight per layer call and two
    # D calls: the loop as it was, for the benchmarks' before/after (benchmarks/bench_train_profile.py,
    # bench_conv_bound.py).
    LEAN = True

    def __init__(self, opts: TrainOptions, *, progress: ProgressFn | None, continue_dir: Path | None = None,
                 overrides: dict | None = None, lean: bool | None = None) -> None:
        from ..core.device import Adam, fused_optimizer_kwargs, resolve_runtime, seed_everything
        from ..datasets.reader import ImageDataset

        self.lean = self.LEAN if lean is None else bool(lean)
        self.opts, self.progress = opts, progress
        self.continue_dir, self.overrides = continue_dir, dict(overrides or {})
        self.runtime = resolve_runtime(opts.device, opts.precision)
        set_threads(opts.threads)
        self.distributed = dist.init(self.runtime.device)
        self.rank, self.world = dist.rank(), dist.world_size()
        seed_everything(opts.seed)  # the same initial networks on every rank (and as a 1-process run)

        self.dataset = dataset = ImageDataset(opts.data, resolution=opts.res, use_labels=opts.cond, xflip=opts.mirror)
        if {"fid", "kid"} & set(opts.metrics.split(",")) and min(opts.metric_images, len(dataset)) < 2:
            raise UsageError(f"FID/KID compare at least 2 images; {opts.data} has {len(dataset)} (use --metrics swd)")
        self.transfer = opts.resume not in (None, "", "latest")  # the run started from foreign weights
        self.cfg = cfg = resolve(opts, res=dataset.resolution, img_channels=dataset.channels,
                                 c_dim=dataset.label_dim, world=self.world, transfer=self.transfer)
        self.reals = RealImages(dataset, workers=opts.workers)

        G = build_generator(cfg.arch, **cfg.G_kwargs).train().requires_grad_(False)
        D = build_discriminator(cfg.arch, **cfg.D_kwargs).train().requires_grad_(False)
        G_ema = build_generator(cfg.arch, **cfg.G_kwargs).eval().requires_grad_(False)
        G_ema.load_state_dict(G.state_dict())
        self.report = load_transfer_source(opts.resume, G, D, G_ema) if self.transfer and not continue_dir else None
        self.G, self.D, self.G_ema = (self.runtime.module(m) for m in (G, D, G_ema))
        if not self.lean:  # the plain loop keeps the layers as they ran before: a scaled weight per call
            for m in (*G.modules(), *D.modules(), *G_ema.modules()):
                if hasattr(m, "fold_gain"):
                    m.fold_gain = False
        if self.world > 1:  # per-rank streams for augmentation and noise from here on
            seed_everything(opts.seed * self.world + self.rank)
        self.pipe = make_augment_pipe(cfg.aug, opts.p, policy=opts.diffaugment, color_p=cfg.color_p)
        if self.pipe is not None:
            self.pipe = self.pipe.to(self.runtime.device)
            if isinstance(self.pipe, AugmentPipe) and not self.lean:
                self.pipe.resample, self.pipe.sampler = "conv", "gather"  # the pipe as it was
        self.ada = AdaController(target=opts.target, ada_kimg=cfg.ada_kimg) if cfg.aug == "ada" else None
        fused = fused_optimizer_kwargs(self.runtime.device) if self.lean else {}
        self.opt_G = Adam(self.G.parameters(), **lazy_optimizer_kwargs(cfg.G_opt, cfg.G_reg_interval), **fused)
        self.opt_D = Adam(self.D.parameters(), **lazy_optimizer_kwargs(cfg.D_opt, cfg.D_reg_interval), **fused)
        self._ema_pairs = ([p for p in self.G_ema.parameters()], [p for p in self.G.parameters()],
                           [b for b in self.G_ema.buffers()], [b for b in self.G.buffers()])
        self.frozen = frozen_parameters(self.D, opts.freezed)
        self.state = dict(cur_nimg=0, tick=0, batch_idx=0)
        self.data_gen = torch.Generator().manual_seed(opts.seed)
        self.z_gen = torch.Generator().manual_seed(opts.seed + 1)
        loss_class = LiteLoss if cfg.arch == "lite" else GANLoss  # lite: hinge + D's reconstructions
        self.loss = loss_class(self.G, self.D, augment_pipe=self.pipe, r1_gamma=cfg.r1_gamma,
                               style_mixing_prob=cfg.style_mixing, pl_weight=cfg.pl_weight,
                               autocast=self.runtime.autocast, noise_mode=opts.noise_mode,
                               reduce_mean=dist.all_reduce_mean,
                               # lite's D always reconstructs (LiteLoss's own weight); StyleGAN2's per --d-recon
                               **({} if cfg.arch == "lite" else {"recon_weight": cfg.recon_weight}))
        self.loss.pair_d = self.lean  # the plain loop scores fakes and reals in two D calls, as it did
        if self.ada is not None:
            self.loss.real_logits_hook = self.ada.accumulate
        self.snapshot_from = self._restore() if continue_dir is not None else None
        if self.distributed:
            for m in (self.G, self.D, self.G_ema):
                dist.broadcast_module(m)
        self.z_dim = cfg.G_kwargs["z_dim"]
        gw, gh = self.grid = grid_size(opts.grid, cfg.res)
        self.grid_z = torch.randn(gw * gh, self.z_dim, generator=torch.Generator().manual_seed(opts.seed))
        _, labels = self.reals.first(gw * gh, seed=opts.seed)
        self.grid_c = labels.repeat(math.ceil(gw * gh / max(len(labels), 1)), 1)[: gw * gh] if labels.numel() \
            else torch.zeros(gw * gh, 0)
        self.metric_z = torch.randn(opts.metric_images, self.z_dim, generator=torch.Generator().manual_seed(opts.seed + 7))
        self.metrics: MetricRunner | None = None

    def _restore(self) -> Path:
        """Networks, optimisers, RNG, augment p, path-length mean and counters from the newest snapshot."""
        path = latest_snapshot(self.continue_dir)
        snap = load_snapshot(path)
        restore_networks(snap, self.G, self.D, self.G_ema)  # one sentence when it cannot continue this run
        extra = snap.extra_tensors
        restore_state_tensors(extra, optimizers={"G": self.opt_G, "D": self.opt_D},
                              generators={"data": self.data_gen, "z": self.z_gen}, where=path)
        if self.rank:  # the saved global torch RNG is rank 0's; other ranks keep their own stream
            torch.manual_seed(self.opts.seed * self.world + self.rank + int(snap.meta["cur_nimg"]))
        if isinstance(self.pipe, AugmentPipe) and "augment.p" in extra:
            self.pipe.p.copy_(extra["augment.p"])
        if self.ada is not None and self.rank == 0 and "ada.sums" in extra:  # see _gather_ada_sums
            self.ada.sign_sum, self.ada.count = extra["ada.sums"].tolist()
        if "loss.pl_mean" in extra:
            self.loss.pl_mean = extra["loss.pl_mean"].clone()
        for k in self.state:
            self.state[k] = int(snap.meta[k])
        return path

    @property
    def p(self) -> float:
        return float(self.pipe.p) if isinstance(self.pipe, AugmentPipe) else 0.0

    # -- one minibatch ---------------------------------------------------------------------------------
    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's slice of a globally sampled batch of reals."""
        idx = torch.randint(self.reals.size, (self.cfg.batch,), generator=self.data_gen)
        mine = idx[self.rank * self.cfg.batch_per_rank:(self.rank + 1) * self.cfg.batch_per_rank]
        img, c = self.reals.get(mine)
        return self.runtime.tensor(to_float(img)), c.to(self.runtime.device)

    def _latents(self, c_like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn(self.cfg.batch, self.z_dim, generator=self.z_gen)
        z = z[self.rank * self.cfg.batch_per_rank:(self.rank + 1) * self.cfg.batch_per_rank]
        if c_like.shape[1]:  # conditional: fake labels drawn from the data's labels
            idx = torch.randint(self.reals.size, (z.shape[0],), generator=self.z_gen)
            c = self.reals.labels[idx] if self.reals.labels is not None else c_like
        else:
            c = c_like.new_zeros(z.shape[0], 0)
        return z.to(self.runtime.device), c.to(self.runtime.device)

    def _phase(self, name: str, module, opt, interval: int, real, real_c) -> None:
        params = [p for p in module.parameters() if id(p) not in self.frozen]
        for p in params:
            p.requires_grad_(True)
        opt.zero_grad(set_to_none=True)
        z, c = self._latents(real_c)
        self.loss.accumulate(name, real, real_c, z, c, gain=interval)
        for p in params:
            p.requires_grad_(False)
        average_grads(module)
        opt.step()

    def step(self) -> None:
        cfg, idx = self.cfg, self.state["batch_idx"]
        real, real_c = self._batch()
        for module, opt, interval, prefix in ((self.G, self.opt_G, cfg.G_reg_interval, "G"),
                                              (self.D, self.opt_D, cfg.D_reg_interval, "D")):
            if interval:
                self._phase(f"{prefix}main", module, opt, 1, real, real_c)
                if idx % interval == 0:
                    self._phase(f"{prefix}reg", module, opt, interval, real, real_c)
            else:
                self._phase(f"{prefix}both", module, opt, 1, real, real_c)
        self.state["cur_nimg"] += cfg.batch
        self.state["batch_idx"] += 1
        if self.world > 1:
            self._sync_tracked_buffers()
        self._update_ema()
        if self.ada is not None:
            self.ada.update(self.pipe, cfg.batch, idx, reduce=reduce_sum)

    @torch.no_grad()
    def _sync_tracked_buffers(self) -> None:
        """Running statistics (w_avg, BatchNorm) saw only this rank's images: average them. For
        w_avg (a lerp towards the batch mean) this equals tracking the global batch exactly."""
        for module in (self.G, self.D):
            for name, b in module.named_buffers():
                if b.is_floating_point() and name.rsplit(".", 1)[-1] in ("w_avg", "running_mean", "running_var"):
                    dist.all_reduce_mean(b)

    @torch.no_grad()
    def _update_ema(self) -> None:
        ema_nimg = self.cfg.ema_kimg * 1000
        if self.cfg.ema_ramp is not None:
            ema_nimg = min(ema_nimg, self.state["cur_nimg"] * self.cfg.ema_ramp)
        beta = 0.5 ** (self.cfg.batch / max(ema_nimg, 1e-8))
        if self.lean:  # p_ema + (1 - beta) (p - p_ema), every tensor in one call
            ema_p, p, ema_b, b = self._ema_pairs
            torch._foreach_lerp_(ema_p, p, 1.0 - beta)
            torch._foreach_copy_(ema_b, b)
            return
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    # -- outputs ---------------------------------------------------------------------------------------
    def _fakes(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return generate_images(self.G_ema, z, c, autocast=self.runtime.autocast)

    def _metric_fakes(self, n: int) -> torch.Tensor:
        z = self.metric_z[:n]
        if self.reals.label_dim:
            c = self.reals.labels[torch.randint(self.reals.size, (n,), generator=torch.Generator().manual_seed(3))]
        else:
            c = torch.zeros(n, 0)
        return self._fakes(z, c)

    def _grid(self, kimg: int | None):
        from ..core.media import make_grid

        grid = make_grid(self._fakes(self.grid_z, self.grid_c), self.grid)
        self.run.write_grid(grid, kimg, frame=self.state["cur_nimg"])
        return grid

    def snapshot(self) -> Path:
        kimg = self.state["cur_nimg"] // 1000
        extra = {**state_tensors(optimizers={"G": self.opt_G, "D": self.opt_D},
                                 generators={"data": self.data_gen, "z": self.z_gen}),
                 "loss.pl_mean": self.loss.pl_mean.cpu()}
        if isinstance(self.pipe, AugmentPipe):
            extra["augment.p"] = self.pipe.p.detach().cpu().clone()
        if self.ada is not None:
            extra["ada.sums"] = torch.tensor([self.ada.sign_sum, self.ada.count], dtype=torch.float64)
        meta = dict(self.state, augment_p=self.p, kimg=self.state["cur_nimg"] / 1000,
                    training_options=self.opts.to_dict(), resolution=self.cfg.res)
        path = save_snapshot(self.run.snapshot_path(kimg), arch=self.cfg.arch, G=self.G, D=self.D, G_ema=self.G_ema,
                             meta=meta, extra_tensors=extra)
        self.run.retain()
        grid = self._grid(kimg)
        self.run.event("snapshot", self.state["cur_nimg"] / 1000, self.budget.bar(self.state["cur_nimg"]),
                       snapshot=path, preview=grid, message=path.name)
        return path

    def _gather_ada_sums(self) -> None:
        """Before a snapshot (every rank): ADA's statistics since its last p update, summed onto rank 0
        (the others hold zero). The snapshot carries them, and the next update sums the same totals,
        so a snapshot between two updates (by the clock, or at the end) resumes exactly."""
        if self.ada is None:
            return
        sums = torch.tensor([self.ada.sign_sum, self.ada.count], dtype=torch.float64)
        if self.world > 1:
            reduce_sum(sums)
        self.ada.sign_sum, self.ada.count = sums.tolist() if self.rank == 0 else (0.0, 0.0)

    def _run_metrics(self, kimg: float) -> dict[str, float]:
        if self.metrics is None or not self.metrics.active:
            return {}
        t0 = time.time()
        values = self.metrics(self._metric_fakes)
        row = {"kimg": kimg, **values, "seconds": time.time() - t0}
        with open(self.run.run_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        self.run.log("metrics at kimg {:.1f}: {}".format(kimg, ", ".join(f"{k} {v:.2f}" for k, v in values.items())))
        return {f"metrics/{k}": v for k, v in values.items()}

    # -- the session -----------------------------------------------------------------------------------
    def _open_run(self) -> TrainingRun:
        opts, cfg = self.opts, self.cfg
        resolved = {**cfg.to_dict(), "world_size": self.world, "runtime": self.runtime.describe(),
                    "num_images": len(self.dataset),
                    "snap_minutes": snapshot_minutes(opts.snap_minutes, self.runtime.device.type)}
        common = dict(trainer="gan", unit="kimg", keep=opts.keep, progress=self.progress)
        if self.continue_dir is None:
            name = f"{self.dataset.name}-{opts.cfg if cfg.arch == 'stylegan2' else cfg.arch}"
            return TrainingRun.start(opts.outdir, name, opts.to_dict(), resolved, **common)
        run = TrainingRun.continue_(self.continue_dir, **common)
        run.record_resume(opts.to_dict(), resolved, snapshot=self.snapshot_from, at=self.state["cur_nimg"] / 1000,
                          overrides=self.overrides)
        return run

    def train(self) -> Path:
        self.run = run = self._open_run()
        try:
            self._session()
        finally:
            run.close()
            if self.distributed:
                dist.barrier()
                dist.shutdown()
        return run.run_dir

    def _session(self) -> None:
        opts, cfg, run = self.opts, self.cfg, self.run
        run.log(f"training {cfg.arch} at {cfg.res}px on {len(self.dataset)} images ({self.runtime.describe()}, "
                f"{self.world} process{'es' if self.world > 1 else ''}, batch {cfg.batch}) -> {run.run_dir}")
        if self.snapshot_from is not None:
            run.log(f"continuing from {self.snapshot_from.name} at kimg {self.state['cur_nimg'] / 1000:.1f}, "
                    f"augment p {self.p:.3f}")
        if self.report is not None and run.main:
            run.log(f"transfer learning from {opts.resume}:\n{self.report.table()}")
            (run.run_dir / "transfer_report.json").write_text(json.dumps(self.report.to_dict(), indent=1))
        by_kimg = opts.kimg is not None or opts.minutes is None
        self.budget = budget = Budget(limit=cfg.total_kimg * 1000 if by_kimg else None, minutes=opts.minutes)
        if run.main:
            from ..core.media import save_grid

            gw, gh = self.grid
            real_imgs, _ = self.reals.first(gw * gh, seed=opts.seed)
            save_grid(real_imgs.permute(0, 2, 3, 1).numpy(), run.run_dir / "reals.png", self.grid)
            if {"swd", "fid", "kid"} & set(opts.metrics.split(",")):
                ref, _ = self.reals.first(opts.metric_images, seed=opts.seed + 11)
                self.metrics = MetricRunner(opts.metrics.split(","), ref, num_images=opts.metric_images, log=run.log,
                                            runtime=self.runtime)
            if self.snapshot_from is None:
                self._grid(None)
                init_metrics = self._run_metrics(0.0)
                if init_metrics:
                    run.stats(0, {"kimg": 0.0, **init_metrics})
        # Ticks every --tick kimg, else every --tick-minutes; a snapshot every --snap ticks or when
        # the snapshot clock (--snap-minutes) runs out, which also ends the tick.
        cadence = Cadence(tick_s=opts.tick_minutes * 60 if opts.tick is None else None,
                          snap_s=snapshot_minutes(opts.snap_minutes, self.runtime.device.type) * 60)
        tick_start_nimg = self.state["cur_nimg"]
        done = False
        while not done:
            self.step()
            nimg = self.state["cur_nimg"]
            done = budget.done(nimg)
            kimg, losses = nimg / 1000, self.loss.stats.values
            run.event("step", kimg, budget.bar(nimg), message=f"kimg {kimg:.2f} p {self.p:.3f} G "
                      f"{losses.get('loss/G', 0):.2f} D {losses.get('loss/D', 0):.2f}")
            now = cadence.now()
            snap_by_clock = cadence.snapshot_due(now)
            tick_over = cadence.tick_due(now) if opts.tick is None else nimg >= tick_start_nimg + opts.tick * 1000
            if not (done or tick_over or snap_by_clock):
                continue
            self.state["tick"] += 1
            sec_per_kimg = (now - cadence.tick_start) / max((nimg - tick_start_nimg) / 1000, 1e-9)
            tick_stats = {"kimg": kimg, "tick": self.state["tick"], "sec_per_kimg": sec_per_kimg,
                          "augment_p": self.p, **losses}
            if self.ada is not None and not math.isnan(self.ada.last_rt):
                tick_stats["ada_rt"] = self.ada.last_rt
            snapshot_due = done or snap_by_clock or self.state["tick"] % opts.snap == 0
            if snapshot_due:
                self._gather_ada_sums()
            if run.main:
                run.log(f"tick {self.state['tick']:4d} kimg {kimg:8.2f} sec/kimg {sec_per_kimg:7.1f} "
                        f"eta {budget.remaining_s(nimg, sec_per_kimg / 1000) / 60:6.1f} min p {self.p:.3f} "
                        + " ".join(f"{k.split('/')[-1]} {v:.3f}" for k, v in losses.items()))
                snap_path = None
                if snapshot_due:
                    snap_path = self.snapshot()
                    tick_stats.update(self._run_metrics(kimg))
                run.stats(nimg, tick_stats)
                run.event("tick", kimg, budget.bar(nimg), stats=tick_stats, snapshot=snap_path,
                          message=f"tick {self.state['tick']}")
            # the next tick starts after this one's writing (a snapshot restarts the snapshot clock)
            tick_start_nimg = self.state["cur_nimg"]
            cadence.new_tick(cadence.snapshot_written() if snapshot_due else cadence.now())
        run.log(f"done at kimg {self.state['cur_nimg'] / 1000:.2f}: {run.run_dir}")
