"""Projection: find the latent whose image matches a target picture.

The schedule is NVIDIA's projector (see REFERENCE.md): start at the mean of 10,000 mapped z,
Adam(0.9, 0.999) at lr 0.1 with a linear ramp-up over the first 5 % and a cosine ramp-down over
the last 25 %, Gaussian noise added to w (w_std * 0.05 * max(0, 1 - t/0.75)^2), the noise
buffers optimised too, renormalised each step and regularised (weight 1e5) by their squared
autocorrelation at 1-pixel shifts down an 8x8 pyramid. Images larger than 256 px are
area-downsampled to 256 before the distance.

``space`` is ``w`` (one w for every layer, NVIDIA's choice), ``w+`` (one per layer: closer
reconstructions, less editable) or ``z`` (the only choice for a DCGAN or lite). ``loss`` is ``lpips``,
``mse`` (pixels only, no pretrained weights needed) or ``both``. State is written atomically
every ``checkpoint_every`` steps, so a killed projection resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..core.checkpoint import load_checkpoint, save_checkpoint, write_json
from ..core.device import Runtime
from ..core.errors import CheckpointError, UsageError
from ..core.imageio import load_image, save_image
from ..core.media import VideoWriter, side_by_side
from ..core.progress import ProgressEvent, ProgressFn, presenting, preview_of
from .latents import Latents, has_w, save_latents, w_stats
from .options import ProjectOptions
from .render import for_display, to_uint8

STATE_FORMAT = "neuralbrush.projection-state"


@dataclass(frozen=True, kw_only=True)
class ProjectionStep(ProgressEvent):
    """``step`` of ``total`` projection steps done (what a progress bar or a viewer needs); the
    ``preview`` is the current synthesis (uint8 HWC), made only when a presenter asks for it."""

    loss: float
    dist: float
    reg: float
    lr: float


@dataclass
class ProjectionResult:
    latent: torch.Tensor  # w [1, num_ws, w_dim] or z [1, z_dim]
    space: str
    image: np.ndarray  # uint8 HWC
    target: np.ndarray  # uint8 HWC
    psnr: float
    history: list[float] = field(default_factory=list)


@dataclass
class ProjectFileResult:
    """What :func:`project_file` wrote (the optional files are None when not asked for)."""

    w: Path  # projected_w.npz
    proj: Path  # proj.png
    target: Path  # target.png, the fitted target
    side_by_side: Path
    psnr: float
    result: ProjectionResult
    video: Path | None = None  # proj.mp4 (save_video)
    edited_w: Path | None = None  # with edits
    edited: Path | None = None


def fit_target(image: Image.Image, resolution: int, fit: str = "crop", pad_color=(0, 0, 0)) -> np.ndarray:
    """Centre-crop (or pad) to a square, then resize to the model's resolution: uint8 HWC."""
    image = image.convert("RGB")
    w, h = image.size
    if fit == "crop":
        s = min(w, h)
        image = image.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    else:
        s = max(w, h)
        canvas = Image.new("RGB", (s, s), tuple(pad_color))
        canvas.paste(image, ((s - w) // 2, (s - h) // 2))
        image = canvas
    if image.size != (resolution, resolution):
        image = image.resize((resolution, resolution), Image.LANCZOS)
    return np.asarray(image, dtype=np.uint8).copy()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images, in dB."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


def noise_regularization(noise_bufs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum of squared autocorrelations at 1-pixel shifts, down a pyramid to 8x8."""
    reg = torch.zeros(())
    for v in noise_bufs.values():
        noise = v[None, None, :, :]
        while True:
            reg = reg + (noise * torch.roll(noise, shifts=1, dims=3)).mean() ** 2
            reg = reg + (noise * torch.roll(noise, shifts=1, dims=2)).mean() ** 2
            if noise.shape[2] <= 8:
                break
            noise = F.avg_pool2d(noise, kernel_size=2)
    return reg


def _view256(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=(256, 256), mode="area") if x.shape[2] > 256 else x


def _lr_at(t: float, o: ProjectOptions) -> float:
    ramp = min(1.0, (1.0 - t) / o.lr_rampdown_length)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp = ramp * min(1.0, t / o.lr_rampup_length)
    return o.lr * ramp


def _options_key(o: ProjectOptions, target: np.ndarray) -> str:
    h = hashlib.sha256(target.tobytes())
    keep = {k: v for k, v in asdict(o).items() if k != "checkpoint_every"}
    h.update(repr(sorted(keep.items())).encode())
    return h.hexdigest()[:16]


def project(G: torch.nn.Module, target: np.ndarray, opts: ProjectOptions, runtime: Runtime | None = None, *,
            lpips=None, progress: ProgressFn | None = None,
            state_path: str | Path | None = None) -> ProjectionResult:
    """Project ``target`` (uint8 HWC at the model's resolution) into G's latent space, reporting
    a :class:`ProjectionStep` after every step to ``progress`` (None: a bar)."""
    runtime = runtime or Runtime.default()
    opts.validate(G)
    res = int(G.img_resolution)
    if target.shape[:2] != (res, res):
        raise UsageError(f"the target must be {res}x{res}; use fit_target first")
    if opts.loss in ("lpips", "both") and lpips is None:
        from .lpips import LPIPS

        lpips = LPIPS.from_store()
    dev = runtime.device
    stats = w_stats(G, samples=opts.w_avg_samples) if opts.space != "z" else None
    G = copy.deepcopy(G).eval().requires_grad_(False).to(dev)  # the noise buffers get optimised
    if lpips is not None:
        lpips = runtime.module(lpips.to(dev))
    gen = torch.Generator().manual_seed(opts.seed)

    # Starting point and spread.
    if opts.space == "z":
        latent_std = math.sqrt(G.z_dim)
        start = torch.zeros(1, G.z_dim)
    else:
        latent_std = stats.w_std
        rows = G.num_ws if opts.space == "w+" else 1
        start = stats.w_avg.view(1, 1, -1).repeat(1, rows, 1)
    opt_latent = start.clone().to(dev).requires_grad_(True)

    noise_bufs: dict[str, torch.Tensor] = {}
    if has_w(G):
        noise_bufs = {n: b for n, b in G.synthesis.named_buffers() if n.endswith("noise_const")}
        with torch.no_grad():
            for b in noise_bufs.values():
                b.copy_(torch.randn(b.shape, generator=gen).to(dev))
        for b in noise_bufs.values():
            b.requires_grad_(True)
    params = [opt_latent] + list(noise_bufs.values())
    optimizer = torch.optim.Adam(params, betas=(0.9, 0.999), lr=opts.lr)

    target_t = torch.from_numpy(target).permute(2, 0, 1)[None].float().div(127.5).sub(1).to(dev)
    target_view = _view256(target_t)

    first = 0
    key = _options_key(opts, target)
    if state_path is not None and Path(state_path).is_file():
        first = _load_state(state_path, key, opt_latent, noise_bufs, optimizer, gen)

    history: list[float] = []
    c = torch.zeros(1, int(getattr(G, "c_dim", 0) or 0), device=dev)
    with presenting(progress, f"projecting ({opts.space}, {opts.loss})") as report:
        for step in range(first, opts.steps):
            t = step / opts.steps
            lr = _lr_at(t, opts)
            for g in optimizer.param_groups:
                g["lr"] = lr
            noise_scale = latent_std * opts.initial_noise_factor * max(0.0, 1.0 - t / opts.noise_ramp_length) ** 2
            lat = opt_latent + torch.randn(opt_latent.shape, generator=gen).to(dev) * noise_scale
            with runtime.autocast():
                if opts.space == "z":
                    synth = G(lat, c)
                else:
                    ws = lat.expand(-1, G.num_ws, -1) if opts.space == "w" else lat
                    synth = G.synthesis(ws, noise_mode="const")
            synth = synth.float()
            view = _view256(synth)
            dist = torch.zeros((), device=dev)
            if opts.loss in ("lpips", "both"):
                with runtime.autocast():
                    dist = dist + lpips(view, target_view).sum()
            if opts.loss in ("mse", "both"):
                dist = dist + opts.mse_weight * (view - target_view).square().mean()
            reg = noise_regularization(noise_bufs).to(dev) if noise_bufs else torch.zeros((), device=dev)
            loss = dist + reg * opts.regularize_noise_weight
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                for b in noise_bufs.values():
                    b -= b.mean()
                    b *= b.square().mean().rsqrt()
            history.append(float(dist.detach()))
            shown = synth.detach()
            report(ProjectionStep(step=step + 1, total=opts.steps, message=f"dist {history[-1]:.4f} lr {lr:.4f}",
                                  task="project", preview=lambda shown=shown: to_uint8(shown)[0],
                                  loss=float(loss.detach()), dist=history[-1], reg=float(reg.detach()), lr=lr))
            if state_path is not None and opts.checkpoint_every > 0 and (step + 1) % opts.checkpoint_every == 0 \
                    and step + 1 < opts.steps:
                _save_state(state_path, key, step + 1, opt_latent, noise_bufs, optimizer, gen)

    with torch.no_grad():
        final = opt_latent.detach().float().cpu()
        if opts.space == "w":
            final = final.repeat(1, G.num_ws, 1)
        with runtime.autocast():
            img = G(final.to(dev), c) if opts.space == "z" else G.synthesis(final.to(dev), noise_mode="const")
        image = to_uint8(img.float())[0]
    for b in noise_bufs.values():
        b.requires_grad_(False)
    return ProjectionResult(final, opts.space, image, target, psnr(image, target), history)


def _save_state(path, key, step, opt_latent, noise_bufs, optimizer, gen) -> None:
    tensors = {"latent": opt_latent.detach().cpu(), "rng": gen.get_state()}
    for n, b in noise_bufs.items():
        tensors[f"noise.{n}"] = b.detach().cpu()
    for i, p in enumerate(optimizer.param_groups[0]["params"]):
        st = optimizer.state.get(p, {})
        for k in ("exp_avg", "exp_avg_sq"):
            if k in st:
                tensors[f"adam.{i}.{k}"] = st[k].detach().cpu()
        if "step" in st:
            tensors[f"adam.{i}.step"] = torch.as_tensor(st["step"], dtype=torch.float32).reshape(1).cpu()
    save_checkpoint(path, tensors, {"format": STATE_FORMAT, "key": key, "step": step})


def _load_state(path, key, opt_latent, noise_bufs, optimizer, gen) -> int:
    try:
        tensors, meta = load_checkpoint(path, expect_format=STATE_FORMAT)
    except CheckpointError:
        return 0
    if meta.get("key") != key:
        return 0  # another target or other options: start afresh
    with torch.no_grad():
        opt_latent.copy_(tensors["latent"])
        for n, b in noise_bufs.items():
            b.copy_(tensors[f"noise.{n}"])
    gen.set_state(tensors["rng"])
    for i, p in enumerate(optimizer.param_groups[0]["params"]):
        if f"adam.{i}.exp_avg" in tensors:
            optimizer.state[p] = {"step": tensors[f"adam.{i}.step"][0].clone(),
                                  "exp_avg": tensors[f"adam.{i}.exp_avg"].to(p.device),
                                  "exp_avg_sq": tensors[f"adam.{i}.exp_avg_sq"].to(p.device)}
    return int(meta["step"])


def project_file(G: torch.nn.Module, target_path: str | Path, outdir: str | Path, opts: ProjectOptions, runtime: Runtime, *,
                 save_video: bool = False, model: str | None = None, lpips=None, fps: float = 30.0,
                 edits=(), progress: ProgressFn | None = None) -> ProjectFileResult:
    """The ``project`` command: load and fit the target, project, write the files.

    With ``edits`` (``--edit`` texts) the projection is also edited: ``edited_w.npz`` (which
    remembers the projection, so opposite edits return to it exactly) and ``edited.png``
    (rendered with the model's own noise inputs, as ``generate --w`` shows it)."""
    from ..core.imageio import parse_color
    from .edits import edit_latents, resolve_edits

    opts.validate(G)
    fixed, _ = resolve_edits(G, edits)
    if fixed and opts.space == "z":
        raise UsageError("--edit moves w: project with --space w or w+")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    target = fit_target(load_image(target_path), int(G.img_resolution), opts.fit, parse_color(opts.pad_color))
    save_image(target, outdir / "target.png")
    state_path = outdir / "projection-state.safetensors"
    # the optional video: closed when projection finishes, removed if it is interrupted
    with VideoWriter(outdir / "proj.mp4", fps) if save_video else contextlib.nullcontext() as writer, \
            presenting(progress, f"projecting ({opts.space}, {opts.loss})") as report:

        def on_step(s: ProjectionStep) -> None:
            report(s)
            if writer is not None:
                writer.append(np.concatenate([target, preview_of(s)], axis=1))

        result = project(G, target, opts, runtime, lpips=lpips, progress=on_step, state_path=state_path)
    if result.space == "z":
        lat = Latents(z=result.latent)
    else:
        lat = Latents(w=result.latent)
    save_latents(outdir / "projected_w.npz", lat)
    save_image(result.image, outdir / "proj.png")
    save_image(side_by_side(for_display([target, result.image]), labels=["target", "projection"], pad=2),
               outdir / "side_by_side.png")
    summary = {"model": model, "target": str(target_path), "runtime": runtime.describe(), "psnr": result.psnr,
               "final_distance": result.history[-1] if result.history else None, **asdict(opts)}
    out = ProjectFileResult(w=outdir / "projected_w.npz", proj=outdir / "proj.png", target=outdir / "target.png",
                       side_by_side=outdir / "side_by_side.png", psnr=result.psnr, result=result)
    if fixed:
        from .render import Renderer

        edited, hist = edit_latents(lat, fixed)
        out.edited_w = save_latents(outdir / "edited_w.npz", edited, **(hist.arrays() if hist is not None else {}))
        out.edited = save_image(Renderer(G, runtime).frames(edited.w, "w")[0], outdir / "edited.png")
        summary["edits"] = list(edits)
    write_json(outdir / "projection.json", summary)
    if state_path.exists():
        state_path.unlink()
    if save_video:
        out.video = outdir / "proj.mp4"
    return out
