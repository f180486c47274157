"""Storyboard films: keyframes, noise loops around them, transitions between them.

A storyboard is a YAML file (see docs/latent.md for a worked example)::

    model: runs/00001-blooms-small   # optional; the CLI's --model wins
    fps: 30
    space: w                          # w or z (default: w for StyleGAN2, z for a DCGAN)
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
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
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
from .options import (MAX_BATCH, MAX_FPS, MAX_FRAMES, MAX_PROJECT_STEPS, MAX_SEED, MAX_SPREAD, NOISE_MODES,
                      PROJECT_LOSSES, PROJECT_SPACES, SPACES)
from .walk import EASINGS, ConcatPath, LatentPath, SegmentPath, stops_loop

LOOP_DEFAULTS = {"stops": 7, "frames_per_stop": 30, "sigma": 0.3, "easing": "linear", "kind": "linear"}
TRANSITION_DEFAULTS = {"frames": 150, "easing": "ease-in-out", "kind": "slerp"}
PROJECT_DEFAULTS = {"steps": 300, "loss": "mse", "space": "w+"}
TOP_KEYS = {"model", "fps", "space", "trunc", "seed", "batch", "noise_mode", "project", "loop", "transition",
            "close", "keyframes"}
KEYFRAME_KEYS = {"seed", "image", "latent", "loop", "transition", "index", "name", "edit"}


@dataclass
class Keyframe:
    kind: str  # seed | image | latent
    value: Any  # int seed or Path
    loop: dict | None
    transition: dict
    index: int = 0  # row of a latent file holding several
    name: str = ""
    edits: tuple[str, ...] = ()  # --edit texts; their files are relative to the storyboard


@dataclass
class Storyboard:
    keyframes: list[Keyframe]
    model: str | None = None
    fps: float = 30.0
    space: str | None = None  # None: w for StyleGAN2, z for a DCGAN
    trunc: float = 1.0
    seed: int = 0
    batch: int = 8
    noise_mode: str = "const"
    close: bool = True
    project: dict = field(default_factory=lambda: dict(PROJECT_DEFAULTS))
    base: Path = Path(".")


def _merge(defaults: dict, given: Any, what: str) -> dict:
    """``defaults`` updated with the ``given`` mapping, every value checked; ``what`` names the
    place in the file (``storyboard film.yaml: keyframe 2 transition``)."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise UsageError(f"{what} must be a mapping like {{frames: 150}}, not {given!r:.40}")
    unknown = set(map(str, given)) - set(defaults)
    if unknown:
        raise UsageError(f"{what}: unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(defaults)}")
    out = {**defaults, **given}
    limits = {"stops": (2, MAX_FRAMES), "frames_per_stop": (1, MAX_FRAMES), "frames": (1, MAX_FRAMES),
              "steps": (1, MAX_PROJECT_STEPS)}
    for k, (lo, hi) in limits.items():
        if k in out:
            checks.whole(f"{what} {k}", out[k], lo=lo, hi=hi)
    if "sigma" in out:
        checks.number(f"{what} sigma", out["sigma"], lo=0, hi=MAX_SPREAD, why="in units of the latent's spread")
    if "easing" in out:
        checks.choice(f"{what} easing", out["easing"], tuple(EASINGS))
    if "kind" in out:
        checks.choice(f"{what} kind", out["kind"], ("linear", "slerp"))
    if "loss" in out:
        checks.choice(f"{what} loss", out["loss"], PROJECT_LOSSES)
    if "space" in out:
        checks.choice(f"{what} space", out["space"], PROJECT_SPACES)
    return out


def film_frames(sb: Storyboard) -> int:
    """The number of frames of the film (the same count :func:`timeline` builds)."""
    n, total = len(sb.keyframes), 0
    for i, kf in enumerate(sb.keyframes):
        parts = 0
        if kf.loop is not None:
            parts += kf.loop["stops"] * kf.loop["frames_per_stop"]
        if i + 1 < n or (sb.close and n > 1):
            parts += kf.transition["frames"]
        elif not parts or kf.loop is None:
            parts += 1
        total += parts
    return total


def parse_storyboard(path: str | Path) -> Storyboard:
    """Read and validate a storyboard YAML file; every mistake is one clear sentence naming the
    file and the field, before any model is loaded or any file written."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"storyboard {path} does not exist" if not path.exists() else f"storyboard {path} is not a file")
    where = f"storyboard {path.name}"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{where} is not UTF-8 text") from None
    except yaml.YAMLError as e:
        raise UsageError(f"{where} is not valid YAML ({(str(e).splitlines() or ['parse error'])[0]})") from None
    except RecursionError:
        raise UsageError(f"{where} is nested too deeply to read") from None
    if not isinstance(data, dict):
        raise UsageError(f"{where} must be a mapping with a 'keyframes' list")
    unknown = set(map(str, data)) - TOP_KEYS
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(TOP_KEYS))}")
    kf_data = data.get("keyframes")
    if not isinstance(kf_data, list) or not kf_data:
        raise UsageError(f"{where}: 'keyframes' must be a non-empty list")
    if len(kf_data) > MAX_FRAMES:
        raise UsageError(f"{where}: {len(kf_data)} keyframes; the limit is {MAX_FRAMES} frames per video")
    loop_default = _merge(LOOP_DEFAULTS, data.get("loop"), f"{where}: loop")
    trans_default = _merge(TRANSITION_DEFAULTS, data.get("transition"), f"{where}: transition")
    base = path.parent
    kfs = []
    for i, k in enumerate(kf_data):
        at = f"{where}: keyframe {i + 1}"
        if isinstance(k, int) and not isinstance(k, bool):
            k = {"seed": k}
        if not isinstance(k, dict):
            raise UsageError(f"{at} must be a mapping such as {{seed: 3}}")
        bad = set(map(str, k)) - KEYFRAME_KEYS
        if bad:
            raise UsageError(f"{at} has unknown key(s) {', '.join(sorted(bad))}")
        sources = [s for s in ("seed", "image", "latent") if s in k]
        if len(sources) != 1:
            raise UsageError(f"{at} needs exactly one of seed, image or latent")
        kind = sources[0]
        value: Any = k[kind]
        if kind == "seed":
            value = checks.whole(f"{at} seed", value, lo=0, hi=MAX_SEED)
        else:
            p = Path(checks.text(f"{at} {kind}", value)).expanduser()
            value = p if p.is_absolute() else base / p
            if not value.is_file():
                raise UsageError(f"{at} {kind} file {value} does not exist")
        loop_given = k.get("loop", {})
        if loop_given is False:
            loop = None
        else:
            loop = _merge(loop_default, {} if loop_given in (True, None) else loop_given, f"{at} loop")
        trans = _merge(trans_default, k.get("transition"), f"{at} transition")
        index = checks.whole(f"{at} index", k.get("index", 0), lo=0)
        name = k.get("name", f"{kind} {value}")
        if not isinstance(name, (str, int, float)) or isinstance(name, bool):
            raise UsageError(f"{at} name must be text, not {name!r:.40}")
        kfs.append(Keyframe(kind, value, loop, trans, index, str(name), _keyframe_edits(k.get("edit"), at, base)))
    model = data.get("model")
    if model is not None:
        mp = Path(checks.text(f"{where}: model", model)).expanduser()
        model = str(mp if mp.is_absolute() or not (base / mp).exists() else base / mp)
    space = data.get("space")
    if space is not None:
        space = checks.choice(f"{where}: space", space, SPACES)
    sb = Storyboard(keyframes=kfs, model=model,
                    fps=checks.number(f"{where}: fps", data.get("fps", 30), lo=0, lo_open=True, hi=MAX_FPS),
                    space=space, trunc=checks.number(f"{where}: trunc", data.get("trunc", 1.0)),
                    seed=checks.whole(f"{where}: seed", data.get("seed", 0), lo=0, hi=MAX_SEED),
                    batch=checks.whole(f"{where}: batch", data.get("batch", 8), lo=1, hi=MAX_BATCH),
                    noise_mode=checks.choice(f"{where}: noise_mode", data.get("noise_mode", "const"), NOISE_MODES),
                    close=checks.flag(f"{where}: close", data.get("close", True)),
                    project=_merge(PROJECT_DEFAULTS, data.get("project"), f"{where}: project"), base=base)
    total = film_frames(sb)
    if total > MAX_FRAMES:
        raise UsageError(f"{where}: the film has {total} frames; the limit is {MAX_FRAMES} frames per video")
    return sb


def _keyframe_edits(given: Any, at: str, base: Path) -> tuple[str, ...]:
    """A keyframe's ``edit:`` (one text or a list), each checked and its file found."""
    from .steer_options import parse_edit

    if given is None:
        return ()
    texts = given if isinstance(given, list) else [given]
    for t in texts:
        if not isinstance(t, str):
            raise UsageError(f"{at} edit must be text such as dirs.npz:2:+1.5@0-5, not {t!r:.40}")
        try:
            spec = parse_edit(t)
        except UsageError as e:
            raise UsageError(f"{at} edit: {e}") from None
        if spec.sweep is not None:
            raise UsageError(f"{at} edit {t!r} has a range; a keyframe takes one amount")
        f = Path(spec.file).expanduser()
        if not (f if f.is_absolute() else base / f).is_file():
            raise UsageError(f"{at} edit file {base / f if not f.is_absolute() else f} does not exist")
    return tuple(texts)


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
                      progress: ProgressFn | None = None, restart: bool = False) -> StoryboardResult:
    """Render a storyboard to ``output`` (.mp4 or .gif), resuming from cached frames;
    ``progress`` gets a FrameEvent per frame of this rank's share, then (rank 0) an event per
    frame encoded (None: bars)."""
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
                 batch=batch or sb.batch, noise_seed=sb.seed)
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
