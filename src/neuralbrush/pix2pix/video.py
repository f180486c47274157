"""Apply a pix2pix generator to every frame of a video (or a folder of frames).

Frames stream through: read one (``core.media.read_video``), translate it with the same
dropout noise seed as every other frame, optionally blend it with the previous output
(``out_t = (1 - blend) * G(frame_t) + blend * out_{t-1}``, an exponential moving average that
calms frame-to-frame flicker), append it to the writer (``core.media.VideoWriter``: MP4/GIF),
or write it as a PNG into an output folder.

Resumable: every finished output frame is saved (atomically) into a cache folder next to the
output, ``.<name>.pix2pix-frames/``, together with the options that made it. A run that is
interrupted and started again with the same options reuses the cached frames (and restarts
the blending from the last cached frame, which is exactly the state it had), then removes the
cache when the video is complete.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from ..core.checkpoint import write_json
from ..core.errors import UsageError
from ..core.imageio import is_image_file, list_images, load_image, save_image
from ..core.media import VideoWriter, read_video, side_by_side, video_info
from ..core.progress import make_progress
from .apply import Pix2PixModel
from .options import VideoOptions


@dataclass
class VideoResult:
    out: Path
    frames: int
    reused: int
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
                opts: VideoOptions | None = None) -> VideoResult:
    """Translate every frame of ``source`` into ``out`` (.mp4/.gif file, or a folder of PNGs)."""
    opts = opts or VideoOptions()
    if not 0.0 <= opts.blend < 1.0:
        raise UsageError(f"--blend must be in [0, 1), got {opts.blend}")
    source, out = Path(source), Path(out)
    to_folder = out.suffix == "" or out.is_dir()
    if not to_folder and out.suffix.lower() not in (".mp4", ".m4v", ".mov", ".gif"):
        raise UsageError(f"cannot write {out.name}: use a .mp4 or .gif name, or a folder for PNG frames")
    frames, count, src_fps = _frames(source, opts.max_frames)
    fps = float(opts.fps or src_fps or 24.0)
    model_obj = Pix2PixModel(model, input=opts.input, clusters=opts.clusters, size=opts.size, dropout=opts.dropout,
                             seed=opts.seed, device=opts.device, precision=opts.precision)

    # the cache is valid only for the same model, source and options
    cache = cache_dir_for(out)
    signature = {"model": str(Path(model).resolve()) if Path(model).exists() else str(model),
                 "source": str(source.resolve()), **{k: v for k, v in opts.to_dict().items()
                                                      if k not in ("device", "precision", "fps", "max_frames")}}
    sig_path = cache / "cache.json"
    if cache.exists():
        try:
            old = json.loads(sig_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            old = None
        if old != json.loads(json.dumps(signature)):
            shutil.rmtree(cache)
    cache.mkdir(parents=True, exist_ok=True)
    write_json(sig_path, signature)

    writer = None if to_folder else VideoWriter(out, fps)
    if to_folder:
        out.mkdir(parents=True, exist_ok=True)
    previous: np.ndarray | None = None
    n = reused = 0
    try:
        with make_progress() as progress:
            task = progress.add_task("pix2pix video", total=count, info="")
            for i, frame in enumerate(frames):
                cached = cache / f"frame_{i:06d}.png"
                photo = Image.fromarray(frame)
                translation = None
                if cached.exists():
                    try:
                        current = np.asarray(load_image(cached))
                        reused += 1
                    except Exception:  # a damaged cache frame: make it again
                        cached.unlink(missing_ok=True)
                        current = None
                else:
                    current = None
                if current is None:
                    translation = model_obj.translate(photo)
                    new = np.asarray(translation.output).astype(np.float32)
                    if previous is not None and opts.blend > 0:
                        new = (1.0 - opts.blend) * new + opts.blend * previous.astype(np.float32)
                    current = np.clip(np.rint(new), 0, 255).astype(np.uint8)
                    save_image(Image.fromarray(current), cached)
                previous = current
                shown = Image.fromarray(current)
                if opts.side_by_side:
                    inp = translation.input if translation is not None else model_obj.input_at_photo_size(photo)
                    shown = side_by_side([photo, inp, shown], labels=["original", "input", "output"])
                if writer is not None:
                    writer.append(shown)
                else:
                    save_image(shown, out / f"frame_{i:06d}.png")
                n += 1
                progress.advance(task)
        if n == 0:
            raise UsageError(f"{source} has no frames")
        if writer is not None:
            writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    write_json(out.with_name(f"{out.name}.pix2pix-video.json") if not to_folder else out / "pix2pix-video.json",
               {**opts.to_dict(), "model": str(model), "source": str(source), "frames": n, "fps": fps,
                "runtime": model_obj.runtime.describe()})
    shutil.rmtree(cache, ignore_errors=True)
    return VideoResult(out, n, reused, fps)
