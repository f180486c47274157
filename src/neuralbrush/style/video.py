"""Temporally coherent video style transfer (Ruder, Dosovitskiy & Brox, 2016).

Frame t (t > 0) starts from the previous *stylised* frame warped into frame t by optical flow
computed on the *content* frames (backward flow t -> t-1, so each output pixel knows where to
fetch from), and its loss gains a temporal term: the masked MSE to that warped frame. The
mask is the flow's reliability: 0 where forward and backward flow disagree (disocclusions) or
on motion boundaries, so newly revealed regions are free to be painted afresh. Later frames need
far fewer iterations than the first because they start close to a solution.

Frames go through the frame cache (``core.framecache``: ``frame_000123.png`` + ``cache.json``,
atomic writes, damaged frames redone) in a folder beside the output, so a killed run resumes
where it stopped; a cache made with other options is refused, naming ``--restart``. Under
``torchrun`` each rank takes a contiguous chunk of frames (coherence needs consecutive frames;
each chunk's first frame starts cold), and rank 0 writes the video, with the input's audio
track, when all chunks are done.
"""

from __future__ import annotations

import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from ..core.errors import UsageError
from ..core.framecache import FrameCache, chunk_range  # noqa: F401 (chunk_range re-exported)
from ..core.progress import FrameEvent, ProgressFn, presenting
from .options import VIDEO_HELP, StyleOptions, VideoOptions  # noqa: F401 (re-exported)
from .schedule import fit_size
from .transfer import StyleTransfer, image_tensor

FLOW_CHOICES = ("dis", "farneback")


# ------------------------------------------------------------------------------------ optical flow

def _gray(frame: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def optical_flow(src: np.ndarray, dst: np.ndarray, method: str = "dis") -> np.ndarray:
    """Dense flow from ``src`` to ``dst`` (uint8 RGB HxWx3): for each pixel p of src, p + flow[p]
    is where it lies in dst. Returns HxWx2 float32 (dx, dy)."""
    import cv2

    a, b = _gray(src), _gray(dst)
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return dis.calc(a, b, None).astype(np.float32)
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(a, b, None, pyr_scale=0.5, levels=4, winsize=15, iterations=3,
                                            poly_n=5, poly_sigma=1.2, flags=0).astype(np.float32)
    raise UsageError(f"unknown optical flow {method!r}; use {' or '.join(FLOW_CHOICES)}")


def _sample_grid(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = flow.shape[:2]
    xx, yy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return xx + flow[..., 0], yy + flow[..., 1]


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward warp: out[p] = image[p + flow[p]] (bilinear, edges replicated). Any HxW[xC] float/uint8."""
    import cv2

    mx, my = _sample_grid(flow)
    return cv2.remap(image, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def reliability_mask(flow_back: np.ndarray, flow_fwd: np.ndarray) -> np.ndarray:
    """Ruder et al.'s consistency test. ``flow_back``: frame t -> t-1, ``flow_fwd``: t-1 -> t.

    A pixel p of frame t is reliable when following the backward flow and then the forward flow
    returns to p (|w_b + w_f(p + w_b)|^2 <= 0.01 (|w_b|^2 + |w_f|^2) + 0.5) and it is not on a
    motion boundary (|grad w_b|^2 <= 0.01 |w_b|^2 + 0.002). Returns HxW float32 in {0, 1}.
    """
    fwd_at = warp(flow_fwd, flow_back)
    s = flow_back + fwd_at
    consistent = (s ** 2).sum(-1) <= 0.01 * ((flow_back ** 2).sum(-1) + (fwd_at ** 2).sum(-1)) + 0.5
    gy_u, gx_u = np.gradient(flow_back[..., 0])
    gy_v, gx_v = np.gradient(flow_back[..., 1])
    grad2 = gx_u ** 2 + gy_u ** 2 + gx_v ** 2 + gy_v ** 2
    boundary = grad2 > 0.01 * (flow_back ** 2).sum(-1) + 0.002
    return (consistent & ~boundary).astype(np.float32)


def warped_difference(frames: Sequence[np.ndarray], contents: Sequence[np.ndarray], method: str = "dis") -> float:
    """Mean absolute difference (0-255 scale) between each stylised frame and the previous one
    warped into it by the content's optical flow, over reliable pixels: the flicker measure."""
    diffs = []
    for t in range(1, len(frames)):
        back = optical_flow(contents[t], contents[t - 1], method)
        fwd = optical_flow(contents[t - 1], contents[t], method)
        mask = reliability_mask(back, fwd)
        prev = warp(frames[t - 1].astype(np.float32), back)
        d = np.abs(frames[t].astype(np.float32) - prev).mean(-1)
        if mask.sum() > 0:
            diffs.append(float((d * mask).sum() / mask.sum()))
    return float(np.mean(diffs)) if diffs else 0.0


# ------------------------------------------------------------------------------------ the loop

def default_cache_dir(output: str | os.PathLike) -> Path:
    """Where the frames of ``output`` are cached unless a folder is given: ``OUT.frames/`` beside it."""
    output = Path(output)
    return output.with_name(output.stem + ".frames")


def frame_path(cache: Path, index: int) -> Path:
    """Where frame ``index`` lies in the frame cache folder ``cache`` (the :class:`FrameCache` layout)."""
    return FrameCache(cache, {}).path(index)


def stylize_video(input_path: str | os.PathLike, styles: Sequence[Image.Image], output: str | os.PathLike,
                  opts: StyleOptions = StyleOptions(), *, transfer: StyleTransfer,
                  video: VideoOptions | None = None, cache_dir: str | os.PathLike | None = None,
                  restart: bool = False, progress: ProgressFn | None = None,
                  write_video_file: bool = True) -> Path | None:
    """Stylise a video frame by frame; returns the output path (on rank 0) or None.

    ``opts`` are the :meth:`StyleTransfer.stylize` options of the first frame of each chunk (and
    of every frame when ``video.coherent`` is False); later frames run ``video.later_iterations``
    steps from the warped previous frame. ``progress`` receives a
    :class:`~neuralbrush.core.progress.FrameEvent` after each frame of this rank's share and the
    :class:`~neuralbrush.style.transfer.StyleIterate` steps of each frame (None: bars).
    """
    from ..core import distributed as dist
    from ..core.media import VideoWriter, read_video, video_info

    video = video or VideoOptions()
    if video.flow not in FLOW_CHOICES:
        raise UsageError(f"unknown optical flow {video.flow!r}; use {' or '.join(FLOW_CHOICES)}")
    opts.check(len(styles))  # a wrong option is refused before the cache or any frame is touched
    from ..core.outputs import check_writable_output

    input_path, output = Path(input_path), Path(output)
    cache = Path(cache_dir) if cache_dir else default_cache_dir(output)
    if write_video_file:
        check_writable_output(output, "file")
    check_writable_output(cache, "folder", what="frame cache")
    info = video_info(input_path)
    count = info["frames"] if video.max_frames is None else min(info["frames"], int(video.max_frames))
    if count <= 0:
        raise UsageError(f"video {input_path} has no frames")
    w0, h0 = info["size"]
    long_side = int(opts.size) if opts.size else min(max(w0, h0), int(opts.max_size))
    out_wh = fit_size((w0, h0), long_side)

    # fps only re-times the video and max_frames only stops earlier: neither changes a frame
    record = {"input": str(input_path.resolve()), "styles": len(styles), "size": list(out_wh),
              "style_options": asdict(opts),
              "video": {k: v for k, v in asdict(video).items() if k not in ("fps", "max_frames")}}
    frames = FrameCache(cache, record, restart=restart).open()
    mine = frames.share(count, "contiguous")
    start, end = (mine[0], mine[-1] + 1) if mine else (0, 0)
    todo = set(frames.todo(count, "contiguous"))
    prev_content: np.ndarray | None = None
    prev_styled: np.ndarray | None = None
    with presenting(progress, "frames") as report:
        for index, frame in enumerate(read_video(input_path)):
            if index >= end:
                break
            content = np.asarray(Image.fromarray(frame).resize(out_wh, Image.LANCZOS))
            if index < start:
                continue
            if index not in todo:
                prev_content, prev_styled = content, np.asarray(frames.get(index).resize(out_wh))
                report(FrameEvent(step=index - start + 1, total=end - start, message=f"frame {index} (cached)",
                                  task="frames", preview=prev_styled, index=index, cached=True))
                continue
            frame_img = Image.fromarray(content)
            if video.coherent and prev_styled is not None and prev_content is not None:
                back = optical_flow(content, prev_content, video.flow)
                fwd = optical_flow(prev_content, content, video.flow)
                mask = reliability_mask(back, fwd)
                warped = warp(prev_styled, back)
                warped_t = image_tensor(warped)
                mask_t = torch.from_numpy(mask)[None, None]
                later = replace(opts, size=long_side, iterations=int(video.later_iterations))
                styled = transfer.stylize(frame_img, styles, later, init_image=warped_t, progress=report,
                                          temporal=(warped_t, mask_t, float(video.temporal_weight)))
            else:
                styled = transfer.stylize(frame_img, styles, replace(opts, size=long_side), progress=report)
            frames.put(index, styled)
            prev_content, prev_styled = content, np.asarray(styled)
            report(FrameEvent(step=index - start + 1, total=end - start, message=f"frame {index}", task="frames",
                              preview=prev_styled, index=index))

    if not write_video_file:
        dist.barrier()
        return None
    if not dist.is_main():
        frames.assemble(count, lambda i, image: None)  # the barrier before rank 0 writes
        return None
    fps = video.fps or info["fps"]
    with VideoWriter(output, fps=fps, value_range=(0, 1), audio_from=input_path if info["audio"] else None) as wr:
        frames.assemble(count, lambda i, image: wr.append(image))
    return output
