"""Apply a pix2pix generator to every frame of a video (or a folder of frames).

Frames stream through: read one (``core.media.read_video``), translate it with the same
dropout noise seed as every other frame, optionally blend it with the previous output
(``out_t = (1 - blend) * G(frame_t) + blend * out_{t-1}``, an exponential moving average that
calms frame-to-frame flicker), append it to the writer (``core.media.VideoWriter``: MP4/GIF),
or write it as a PNG into an output folder.

Resumable and shardable: every generator output is saved into a frame cache
(``core.framecache``: ``frame_000123.png`` + ``cache.json``), by default next to the output as
``.<name>.pix2pix-frames/``; under ``torchrun`` each process renders every N-th frame. Blending
and writing happen afterwards on rank 0 from the cache, so an interrupted run started again with
the same options reuses the cached frames and produces exactly the same video; the cache is
removed when the video is complete. A cache made with other options is refused, naming
``--restart`` (which discards it). The source, the model and the options are checked before the cache or the output is
created, and an input that fails part-way removes what this run created, so a command that
fails on its inputs leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from ..core.checkpoint import write_json
from ..core.errors import NeuralbrushError, UsageError
from ..core.framecache import FrameCache
from ..core.imageio import is_image_file, list_images, load_image, save_image
from ..core.media import VideoWriter, read_video, side_by_side, video_info
from ..core.progress import FrameEvent, ProgressFn, presenting
from .apply import Pix2PixModel
from .options import VideoOptions


@dataclass
class VideoResult:
    out: Path
    frames: int
    reused: int  # frames this process found in the cache
    fps: float


def _frames(source: Path, max_frames: int | None) -> tuple[Iterator[np.ndarray], int | None, float | None]:
    """(frame iterator, frame count if known, fps if known) of a video file or frame folder."""
    if source.is_dir():
        files = [p for p in list_images([source], recursive=False)]
        if not files:
            raise UsageError(f"{source} holds no frame images")
        if max_frames:
            files = files[:max_frames]
        return (np.asarray(load_image(p)) for p in files), len(files), None
    if not source.exists():
        raise UsageError(f"video {source} does not exist")
    info = video_info(source)

    def gen() -> Iterator[np.ndarray]:
        for i, frame in enumerate(read_video(source)):
            if max_frames is not None and i >= max_frames:
                break
            yield frame

    count = info["frames"] if not max_frames else min(info["frames"], max_frames)
    return gen(), count, info["fps"]


def cache_dir_for(out: Path) -> Path:
    return out.parent / f".{out.name}.pix2pix-frames"


def apply_video(model: str | os.PathLike, source: str | os.PathLike, out: str | os.PathLike,
                opts: VideoOptions | None = None, *, cache: str | os.PathLike | None = None,
                restart: bool = False, progress: ProgressFn | None = None) -> VideoResult:
    """Translate every frame of ``source`` into ``out`` (.mp4/.gif file, or a folder of PNGs);
    ``progress`` gets a :class:`~neuralbrush.core.progress.FrameEvent` per frame (None: a bar).

    ``cache``: the frame cache folder (default :func:`cache_dir_for`); ``restart`` discards
    frames cached with other options instead of refusing them.

    Two passes: every process renders its share of the frames (round-robin by torchrun rank)
    into the cache, skipping frames already there; then rank 0 reads the cached outputs in
    order, blends them and writes the video. Blending at write time keeps the render pass free
    of sequential dependencies, so frames shard across processes and a resumed run gives
    exactly the video an uninterrupted one would.
    """
    from ..core import distributed as dist

    opts = opts or VideoOptions()
    opts.validate()
    source, out = Path(source), Path(out)
    to_folder = out.suffix == "" or out.is_dir()
    if not to_folder and out.suffix.lower() not in (".mp4", ".m4v", ".mov", ".gif"):
        raise UsageError(f"cannot write {out.name}: use a .mp4 or .gif name, or a folder for PNG frames")
    if out.exists() and not out.is_dir() and to_folder:
        raise UsageError(f"{out} is a file; give a folder for PNG frames or a .mp4/.gif name")
    _probe_source(source)
    model_obj = Pix2PixModel(model, input=opts.input, clusters=opts.clusters, size=opts.size, dropout=opts.dropout,
                             seed=opts.seed, device=opts.device, precision=opts.precision, norm_stats=opts.norm_stats)
    # everything a command line can get wrong has been checked: from here on files are written
    cache = Path(cache) if cache is not None else cache_dir_for(out)
    created = [p for p in (cache, out if to_folder else None) if p is not None and not p.exists()]
    try:
        return _render(model, model_obj, source, out, to_folder, cache, opts, restart, progress)
    except NeuralbrushError:
        # an input that fails part-way (a broken frame) leaves nothing this run created; a cache
        # that was already there (a resumed run) and interruptions keep their frames for a resume
        if dist.rank() == 0:
            for p in created:
                shutil.rmtree(p, ignore_errors=True)
        raise


def _probe_source(source: Path) -> None:
    """Refuse a source that is missing, empty or unreadable before anything is created."""
    if source.is_dir():
        files = list_images([source], recursive=False)
        if not files:
            raise UsageError(f"{source} holds no frame images")
        load_image(files[0])
        return
    if not source.exists():
        raise UsageError(f"video {source} does not exist")
    frames = read_video(source)
    try:
        next(frames)
    except StopIteration:
        raise UsageError(f"{source} has no frames") from None
    finally:
        frames.close()


def _render(model: str | os.PathLike, model_obj: Pix2PixModel, source: Path, out: Path, to_folder: bool,
            cache_dir: Path, opts: VideoOptions, restart: bool, progress: ProgressFn | None) -> VideoResult:
    from ..core import distributed as dist

    distributed = dist.init(model_obj.runtime.device)
    rank, world = dist.rank(), dist.world_size()

    # the cache is valid only for the same model, source and options (blending is applied later)
    signature = {"model": str(Path(model).resolve()) if Path(model).exists() else str(model),
                 "source": str(source.resolve()), **{k: v for k, v in opts.to_dict().items()
                                                      if k not in ("device", "precision", "fps", "max_frames",
                                                                   "blend", "side_by_side")}}
    cache = FrameCache(cache_dir, signature, restart=restart).open()

    # pass 1: render this process's missing frames (round-robin: no frame depends on another)
    frames, count, src_fps = _frames(source, opts.max_frames)
    todo = set(cache.todo(count, "round-robin"))
    reused = len(cache.share(count, "round-robin")) - len(todo)
    rendered = 0
    with presenting(progress, "pix2pix video") as report:
        for i, frame in enumerate(frames):
            shown = None
            if i in todo:
                shown = model_obj.translate(Image.fromarray(frame)).output
                cache.put(i, shown)
                rendered += 1
            report(FrameEvent(step=i + 1, total=count, task="pix2pix video", index=i, cached=shown is None,
                              preview=None if shown is None else np.asarray(shown)))
    if rendered < len(todo):
        raise UsageError(f"{source} has fewer frames than the {count} it announced")
    if rank != 0:
        cache.assemble(count, lambda i, image: None)  # the barrier before rank 0 writes
        if distributed:
            dist.shutdown()
        return VideoResult(out, rendered + reused, reused, float(opts.fps or src_fps or 24.0))

    # pass 2 (rank 0): blend in order and write
    if count == 0:
        raise UsageError(f"{source} has no frames")
    frames, count, src_fps = _frames(source, opts.max_frames)  # the originals, for --side-by-side
    fps = float(opts.fps or src_fps or 24.0)
    if to_folder:
        out.mkdir(parents=True, exist_ok=True)
    previous: np.ndarray | None = None
    # a video output is closed at the end and removed if anything fails on the way
    with contextlib.nullcontext() if to_folder else VideoWriter(out, fps) as writer:

        def write(i: int, image: Image.Image) -> None:
            nonlocal previous
            raw = np.asarray(image).astype(np.float32)
            current = raw if previous is None or opts.blend == 0 else (1.0 - opts.blend) * raw + opts.blend * previous
            previous = current
            shown = Image.fromarray(np.clip(np.rint(current), 0, 255).astype(np.uint8))
            if opts.side_by_side:
                photo = Image.fromarray(next(frames))
                shown = side_by_side([photo, model_obj.input_at_photo_size(photo), shown],
                                     labels=["original", "input", "output"])
            if writer is not None:
                writer.append(shown)
            else:
                save_image(shown, out / f"frame_{i:06d}.png")

        cache.assemble(count, write)
    n = count
    write_json(out.with_name(f"{out.name}.pix2pix-video.json") if not to_folder else out / "pix2pix-video.json",
               {**opts.to_dict(), "model": str(model), "source": str(source), "frames": n, "fps": fps,
                "runtime": model_obj.runtime.describe(), "processes": world})
    cache.cleanup()
    if distributed:
        dist.shutdown()
    return VideoResult(out, n, reused, fps)
