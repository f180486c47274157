"""Options of pix2pix training, applying and video, declared once.

The CLI (``neuralbrush pix2pix ...``) takes its defaults from these dataclasses, and every run
writes the resolved options as JSON, so the library, the command line and the saved run agree.
This module imports nothing heavy so the CLI can read the defaults cheaply.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Literal

from ..core.errors import UsageError
from ..core.options import option

INPUT_KINDS = ("edges", "clusters")
APPLY_INPUTS = ("edges", "clusters", "none")
NORM_STATS = ("running", "batch")  # junyanz test.py --eval | test.py (the paper's protocol)
MAX_APPLY_SIZE = 8192
ARCHS = ("auto", "unet_256", "unet_128", "unet_64", "unet_32")
GAN_LOSSES = ("vanilla", "lsgan")


@dataclass
class TrainOptions:
    """Everything a pix2pix training run depends on."""

    data: str = option("", "A pairs dataset (`neuralbrush dataset pairs`), a folder/zip of A|B pairs, or a "
                           "folder/zip of target photos together with --input. Optional with --resume latest or "
                           "--resume RUN.", cli="argument")
    input: Literal["edges", "clusters"] | None = option(
        None, "Derive the input from each photo on the fly: edges or clusters (default: the data are A|B pairs).")
    clusters: int = option(7, "Colour count for --input clusters.", min=1, max=20)
    size: int = option(256, "Training crop size in pixels (a multiple of 32).", min=32)
    epochs: int | None = option(None, "Epochs at a constant learning rate, followed by as many decaying to 0 "
                                      "(default 100 + 100 unless --minutes is given).", min=0)
    epochs_decay: int | None = option(None, "Epochs of linear decay (default: the same as --epochs).", min=0)
    minutes: float | None = option(None, "Train for this wall-clock time instead (constant learning rate for half, "
                                         "linear decay for the other half).")
    arch: Literal["auto", "unet_256", "unet_128", "unet_64", "unet_32"] = option(
        "auto", "Generator: auto (by --size), unet_256, unet_128, unet_64, unet_32.")
    ngf: int = option(64, "Generator width (filters of the first level).", min=1)
    ndf: int = option(64, "Discriminator width.", min=1)
    n_layers: int = option(3, "PatchGAN depth (3 = 70x70 patches).", min=1)
    norm: Literal["batch", "instance"] = option("batch", "Normalisation: batch or instance.")
    dropout: float = option(0.5, "Dropout in the decoder levels nearest the bottleneck.", min=0.0, max=0.99)
    gan_loss: Literal["vanilla", "lsgan"] = option("vanilla", "vanilla (BCE with logits) or lsgan (least squares).")
    lambda_l1: float = option(100.0, "Weight of the L1 term.", min=0.0)
    lr: float = option(2e-4, "Adam learning rate of G and D.", min=0.0)
    beta1: float = option(0.5, "Adam beta1.", cli=False)
    beta2: float = option(0.999, "Adam beta2.", cli=False)
    batch: int = option(1, "Global batch size (split across torchrun processes).", min=1)
    scale_max: float = option(1.3, "Random scale up to this factor before the crop.", min=1.0)
    flip: bool = option(True, "Random horizontal flips (the same on input and target).")
    holdout: float = option(0.1, "Fraction of images held out for the validation L1 (a pairs dataset's val/ is used "
                                 "when present).", min=0.0, max=0.9)
    snap_epochs: int = option(10, "Snapshot every N epochs...", min=1)
    snap_minutes: float = option(2.0, "...or every M minutes (0: off).", min=0.0)
    keep: int = option(2, "Snapshots kept on disk (0 keeps all).", min=0)
    grid_rows: int = option(6, "A | fake | B rows in each snapshot grid.", cli=False)
    resume: str | None = option(None, "'latest' (the newest pix2pix run in --outdir) or a run folder continues that "
                                      "run in place; a .safetensors snapshot, weights name (pix2pix-edges2shoes...) or "
                                      "junyanz .pth generator starts a new run from those weights.")
    outdir: str = option("runs", "Parent folder of run directories.")
    seed: int = option(0, "Seed for initialisation, data order and augmentation.")
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = option("auto", "auto, fp32, bf16 or fp16.")
    max_images: int | None = option(None, "Use at most this many images.", min=1)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainOptions":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class ApplyOptions:
    """How a trained generator is applied to photographs."""

    input: Literal["edges", "clusters", "none"] | None = option(
        None, "edges, clusters or none (the photo is the input); default: as in training.")
    clusters: int | None = option(None, "Colour count (default: as in training).", min=1, max=20)
    size: int | None = option(None, "Longer side the network runs at (default: the training size); the output is "
                                    "resized back to the photo's size.", min=32, max=MAX_APPLY_SIZE)
    dropout: bool = option(False, "Keep dropout on (the paper's test-time noise; the same seed on every frame of a "
                                  "video).", flag="--dropout")
    norm_stats: Literal["running", "batch"] = option(
        "running", "Batch-norm statistics: running (stored in training; junyanz test.py --eval) or batch (each "
                   "image's own; junyanz test.py's default, the paper's protocol, usually with --dropout).")
    seed: int = option(0, "Noise seed for --dropout (fixed for every frame).")
    side_by_side: bool = option(False, "Also write original | input | output.", flag="--side-by-side")
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = option("auto", "auto, fp32, bf16 or fp16.")

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> None:
        """Refuse impossible values before any model is loaded or any file is written."""
        check_apply_values(input=self.input, clusters=self.clusters, size=self.size, norm_stats=self.norm_stats)


@dataclass
class VideoOptions(ApplyOptions):
    """Applying to every frame of a video (or a folder of frames)."""

    blend: float = option(0.0, "Temporal blending against flicker: each output is (1-blend)*new + blend*previous "
                               "output.", min=0.0, max=0.95)
    fps: float | None = option(None, "Output frame rate (default: the input's; 24 for folders).")
    max_frames: int | None = option(None, "Stop after this many frames.", min=1)

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.blend, (int, float)) or not 0.0 <= self.blend < 1.0:
            raise UsageError(f"--blend must be in [0, 1), got {self.blend}")
        if self.fps is not None and not (isinstance(self.fps, (int, float)) and math.isfinite(self.fps)
                                         and 0 < self.fps <= 240):
            raise UsageError(f"--fps must be a positive frame rate of at most 240, got {self.fps}")
        if self.max_frames is not None and (isinstance(self.max_frames, bool) or not isinstance(self.max_frames, int)
                                            or self.max_frames < 1):
            raise UsageError(f"--max-frames must be at least 1, got {self.max_frames}")


def check_apply_values(*, input: str | None, clusters: int | None, size: int | None, norm_stats: str) -> None:
    """The checks every way of applying a generator shares (library, CLI, studio)."""
    if input is not None and input not in APPLY_INPUTS:
        raise UsageError(f"unknown --input {input!r}; use edges, clusters or none")
    if clusters is not None and (isinstance(clusters, bool) or not isinstance(clusters, int) or not 1 <= clusters <= 20):
        raise UsageError(f"--clusters must be between 1 and 20, got {clusters}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or not 32 <= size <= MAX_APPLY_SIZE):
        raise UsageError(f"--size must be between 32 and {MAX_APPLY_SIZE} pixels, got {size}")
    if norm_stats not in NORM_STATS:
        raise UsageError(f"unknown --norm-stats {norm_stats!r}; use running or batch")
