"""Demo stage: art from the generator the GAN stage chose (the bundled blooms64-stylegan2 when
the package has it, else the live run).

Seed grid, truncation sweep, style-mixing grid, a slerp loop and a noise loop as GIFs, a
projection of a bloom the model never saw (pixel loss, so no pretrained weights are needed), a
neighbours contact sheet around it, and a storyboard film joining a seed, the projection and a
neighbour (longer with ``full``). Every caption names the model.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..core.progress import info


def _item(out: Path, path: Path, title: str, caption: str) -> dict:
    return {"title": title, "path": str(path.relative_to(out)), "caption": caption}


def _projection_target(context: dict, res: int):
    """A bloom the model did not train on: a species bloom of an unused seed for the bundled models
    (trained on species blooms 0..999), else the first dataset image."""
    if context.get("gan_model_caption", "").startswith("the bundled"):
        from ..datasets.samples import bloom

        return bloom(res, 5000, species=True)
    ds = context.get("dataset")
    if not ds:
        return None
    from ..datasets.reader import ImageDataset

    try:
        return ImageDataset(ds).image(0)
    except Exception:  # a missing or odd dataset only costs the projection items
        return None


def run_demo(out: Path, *, full: bool, context: dict) -> list[dict]:
    ckpt = context.get("gan_checkpoint")
    if not ckpt:
        info("latent demo: no trained generator in the context (the gan stage did not run); nothing to do")
        return []

    from ..core.device import resolve_runtime
    from ..core.imageio import save_image
    from .generate import generate
    from .latents import has_w
    from .mix import style_mix
    from .neighbours import neighbours_sheet
    from .options import GenerateOptions, ProjectOptions, WalkOptions
    from .project import project_file
    from .render import load_model
    from .walk import render_walk

    out = Path(out)
    root = out / "latent"
    root.mkdir(parents=True, exist_ok=True)
    runtime = resolve_runtime("auto", "auto")
    G = load_model(ckpt, runtime)
    style = has_w(G)
    space = "w" if style else "z"
    res = int(G.img_resolution)
    items: list[dict] = []
    t0 = time.perf_counter()
    model_words = context.get("gan_model_caption", f"the model {Path(ckpt).name}")

    seeds = "0-31" if full else "0-15"
    r = generate(G, root / "seeds", GenerateOptions(seeds=seeds, trunc="0.7"), runtime, model=str(ckpt))
    items.append(_item(out, r.grid, "Seed grid", f"seeds {seeds}, truncation 0.7; each image has its z and w "
                                                    "saved beside it (.npz)"))
    r = generate(G, root / "truncation", GenerateOptions(seeds="0-3", trunc="0.0:1.2:7"), runtime, model=str(ckpt))
    items.append(_item(out, r.grid, "Truncation sweep", "rows: seeds 0-3; columns: psi 0 to 1.2 (psi 0 is the "
                                                          "average image)"))
    if style:
        coarse = max(1, G.num_ws // 2 - 1)
        r = style_mix(G, root / "mix", rows="10,11,12", cols="20,21,22", styles=f"0-{coarse - 1}", trunc=0.8,
                      runtime=runtime, model=str(ckpt))
        items.append(_item(out, r.grid, "Style mixing", f"rows keep their fine layers, the first {coarse} "
                                                           "(coarse) layers come from the column images"))

    frames = 30 if full else 16
    walk_gif = root / "slerp-loop.gif"
    render_walk(G, walk_gif, WalkOptions(seeds="1,2,3", kind="slerp", space=space, frames=frames, fps=15,
                                         easing="ease-in-out", loop=True, trunc=0.8), runtime, model=str(ckpt))
    items.append(_item(out, walk_gif, "Latent walk (slerp loop)", f"seeds 1 -> 2 -> 3 -> 1, {frames} frames per "
                                                                 "transition, ease-in-out; loops seamlessly"))
    noise_gif = root / "noise-loop.gif"
    render_walk(G, noise_gif, WalkOptions(seeds="4", kind="noise-loop", space=space, frames=3 * frames, fps=15,
                                          sigma=0.5, trunc=0.8, grid="2x2"), runtime, model=str(ckpt))
    items.append(_item(out, noise_gif, "Noise loops", "four closed paths through smooth periodic noise around seeds "
                                                      "4, 1, 2, 3 ... (a 2x2 grid); the last frame leads into the first"))

    target = _projection_target(context, res)
    if target is not None:
        tpath = save_image(target, root / "projection-target.png")
        steps = 1000 if full else 150
        popts = ProjectOptions(steps=steps, space="w+" if style else "z", loss="mse", w_avg_samples=10000 if full else 3000)
        pr = project_file(G, tpath, root / "projection", popts, runtime, save_video=full, model=str(ckpt))
        unseen = context.get("gan_model_caption", "").startswith("the bundled")
        items.append(_item(out, pr.side_by_side, "Projection of a bloom it never saw" if unseen
                           else "Projection of a dataset image",
                           f"target | projection ({popts.space}, pixel loss, {steps} steps): PSNR {pr.psnr:.1f} dB"))
        if full:
            items.append(_item(out, pr.video, "Projection, step by step", "target | synthesis at every step"))
        count = 48 if full else 24
        nb = neighbours_sheet(G, pr.w, root / "neighbours" / "sheet.png", count=count, sigma=0.5,
                              space="w" if style else "z", pick=3, runtime=runtime, model=str(ckpt))
        items.append(_item(out, nb.sheet, "Neighbours of the projection",
                           f"{count} Gaussian neighbours (sigma 0.5); each latent saved, #3 promoted to a keyframe"))
        # the storyboard joins a seed, the projection and a neighbour
        from .storyboard import render_storyboard

        stops, per_stop, trans = (4, 30, 60) if full else (2, 12, 24)
        story = root / "story.yaml"
        story.write_text(
            f"model: {Path(ckpt).resolve()}\nfps: {30 if full else 15}\nspace: {space}\ntrunc: 0.8\n"
            f"loop: {{stops: {stops}, frames_per_stop: {per_stop}, sigma: 0.3}}\n"
            f"transition: {{frames: {trans}, easing: ease-in-out}}\n"
            "keyframes:\n  - seed: 1\n"
            f"  - latent: {pr.w.resolve()}\n  - latent: {nb.keyframe.resolve()}\n", encoding="utf-8")
        film = render_storyboard(story, root / "storyboard.mp4", runtime=runtime, G=G)
        items.append(_item(out, film.video, "Storyboard film",
                           f"{film.frames} frames: seed 1, the projection and a neighbour, each with a noise "
                           "loop, joined by slerp transitions"))
    else:
        info("latent demo: no dataset image in the context; skipping projection and neighbours")
    for item in items:
        item["caption"] += f" (model: {model_words})"
    info(f"latent demo: {len(items)} items in {time.perf_counter() - t0:.0f} s ({res}px, {runtime.describe()})")
    return items
