"""Run an effect on an image, a folder of images, or a video, with the same code path.

An :class:`Effect` turns one uint8 image array into another. :func:`run_effect` decides what
the input is, streams video frames through ``core.media.read_video`` / ``VideoWriter`` (audio
kept), walks folders with a progress bar (unreadable images are skipped and reported), and
writes the resolved options as JSON beside the outputs.
"""

from __future__ import annotations

import abc

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ImageLoadError, UsageError
from ..core.progress import FrameEvent, ProgressEvent, ProgressFn, presenting

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".gif")
WRITABLE_VIDEO = (".mp4", ".gif")
PALETTE_SAMPLE_FRAMES = 16  # frames a video palette is fitted on (spread over the whole video)


class Effect(abc.ABC):
    """One effect: ``apply`` maps a uint8 image (HxW, HxWx3 or HxWx4) to a new one.

    Subclasses may fit shared state on sampled video frames (``prepare_video``) and write extra
    files beside each output (``write_extras``).
    """

    name = "effect"

    def __init__(self, options: Any) -> None:
        self.options = options.validate() if hasattr(options, "validate") else options

    @abc.abstractmethod
    def apply(self, image: np.ndarray) -> np.ndarray:
        """The effect on one uint8 image."""

    def wants_video_sample(self) -> bool:
        """True when :meth:`prepare_video` needs frames sampled across the video (an extra decode)."""
        return False

    def prepare_video(self, frames: list[np.ndarray]) -> None:
        """Called before any video frame is processed, with frames sampled across the video when
        :meth:`wants_video_sample` says so (otherwise with none)."""

    def write_extras(self, output: Path) -> dict[str, str]:
        """Called after each image output (and once after a video); returns extra files written."""
        return {}

    def summary(self) -> dict[str, Any]:
        """Facts about the last output, recorded in the options JSON."""
        return {}


@dataclass
class EffectRun:
    """What a run produced: the kind of input, output paths, skipped inputs and extra files."""

    kind: str  # image | folder | video
    input: Path
    output: Path
    outputs: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    extras: dict[str, str] = field(default_factory=dict)
    options_file: Path | None = None
    frames: int = 0


def input_kind(path: Path) -> str:
    """``'folder'``, ``'video'`` or ``'image'`` (a single-frame GIF is an image)."""
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    if path.is_dir():
        return "folder"
    ext = path.suffix.lower()
    if ext == ".gif":
        from PIL import Image

        try:
            with Image.open(path) as im:
                return "video" if getattr(im, "n_frames", 1) > 1 else "image"
        except Exception:
            return "image"  # the image loader gives the clear error
    return "video" if ext in VIDEO_EXTENSIONS else "image"


def default_output(path: Path, kind: str, effect: str) -> Path:
    if kind == "folder":
        return path.with_name(f"{path.name}-{effect}")
    if kind == "video":
        ext = path.suffix.lower() if path.suffix.lower() in WRITABLE_VIDEO else ".mp4"
        return path.with_name(f"{path.stem}-{effect}{ext}")
    return path.with_name(f"{path.stem}-{effect}.png")


def plan_output(input: str | os.PathLike, output: str | os.PathLike | None, effect: str) -> tuple[str, Path, Path]:
    """``(kind, input, output)``: what the input is and where the output goes (checked for being
    writable, creating nothing), before any image is decoded."""
    from ..core.outputs import check_writable_output

    src = Path(input)
    kind = input_kind(src)
    out = Path(output) if output is not None else default_output(src, kind, effect)
    if out.resolve() == src.resolve():
        raise UsageError(f"the output {out} would overwrite the input; choose another -o")
    if kind == "image" and out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"):
        raise UsageError(f"the output for an image must be an image file (.png, .jpg, .webp), not {out.name}")
    if kind == "video" and out.suffix.lower() not in WRITABLE_VIDEO:
        raise UsageError(f"the output for a video must be a .mp4 or .gif file, not {out.name}")
    check_writable_output(out, "folder" if kind == "folder" else "file")
    return kind, src, out


def load_for_effect(path: str | os.PathLike) -> np.ndarray:
    """An image file as the array effects take: gray stays HxW, alpha gives HxWx4, 16-bit and
    float files are scaled to 8 bits (all through ``core.imageio``)."""
    from ..core.imageio import normalize_mode, open_image

    img = open_image(path)
    mode = img.mode
    if mode in ("L", "1", "I", "F") or mode.startswith("I;16"):
        target = "L"
    elif mode == "LA" or mode == "La":
        return np.asarray(normalize_mode(img, "RGBA"))[:, :, [0, 3]].copy()
    elif mode in ("RGBA", "RGBa", "PA") or (mode == "P" and "transparency" in img.info):
        target = "RGBA"
    else:
        target = "RGB"
    return np.asarray(normalize_mode(img, target)).copy()


def save_effect_image(array: np.ndarray, path: Path) -> Path:
    from PIL import Image

    from ..core.imageio import save_image

    img = Image.fromarray(np.ascontiguousarray(np.asarray(array)))  # HxWx2 becomes LA
    if path.suffix.lower() in (".jpg", ".jpeg") and img.mode not in ("RGB", "L"):
        from ..core.imageio import normalize_mode

        img = normalize_mode(img, "RGB")
    return save_image(img, path)


def _options_path(output: Path, kind: str) -> Path:
    return output / "options.json" if kind == "folder" else output.with_name(f"{output.stem}-options.json")


def run_effect(effect: Effect, input: str | os.PathLike, output: str | os.PathLike | None = None, *,
               recursive: bool = True, fps: float | None = None, progress: ProgressFn | None = None) -> EffectRun:
    """Apply ``effect`` to an image, every image of a folder, or every frame of a video;
    ``progress`` gets an event per image or frame, the result as preview (None: a bar)."""
    from ..core.checkpoint import write_json

    kind, src, out = plan_output(input, output, effect.name)
    run = EffectRun(kind=kind, input=src, output=out)
    if kind == "image":
        result = effect.apply(load_for_effect(src))
        run.outputs.append(save_effect_image(result, out))
        run.extras.update(effect.write_extras(out))
    elif kind == "folder":
        _run_folder(effect, src, out, run, recursive, progress)
    else:
        _run_video(effect, src, out, run, fps, progress)
    run.options_file = _options_path(out, kind)
    write_json(run.options_file, {
        "effect": effect.name, "input": str(src), "output": str(out), "kind": kind,
        "options": asdict(effect.options), "outputs": len(run.outputs), "frames": run.frames,
        "skipped": [{"path": p, "reason": r} for p, r in run.skipped], "extras": run.extras,
        **effect.summary()})
    return run


def _run_folder(effect: Effect, src: Path, out: Path, run: EffectRun, recursive: bool,
                progress: ProgressFn | None) -> None:
    from ..core.imageio import list_images

    files = list_images([src], recursive=recursive)
    if not files:
        raise UsageError(f"no images found in {src}")
    with presenting(progress, f"{effect.name} {src.name}") as report:
        for n, f in enumerate(files, 1):
            target = (out / f.relative_to(src)).with_suffix(".png")
            try:
                image = load_for_effect(f)
            except ImageLoadError as e:
                run.skipped.append((str(f), e.reason))
                report(ProgressEvent(n, len(files), f"skipped {f.name}: {e.reason}", task=effect.name))
                continue
            result = effect.apply(image)
            run.outputs.append(save_effect_image(result, target))
            for k, v in effect.write_extras(target).items():
                run.extras[f"{target.relative_to(out)}:{k}"] = v
            report(ProgressEvent(n, len(files), f.name, task=effect.name, preview=result))
    if not run.outputs:
        shown = "; ".join(f"{Path(p).name}: {r}" for p, r in run.skipped[:3])
        more = f"; and {len(run.skipped) - 3} more" if len(run.skipped) > 3 else ""
        raise UsageError(f"none of the {len(files)} images in {src} could be read ({shown}{more})")


def _run_video(effect: Effect, src: Path, out: Path, run: EffectRun, fps: float | None,
               progress: ProgressFn | None) -> None:
    from ..core.media import VideoWriter, read_video, video_info

    meta = video_info(src)
    total = max(int(meta["frames"]), 1)
    sampled: list[np.ndarray] = []
    if effect.wants_video_sample():  # only then decode the video twice
        step = max(1, total // PALETTE_SAMPLE_FRAMES)
        sampled = [f.copy() for i, f in enumerate(read_video(src)) if i % step == 0][:PALETTE_SAMPLE_FRAMES]
        if not sampled:
            raise UsageError(f"the video {src} has no frames")
    effect.prepare_video(sampled)
    audio = src if out.suffix.lower() == ".mp4" and meta.get("audio") else None
    with presenting(progress, f"{effect.name} {src.name}") as report, \
            VideoWriter(out, fps or meta["fps"], audio_from=audio) as writer:
        for frame in read_video(src):
            result = effect.apply(frame)
            writer.append(result)
            run.frames += 1
            report(FrameEvent(step=run.frames, total=total, task=effect.name, preview=result, index=run.frames - 1))
    run.outputs.append(out)
    run.extras.update(effect.write_extras(out))
