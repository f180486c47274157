"""Storyboard films: keyframes, noise loops around them, transitions between them.

A storyboard is a YAML file (see docs/latent.md for a worked example)::

    model: runs/00001-blooms-small   # optional; the CLI's --model wins
    fps: 30
    space: w                          # w or z (default: w for StyleGAN2, z for a DCGAN or lite)
    trunc: 0.8                        # truncation of seed keyframes
    seed: 0                           # noise loops are drawn from it
    project: {steps: 300, loss: mse, space: w+}   # how image keyframes are projected
    loop: {stops: 7, frames_per_stop: 30, sigma: 0.3, easing: linear}
    transition: {frames: 150, easing: ease-in-out, kind: slerp}
    close: true                       # end with a transition back to the first keyframe
    keyframes:
      - seed: 12
      - image: drawings/flower.png
        loop: {stops: 5}
      - latent: neighbours/keyframe_37.npz
        loop: false
        transition: {frames: 90}
        edit: [dirs.npz:2:+1.5@0-5]   # edits along directions (latent/edits.py), w space only

Timeline: for each keyframe its noise loop (``stops`` points, each the previous plus Gaussian
noise of ``sigma`` natural spreads, ``frames_per_stop`` frames between points, and back to the
keyframe), then the transition to the next keyframe. Paths are relative to the YAML file.

Rendering is resumable and shardable: frames go through the frame cache
(``core.framecache``: ``<cache>/frames/frame_000123.png`` + ``cache.json``, atomic writes, damaged
frames redone); a rerun renders only the missing ones, and a cache made from another plan
(keyframes, timing, model) is refused naming ``--restart``; under torchrun each rank renders its
share and rank 0 encodes the video after a barrier. Projections of image keyframes are
cached under ``<cache>/projections/<hash of image, model and options>/``.

Parsing and checking the file lives in :mod:`neuralbrush.latent.storyboard_file` (re-exported here).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ..core import checks
from ..core.checkpoint import write_json
from ..core.device import Runtime
from ..core.errors import UsageError
from ..core.framecache import FrameCache
from ..core.imageio import load_image, save_image
from ..core.progress import ProgressFn
from .latents import check_space, file_digest, latent_center, latent_scale, load_latents, map_z, seed_z
from .options import MAX_BATCH
from .storyboard_file import (KEYFRAME_KEYS, LOOP_DEFAULTS, PROJECT_DEFAULTS, TOP_KEYS,  # noqa: F401 (re-exported)
                              TRANSITION_DEFAULTS, Keyframe, Storyboard, film_frames, parse_storyboard)
from .walk import ConcatPath, LatentPath, SegmentPath, stops_loop

def _project_cached(G, kf: Keyframe, sb: Storyboard, cache: Path, model_id: str, runtime: Runtime) -> torch.Tensor:
    from ..core.progress import info
    from .project import ProjectOptions, fit_target, project

    space = "z" if sb.space == "z" else sb.project["space"]
    opts = ProjectOptions(steps=int(sb.project["steps"]), loss=str(sb.project["loss"]), space=space)
    key = hashlib.sha256()
    key.update(file_digest(kf.value).encode())
    key.update(model_id.encode())
    key.update(repr(sorted(asdict(opts).items())).encode())
    folder = cache / "projections" / key.hexdigest()[:16]
    done = folder / "projected_w.npz"
    if not done.exists():
        info(f"projecting {kf.value.name} ({opts.steps} steps, {opts.loss}, {space}); cached in {folder}")
        folder.mkdir(parents=True, exist_ok=True)
        target = fit_target(load_image(kf.value), int(G.img_resolution), opts.fit)
        res = project(G, target, opts, runtime, state_path=folder / "projection-state.safetensors")
        from .latents import Latents, save_latents

        save_image(res.image, folder / "proj.png")
        save_latents(done, Latents(z=res.latent) if space == "z" else Latents(w=res.latent))
        (folder / "projection-state.safetensors").unlink(missing_ok=True)
    return load_latents(done, G).in_space(sb.space)[0]


def resolve_keyframe_latents(G, sb: Storyboard, cache: Path, model_id: str, runtime: Runtime) -> list[torch.Tensor]:
    """Each keyframe as a latent in the storyboard's space (z: [z_dim]; w: [num_ws, w_dim]),
    with its ``edit:`` applied (every edit is checked against the model before any projection)."""
    from .edits import apply_edits, read_history, resolve_edits

    space = check_space(G, sb.space)
    edits = [resolve_edits(G, kf.edits, base=sb.base)[0] for kf in sb.keyframes]
    if any(edits) and space != "w":
        raise UsageError("storyboard: keyframe edits move w; use space: w")
    out = []
    for kf, fixed in zip(sb.keyframes, edits):
        history = None
        if kf.kind == "seed":
            z = seed_z(G, [kf.value])
            out.append(z[0] if space == "z" else map_z(G, z, psi=sb.trunc)[0].cpu())
        elif kf.kind == "latent":
            lat = load_latents(kf.value, G)
            if not 0 <= kf.index < len(lat):
                raise UsageError(f"storyboard: {kf.value.name} has {len(lat)} latents; index {kf.index} is missing")
            out.append(lat.in_space(space)[kf.index])
            history = read_history(kf.value, lat.w) if fixed else None
        else:
            out.append(_project_cached(G, kf, sb, cache, model_id, runtime))
        if fixed:
            hist = history.select(kf.index) if history is not None else None
            out[-1] = apply_edits(out[-1][None], fixed, hist)[0][0]
    return out


def timeline(G, sb: Storyboard, latents: list[torch.Tensor]) -> LatentPath:
    """The whole film as one lazy path of latents."""
    center = latent_center(G, sb.space)
    scale = latent_scale(G, sb.space)
    parts: list[LatentPath] = []
    n = len(latents)
    for i, (kf, lat) in enumerate(zip(sb.keyframes, latents)):
        if kf.loop is not None:
            lp = kf.loop
            parts.append(stops_loop(lat, stops=lp["stops"], frames_per_stop=lp["frames_per_stop"],
                                    sigma=float(lp["sigma"]) * scale, seed=(sb.seed * 1000 + i) % 2**32,
                                    easing=lp["easing"],
                                    kind=lp["kind"], center=center))
        if i + 1 < n or (sb.close and n > 1):
            nxt = latents[(i + 1) % n]
            tr = kf.transition
            parts.append(SegmentPath(lat, nxt, tr["frames"], kind=tr["kind"], easing=tr["easing"], center=center))
        elif not parts or kf.loop is None:
            parts.append(SegmentPath(lat, lat, 1, kind="linear"))  # hold the final keyframe
    return ConcatPath(parts)


def plan_digest(path: LatentPath, latents: list[torch.Tensor], sb: Storyboard, model_id: str) -> str:
    """Identifies the frames: any change to keyframes, timing or rendering gives a new cache."""
    h = hashlib.sha256(model_id.encode())
    for lat in latents:
        h.update(lat.float().numpy().tobytes())
    desc = [(k.kind, str(k.value), k.index, sorted((k.loop or {}).items()), sorted(k.transition.items()))
            for k in sb.keyframes]
    h.update(repr((desc, sb.space, sb.trunc, sb.seed, sb.noise_mode, sb.close, len(path))).encode())
    return h.hexdigest()[:16]


def plan_signature(path: LatentPath, latents: list[torch.Tensor], sb: Storyboard, model_id: str) -> dict[str, Any]:
    """What decides the frames, readable where it can be (a refused cache names what changed);
    ``plan`` fingerprints the resolved latents too (a latent file or projection that changed)."""
    return {"model": model_id, "frames": len(path), "space": sb.space, "trunc": sb.trunc, "seed": sb.seed,
            "noise_mode": sb.noise_mode, "close": sb.close,
            "keyframes": [{"kind": k.kind, "value": str(k.value), "index": k.index, "loop": k.loop,
                           "transition": k.transition, "edit": list(k.edits)} for k in sb.keyframes],
            "plan": plan_digest(path, latents, sb, model_id)}


def module_identity(G: torch.nn.Module) -> str:
    """Fingerprint of a generator given as an object: its weights, so a rerun resumes its frames."""
    h = hashlib.sha256()
    for name, t in G.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return f"weights:{h.hexdigest()[:16]}"


def model_identity(source: str) -> str:
    from .render import model_file

    f = model_file(source)
    return file_digest(f) if f is not None else f"name:{source}"


@dataclass
class StoryboardResult:
    """What :func:`render_storyboard` did (``rendered``/``cached``: this process's frames)."""

    video: Path
    frames: int  # in the film
    rendered: int  # made by this run
    cached: int  # found in the frame cache
    cache: Path  # the frame cache folder
    seconds: float  # the film's length


def render_storyboard(story: str | Path, output: str | Path, *, model: str | None = None, runtime: Runtime | None = None,
                      cache: str | Path | None = None, batch: int | None = None, G=None,
                      progress: ProgressFn | None = None, restart: bool = False,
                      compile: str = "auto") -> StoryboardResult:
    """Render a storyboard to ``output`` (.mp4 or .gif), resuming from cached frames;
    ``progress`` gets a FrameEvent per frame of this rank's share, then (rank 0) an event per
    frame encoded (None: bars). ``compile`` (auto, on, off): see :mod:`neuralbrush.latent.compiled`."""
    from ..core import distributed
    from ..core.media import VideoWriter
    from ..core.progress import FrameEvent, ProgressEvent, info, presenting
    from .render import Renderer, load_model

    runtime = runtime or Runtime.default()
    sb = parse_storyboard(story)
    if batch is not None:
        checks.whole("--batch", batch, lo=1, hi=MAX_BATCH, why="frames per forward pass")
    output = Path(output)
    if output.suffix.lower() not in (".mp4", ".gif", ".m4v", ".mov"):
        raise UsageError(f"cannot write {output.name}: use a .mp4 or .gif file name")
    source = model or sb.model
    if source is None and G is None:
        raise UsageError("no model: give --model or put 'model:' in the storyboard")
    import torch.distributed as dist

    owns_group = not (dist.is_available() and dist.is_initialized())
    distributed.init(runtime.device)
    if G is None:
        G = load_model(source, runtime)
    model_id = model_identity(str(source)) if source is not None else module_identity(G)
    if sb.space is None:
        from .latents import has_w

        sb.space = "w" if has_w(G) else "z"
    cache = Path(cache) if cache else output.with_name(output.stem + ".cache")  # made by what is cached first
    if distributed.is_main():
        latents = resolve_keyframe_latents(G, sb, cache, model_id, runtime)
    distributed.barrier()  # rank 0 projected (and cached) image keyframes; the others read the cache
    if not distributed.is_main():
        latents = resolve_keyframe_latents(G, sb, cache, model_id, runtime)
    path = timeline(G, sb, latents)
    frames = FrameCache(cache / "frames", plan_signature(path, latents, sb, model_id), restart=restart).open()
    frames_dir = frames.folder
    total = len(path)
    mine = frames.share(total, "round-robin")
    todo = frames.todo(total, "round-robin")
    cached = len(mine) - len(todo)
    if cached:
        info(f"resuming: {cached} of {len(mine)} frames already rendered in {frames_dir}")
    r = Renderer(G, runtime, psi=sb.trunc if sb.space == "z" else 1.0, noise_mode=sb.noise_mode,
                 batch=batch or sb.batch, noise_seed=sb.seed, compile=compile, images_expected=len(todo))
    with presenting(progress, "rendering frames") as report:
        done = cached
        for start in range(0, len(todo), r.batch):
            idx = todo[start:start + r.batch]
            for i, frame in zip(idx, r.frames(path.at(idx), sb.space)):
                frames.put(i, frame)
                done += 1
                report(FrameEvent(step=done, total=len(mine), message=runtime.describe(), task="frames",
                                  preview=frame, index=i))
    result = StoryboardResult(video=output, frames=total, rendered=len(todo), cached=cached, cache=frames_dir,
                              seconds=total / sb.fps)
    if not distributed.is_main():
        frames.assemble(total, lambda i, image: None)  # the barrier before rank 0 encodes
    else:
        with presenting(progress, f"encoding {output.name}") as report, VideoWriter(output, sb.fps) as w:

            def encode(i: int, image) -> None:
                w.append(image)
                report(ProgressEvent(i + 1, total, task="encode"))

            frames.assemble(total, encode)
        write_json(output.with_name(output.stem + ".storyboard.json"), {
            "storyboard": str(story), "model": source, "frames": total, "fps": sb.fps, "seconds": total / sb.fps,
            "space": sb.space, "trunc": sb.trunc, "frames_cache": str(frames_dir), "runtime": runtime.describe(),
            "keyframes": [{"kind": k.kind, "value": str(k.value), "loop": k.loop, "transition": k.transition}
                          for k in sb.keyframes]})
    distributed.barrier()
    if owns_group:
        distributed.shutdown()  # only a group this call started; a caller's own group stays up
    return result
