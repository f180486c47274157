"""The GAN training loop (StyleGAN2-ADA and DCGAN share it).

``train(TrainOptions(data='blooms/', cfg='small', minutes=10))`` creates
``runs/NNNNN-<dataset>-<cfg>/`` with training_options.json, reals.png, fakes_init.png,
fakesNNNNNN.png + network-snapshot-NNNNNN.safetensors at every snapshot, stats.jsonl (and
TensorBoard events), metrics.jsonl, log.txt and progress.gif/.mp4. ``resume='latest'``
continues the newest run of ``outdir`` in place with kimg, augment p, optimiser and RNG states
restored; any other ``resume`` source is transfer learning into a new run.

Under ``torchrun`` every rank trains on batch/N images; gradients are averaged across ranks by
hand after each phase (works with R1's double backward and lazy regularisation), and rank 0
writes all outputs.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any, Callable

import torch

from ..core import distributed as dist
from ..core.checkpoint import read_json
from ..core.errors import UsageError
from ..core.progress import info, make_progress
from ..core.runs import StatsWriter, latest_run_dir, latest_snapshot, new_run_dir, save_options, snapshot_files
from . import build_discriminator, build_generator
from .augment import AdaController, make_augment_pipe
from .loss import GANLoss
from .metrics import MetricRunner
from .presets import ResolvedConfig, TrainOptions, lazy_optimizer_kwargs, resolve
from .snapshot import clean_stale_snapshots, load_snapshot, restore_networks, save_snapshot, snapshot_name
from .trainer_state import (RealImages, fakes_grid_files, frozen_parameters, generate_images, grid_size,
                            load_optimizer_tensors, load_transfer_source, optimizer_tensors, restore_rng,
                            rng_tensors, to_float)

# Options a continued run (--resume latest) takes from the new command line; all others
# (network shape, data, losses) come from the run being continued.
CONTINUE_OVERRIDES = ("kimg", "minutes", "tick", "snap", "device", "precision", "metrics", "metric_images", "workers",
                      "threads")


@dataclasses.dataclass
class TickInfo:
    """Handed to the ``callback`` of :func:`train` after every tick (progress UIs, notebooks)."""

    tick: int
    kimg: float
    sec_per_kimg: float
    augment_p: float
    stats: dict[str, float]
    run_dir: Path
    snapshot: Path | None


def _reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if dist.world_size() > 1:
        import torch.distributed as tdist

        tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
    return t


def _average_grads(module: torch.nn.Module) -> None:
    """All-reduce mean of gradients in one flat buffer (NaN/Inf scrubbed, as NVlabs do)."""
    params = [p for p in module.parameters() if p.grad is not None]
    if not params:
        return
    if dist.world_size() > 1:
        flat = torch.cat([p.grad.flatten() for p in params])
        dist.all_reduce_mean(flat)
        torch.nan_to_num(flat, nan=0, posinf=1e5, neginf=-1e5, out=flat)
        for p, g in zip(params, flat.split([p.numel() for p in params])):
            p.grad.copy_(g.view_as(p))
    else:
        for p in params:
            torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)


def _set_threads(threads: int) -> None:
    """Intra-op threads. On a CPU that other processes already saturate, OpenMP threads spin
    against each other (measured here: one step 5-10x slower with 2 threads than with 1), so
    ``0`` (auto) picks 1 thread when the load average is at least the core count."""
    import os

    if threads > 0:
        torch.set_num_threads(threads)
    elif hasattr(os, "getloadavg") and os.getloadavg()[0] >= (os.cpu_count() or 1):
        torch.set_num_threads(1)


def _prepare_continue(opts: TrainOptions, explicit: set[str]) -> tuple[TrainOptions, Path, Path]:
    """``--resume latest``: the newest run of outdir that has a snapshot, with its saved options."""
    root = Path(opts.outdir)
    runs = sorted(p for p in root.glob("[0-9]" * 5 + "-*") if p.is_dir() and snapshot_files(p)) if root.exists() else []
    if not runs:
        latest_run_dir(root)  # raises the standard 'no runs found'
        raise UsageError(f"no run in {root} has a snapshot to resume from yet")
    run_dir = runs[-1]
    merged = TrainOptions.from_dict(read_json(run_dir / "training_options.json"))  # ignores 'resolved'
    for k in CONTINUE_OVERRIDES:
        if k in explicit:
            setattr(merged, k, getattr(opts, k))
    merged.resume = "latest"
    return merged, run_dir, latest_snapshot(run_dir)


def train(opts: TrainOptions, *, explicit: set[str] | None = None,
          callback: Callable[[TickInfo], None] | None = None) -> Path:
    """Train a GAN; returns the run directory. ``explicit`` names the options the user set
    (for ``resume='latest'``, which otherwise keeps the continued run's options)."""
    from ..core.device import resolve_runtime, seed_everything
    from ..datasets.reader import ImageDataset

    explicit = set(explicit or ())
    continue_from: Path | None = None
    run_dir: Path | None = None
    opts.validate()  # every option, before the dataset is read or any folder is created
    if opts.resume == "latest":
        opts, run_dir, continue_from = _prepare_continue(opts, explicit)
        opts.validate()  # the continued run's saved options, too
    if opts.kimg is not None and opts.minutes is not None and "kimg" in explicit and "minutes" in explicit:
        raise UsageError("give either --kimg or --minutes, not both")
    runtime = resolve_runtime(opts.device, opts.precision)
    _set_threads(opts.threads)
    distributed = dist.init(runtime.device)
    rank, world = dist.rank(), dist.world_size()
    if continue_from is not None and rank == 0:
        clean_stale_snapshots(run_dir)  # temporaries of a snapshot write a kill interrupted
    seed_everything(opts.seed)  # the same initial networks on every rank (and as a 1-process run)

    dataset = ImageDataset(opts.data, resolution=opts.res, use_labels=opts.cond, xflip=opts.mirror)
    res = dataset.resolution
    if {"fid", "kid"} & set(opts.metrics.split(",")) and min(opts.metric_images, len(dataset)) < 2:
        raise UsageError(f"FID/KID compare at least 2 images; {opts.data} has {len(dataset)} (use --metrics swd)")
    transfer = opts.resume not in (None, "", "latest")
    cfg = resolve(opts, res=res, img_channels=dataset.channels, c_dim=dataset.label_dim, world=world, transfer=transfer)
    reals = RealImages(dataset, workers=opts.workers)

    G = build_generator(cfg.arch, **cfg.G_kwargs).train().requires_grad_(False)
    D = build_discriminator(cfg.arch, **cfg.D_kwargs).train().requires_grad_(False)
    G_ema = build_generator(cfg.arch, **cfg.G_kwargs).eval().requires_grad_(False)
    G_ema.load_state_dict(G.state_dict())
    report = None
    if transfer:
        report = load_transfer_source(opts.resume, G, D, G_ema)
    G, D, G_ema = (runtime.module(m) for m in (G, D, G_ema))
    if world > 1:  # per-rank streams for augmentation and noise from here on
        seed_everything(opts.seed * world + rank)
    pipe = make_augment_pipe(opts.aug, opts.p)
    if pipe is not None:
        pipe = pipe.to(runtime.device)
    ada = AdaController(target=opts.target, ada_kimg=cfg.ada_kimg) if opts.aug == "ada" else None

    opt_G = torch.optim.Adam(G.parameters(), **lazy_optimizer_kwargs(cfg.G_opt, cfg.G_reg_interval))
    opt_D = torch.optim.Adam(D.parameters(), **lazy_optimizer_kwargs(cfg.D_opt, cfg.D_reg_interval))
    frozen = frozen_parameters(D, opts.freezed)
    state = dict(cur_nimg=0, tick=0, batch_idx=0)
    data_gen = torch.Generator().manual_seed(opts.seed)
    z_gen = torch.Generator().manual_seed(opts.seed + 1)
    loss = GANLoss(G, D, augment_pipe=pipe, r1_gamma=cfg.r1_gamma, style_mixing_prob=cfg.style_mixing,
                   pl_weight=cfg.pl_weight, autocast=runtime.autocast, noise_mode=opts.noise_mode,
                   reduce_mean=dist.all_reduce_mean)
    if ada is not None:
        loss.real_logits_hook = ada.accumulate

    if continue_from is not None:
        snap = load_snapshot(continue_from)
        restore_networks(snap, G, D, G_ema)  # one sentence when the snapshot cannot continue this run
        extra = snap.extra_tensors
        load_optimizer_tensors(opt_G, extra, "opt_G")
        load_optimizer_tensors(opt_D, extra, "opt_D")
        restore_rng(extra, {"data": data_gen, "z": z_gen})
        if rank:  # the saved global torch RNG is rank 0's; other ranks keep their own stream
            torch.manual_seed(opts.seed * world + rank + int(snap.meta["cur_nimg"]))
        if pipe is not None and "augment.p" in extra:
            pipe.p.copy_(extra["augment.p"])
        if "loss.pl_mean" in extra:
            loss.pl_mean = extra["loss.pl_mean"].clone()
        for k in state:
            state[k] = int(snap.meta[k])
    if distributed:
        for m in (G, D, G_ema):
            dist.broadcast_module(m)

    main = rank == 0
    if main and run_dir is None:
        run_dir = new_run_dir(opts.outdir, f"{dataset.name}-{opts.cfg if cfg.arch == 'stylegan2' else 'dcgan'}")
    options_doc = {**opts.to_dict(), "resolved": {**cfg.to_dict(), "world_size": world, "runtime": runtime.describe(),
                                                   "num_images": len(dataset)}}
    if main:
        save_options(run_dir, options_doc)
    trainer = _Loop(opts, cfg, runtime, run_dir, reals, G, D, G_ema, opt_G, opt_D, loss, pipe, ada, frozen,
                    state, data_gen, z_gen, main, callback)
    if main:
        trainer.log(f"training {cfg.arch} at {res}px on {len(dataset)} images ({runtime.describe()}, "
                    f"{world} process{'es' if world > 1 else ''}, batch {cfg.batch}) -> {run_dir}")
        if continue_from is not None:
            trainer.log(f"continuing from {continue_from.name} at kimg {state['cur_nimg'] / 1000:.1f}, "
                        f"augment p {trainer.p:.3f}")
        if report is not None:
            trainer.log(f"transfer learning from {opts.resume}:\n{report.table()}")
            (run_dir / "transfer_report.json").write_text(json.dumps(report.to_dict(), indent=1))
    try:
        trainer.run(fresh=continue_from is None)
    finally:
        if trainer.stats_writer is not None:
            trainer.stats_writer.close()
        if distributed:
            dist.barrier()
            dist.shutdown()
    return run_dir


class _Loop:
    """State and steps of one training run (see :func:`train`)."""

    def __init__(self, opts: TrainOptions, cfg: ResolvedConfig, runtime, run_dir: Path | None, reals: RealImages,
                 G, D, G_ema, opt_G, opt_D, loss: GANLoss, pipe, ada, frozen: set[int], state: dict[str, int],
                 data_gen: torch.Generator, z_gen: torch.Generator, main: bool, callback) -> None:
        self.opts, self.cfg, self.runtime, self.run_dir = opts, cfg, runtime, run_dir
        self.reals, self.G, self.D, self.G_ema = reals, G, D, G_ema
        self.opt_G, self.opt_D, self.loss, self.pipe, self.ada = opt_G, opt_D, loss, pipe, ada
        self.frozen, self.state, self.data_gen, self.z_gen = frozen, state, data_gen, z_gen
        self.main, self.callback = main, callback
        self.rank, self.world = dist.rank(), dist.world_size()
        self.z_dim = cfg.G_kwargs["z_dim"]
        self.stats_writer = StatsWriter(run_dir) if main else None
        self.metrics: MetricRunner | None = None
        gw, gh = grid_size(opts.grid, cfg.res)
        self.grid = (gw, gh)
        g = torch.Generator().manual_seed(opts.seed)
        self.grid_z = torch.randn(gw * gh, self.z_dim, generator=g)
        _, labels = reals.first(gw * gh, seed=opts.seed)
        self.grid_c = labels.repeat(math.ceil(gw * gh / max(len(labels), 1)), 1)[: gw * gh] if labels.numel() \
            else torch.zeros(gw * gh, 0)
        self.metric_z = torch.randn(opts.metric_images, self.z_dim, generator=torch.Generator().manual_seed(opts.seed + 7))

    @property
    def p(self) -> float:
        return float(self.pipe.p) if self.pipe is not None else 0.0

    def log(self, msg: str) -> None:
        if not self.main:
            return
        info(msg)
        with open(self.run_dir / "log.txt", "a", encoding="utf-8") as f:
            f.write(msg + "\n")

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
        _average_grads(module)
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
            self.ada.update(self.pipe, cfg.batch, idx, reduce=_reduce_sum)

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

    def _write_grid(self, name: str) -> None:
        """The fixed-seed grid as ``name`` and as a frame ``progress/<nimg>.png`` of the animation
        (snapshots within the same kimg share a fakes file name, but each keeps its frame)."""
        from ..core.imageio import save_image
        from ..core.media import make_grid

        grid = make_grid(self._fakes(self.grid_z, self.grid_c), self.grid)
        save_image(grid, self.run_dir / name)
        save_image(grid, self.run_dir / "progress" / f"{self.state['cur_nimg']:09d}.png")

    def _write_animation(self) -> None:
        from ..core.media import VideoWriter

        frames = fakes_grid_files(self.run_dir)
        if len(frames) < 2:
            return
        from PIL import Image

        for suffix, fps in ((".gif", 4), (".mp4", 4)):
            with VideoWriter(self.run_dir / f"progress{suffix}", fps=fps) as w:
                for f in frames:
                    im = Image.open(f).convert("RGB")
                    if suffix == ".gif" and im.width > 1024:
                        im = im.resize((1024, round(im.height * 1024 / im.width)), Image.LANCZOS)
                    w.append(im)

    def snapshot(self) -> Path:
        kimg = self.state["cur_nimg"] // 1000
        extra = {**optimizer_tensors(self.opt_G, "opt_G"), **optimizer_tensors(self.opt_D, "opt_D"),
                 **rng_tensors({"data": self.data_gen, "z": self.z_gen}), "loss.pl_mean": self.loss.pl_mean.cpu()}
        if self.pipe is not None:
            extra["augment.p"] = self.pipe.p.detach().cpu().clone()
        meta = dict(self.state, augment_p=self.p, kimg=self.state["cur_nimg"] / 1000,
                    training_options=self.opts.to_dict(), resolution=self.cfg.res)
        path = self.run_dir / snapshot_name(kimg)
        save_snapshot(path, arch=self.cfg.arch, G=self.G, D=self.D, G_ema=self.G_ema, meta=meta, extra_tensors=extra)
        self._write_grid(f"fakes{kimg:06d}.png")
        self._write_animation()
        return path

    def _run_metrics(self, kimg: float) -> dict[str, float]:
        if self.metrics is None or not self.metrics.active:
            return {}
        t0 = time.time()
        values = self.metrics(self._metric_fakes)
        row = {"kimg": kimg, **values, "seconds": time.time() - t0}
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        self.log("metrics at kimg {:.1f}: {}".format(kimg, ", ".join(f"{k} {v:.2f}" for k, v in values.items())))
        return {f"metrics/{k}": v for k, v in values.items()}

    # -- the loop --------------------------------------------------------------------------------------
    def _done(self, start: float) -> bool:
        total_kimg = self.cfg.total_kimg if self.opts.kimg is not None or self.opts.minutes is None else math.inf
        done = self.state["cur_nimg"] >= total_kimg * 1000
        if self.opts.minutes is not None:
            done = done or time.time() - start >= self.opts.minutes * 60
        flag = torch.tensor([1.0 if done else 0.0])
        if self.world > 1:  # rank 0's clock decides for everyone
            import torch.distributed as tdist

            tdist.broadcast(flag, src=0)
        return bool(flag.item())

    def run(self, *, fresh: bool) -> None:
        opts = self.opts
        if self.main:
            from ..core.media import save_grid

            gw, gh = self.grid
            real_imgs, _ = self.reals.first(gw * gh, seed=opts.seed)
            save_grid(real_imgs.permute(0, 2, 3, 1).numpy(), self.run_dir / "reals.png", self.grid)
            if "swd" in opts.metrics.split(",") or {"fid", "kid"} & set(opts.metrics.split(",")):
                ref, _ = self.reals.first(opts.metric_images, seed=opts.seed + 11)
                self.metrics = MetricRunner(opts.metrics.split(","), ref, num_images=opts.metric_images, log=self.log,
                                            runtime=self.runtime)
            if fresh:
                self._write_grid("fakes_init.png")
                init_metrics = self._run_metrics(0.0)
                if init_metrics:
                    self.stats_writer.write(0, {"kimg": 0.0, **init_metrics})
        start = time.time()
        tick_start_nimg, tick_start_time = self.state["cur_nimg"], time.time()
        total = self.cfg.total_kimg if opts.minutes is None or opts.kimg is not None else None
        with make_progress() as progress:
            task = progress.add_task("train", total=total if total is not None else opts.minutes * 60, info="")
            done = False
            while not done:
                self.step()
                done = self._done(start)
                kimg = self.state["cur_nimg"] / 1000
                losses = self.loss.stats.values
                progress.update(task, completed=kimg if total is not None else time.time() - start,
                                info=f"kimg {kimg:.2f} p {self.p:.3f} G {losses.get('loss/G', 0):.2f} "
                                     f"D {losses.get('loss/D', 0):.2f}")
                if not done and self.state["cur_nimg"] < tick_start_nimg + opts.tick * 1000:
                    continue
                self.state["tick"] += 1
                now = time.time()
                sec_per_kimg = (now - tick_start_time) / max((self.state["cur_nimg"] - tick_start_nimg) / 1000, 1e-9)
                tick_stats = {"kimg": kimg, "tick": self.state["tick"], "sec_per_kimg": sec_per_kimg,
                              "augment_p": self.p, **losses}
                if self.ada is not None and not math.isnan(self.ada.last_rt):
                    tick_stats["ada_rt"] = self.ada.last_rt
                snap_path = None
                if self.main:
                    remaining = ((total - kimg) * sec_per_kimg if total is not None
                                 else opts.minutes * 60 - (now - start))
                    self.log(f"tick {self.state['tick']:4d} kimg {kimg:8.2f} sec/kimg {sec_per_kimg:7.1f} "
                             f"eta {max(remaining, 0) / 60:6.1f} min p {self.p:.3f} "
                             + " ".join(f"{k.split('/')[-1]} {v:.3f}" for k, v in losses.items()))
                    if done or self.state["tick"] % opts.snap == 0:
                        snap_path = self.snapshot()
                        tick_stats.update(self._run_metrics(kimg))
                    self.stats_writer.write(self.state["cur_nimg"], tick_stats)
                    if self.callback is not None:
                        self.callback(TickInfo(self.state["tick"], kimg, sec_per_kimg, self.p, tick_stats,
                                               self.run_dir, snap_path))
                tick_start_nimg, tick_start_time = self.state["cur_nimg"], time.time()
        if self.main:
            self.log(f"done at kimg {self.state['cur_nimg'] / 1000:.2f}: {self.run_dir}")
