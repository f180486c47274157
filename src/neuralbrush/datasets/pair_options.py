"""The options of ``neuralbrush dataset pairs`` and the names they need, without numpy or PIL, so
the command's ``--help`` stays light (the work is in :mod:`.pairs` and :mod:`.pair_inputs`, which
re-export these names)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..core.errors import UsageError
from ..core.options import option

CROPS = ("center", "pad")
InputKind = Literal["edges", "clusters"]
INPUT_KINDS = ("edges", "clusters")

#: Cluster colours, darkest cluster first. Kenneth Kelly's sequence of maximally distinct
#: colours (1965) without its white and black: cluster ``i`` (in order of increasing centre
#: luminance) is always painted ``CLUSTER_PALETTE[i]``.
CLUSTER_PALETTE: tuple[tuple[int, int, int], ...] = (
    (0xF3, 0xC3, 0x00),  # vivid yellow
    (0x87, 0x56, 0x92),  # strong purple
    (0xF3, 0x84, 0x00),  # vivid orange
    (0xA1, 0xCA, 0xF1),  # very light blue
    (0xBE, 0x00, 0x32),  # vivid red
    (0xC2, 0xB2, 0x80),  # grayish yellow
    (0x84, 0x84, 0x82),  # medium gray
    (0x00, 0x88, 0x56),  # vivid green
    (0xE6, 0x8F, 0xAC),  # strong purplish pink
    (0x00, 0x67, 0xA5),  # strong blue
    (0xF9, 0x93, 0x79),  # strong yellowish pink
    (0x60, 0x4E, 0x97),  # strong violet
    (0xF6, 0xA6, 0x00),  # vivid orange yellow
    (0xB3, 0x44, 0x6C),  # strong purplish red
    (0xDC, 0xD3, 0x00),  # vivid greenish yellow
    (0x88, 0x2D, 0x17),  # strong reddish brown
    (0x8D, 0xB6, 0x00),  # vivid yellowish green
    (0x65, 0x45, 0x22),  # deep yellowish brown
    (0xE2, 0x58, 0x22),  # vivid reddish orange
    (0x2B, 0x3D, 0x26),  # dark olive green
)
MAX_CLUSTERS = len(CLUSTER_PALETTE)


def _parse_color(text: str) -> tuple[int, int, int]:
    from ..core.imageio import parse_color

    return parse_color(text)


@dataclass
class PairsOptions:
    """Options of ``neuralbrush dataset pairs`` (the CLI reads its defaults from here)."""

    input: Literal["edges", "clusters"] = option(
        "edges", "Input derived from each photo: edges (Canny lines on white) or clusters (k-means colours in a fixed "
                 "palette).")
    size: int = option(256, "Side of each half of a pair in pixels (pairs are 2*size x size).", min=8)
    crop: Literal["center", "pad"] = option("center", "center: crop the middle square; pad: fit the whole photo and "
                                                      "letterbox.")
    clusters: int = option(7, "Number of colour clusters for --input clusters.", min=1, max=len(CLUSTER_PALETTE))
    thickness: int = option(1, "Edge line thickness in pixels for --input edges.", min=1)
    pad_color: tuple[int, int, int] = option((0, 0, 0), "Letterbox colour for --crop pad (#RRGGBB, r,g,b or a name).",
                                             parse=lambda text: _parse_color(text))
    val_fraction: float = option(0.0, "Fraction of pairs written to val/ instead of train/.", min=0.0, max=0.99)
    min_size: int = option(0, "Reject photos whose shorter side is smaller.", min=0)
    seed: int = option(0, "Seed for k-means and the train/val split.")
    contact_sheet: int = option(16, "Pairs shown on the contact sheet.", cli=False)
    overwrite: bool = option(False, "Replace the pairs of an earlier run in OUT.", flag="--overwrite")
    palette: list[list[int]] = option(help="Colours of the cluster input, one per cluster.", cli=False,
                                      default_factory=lambda: [list(c) for c in CLUSTER_PALETTE])

    def validate(self) -> None:
        if self.input not in INPUT_KINDS:
            raise UsageError(f"unknown --input {self.input!r}; use edges or clusters")
        if self.crop not in CROPS:
            raise UsageError(f"unknown --crop {self.crop!r}; use center or pad")
        if self.size < 8:
            raise UsageError(f"--size must be at least 8, got {self.size}")
        if not 1 <= self.clusters <= len(self.palette):
            raise UsageError(f"--clusters must be between 1 and {len(self.palette)}, got {self.clusters}")
        if self.thickness < 1:
            raise UsageError(f"--thickness must be at least 1, got {self.thickness}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise UsageError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
