"""Options of pix2pix training, applying and video, declared once.

The CLI (``neuralbrush pix2pix ...``) takes its defaults from these dataclasses, and every run
writes the resolved options as JSON, so the library, the command line and the saved run agree.
This module imports nothing heavy so the CLI can read the defaults cheaply.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from ..core.errors import UsageError

INPUT_KINDS = ("edges", "clusters")
APPLY_INPUTS = ("edges", "clusters", "none")
NORM_STATS = ("running", "batch")  # junyanz test.py --eval | test.py (the paper's protocol)
MAX_APPLY_SIZE = 8192
ARCHS = ("auto", "unet_256", "unet_128", "unet_64", "unet_32")
GAN_LOSSES = ("vanilla", "lsgan")


@dataclass
class TrainOptions:
    """Everything a pix2pix training run depends on."""

    data: str = ""                  # paired A|B dataset, or plain target photos with ``input``
    input: str | None = None        # None: paired dataset; edges|clusters: derive A from each photo
    clusters: int = 7               # colour count of the k-means input
    size: int = 256                 # training crop size (pixels)
    epochs: int | None = None       # epochs at the constant learning rate (100 when no minutes given)
    epochs_decay: int | None = None  # epochs of linear decay to zero (default: same as epochs)
    minutes: float | None = None    # train for a wall-clock budget instead (half constant, half decay)
    arch: str = "auto"              # auto picks unet_<size> (unet_256 for 256 and above)
    ngf: int = 64
    ndf: int = 64
    n_layers: int = 3               # PatchGAN depth: 3 -> 70x70 patches
    norm: str = "batch"             # batch | instance
    dropout: float = 0.5
    gan_loss: str = "vanilla"       # vanilla (BCE with logits) | lsgan (least squares)
    lambda_l1: float = 100.0
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch: int = 1                  # global batch size (split across torchrun processes)
    scale_max: float = 1.3          # random scale 100%..scale_max before the crop
    flip: bool = True               # random horizontal flip (the same on A and B)
    holdout: float = 0.1            # fraction of images held out for validation L1
    snap_epochs: int = 10           # snapshot every N epochs ...
    snap_minutes: float = 2.0       # ... or every M minutes, whichever comes first
    keep: int = 2                   # snapshots kept on disk (older ones are deleted; 0 keeps all)
    grid_rows: int = 6              # A | fake | B rows in each snapshot grid
    resume: str | None = None       # latest | RUN dir | checkpoint | weights name | junyanz .pth
    outdir: str = "runs"
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    max_images: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainOptions":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class ApplyOptions:
    """How a trained generator is applied to photographs."""

    input: str | None = None        # None: as in training (from the checkpoint)
    clusters: int | None = None     # None: as in training
    size: int | None = None         # longer side the network runs at; None: the training size
    dropout: bool = False           # keep dropout active (the paper's test-time noise)
    norm_stats: str = "running"     # batch norm: running (stored) or batch (the image's own) statistics
    seed: int = 0                   # noise seed for dropout
    side_by_side: bool = False      # also write original | input | output
    device: str = "auto"
    precision: str = "auto"

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> None:
        """Refuse impossible values before any model is loaded or any file is written."""
        check_apply_values(input=self.input, clusters=self.clusters, size=self.size, norm_stats=self.norm_stats)


@dataclass
class VideoOptions(ApplyOptions):
    """Applying to every frame of a video (or a folder of frames)."""

    blend: float = 0.0              # temporal blending: out = (1-blend)*G(frame) + blend*previous out
    fps: float | None = None        # output fps (default: the input's, 24 for frame folders)
    max_frames: int | None = None

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
