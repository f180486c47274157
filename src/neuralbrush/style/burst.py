"""Style bursts: paint many photos with the same styles, as a library call a notebook can make.

:func:`stylize_files` is the body of ``neuralbrush style`` (one photo, a folder or a glob), next
to :func:`neuralbrush.effects.batch.run_effect` and :func:`neuralbrush.pix2pix.apply.apply_paths`
which work the same way:

* under ``torchrun`` the photos are sharded by rank, and the lists of written and skipped
  photos are gathered so rank 0 writes one record;
* a photo that cannot be read is skipped and listed with its reason; only when none could be
  painted is it an error (the folder rule of every batch command);
* ``save_every`` writes snapshots of each image becoming styled (``OUT-snapshots/step-N.png``)
  and an animation of them; ``animate`` writes every painted photo as one animation;
* ``record`` receives the resolved options beside the outputs (the same JSON re-runs it).

Progress: ``progress`` receives the :class:`~neuralbrush.style.transfer.StyleIterate` steps of
each photo (task ``stylize``, with a preview) and a :class:`PhotoEvent` after each photo (task
``photos``). None means the default bars.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from ..core.errors import ImageLoadError, UsageError
from ..core.progress import ProgressEvent, ProgressFn, presenting
from .options import StyleOptions


@dataclass(frozen=True, kw_only=True)
class PhotoEvent(ProgressEvent):
    """A photo of the burst done (``step`` of ``total`` photos of this process's share): written
    to ``output``, or skipped (``output`` None) for the reason in ``message``."""

    source: Path
    output: Path | None


@dataclass
class BurstResult:
    """What :func:`stylize_files` did, over every rank (in input order)."""

    outputs: list[Path]  # the painted photos
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (photo, reason) of unreadable ones
    animations: list[Path] = field(default_factory=list)  # save_every: each image becoming styled
    animation: Path | None = None  # ``animate``: the painted photos as one animation
    record: Path | None = None  # the options record
    random_weights: bool = False  # VGG-19 had random weights: not meaningful art


def snapshot_folder(output: Path) -> Path:
    """Where ``save_every`` puts the snapshots of ``output``: ``OUT-snapshots/``."""
    return output.with_name(output.stem + "-snapshots")


def progress_animation(output: Path, progress_video: Path | None, burst: bool) -> Path:
    """Where the animation of ``output`` becoming styled goes: ``OUT-progress.gif`` by default;
    in a burst a given ``progress_video`` gets the photo's name added."""
    if progress_video is None:
        return output.with_name(output.stem + "-progress.gif")
    if burst:
        return progress_video.with_name(f"{progress_video.stem}-{output.stem}{progress_video.suffix}")
    return progress_video


def stylize_files(contents: Sequence[str | Path], styles: Sequence[Image.Image], outputs: Sequence[str | Path],
                  opts: StyleOptions = StyleOptions(), *, transfer=None, save_every: int = 0,
                  progress_video: str | Path | None = None, animate: str | Path | None = None, fps: float = 8.0,
                  record: str | Path | None = None, about: dict[str, Any] | None = None, label: str = "",
                  progress: ProgressFn | None = None) -> BurstResult:
    """Paint each of ``contents`` in the style of ``styles`` into the matching ``outputs``.

    ``transfer`` is a :class:`~neuralbrush.style.transfer.StyleTransfer` (None: one with the
    weights store's VGG-19 on the best device). ``about`` adds entries to the ``record`` JSON
    (the command, the content spec, the style files). Raises :class:`UsageError` only when no
    photo could be read; ``label`` names the photos in that message (e.g. the folder given).
    """
    from ..core import distributed as dist
    from ..core.checkpoint import write_json
    from ..core.imageio import load_image, save_image
    from ..core.media import VideoWriter

    contents, outputs = [Path(p) for p in contents], [Path(p) for p in outputs]
    if len(contents) != len(outputs) or not contents:
        raise UsageError(f"give one output per photo ({len(contents)} photos, {len(outputs)} outputs)")
    opts.check(len(styles))  # a wrong option is refused before VGG-19 or any photo loads
    if transfer is None:
        from .transfer import StyleTransfer

        transfer = StyleTransfer(seed=opts.seed)
    burst = len(contents) > 1
    progress_video = Path(progress_video) if progress_video is not None else None
    dist.init(transfer.runtime.device)
    mine = dist.shard(list(range(len(contents))))
    written: list[int] = []
    skipped: list[tuple[str, str]] = []
    with presenting(progress, "photos") as report:
        for n, i in enumerate(mine, 1):
            try:
                photo = load_image(contents[i])
            except ImageLoadError as e:  # one bad photo in a burst is skipped, never fatal
                reason = e.reason + (f" ({e.detail})" if e.detail else "")
                skipped.append((str(contents[i]), reason))
                report(PhotoEvent(step=n, total=len(mine), message=f"skipped {contents[i].name}: {reason}",
                                  task="photos", source=contents[i], output=None))
                continue
            out = outputs[i]
            snaps = _Snapshots(out, progress_video, burst, fps, save_every, photo.size, opts) if save_every else None
            try:
                def step(event: ProgressEvent) -> None:
                    report(event)
                    if snaps is not None:
                        snaps.take(event)

                result = transfer.stylize(photo, styles, opts, progress=step)
            except BaseException:
                if snaps is not None:
                    snaps.writer.abort()
                raise
            save_image(result, out)
            written.append(i)
            if snaps is not None:
                snaps.writer.close()
            report(PhotoEvent(step=n, total=len(mine), message=f"wrote {out}", task="photos", preview=np.asarray(result),
                              source=contents[i], output=out))
    written, skipped = sorted(_gathered(written)), _gathered(skipped)
    if not written:
        shown = "; ".join(f"{Path(p).name}: {r}" for p, r in skipped[:3])
        raise UsageError(f"none of the {len(contents)} photos{f' of {label}' if label else ''} could be read ({shown}"
                         + (f"; and {len(skipped) - 3} more)" if len(skipped) > 3 else ")"))
    done = [outputs[i] for i in written]
    res = BurstResult(outputs=done, skipped=skipped, random_weights=transfer.random_weights,
                      animations=[progress_animation(p, progress_video, burst) for p in done] if save_every else [])
    if record is not None and dist.is_main():  # written once the options proved valid, beside the outputs
        res.record = write_json(Path(record), {
            **(about or {}), "contents": [str(contents[i]) for i in written],
            "outputs": [str(p) for p in done], "skipped": [{"path": p, "reason": r} for p, r in skipped],
            "device": str(transfer.runtime.device), "precision": transfer.runtime.precision,
            "save_every": save_every, **asdict(opts)})
    if animate is not None and dist.is_main():
        with VideoWriter(Path(animate), fps=fps, value_range=(0, 1)) as w:
            for p in done:
                w.append(load_image(p))
        res.animation = Path(animate)
    return res


class _Snapshots:
    """``save_every``: every N-th iterate of one photo, at the output size, as PNGs and frames of
    an animation."""

    def __init__(self, out: Path, progress_video: Path | None, burst: bool, fps: float, every: int,
                 photo_size: tuple[int, int], opts: StyleOptions) -> None:
        from ..core.media import VideoWriter
        from .schedule import fit_size

        self.folder, self.every = snapshot_folder(out), every
        self.size = fit_size(photo_size, opts.size or min(max(photo_size), opts.max_size))
        self.writer = VideoWriter(progress_animation(out, progress_video, burst), fps=fps, value_range=(0, 1))

    def take(self, it: ProgressEvent) -> None:
        from ..core.imageio import save_image
        from .transfer import StyleIterate

        if not isinstance(it, StyleIterate) or not (it.step % self.every == 0 or it.step == it.total):
            return
        im = it.image()
        im = im.resize(self.size, resample=Image.BICUBIC) if im.size != self.size else im
        save_image(im, self.folder / f"step-{it.step:06d}.png")
        self.writer.append(im)


def _gathered(items: list) -> list:
    """Every rank's ``items`` joined (under torchrun), or ``items`` in a single process."""
    from ..core import distributed as dist

    dist.barrier()
    if dist.world_size() <= 1:
        return list(items)
    import torch.distributed as td

    parts: list = [None] * dist.world_size()
    td.all_gather_object(parts, list(items))
    return [x for part in parts for x in (part or [])]
