"""Training options (declared once: the library, the CLI and training_options.json share them)
and the configuration presets of StyleGAN2-ADA (REFERENCE.md table) plus ``small`` for CPUs.

Over 400 lines on purpose: the options dataclass (one field per CLI flag, each with its help,
bounds and checks) and the preset tables it resolves against are one unit; splitting them would
put an option's default and its preset override in different files.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from ..core import checks
from ..core.errors import UsageError
from ..core.options import option

ARCHS = ("stylegan2", "dcgan", "lite")
CFGS = ("auto", "stylegan2", "paper256", "paper512", "paper1024", "cifar", "small")
AUGS = ("auto", "ada", "fixed", "noaug", "diffaugment")
RECON_CHANNELS = 32  # width of StyleGAN2 D's reconstruction decoders (--d-recon)
DIFFAUGMENT_OPS = ("color", "translation", "cutout")  # gan/diffaugment.py applies them in this order
METRICS = ("swd", "fid", "kid", "none")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
NOISE_MODES = ("const", "random", "none")
G_INPUTS = ("const", "w")  # gan/networks.py INPUT_MODES
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d{1,3})?)$")

# Documented limits of a training run: beyond them a value is a typo, not a plan.
MIN_RES, MAX_RES = 4, 2048  # training resolution: a power of two in this range (DCGAN: from 16)
MAX_TRAIN_BATCH = 4096  # images per minibatch over all processes
MAX_CHANNELS = 4096  # --cmax, and DCGAN widths
MAX_CBASE = 1 << 20  # --cbase (channels at 1 px; NVlabs' widest preset uses 32768)
MAX_MAP = 32  # mapping network layers
MAX_Z_DIM = 4096
MAX_METRIC_IMAGES = 100_000  # images per metric evaluation (FID's usual 50k fits)
MAX_GRID_CELLS = 1024  # images in the sample grid (32x32)
MAX_WORKERS = 256
MAX_THREADS = 1024
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Preset:
    """One row of the preset table (per reference GPU count ``ref_gpus``)."""

    ref_gpus: int
    kimg: float
    mb: int
    mbstd: int
    fmaps: float
    lrate: float
    gamma: float
    ema: float
    ramp: float | None
    map: int
    cmax: int = 512
    cbase: int | None = None  # None: fmaps * 32768
    aug: str = "ada"  # what --aug auto means with this preset
    recon: float = 0.0  # weight of D's reconstruction error (--d-recon)
    color_p: float = 1.0  # share of the images DiffAugment recolours (diffaugment_color_p)


PRESETS: dict[str, Preset] = {
    "stylegan2": Preset(ref_gpus=8, kimg=25000, mb=32, mbstd=4, fmaps=1, lrate=0.002, gamma=10, ema=10, ramp=None, map=8),
    "paper256": Preset(ref_gpus=8, kimg=25000, mb=64, mbstd=8, fmaps=0.5, lrate=0.0025, gamma=1, ema=20, ramp=None, map=8),
    "paper512": Preset(ref_gpus=8, kimg=25000, mb=64, mbstd=8, fmaps=1, lrate=0.0025, gamma=0.5, ema=20, ramp=None, map=8),
    "paper1024": Preset(ref_gpus=8, kimg=25000, mb=32, mbstd=4, fmaps=1, lrate=0.002, gamma=2, ema=10, ramp=None, map=8),
    "cifar": Preset(ref_gpus=2, kimg=100000, mb=64, mbstd=32, fmaps=1, lrate=0.0025, gamma=0.01, ema=500, ramp=0.05, map=2),
    # CPU-sized: narrow (channels min(1024 // res, 128): 128 up to 8 px, 64 at 16 px, 32 at 32 px, 16 at
    # 64 px), shallow mapping, batch 16, short EMA with ramp; lr 0.005 with DiffAugment (--aug auto),
    # R1 gamma 4, the minibatch standard deviation over the whole minibatch (16), D's reconstruction of
    # the reals (--d-recon 1, from 32 px) and DiffAugment's colour op on half the images, chosen by issue
    # 14's sweep and study (docs/gan-training.md, "The first hour on a CPU"): SWD 59.4 at 30
    # CPU-minutes (both seeds) against 74.9 without the last two, 85.8 for the second round's gamma 1 /
    # groups of 4 and 96.9 for the former lr 0.0025 / gamma 0.05 / ADA (x1.63).
    "small": Preset(ref_gpus=1, kimg=1000, mb=16, mbstd=16, fmaps=1 / 32, lrate=0.005, gamma=4.0, ema=5.0,
                    ramp=0.05, map=2, cmax=128, cbase=1024, aug="diffaugment", recon=1.0, color_p=0.5),
}


def parse_diffaugment_policy(policy: str) -> tuple[str, ...]:
    """``'color,translation'`` -> ``('color', 'translation')``; one sentence for an unknown, repeated or
    missing operation."""
    if not isinstance(policy, str):
        raise UsageError(f"--diffaugment must be comma-separated text, not {type(policy).__name__}")
    ops = tuple(p.strip() for p in policy.split(",") if p.strip())
    unknown = [op for op in ops if op not in DIFFAUGMENT_OPS]
    if not ops or unknown:
        raise UsageError(f"--diffaugment takes comma-separated operations from {', '.join(DIFFAUGMENT_OPS)}, not "
                         f"{policy!r}")
    if len(set(ops)) != len(ops):
        raise UsageError(f"--diffaugment {policy!r} names an operation twice")
    return ops


LITE_MIN_RES, LITE_MAX_RES = 32, 1024  # gan/lite.py builds these sizes


@dataclass(frozen=True)
class LitePreset:
    """Widths and batch of ``--arch lite`` (channels at r are ngf * FastGAN's multiplier for r)."""

    ngf: int
    ndf: int
    z_dim: int
    mb: int
    kimg: float


# CPU-sized: at 64 px G has 32-256 channels (2.4 M parameters, ~0.46 GFLOP per image, D ~0.16 without
# its decoders; docs/gan-networks.md). FastGAN's own widths (ngf = ndf = 64, z 256, batch 8) come with
# any of the paper presets (--cfg stylegan2/paper256/paper512/paper1024), for GPUs.
LITE_PRESETS = {"cpu": LitePreset(ngf=16, ndf=16, z_dim=128, mb=8, kimg=400),
                "paper": LitePreset(ngf=64, ndf=64, z_dim=256, mb=8, kimg=400)}


def lite_preset(cfg: str) -> LitePreset:
    """``--cfg auto``, ``small`` and ``cifar`` give the CPU-sized lite; the paper presets FastGAN's widths."""
    if cfg not in CFGS:
        raise UsageError(f"unknown --cfg {cfg!r}; choose one of {', '.join(CFGS)}")
    return LITE_PRESETS["cpu" if cfg in ("auto", "small", "cifar") else "paper"]


def auto_preset(res: int, gpus: int = 1) -> Preset:
    """NVlabs' 'auto' rule: batch, mbstd, width, lr, gamma and EMA derived from resolution and GPUs."""
    mb = max(min(gpus * min(4096 // res, 32), 64), gpus)
    return Preset(ref_gpus=gpus, kimg=25000, mb=mb, mbstd=min(mb // gpus, 4), fmaps=1 if res >= 512 else 0.5,
                  lrate=0.002 if res >= 1024 else 0.0025, gamma=0.0002 * res ** 2 / mb, ema=mb * 10 / 32,
                  ramp=0.05, map=2)


def preset_for(cfg: str, res: int, gpus: int = 1) -> Preset:
    if cfg == "auto":
        return auto_preset(res, gpus)
    if cfg not in PRESETS:
        raise UsageError(f"unknown --cfg {cfg!r}; choose one of {', '.join(CFGS)}")
    return PRESETS[cfg]


@dataclass
class TrainOptions:
    """Everything a training run needs; None means 'from the preset'. Saved as training_options.json.

    The command line is generated from these fields (:func:`neuralbrush.core.options.cli_from`)."""

    RENAMED_OPTIONS = {"map": "map_depth"}  # older training_options.json files
    RECORD_KEYS = ("resolved", "resumed", "trainer")  # run record sections beside the options
    OPTIONS_KIND = "training"

    data: str = option("", "Dataset folder or zip (neuralbrush dataset build). Optional with --config or "
                           "--resume latest.", cli="argument")
    outdir: str = option("runs", "Where run directories are created.")
    arch: Literal["stylegan2", "dcgan", "lite"] = option(
        "stylegan2", "Network family: stylegan2, dcgan, or lite (few-shot, FastGAN-like; 32-1024 px).")
    cfg: Literal["auto", "stylegan2", "paper256", "paper512", "paper1024", "cifar", "small"] = option(
        "auto", "Preset (small = CPU-sized, 32-128 px).")
    res: int | None = option(None, "Train at this resolution (images are centre-cropped and resized); default: the "
                                   "dataset's own.", min=MIN_RES, max=MAX_RES)
    mirror: bool = option(False, "Add x-flipped copies of the images.")
    cond: bool = option(False, "Train conditionally on dataset.json labels.")
    kimg: float | None = option(None, "Stop after this many thousand real images shown (default: the preset's).")
    minutes: float | None = option(None, "Stop after this many minutes (then snapshot).")
    batch: int | None = option(None, "Total batch size over all processes (default: preset).", min=1,
                               max=MAX_TRAIN_BATCH)
    gamma: float | None = option(None, "R1 weight (default: preset).", min=0.0)
    d_recon: float | None = option(None, "StyleGAN2 at 32 px and up: weight of D's reconstruction of the reals from its "
                                         "8x8 and 16x16 features (FastGAN's self-supervised D; 0 = off; default: "
                                         "preset).", min=0.0)
    glr: float | None = option(None, "Generator learning rate (default: preset).")
    dlr: float | None = option(None, "Discriminator learning rate (default: preset).")
    map_depth: int | None = option(None, "Mapping network depth (default: preset).", min=1, max=MAX_MAP, flag="--map")
    cbase: int | None = option(None, "Channel base: channels at res r = min(cbase // r, cmax).", min=1,
                               max=MAX_CBASE)
    cmax: int | None = option(None, "Maximum channels per layer (default: preset).", min=1, max=MAX_CHANNELS)
    mbstd: int | None = option(None, "Minibatch-stddev group size (default: preset).", min=1, max=MAX_TRAIN_BATCH)
    ema_kimg: float | None = option(None, "EMA half-life in kimg (default: preset).", min=0.0, flag="--ema")
    ema_ramp: float | None = option(None, "EMA ramp-up (fraction of images shown); default: preset.", cli=False)
    style_mixing: float | None = option(None, "Style mixing probability (default 0.9).", min=0.0, max=1.0)
    pl_weight: float | None = option(None, "Path length regularisation weight (default 2).", min=0.0)
    z_dim: int | None = option(None, "Latent z size (default: 512, 256 for small, 100 for DCGAN, 128 or 256 for lite).",
                               cli=False)
    ngf: int | None = option(None, "DCGAN / lite generator width (default: DCGAN 64, lite by preset).", cli=False)
    ndf: int | None = option(None, "DCGAN / lite discriminator width (default: DCGAN 64, lite by preset).",
                             cli=False)
    aug: Literal["auto", "ada", "fixed", "noaug", "diffaugment"] = option(
        "auto", "Augmentation of everything D sees: auto (the preset's: diffaugment for --cfg small, ada otherwise), "
                "ada (adaptive p), fixed (--p), noaug, or diffaugment (Zhao et al. 2020: --diffaugment's operations "
                "on every image).")
    diffaugment: str = option("color,translation,cutout", "DiffAugment policy for --aug diffaugment (or auto with "
                                                          "--cfg small): "
                                                          "comma-separated color, translation, cutout.")
    p: float = option(0.0, "Augmentation probability (start value for ada, constant for fixed).", min=0.0, max=1.0)
    target: float = option(0.6, "ADA target for E[sign(D(real))].")
    ada_kimg: float | None = option(None, "ADA speed: kimg for p to go 0 -> 1 (default 500, 100 when transfer "
                                          "learning).")
    resume: str | None = option(None, "'latest' (the newest GAN run in --outdir) or a run folder continues that run "
                                      "in place; a snapshot file, weights name (ffhq256) or NVIDIA .pkl starts "
                                      "transfer learning from it in a new run.")
    freezed: int = option(0, "Freeze-D: freeze this many discriminator layers from the top resolution (10-13 "
                             "suggested for transfer).", min=0)
    tick: float | None = option(None, "Progress/stats interval in kimg (default: by the clock, every "
                                      "--tick-minutes).")
    tick_minutes: float = option(1.0, "Without --tick: a tick (status line, stats row) every this many minutes.")
    snap: int = option(50, "Snapshot (and grid, metrics) every this many ticks...", min=1)
    snap_minutes: float | None = option(None, "...or after this many minutes since the last snapshot, whichever "
                                              "comes first (0: ticks only; default: 10 on a CPU or MPS, 0 on CUDA).",
                                        min=0.0)
    keep: int = option(0, "Snapshots kept on disk (older ones are deleted; 0 keeps all).", min=0)
    grid: str = option("auto", "Sample grid COLSxROWS, or auto.")
    seed: int = option(0, "Random seed.", min=0, max=MAX_SEED)
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = option("auto", "auto, fp32, bf16 or fp16.")
    metrics: str = option("swd", "Comma-separated: swd, fid, kid, or none.")
    metric_images: int = option(1024, "Images per metric evaluation.", min=2, max=MAX_METRIC_IMAGES)
    workers: int = option(4, "Threads decoding images.", min=0, max=MAX_WORKERS)
    threads: int = option(0, "Torch CPU threads; 0 = auto (1 when the CPU is already busy).", min=0,
                          max=MAX_THREADS)
    noise_mode: Literal["const", "random", "none"] = option("random", "Noise inputs while training.", cli=False)
    map_lr_mul: float | None = option(None, "Learning-rate multiplier of StyleGAN2's mapping network (default 0.01, "
                                            "NVIDIA's).", cli=False)
    diffaugment_color_p: float | None = option(None, "Share of the images DiffAugment recolours (1: every image, the "
                                                    "paper's; below 1 D also sees true colours; default: preset, "
                                                    "else 1).", min=0.0, max=1.0, cli=False)
    g_input: Literal["const", "w"] = option("const", "StyleGAN2's first block: NVIDIA's learned constant, or the "
                                            "constant plus a 4x4 layout made from w (gan/networks.py).", cli=False)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainOptions":
        if not isinstance(d, dict):
            raise UsageError(f"training options must be a JSON object of option: value, not {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        d = {cls.RENAMED_OPTIONS.get(k, k): v for k, v in d.items()}
        unknown = set(map(str, d)) - names - set(cls.RECORD_KEYS)  # run record sections
        if unknown:
            raise UsageError(f"unknown training options {sorted(unknown)}")
        return cls(**{k: v for k, v in d.items() if k in names})

    def validate(self) -> "TrainOptions":
        """Check every option (types, NaN, ranges, choices); :func:`train` runs this before it reads
        the dataset or creates the run folder, so a bad value leaves nothing behind."""
        c = checks
        c.text("DATASET", self.data, empty=True)
        c.text("--outdir", self.outdir)
        c.choice("--arch", self.arch, ARCHS)
        c.choice("--cfg", self.cfg, CFGS)
        if self.res is not None:
            res = c.whole("--res", self.res, lo=MIN_RES, hi=MAX_RES)
            if res & (res - 1):
                raise UsageError(f"--res must be a power of two between {MIN_RES} and {MAX_RES}, got {res}")
            if self.arch == "dcgan" and res < 16:
                raise UsageError(f"--res must be at least 16 for a DCGAN, got {res}")
            if self.arch == "lite" and not LITE_MIN_RES <= res <= LITE_MAX_RES:
                raise UsageError(f"--res must be from {LITE_MIN_RES} to {LITE_MAX_RES} for lite, got {res}")
        c.flag("--mirror", self.mirror)
        c.flag("--cond", self.cond)
        c.optional_number("--kimg", self.kimg, lo=0, lo_open=True)
        c.optional_number("--minutes", self.minutes, lo=0, lo_open=True)
        batch = c.optional_whole("--batch", self.batch, lo=1, hi=MAX_TRAIN_BATCH)
        c.optional_number("--gamma", self.gamma, lo=0)
        c.optional_number("--d-recon", self.d_recon, lo=0)
        c.optional_number("--glr", self.glr, lo=0, lo_open=True, hi=1)
        c.optional_number("--dlr", self.dlr, lo=0, lo_open=True, hi=1)
        c.optional_whole("--map", self.map_depth, lo=1, hi=MAX_MAP)
        c.optional_whole("--cbase", self.cbase, lo=1, hi=MAX_CBASE)
        c.optional_whole("--cmax", self.cmax, lo=1, hi=MAX_CHANNELS)
        mbstd = c.optional_whole("--mbstd", self.mbstd, lo=1, hi=MAX_TRAIN_BATCH)
        if mbstd is not None and batch is not None and mbstd > batch:
            raise UsageError(f"--mbstd {mbstd} is larger than --batch {batch}")
        c.optional_number("--ema", self.ema_kimg, lo=0)
        c.optional_number("ema_ramp", self.ema_ramp, lo=0)
        c.optional_number("--style-mixing", self.style_mixing, lo=0, hi=1)
        c.optional_number("--pl-weight", self.pl_weight, lo=0)
        c.optional_whole("z_dim", self.z_dim, lo=1, hi=MAX_Z_DIM)
        c.optional_whole("ngf", self.ngf, lo=1, hi=MAX_CHANNELS)
        c.optional_whole("ndf", self.ndf, lo=1, hi=MAX_CHANNELS)
        c.choice("--aug", self.aug, AUGS)
        c.text("--diffaugment", self.diffaugment)
        self.diffaugment = ",".join(parse_diffaugment_policy(self.diffaugment))
        c.number("--p", self.p, lo=0, hi=1)
        c.number("--target", self.target, lo=0, lo_open=True, hi=1, hi_open=True)
        c.optional_number("--ada-kimg", self.ada_kimg, lo=0, lo_open=True)
        if self.resume is not None:
            c.text("--resume", self.resume, empty=True)
        c.whole("--freezed", self.freezed, lo=0)
        c.optional_number("--tick", self.tick, lo=0, lo_open=True)
        c.number("--tick-minutes", self.tick_minutes, lo=0, lo_open=True)
        c.whole("--snap", self.snap, lo=1)
        c.optional_number("--snap-minutes", self.snap_minutes, lo=0)
        c.whole("--keep", self.keep, lo=0)
        c.text("--grid", self.grid)
        if self.grid != "auto":
            from ..core.seeds import parse_grid

            try:
                cols, rows = parse_grid(self.grid)
            except UsageError:
                raise UsageError(f"--grid must look like 7x4 or be auto, not {self.grid!r}") from None
            if cols * rows > MAX_GRID_CELLS:
                raise UsageError(f"--grid {self.grid} has {cols * rows} images; the limit is {MAX_GRID_CELLS}")
        c.whole("--seed", self.seed, lo=0, hi=MAX_SEED)
        if not isinstance(self.device, str) or not _DEVICE_RE.match(self.device.lower()):
            raise UsageError(f"--device must be auto, cpu, cuda, cuda:N or mps, not {self.device!r}")
        if not isinstance(self.precision, str) or self.precision.lower() not in PRECISIONS:
            raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        c.text("--metrics", self.metrics)
        names = [n.strip() for n in self.metrics.split(",")]
        bad = [n for n in names if n not in METRICS]
        if bad:
            raise UsageError(f"--metrics: unknown metric(s) {', '.join(map(repr, bad))}; choose from swd, fid, kid "
                             "or none (comma-separated)")
        if "none" in names and len(names) > 1:
            raise UsageError("--metrics none cannot be combined with other metrics")
        self.metrics = ",".join(names)  # 'swd, fid' as the training loop reads it
        c.whole("--metric-images", self.metric_images, lo=2, hi=MAX_METRIC_IMAGES)
        c.whole("--workers", self.workers, lo=0, hi=MAX_WORKERS)
        c.whole("--threads", self.threads, lo=0, hi=MAX_THREADS)
        c.choice("noise_mode", self.noise_mode, NOISE_MODES)
        c.optional_number("map_lr_mul", self.map_lr_mul, lo=0, lo_open=True, hi=1)
        c.choice("g_input", self.g_input, G_INPUTS)
        c.optional_number("diffaugment_color_p", self.diffaugment_color_p, lo=0, hi=1)
        return self


@dataclass
class ResolvedConfig:
    """Concrete numbers for one run (after presets, overrides, world size and transfer learning)."""

    arch: str
    res: int
    batch: int
    batch_per_rank: int
    total_kimg: float
    G_kwargs: dict[str, Any]
    D_kwargs: dict[str, Any]
    G_opt: dict[str, Any]
    D_opt: dict[str, Any]
    G_reg_interval: int | None
    D_reg_interval: int | None
    r1_gamma: float
    pl_weight: float
    style_mixing: float
    ema_kimg: float
    ema_ramp: float | None
    ada_kimg: float
    aug: str = "ada"  # --aug with auto resolved
    recon_weight: float = 0.0  # D's reconstruction error weight (--d-recon; StyleGAN2 only)
    color_p: float = 1.0  # share of the images DiffAugment recolours (diffaugment_color_p)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def resolve(opts: TrainOptions, *, res: int, img_channels: int = 3, c_dim: int = 0, world: int = 1,
            transfer: bool = False) -> ResolvedConfig:
    """Turn options + preset into network/optimiser kwargs. ``transfer``: resuming foreign weights."""
    if opts.arch not in ARCHS:
        raise UsageError(f"unknown --arch {opts.arch!r}; choose one of {', '.join(ARCHS)}")
    if res < MIN_RES or res > MAX_RES or res & (res - 1):
        raise UsageError(f"resolution {res} must be a power of two from {MIN_RES} to {MAX_RES}")
    if opts.d_recon and opts.arch != "stylegan2":
        raise UsageError(f"--d-recon is for --arch stylegan2 (lite's D always reconstructs; DCGAN's never does), "
                         f"not --arch {opts.arch}")
    if opts.arch == "dcgan":
        if res < 16:
            raise UsageError(f"a DCGAN trains at 16 px or more; this dataset is {res} px (use --res 16 or larger)")
        return _resolve_dcgan(opts, res=res, img_channels=img_channels, c_dim=c_dim, world=world, transfer=transfer)
    if opts.arch == "lite":
        return _resolve_lite(opts, res=res, img_channels=img_channels, c_dim=c_dim, world=world, transfer=transfer)
    pre = preset_for(opts.cfg, res, world)
    batch = opts.batch or max(pre.mb, world)
    if batch % world:
        raise UsageError(f"--batch {batch} is not divisible by the {world} processes")
    per_rank = batch // world
    # the preset's group, or the largest divisor of the per-process batch below it (a group must not span
    # processes and must divide the batch); an explicit --mbstd is taken as given and checked below
    mbstd = opts.mbstd if opts.mbstd is not None else max(
        d for d in range(1, min(pre.mbstd, per_rank) + 1) if per_rank % d == 0)
    if mbstd > 1 and per_rank % mbstd:
        raise UsageError(f"the per-process batch {per_rank} is not divisible by --mbstd {mbstd}")
    cbase = opts.cbase or (pre.cbase or int(pre.fmaps * 32768))
    cmax = opts.cmax or pre.cmax
    lr = pre.lrate
    G_kwargs = dict(z_dim=opts.z_dim or 512, c_dim=c_dim, w_dim=512 if opts.cfg != "small" else 256,
                    img_resolution=res, img_channels=img_channels,
                    mapping_kwargs=dict(num_layers=opts.map_depth or pre.map,
                                        **({"lr_multiplier": opts.map_lr_mul} if opts.map_lr_mul else {})),
                    synthesis_kwargs=dict(channel_base=cbase, channel_max=cmax, num_fp16_res=4, conv_clamp=256,
                                          **({"input_mode": opts.g_input} if opts.g_input != "const" else {})))
    if opts.cfg == "small" and opts.z_dim is None:
        G_kwargs["z_dim"] = 256
    D_kwargs = dict(c_dim=c_dim, img_resolution=res, img_channels=img_channels,
                    architecture="orig" if opts.cfg == "cifar" else "resnet", channel_base=cbase, channel_max=cmax,
                    num_fp16_res=4, conv_clamp=256, mbstd_group_size=mbstd, mbstd_num_channels=1)
    recon = opts.d_recon if opts.d_recon is not None else pre.recon
    if recon and res < 32:
        if opts.d_recon:
            raise UsageError(f"--d-recon needs 32 px or more (D's 16x16 features); this dataset is {res} px")
        recon = 0.0  # a preset's reconstruction is dropped below 32 px
    if recon:
        D_kwargs["recon_channels"] = RECON_CHANNELS
    # Like NVlabs' cifar config, the low-resolution CPU preset trains without path length
    # regularisation and style mixing: cheaper minibatches, and faster to show structure.
    low_res = opts.cfg in ("cifar", "small")
    style_mixing = opts.style_mixing if opts.style_mixing is not None else (0.0 if low_res else 0.9)
    pl_weight = opts.pl_weight if opts.pl_weight is not None else (0.0 if low_res else 2.0)
    ema_ramp = opts.ema_ramp if opts.ema_ramp is not None else pre.ramp
    if transfer and opts.ema_ramp is None:
        ema_ramp = None  # transfer learning: the EMA starts from a trained model
    gamma = opts.gamma if opts.gamma is not None else pre.gamma
    return ResolvedConfig(
        arch="stylegan2", res=res, batch=batch, batch_per_rank=per_rank,
        total_kimg=opts.kimg if opts.kimg is not None else pre.kimg,
        G_kwargs=G_kwargs, D_kwargs=D_kwargs,
        G_opt=dict(lr=opts.glr or lr, betas=(0.0, 0.99), eps=1e-8),
        D_opt=dict(lr=opts.dlr or lr, betas=(0.0, 0.99), eps=1e-8),
        G_reg_interval=4 if pl_weight > 0 else None, D_reg_interval=16 if gamma > 0 else None,
        r1_gamma=float(gamma), pl_weight=float(pl_weight),
        style_mixing=float(style_mixing),
        ema_kimg=opts.ema_kimg if opts.ema_kimg is not None else pre.ema, ema_ramp=ema_ramp,
        ada_kimg=opts.ada_kimg or (100.0 if transfer else 500.0), aug=pre.aug if opts.aug == "auto" else opts.aug,
        recon_weight=float(recon), color_p=float(pre.color_p if opts.diffaugment_color_p is None else opts.diffaugment_color_p), extra=dict(preset=dataclasses.asdict(pre), mbstd=mbstd, cbase=cbase, cmax=cmax))


def _resolve_dcgan(opts: TrainOptions, *, res: int, img_channels: int, c_dim: int, world: int,
                   transfer: bool) -> ResolvedConfig:
    """DCGAN (pytorch/examples): Adam 2e-4, beta1 0.5, batch 64, nz 100; no path length or mixing."""
    batch = opts.batch or 64
    if batch % world:
        raise UsageError(f"--batch {batch} is not divisible by the {world} processes")
    lr = 2e-4
    gamma = opts.gamma if opts.gamma is not None else 0.0
    return ResolvedConfig(
        arch="dcgan", res=res, batch=batch, batch_per_rank=batch // world,
        total_kimg=opts.kimg if opts.kimg is not None else 1000,
        G_kwargs=dict(z_dim=opts.z_dim or 100, c_dim=c_dim, img_resolution=res, img_channels=img_channels,
                      ngf=opts.ngf or 64),
        D_kwargs=dict(c_dim=c_dim, img_resolution=res, img_channels=img_channels, ndf=opts.ndf or 64),
        G_opt=dict(lr=opts.glr or lr, betas=(0.5, 0.999), eps=1e-8),
        D_opt=dict(lr=opts.dlr or lr, betas=(0.5, 0.999), eps=1e-8),
        G_reg_interval=None, D_reg_interval=16 if gamma > 0 else None, r1_gamma=float(gamma), pl_weight=0.0,
        style_mixing=0.0, ema_kimg=opts.ema_kimg if opts.ema_kimg is not None else batch * 10 / 32,
        ema_ramp=None if transfer else (opts.ema_ramp if opts.ema_ramp is not None else 0.05),
        ada_kimg=opts.ada_kimg or (100.0 if transfer else 500.0), aug="ada" if opts.aug == "auto" else opts.aug,
        color_p=float(1.0 if opts.diffaugment_color_p is None else opts.diffaugment_color_p), extra=dict())


def _resolve_lite(opts: TrainOptions, *, res: int, img_channels: int, c_dim: int, world: int,
                  transfer: bool) -> ResolvedConfig:
    """lite (FastGAN-like): Adam 2e-4, betas (0.5, 0.999), hinge loss, no R1; EMA like FastGAN's
    0.999 per step (a half-life of ~693 steps). Widths from :data:`LITE_PRESETS`."""
    if not LITE_MIN_RES <= res <= LITE_MAX_RES:
        raise UsageError(f"lite trains at {LITE_MIN_RES} to {LITE_MAX_RES} px; this dataset is {res} px "
                         f"(use --res {min(max(res, LITE_MIN_RES), LITE_MAX_RES)})")
    pre = lite_preset(opts.cfg)
    batch = opts.batch or max(pre.mb, world)
    if batch % world:
        raise UsageError(f"--batch {batch} is not divisible by the {world} processes")
    lr = 2e-4
    gamma = opts.gamma if opts.gamma is not None else 0.0
    ngf, ndf = opts.ngf or pre.ngf, opts.ndf or pre.ndf
    return ResolvedConfig(
        arch="lite", res=res, batch=batch, batch_per_rank=batch // world,
        total_kimg=opts.kimg if opts.kimg is not None else pre.kimg,
        G_kwargs=dict(z_dim=opts.z_dim or pre.z_dim, c_dim=c_dim, img_resolution=res, img_channels=img_channels,
                      ngf=ngf),
        D_kwargs=dict(c_dim=c_dim, img_resolution=res, img_channels=img_channels, ndf=ndf),
        G_opt=dict(lr=opts.glr or lr, betas=(0.5, 0.999), eps=1e-8),
        D_opt=dict(lr=opts.dlr or lr, betas=(0.5, 0.999), eps=1e-8),
        G_reg_interval=None, D_reg_interval=16 if gamma > 0 else None, r1_gamma=float(gamma), pl_weight=0.0,
        style_mixing=0.0, ema_kimg=opts.ema_kimg if opts.ema_kimg is not None else batch * 0.693,
        ema_ramp=None if transfer else (opts.ema_ramp if opts.ema_ramp is not None else 0.05),
        ada_kimg=opts.ada_kimg or (100.0 if transfer else 500.0), aug="ada" if opts.aug == "auto" else opts.aug,
        color_p=float(1.0 if opts.diffaugment_color_p is None else opts.diffaugment_color_p), extra=dict(preset=dataclasses.asdict(pre)))


def lazy_optimizer_kwargs(opt: dict[str, Any], reg_interval: int | None) -> dict[str, Any]:
    """Lazy regularisation: lr *= r, betas **= r with r = I / (I + 1) (REFERENCE.md)."""
    if not reg_interval:
        return dict(opt)
    r = reg_interval / (reg_interval + 1)
    return dict(lr=opt["lr"] * r, betas=tuple(b ** r for b in opt["betas"]), eps=opt["eps"])
