"""Media a person can open: image grids, side-by-side rows, animated GIF and MP4.

Video writers stream: frames go to ffmpeg (imageio-ffmpeg's bundled binary) one at a time,
so a 10,000-frame video never sits in memory. GIFs are kept as 8-bit palette frames until
closed (a GIF that large is not a sensible GIF anyway).
"""

from __future__ import annotations

import errno
import math
import os
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import sys
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .errors import UsageError
from .imageio import save_image, to_pil

if TYPE_CHECKING:  # tensors are accepted, but torch loads with the code that makes them
    import torch

    ImageLike = Image.Image | np.ndarray | torch.Tensor


def auto_grid_size(width: int, height: int, count: int | None = None) -> tuple[int, int]:
    """NVlabs' rule: gw = clip(7680 // W, 7, 32), gh = clip(4320 // H, 4, 32) (7x4 at 1024).

    With ``count`` the grid is instead the smallest near-square layout holding ``count`` images.
    """
    if count is not None:
        cols = max(1, math.ceil(math.sqrt(count * height / max(width, 1))))
        rows = max(1, math.ceil(count / cols))
        return cols, rows
    gw = int(np.clip(7680 // width, 7, 32))
    gh = int(np.clip(4320 // height, 4, 32))
    return gw, gh


def _as_pil_list(images: Iterable[ImageLike] | torch.Tensor, value_range: tuple[float, float]) -> list[Image.Image]:
    torch = sys.modules.get("torch")  # a tensor can only exist if torch is loaded
    if torch is not None and isinstance(images, torch.Tensor) and images.dim() == 4:
        return [to_pil(t, value_range=value_range) for t in images]
    return [to_pil(im, value_range=value_range) if not isinstance(im, Image.Image) else im for im in images]


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # old Pillow
        return ImageFont.load_default()


def make_grid(images: Iterable[ImageLike] | torch.Tensor, grid: tuple[int, int] | None = None, *,
              labels: Sequence[str] | None = None, pad: int = 0, background: tuple[int, int, int] = (0, 0, 0),
              value_range: tuple[float, float] = (-1.0, 1.0)) -> Image.Image:
    """Tile images (PIL, uint8 arrays, or tensors in ``value_range``) into one RGB image.

    ``grid`` is (cols, rows); None picks a near-square layout for the count. Cells take the
    size of the first image; labels are drawn in the top-left corner of each cell.
    """
    ims = _as_pil_list(images, value_range)
    if not ims:
        raise UsageError("no images to put in a grid")
    w, h = ims[0].size
    cols, rows = grid if grid is not None else auto_grid_size(w, h, len(ims))
    canvas = Image.new("RGB", (cols * w + (cols + 1) * pad, rows * h + (rows + 1) * pad), background)
    draw = ImageDraw.Draw(canvas)
    font = _font(max(10, min(w, h) // 10))
    for i, im in enumerate(ims[: cols * rows]):
        r, c = divmod(i, cols)
        x, y = pad + c * (w + pad), pad + r * (h + pad)
        if im.size != (w, h):
            im = im.resize((w, h), Image.LANCZOS)
        canvas.paste(im.convert("RGB"), (x, y))
        if labels is not None and i < len(labels) and labels[i]:
            text = str(labels[i])
            tb = draw.textbbox((x + 2, y + 1), text, font=font)
            draw.rectangle((tb[0] - 2, tb[1] - 1, tb[2] + 2, tb[3] + 1), fill=(0, 0, 0))
            draw.text((x + 2, y + 1), text, fill=(255, 255, 255), font=font)
    return canvas


def side_by_side(images: Sequence[ImageLike], *, labels: Sequence[str] | None = None, height: int | None = None,
                 pad: int = 0, value_range: tuple[float, float] = (-1.0, 1.0)) -> Image.Image:
    """One row of images scaled to a common height (the first image's by default)."""
    ims = _as_pil_list(images, value_range)
    h = height or ims[0].height
    ims = [im if im.height == h else im.resize((max(1, round(im.width * h / im.height)), h), Image.LANCZOS) for im in ims]
    canvas = Image.new("RGB", (sum(im.width for im in ims) + pad * (len(ims) - 1), h), (0, 0, 0))
    x = 0
    draw = ImageDraw.Draw(canvas)
    font = _font(max(10, h // 16))
    for i, im in enumerate(ims):
        canvas.paste(im.convert("RGB"), (x, 0))
        if labels is not None and i < len(labels) and labels[i]:
            tb = draw.textbbox((x + 3, 2), labels[i], font=font)
            draw.rectangle((tb[0] - 2, tb[1] - 1, tb[2] + 2, tb[3] + 1), fill=(0, 0, 0))
            draw.text((x + 3, 2), labels[i], fill=(255, 255, 255), font=font)
        x += im.width + pad
    return canvas


def save_grid(images: Iterable[ImageLike] | torch.Tensor, path: str | os.PathLike, grid: tuple[int, int] | None = None,
              **kw) -> Path:
    return save_image(make_grid(images, grid, **kw), path)


def _even(n: int) -> int:
    return n + (n % 2)


class VideoWriter:
    """Stream frames to an MP4 (H.264, yuv420p) or GIF, chosen by the file extension.

    Use as a context manager; ``append`` takes PIL images, uint8 HWC arrays or CHW tensors in
    ``value_range``. MP4 frames are padded to even sizes. ``audio_from`` copies the audio
    track of another video into an MP4.
    """

    def __init__(self, path: str | os.PathLike, fps: float = 30.0, *, quality: int = 8,
                 value_range: tuple[float, float] = (-1.0, 1.0), audio_from: str | os.PathLike | None = None,
                 loop: bool = True) -> None:
        self.path = Path(path)
        self.fps = float(fps)
        if self.fps <= 0:
            raise UsageError("fps must be positive")
        self.kind = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mp4", ".gif": "gif"}.get(self.path.suffix.lower())
        if self.kind is None:
            raise UsageError(f"cannot write video {self.path.name}: use a .mp4 or .gif file name")
        self.quality = quality
        self.value_range = value_range
        self.audio_from = audio_from
        self.loop = loop
        self.count = 0
        self._size: tuple[int, int] | None = None
        self._gen = None
        self._gif_frames: list[Image.Image] = []
        self._tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        # the folder is made when the first bytes are written, so a run that fails before leaves none

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def append(self, frame: ImageLike) -> None:
        im = to_pil(frame, value_range=self.value_range).convert("RGB")
        if self._size is None:
            self._size = im.size
        elif im.size != self._size:
            im = im.resize(self._size, Image.LANCZOS)
        if self.kind == "gif":
            self._gif_frames.append(im.quantize(colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE))
        else:
            if self._gen is None:
                self._start_mp4()
            arr = np.asarray(im)
            w, h = self._size
            if (w % 2) or (h % 2):
                arr = np.pad(arr, ((0, _even(h) - h), (0, _even(w) - w), (0, 0)), mode="edge")
            self._gen.send(np.ascontiguousarray(arr))
        self.count += 1

    def extend(self, frames: Iterable[ImageLike]) -> None:
        for f in frames:
            self.append(f)

    def _start_mp4(self) -> None:
        import imageio_ffmpeg

        w, h = self._size  # type: ignore[misc]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kw = {}
        if self.audio_from is not None and has_audio(self.audio_from):
            kw = {"audio_path": str(self.audio_from), "audio_codec": "aac"}
        self._gen = imageio_ffmpeg.write_frames(
            str(self._tmp), (_even(w), _even(h)), fps=self.fps, codec="libx264", pix_fmt_in="rgb24",
            pix_fmt_out="yuv420p", quality=self.quality, macro_block_size=1, ffmpeg_log_level="error",
            output_params=["-movflags", "+faststart"], **kw)
        self._gen.send(None)

    def close(self) -> Path:
        """Finish the file and move it into place; on any failure (a full disk) nothing is left."""
        if self.count == 0:
            self.abort()
            raise UsageError(f"no frames were written to {self.path.name}")
        try:
            return self._finish()
        except OSError as e:
            self.abort()
            from .outputs import renamed_error

            raise renamed_error(e, self.path) from None
        except BaseException:
            self.abort()
            raise

    def _finish(self) -> Path:
        if self.kind == "gif":
            duration = max(20, int(round(1000.0 / self.fps / 10.0)) * 10)
            first, rest = self._gif_frames[0], self._gif_frames[1:]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            first.save(self._tmp, format="GIF", save_all=True, append_images=rest, duration=duration,
                       loop=0 if self.loop else 1, disposal=1, optimize=False)
            self._gif_frames = []
        elif self._gen is not None:
            self._gen.close()
            self._gen = None
        if self.path.exists() and not self.path.is_file():  # a folder or a device is never replaced
            raise OSError(errno.EINVAL, "not a regular file", str(self.path))
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        if self._gen is not None:
            try:
                self._gen.close()
            except Exception:
                pass
            self._gen = None
        self._gif_frames = []
        if self._tmp.exists():
            self._tmp.unlink()


def write_video(frames: Iterable[ImageLike], path: str | os.PathLike, fps: float = 30.0, **kw) -> Path:
    """Write an iterable of frames to MP4/GIF (streamed)."""
    with VideoWriter(path, fps, **kw) as w:
        w.extend(frames)
    return Path(path)


def video_info(path: str | os.PathLike) -> dict:
    """fps, size (w, h), frame count (estimated) and whether there is audio."""
    import imageio_ffmpeg

    path = Path(path)
    if not path.exists():
        raise UsageError(f"video {path} does not exist")
    try:
        gen = imageio_ffmpeg.read_frames(str(path))
        meta = next(gen)
        gen.close()
    except (RuntimeError, OSError, StopIteration) as e:
        raise UsageError(f"cannot read video {path}: {str(e).splitlines()[0][:120] if str(e) else 'unreadable'}") from None
    nframes, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    return {"fps": float(meta.get("fps") or 30.0), "size": tuple(meta["size"]), "frames": int(nframes),
            "audio": bool(meta.get("audio_codec"))}


def has_audio(path: str | os.PathLike) -> bool:
    try:
        return video_info(path)["audio"]
    except UsageError:
        return False


def read_video(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """Yield uint8 HxWx3 RGB frames of a video, streamed: each stored frame once.

    ``-fps_mode passthrough`` stops ffmpeg from duplicating frames to fill a constant output
    rate (a GIF with 170 ms frames otherwise comes back as 5x as many frames).
    """
    import imageio_ffmpeg

    path = Path(path)
    if not path.exists():
        raise UsageError(f"video {path} does not exist")
    gen = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24", output_params=["-fps_mode", "passthrough"])
    try:
        meta = next(gen)
    except (RuntimeError, OSError, StopIteration) as e:
        raise UsageError(f"cannot read video {path}: {str(e).splitlines()[0][:120] if str(e) else 'unreadable'}") from None
    w, h = meta["size"]
    try:
        for buf in gen:
            yield np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3)
    finally:
        gen.close()


def read_gif(path: str | os.PathLike) -> list[Image.Image]:
    """All frames of a GIF as RGB images (for tests and previews)."""
    from PIL import ImageSequence

    with Image.open(path) as im:
        return [f.convert("RGB") for f in ImageSequence.Iterator(im)]
