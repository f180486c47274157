"""Apply a trained pix2pix generator to photographs of any size.

The input is derived exactly as in training (edges or k-means clusters, read from the
checkpoint; a model trained on A|B pairs takes the photo itself). The photo is resized so its
longer side is the working size (the training size by default), the derived input is padded
up to the U-Net's multiple (2 ** depth: 256 for unet_256), the generator runs in eval mode
(``dropout=True`` keeps dropout on with a fixed noise seed, the paper's test-time noise), and
the result is cropped and resized back to the photo's own size. ``norm_stats="batch"`` normalises
batch norm with each image's own statistics instead of the stored running ones (junyanz
``test.py`` without ``--eval``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..core.checkpoint import load_checkpoint, unprefixed, write_json
from ..core.device import Runtime, resolve_runtime
from ..core.errors import CheckpointError, ImageLoadError, UsageError
from ..core.imageio import is_image_file, list_images, load_image, save_image, to_pil, to_tensor
from ..core.media import side_by_side
from ..core.progress import ProgressEvent, ProgressFn, info, presenting, report_skipped
from ..core.sources import SNAPSHOT, Source, resolve_source
from .networks import build_generator, generator_config_from, load_state
from .options import ApplyOptions, check_apply_values
from .snapshot import FORMAT


def pix2pix_source(model: str | os.PathLike) -> Source:
    """Where ``model`` points, for a pix2pix generator: a run folder (its newest snapshot), a folder
    of runs (the newest pix2pix run), a snapshot, a junyanz ``.pth`` file or a weights-store name of
    kind ``pix2pix-g``; anything else is one sentence listing those."""
    return resolve_source(model, kinds=("pix2pix-g", "pix2pix-snapshot"), what="pix2pix generator", formats=(FORMAT,),
                          suffixes=(".pth",))


def load_generator(model: str | os.PathLike) -> tuple[nn.Module, dict]:
    """G and the checkpoint meta from anything :func:`pix2pix_source` accepts (a junyanz file's
    meta says input None, size 256)."""
    src = pix2pix_source(model)
    p = src.path
    if src.kind == SNAPSHOT:
        tensors, meta = load_checkpoint(p, expect_format=FORMAT)
        cfg = generator_config_from(meta.get("generator"), str(p))
        G = build_generator(cfg)
        load_state(G, unprefixed(tensors, "G"), str(p), "pix2pix generator")
        _check_meta(meta, p)
        return G, meta
    from .junyanz import load_junyanz_generator

    G = load_junyanz_generator(p)
    return G, {"format": "junyanz", "generator": G.config.to_dict(), "input": None, "size": G.multiple,
               "clusters": 7, "source": str(p)}


def _check_meta(meta: dict, p: Path) -> None:
    """The few entries applying reads (how the input is made, the working size) are sane."""
    if meta.get("input") not in (None, "edges", "clusters"):
        raise CheckpointError(f"{p} names an unknown input kind {meta.get('input')!r} in its metadata")
    for key, lo, hi in (("clusters", 1, 256), ("size", 1, 16384)):
        v = meta.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi):
            raise CheckpointError(f"{p} has a malformed '{key}' entry ({v!r}) in its metadata")


def _pad_to_multiple(arr: np.ndarray, multiple: int, *, white: bool) -> np.ndarray:
    h, w = arr.shape[:2]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return arr
    pad = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0))
    if white:  # an edge map padded with blank paper adds no lines
        return np.pad(arr, pad, mode="constant", constant_values=255)
    return np.pad(arr, pad, mode="symmetric")


@dataclass
class Translation:
    """One translated photo: the output and the network input, both at the photo's size."""

    output: Image.Image
    input: Image.Image

    def row(self, original: Image.Image) -> Image.Image:
        return side_by_side([original, self.input, self.output], labels=["original", "input", "output"])


class Pix2PixModel:
    """A loaded generator plus how its inputs are made (a notebook-friendly entry point).

    ``norm_stats`` chooses how batch norm normalises: ``running`` uses the statistics stored in
    training (junyanz ``test.py --eval``), ``batch`` the image's own statistics (junyanz ``test.py``
    without ``--eval``, the pix2pix paper's protocol, usually with ``dropout=True`` as well).
    Instance-norm generators always use the image's own statistics, so it changes nothing there.
    """

    def __init__(self, model: str | os.PathLike, *, input: str | None = None, clusters: int | None = None,
                 size: int | None = None, dropout: bool = False, seed: int = 0, device: str = "auto",
                 precision: str = "auto", norm_stats: str = "running") -> None:
        check_apply_values(input=input, clusters=clusters, size=size, norm_stats=norm_stats)
        self.runtime: Runtime = resolve_runtime(device, precision)
        G, meta = load_generator(model)
        self.meta = meta
        self.G = self.runtime.module(G).eval()
        self.dropout = dropout
        self.norm_stats = norm_stats
        for m in self.G.modules():
            if dropout and isinstance(m, torch.nn.Dropout):
                m.train()
            if norm_stats == "batch" and isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                # normalise with this image's statistics and leave the stored ones untouched
                m.train()
                m.track_running_stats = False
        kind = meta.get("input") if input is None else (None if input == "none" else input)
        self.input_kind = kind
        self.clusters = int(clusters if clusters is not None else meta.get("clusters", 7))
        self.multiple = 2 ** G.depth
        self.size = int(size if size is not None else meta.get("size", self.multiple))
        self.seed = seed

    def derive(self, photo: Image.Image) -> Image.Image:
        if self.input_kind is None:
            return photo.convert("RGB")
        from ..datasets.pairs import derive_input

        return derive_input(photo, self.input_kind, clusters=self.clusters, seed=0).convert("RGB")

    def network_input(self, photo: Image.Image) -> tuple[Image.Image, tuple[int, int]]:
        """The derived input at the working size (longer side ``size``) and that size."""
        W, H = photo.size
        scale = self.size / max(W, H)
        w, h = max(1, round(W * scale)), max(1, round(H * scale))
        work = photo.resize((w, h), Image.LANCZOS) if (w, h) != (W, H) else photo
        return self.derive(work), (w, h)

    def input_at_photo_size(self, photo: Image.Image) -> Image.Image:
        """The input the network sees, scaled to the photo's size (for side-by-side rows)."""
        derived, _ = self.network_input(photo)
        return derived.resize(photo.size, Image.NEAREST if self.input_kind else Image.LANCZOS)

    def translate(self, photo: Image.Image | np.ndarray) -> Translation:
        """Translate one photo (PIL or uint8 HWC array) of any size."""
        photo = to_pil(photo).convert("RGB") if not isinstance(photo, Image.Image) else photo.convert("RGB")
        W, H = photo.size
        derived, (w, h) = self.network_input(photo)
        arr = _pad_to_multiple(np.asarray(derived), self.multiple, white=self.input_kind == "edges")
        top, left = (arr.shape[0] - h) // 2, (arr.shape[1] - w) // 2
        x = self.runtime.tensor(to_tensor(arr)[None])
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)  # the same dropout noise for every image / frame
            with self.runtime.autocast():
                y = self.G(x)
        out = to_pil(y.float().cpu()[0, :, top:top + h, left:left + w])
        if (w, h) != (W, H):
            out = out.resize((W, H), Image.LANCZOS)
            derived = derived.resize((W, H), Image.NEAREST if self.input_kind else Image.LANCZOS)
        return Translation(out, derived)


def _output_paths(out: Path, sources: list[Path], single: bool) -> list[Path]:
    if single and is_image_file(out):
        return [out]
    if is_image_file(out) and not single:
        raise UsageError(f"{len(sources)} photos need an output folder, not the file {out.name}")
    names, paths = set(), []
    for src in sources:
        stem = src.stem
        n = 1
        while stem in names:  # same name from two folders
            n += 1
            stem = f"{src.stem}-{n}"
        names.add(stem)
        paths.append(out / f"{stem}.png")
    return paths


@dataclass
class ApplyResult:
    """What :func:`apply_paths` wrote (as :class:`neuralbrush.effects.batch.EffectRun` for effects)."""

    outputs: list[Path] = field(default_factory=list)  # one translated image per readable photo, in order
    side_by_side: list[Path] = field(default_factory=list)  # original | input | output rows (side_by_side=True)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (photo, why it could not be read)
    options_file: Path | None = None  # pix2pix-apply.json: the resolved options, photos and skipped ones


def apply_paths(model: str | os.PathLike, photos: list[str | os.PathLike], out: str | os.PathLike,
                opts: ApplyOptions | None = None, progress: ProgressFn | None = None) -> ApplyResult:
    """Translate photos (files or folders) into ``out`` (a file for one photo, else a folder).

    With ``side_by_side`` a ``<name>_side_by_side.png`` row original | input | output is written
    too. Unreadable photos are skipped and reported. The resolved options are written as
    ``pix2pix-apply.json`` beside the outputs. ``progress`` gets an event per photo, the output as
    preview (None: a bar). Returns an :class:`ApplyResult`.
    """
    opts = opts or ApplyOptions()
    opts.validate()
    sources = list_images([Path(p) for p in photos])
    if not sources:
        raise UsageError("no photos found in " + ", ".join(str(p) for p in photos))
    out = Path(out)
    single = len(sources) == 1 and not Path(photos[0]).is_dir()
    targets = _output_paths(out, sources, single)
    m = Pix2PixModel(model, input=opts.input, clusters=opts.clusters, size=opts.size, dropout=opts.dropout,
                     seed=opts.seed, device=opts.device, precision=opts.precision, norm_stats=opts.norm_stats)
    result = ApplyResult()
    skipped = result.skipped
    with presenting(progress, "pix2pix apply") as report:
        for n, (src, dst) in enumerate(zip(sources, targets), 1):
            try:
                photo = load_image(src)
            except ImageLoadError as e:  # one bad photo in a folder is skipped and listed, never fatal
                skipped.append((str(src), e.reason + (f" ({e.detail})" if e.detail else "")))
                report(ProgressEvent(n, len(sources), f"skipped {src.name}", task="pix2pix apply"))
                continue
            t = m.translate(photo)
            result.outputs.append(save_image(t.output, dst))
            if opts.side_by_side:
                result.side_by_side.append(save_image(t.row(photo), dst.with_name(f"{dst.stem}_side_by_side.png")))
            report(ProgressEvent(n, len(sources), src.name, task="pix2pix apply", preview=np.asarray(t.output)))
    if not result.outputs:
        shown = "; ".join(f"{Path(p).name}: {r}" for p, r in skipped[:3])
        more = f"; and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        raise UsageError(f"none of the {len(sources)} photos could be read ({shown}{more})")
    record = {**opts.to_dict(), "model": str(model), "resolved_input": m.input_kind or "photo",
              "resolved_clusters": m.clusters, "resolved_size": m.size, "runtime": m.runtime.describe(),
              "photos": [str(s) for s in sources], "skipped": [{"path": p, "reason": r} for p, r in skipped]}
    json_path = out.with_name(f"{out.stem}.pix2pix-apply.json") if single and is_image_file(out) \
        else out / "pix2pix-apply.json"
    result.options_file = write_json(json_path, record)
    report_skipped(skipped, str(json_path))
    return result
