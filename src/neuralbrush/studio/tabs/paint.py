"""Paint: style transfer with the picture updating live, effects whose previews follow the sliders,
and folders or videos painted as jobs.

- **Style transfer** calls :func:`neuralbrush.style.burst.stylize_files` (the body of ``neuralbrush
  style``) in-process on one photo; its :class:`~neuralbrush.style.transfer.StyleIterate` events
  carry the iterate as a preview, which the page shows as it optimises. The VGG-19 comes from the
  weights store; when the store has none, the page says so and offers random weights only as an
  explicit choice ("not meaningful art"), and a picture painted with them says it.
- **Effects** (quantize, superpixels, enhance) preview at a small working size on every slider
  change; "Apply" runs :func:`neuralbrush.effects.batch.run_effect` at full size, the files the
  ``quantize``/``superpixels``/``enhance`` commands write.
- **Folders and videos** run as worker-process jobs (:func:`style_job`, :func:`effect_job`).

Outputs go to ``art/style/`` and ``art/effects/``; every action shows its command line.

Over 400 lines on purpose: the Paint tab's three sections share its upload and output helpers;
the job bodies already live in studio/paint_jobs.py and the work in the library.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from ...core.errors import UsageError
from ..paint_jobs import effect_job, make_effect, style_job  # noqa: F401 (the job targets this tab submits)

STORE_VGG = "VGG-19 from the weights store"
RANDOM_VGG = "random weights (not meaningful art)"
RANDOM_NOTE = ("**Random VGG-19 weights: this picture is not meaningful art.** The optimisation and its timings "
               "are real; fetch real weights with `neuralbrush weights fetch vgg19` for art.")
EFFECTS = ("quantize", "superpixels", "enhance")
PREVIEW_SIDE = 256  # effect previews run at this long side; "Apply" at the image's own size
IMAGE_TYPES = [".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"]
VIDEO_TYPES = [".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".gif"]


# ------------------------------------------------------------------------------------------ helpers

def vgg_in_store() -> bool:
    from ...weights import store

    return store.find("vgg19") is not None


def workspace_images(ws, limit: int = 400) -> list[str]:
    """Image files under images/ and art/ (workspace-relative), for the pickers."""
    from ...core.imageio import is_image_file

    found: list[str] = []
    for area in (ws.images, ws.art):
        if not area.is_dir():
            continue
        for p in sorted(area.rglob("*")):
            if p.is_file() and is_image_file(p) and not any(part.startswith(".") for part in p.parts[-3:]):
                found.append(ws.relative(p))
                if len(found) >= limit:
                    return found
    return found


def unique_path(path: Path) -> Path:
    """``path``, or ``name-2.ext``, ``name-3.ext``... when it exists (the studio never overwrites)."""
    if not path.exists():
        return path
    n = 2
    while True:
        cand = path.with_name(f"{path.stem}-{n}{path.suffix}")
        if not cand.exists():
            return cand
        n += 1


def pick_image(ctx, upload: Any, picked: str | None, what: str) -> Path:
    """The image the user gave: an upload (checked, kept under images/uploads/) or a workspace file."""
    if upload:
        path = upload if isinstance(upload, str) else getattr(upload, "name", upload)
        ctx.check_upload(path, what=what)
        return ctx.workspace.keep_upload(path, "images/uploads", name=Path(path).name)
    if picked:
        p = ctx.resolve(picked, must_exist=True)
        if not p.is_file():
            raise UsageError(f"{picked} is not an image file")
        from ...core.imageio import load_image

        load_image(p)  # refused with the loader's sentence when it is not a usable image
        return p
    raise UsageError(f"choose {what}: upload one or pick a workspace image")


def pick_styles(ctx, uploads: Any, picked: list[str] | None) -> list[Path]:
    files = [pick_image(ctx, u, None, "a style image") for u in (uploads or [])]
    files += [pick_image(ctx, None, p, "a style image") for p in (picked or [])]
    if not files:
        raise UsageError("give at least one style image: upload it or pick workspace images")
    return files


def parse_weights(text: str | None, n: int) -> tuple[float, ...] | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        weights = tuple(float(w) for w in text.replace(";", ",").split(",") if w.strip())
    except ValueError:
        raise UsageError(f"style weights must be numbers separated by commas (e.g. 100,45), not {text!r}") from None
    if len(weights) != n:
        raise UsageError(f"{len(weights)} style weights for {n} style images; give one weight per style")
    return weights


def small(image: np.ndarray, side: int = PREVIEW_SIDE) -> np.ndarray:
    from PIL import Image

    h, w = image.shape[:2]
    if max(h, w) <= side:
        return image
    s = side / max(h, w)
    return np.asarray(Image.fromarray(image).resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS))


def effect_options(effect: str, colors, space, dither, segments, compactness, outline, auto_contrast, gamma,
                   saturation, clahe, sharpen) -> Any:
    """The effect's options dataclass from the sliders, checked as the command line checks it."""
    from ...core.options import check
    from ...effects.enhance import EnhanceOptions
    from ...effects.quantize import QuantizeOptions
    from ...effects.superpixels import SuperpixelOptions

    if effect == "quantize":
        opts = QuantizeOptions(colors=int(colors), space=space, dither=dither)
    elif effect == "superpixels":
        opts = SuperpixelOptions(segments=int(segments), compactness=float(compactness),
                                 outline=(outline or "").strip() or None)
    elif effect == "enhance":
        opts = EnhanceOptions(auto_contrast=bool(auto_contrast), gamma=float(gamma), saturation=float(saturation),
                              clahe=bool(clahe), sharpen=bool(sharpen))
        if opts.is_noop():
            raise UsageError("nothing to do: turn on auto contrast, CLAHE or sharpen, or move gamma or saturation")
    else:
        raise UsageError(f"choose an effect: {', '.join(EFFECTS)}")
    return check(opts)


def job_view(ctx, job_id: str | None) -> tuple[Any, str]:
    """(preview picture, status markdown) of a job started from this tab."""
    if not job_id:
        return None, ""
    job = ctx.jobs.get(job_id)
    if job is None:
        return None, f"job {job_id} is gone"
    p = job.progress
    where = f" {p.get('step', 0)}/{p['total']}" if p.get("total") else ""
    lines = [f"**{job.title}**: {job.status}{where} {p.get('message', '')}".rstrip()]
    if job.error:
        lines.append(f"error: {job.error}")
    for out in job.outputs[:5]:
        if ctx.workspace.contains(out) and ctx.workspace.art in Path(ctx.workspace.resolve(out)).parents:
            lines.append(f"- {ctx.file_link(out)}")
    if job.command:
        lines.append(f"\n`{job.command}`")
    picture = job.preview if job.preview and Path(job.preview).exists() else None
    return picture, "\n".join(lines)


# ------------------------------------------------------------------------------------------ the tab

def build(ctx) -> None:
    import gradio as gr

    from ...core.imageio import load_image
    from ...effects.batch import input_kind, load_for_effect
    from ...style.options import StyleOptions, TransferOptions

    ws, g = ctx.workspace, ctx.guard
    have_vgg = vgg_in_store()

    def refresh_images():
        return gr.update(choices=workspace_images(ws))

    # ---------------------------------------------------------------- style transfer
    gr.Markdown("## Style transfer\nPaint a photo in the style of one or more images (Gatys, coarse-to-fine). "
                "The picture updates as it optimises.")
    with gr.Row():
        with gr.Column():
            content_up = gr.File(label="Content photo (upload)", file_types=IMAGE_TYPES, elem_id="paint-content-upload")
            content_pick = gr.Dropdown(choices=workspace_images(ws), value=None, label="...or a workspace image",
                                       allow_custom_value=True, elem_id="paint-content-pick")
        with gr.Column():
            styles_up = gr.File(label="Style images (upload one or more)", file_count="multiple",
                                file_types=IMAGE_TYPES, elem_id="paint-styles-upload")
            styles_pick = gr.Dropdown(choices=workspace_images(ws), value=[], multiselect=True,
                                      label="...or workspace images", elem_id="paint-styles-pick")
            weights = gr.Textbox(label="Style weights", placeholder="equal; e.g. 100,45 (one per style)",
                                 elem_id="paint-style-weights")
    if have_vgg:
        gr.Markdown("VGG-19: the weights store's file.", elem_id="paint-vgg-note")
        vgg = gr.Radio([STORE_VGG, RANDOM_VGG], value=STORE_VGG, label="VGG-19 weights", elem_id="paint-vgg")
    else:
        gr.Markdown("**No VGG-19 in the weights store**, so style transfer cannot make meaningful art here yet: "
                    "`neuralbrush weights fetch vgg19` (or `weights import vgg19 FILE`) adds it. To try the tab "
                    "anyway, choose random weights below: the picture will not be meaningful art.",
                    elem_id="paint-vgg-note")
        vgg = gr.Radio([RANDOM_VGG], value=None, label="VGG-19 weights", elem_id="paint-vgg")
    with gr.Row():
        preserve = gr.Dropdown(["none", "luminance", "histogram"], value="none", label="Preserve colour",
                               elem_id="paint-preserve")
        size = gr.Slider(32, 1024, value=256, step=16, label="Size (long side, px)", elem_id="paint-size")
        first_steps = gr.Slider(0, 400, value=100, step=10, label="Steps at the first scale",
                                elem_id="paint-initial-iterations")
        steps = gr.Slider(0, 200, value=40, step=5, label="Steps at each larger scale", elem_id="paint-iterations")
        style_weight = gr.Number(10.0, label="Style weight", minimum=0, elem_id="paint-style-weight")
    paint_btn = gr.Button("Paint", variant="primary", elem_id="paint-run")
    with gr.Row():
        painted = gr.Image(label="Painting", type="numpy", interactive=False, elem_id="paint-live", height=360)
        with gr.Column():
            paint_status = gr.Markdown(elem_id="paint-status")
            paint_cmd = gr.Textbox(label="Equivalent command", lines=2, interactive=False, buttons=["copy"],
                                   elem_id="paint-command")

    def style_settings(styles_n, weights_text, preserve_v, size_v, first_v, steps_v, sw) -> StyleOptions:
        size_v = int(size_v)
        return StyleOptions(style_weights=parse_weights(weights_text, styles_n), preserve_color=preserve_v,
                            size=size_v, min_scale=min(128, size_v), initial_iterations=int(first_v),
                            iterations=int(steps_v), final_iterations=int(steps_v),
                            style_weight=float(sw if sw is not None else 10.0))

    def engine_of(vgg_choice) -> TransferOptions:
        if vgg_choice == RANDOM_VGG:
            return TransferOptions(vgg="random")
        if vgg_choice == STORE_VGG:
            return TransferOptions()
        raise UsageError("choose the VGG-19 weights first (the weights store has none: pick random weights to try "
                         "the tab, knowing the picture is not meaningful art)")

    def on_paint(c_up, c_pick, s_up, s_pick, weights_text, vgg_choice, preserve_v, size_v, first_v, steps_v, sw):
        from ...style.burst import stylize_files
        from ...style.transfer import StyleTransfer

        engine = engine_of(vgg_choice)
        content = pick_image(ctx, c_up, c_pick, "a content photo")
        style_paths = pick_styles(ctx, s_up, s_pick)
        opts = style_settings(len(style_paths), weights_text, preserve_v, size_v, first_v, steps_v, sw)
        opts.check(len(style_paths))
        out = unique_path(ws.art / "style" / f"{content.stem}_styled.png")
        words = [w for s in style_paths for w in ("--style", ws.relative(s))] + ["-o", ws.relative(out)]
        cmd = ctx.command("style", opts, engine, args=[content], extra=words)
        note = RANDOM_NOTE if engine.vgg == "random" else ""
        styles = [load_image(p) for p in style_paths]
        photo = load_image(content)
        yield np.asarray(photo), f"{note}\n\nloading VGG-19...", cmd
        st = StyleTransfer(vgg=engine.vgg or "store", device=engine.device, precision=engine.precision,
                           pooling=engine.pooling, seed=opts.seed)
        events: queue.Queue = queue.Queue()
        done: dict[str, Any] = {}

        def work() -> None:
            try:
                done["result"] = stylize_files([content], styles, [out], opts, transfer=st,
                                               record=out.with_suffix(".json"), progress=events.put,
                                               about={"command": "style", "content": ws.relative(content),
                                                      "styles": [ws.relative(s) for s in style_paths],
                                                      "vgg": engine.vgg or "store", "pooling": engine.pooling})
            except BaseException as e:  # noqa: BLE001 - re-raised in the handler, where the guard words it
                done["error"] = e

        worker = threading.Thread(target=work, name="paint-style", daemon=True)
        worker.start()
        t0 = time.perf_counter()
        while worker.is_alive() or not events.empty():
            worker.join(timeout=0.4)
            latest = None
            while not events.empty():
                latest = events.get_nowait()
            if latest is not None and getattr(latest, "task", "") == "stylize":
                from ...core.progress import preview_of

                picture = preview_of(latest)
                yield (picture, f"{note}\n\nstep {latest.step}/{latest.total}: {latest.message} "
                                f"({time.perf_counter() - t0:.0f} s)", cmd)
        if "error" in done:
            raise done["error"]
        res = done["result"]
        status = f"wrote {ctx.file_link(out)} and {ctx.file_link(out.with_suffix('.json'))} " \
                 f"in {time.perf_counter() - t0:.1f} s"
        if res.random_weights:
            status = f"{RANDOM_NOTE}\n\n{status}"
        yield np.asarray(load_image(out)), status, cmd

    paint_inputs = [content_up, content_pick, styles_up, styles_pick, weights, vgg, preserve, size, first_steps,
                    steps, style_weight]
    paint_btn.click(g(on_paint), paint_inputs, [painted, paint_status, paint_cmd], concurrency_limit=1,
                    concurrency_id="paint-style")

    # ---------------------------------------------------------------- effects
    gr.Markdown(f"## Effects\nQuantize colours, superpixels or enhance. The preview follows the sliders at "
                f"{PREVIEW_SIDE} px; **Apply** writes the full-size image.")
    with gr.Row():
        fx_up = gr.File(label="Image (upload)", file_types=IMAGE_TYPES, elem_id="fx-upload")
        fx_pick = gr.Dropdown(choices=workspace_images(ws), value=None, label="...or a workspace image",
                              allow_custom_value=True, elem_id="fx-pick")
        effect = gr.Radio(list(EFFECTS), value="quantize", label="Effect", elem_id="fx-effect")
    with gr.Row():
        with gr.Group(visible=True) as q_group:
            colors = gr.Slider(2, 32, value=8, step=1, label="Colours", elem_id="fx-colors")
            space = gr.Radio(["rgb", "lab"], value="rgb", label="Colour space", elem_id="fx-space")
            dither = gr.Radio(["none", "floyd", "ordered"], value="none", label="Dither", elem_id="fx-dither")
        with gr.Group(visible=False) as s_group:
            segments = gr.Slider(10, 2000, value=400, step=10, label="Regions (about)", elem_id="fx-segments")
            compactness = gr.Slider(1, 50, value=10, step=1, label="Compactness", elem_id="fx-compactness")
            outline = gr.Textbox(label="Outline colour (empty: none)", placeholder="#202020", elem_id="fx-outline")
        with gr.Group(visible=False) as e_group:
            auto_contrast = gr.Checkbox(False, label="Auto contrast", elem_id="fx-auto-contrast")
            gamma = gr.Slider(0.3, 3.0, value=1.0, step=0.05, label="Gamma", elem_id="fx-gamma")
            saturation = gr.Slider(0.0, 2.0, value=1.2, step=0.05, label="Saturation", elem_id="fx-saturation")
            clahe = gr.Checkbox(False, label="Local contrast (CLAHE)", elem_id="fx-clahe")
            sharpen = gr.Checkbox(False, label="Sharpen", elem_id="fx-sharpen")
    fx_apply = gr.Button("Apply (full size)", variant="primary", elem_id="fx-apply")
    with gr.Row():
        fx_preview = gr.Image(label="Preview", type="numpy", interactive=False, elem_id="fx-preview", height=320)
        with gr.Column():
            fx_status = gr.Markdown(elem_id="fx-status")
            fx_cmd = gr.Textbox(label="Equivalent command", lines=2, interactive=False, buttons=["copy"],
                                elem_id="fx-command")
    fx_source = gr.State(None)  # the chosen image's workspace path
    fx_small = gr.State(None)  # its preview-size array
    fx_controls = [colors, space, dither, segments, compactness, outline, auto_contrast, gamma, saturation, clahe,
                   sharpen]

    def effect_command(name: str, opts: Any, source: Path, out: Path) -> str:
        return ctx.command(name, opts, args=[source], extra={"-o": out})

    def on_fx_source(up, pick):
        if not up and not pick:
            return None, None, None, ""
        src = pick_image(ctx, up, pick, "an image")
        arr = small(load_for_effect(src))
        return str(src), arr, arr, f"source: `{ws.relative(src)}`"

    def on_fx_preview(name, src, arr, *values):
        if arr is None:
            return None, "", ""
        opts = effect_options(name, *values)
        t0 = time.perf_counter()
        out = make_effect(name, opts).apply(np.asarray(arr))
        ms = (time.perf_counter() - t0) * 1000
        planned = ws.art / "effects" / f"{Path(src).stem}-{name}.png"
        return out, f"preview ({PREVIEW_SIDE} px, {ms:.0f} ms) of `{ws.relative(src)}`", \
            effect_command(name, opts, Path(src), planned)

    def on_fx_apply(name, src, *values):
        from ...effects.batch import run_effect

        if not src:
            raise UsageError("choose an image first: upload one or pick a workspace image")
        opts = effect_options(name, *values)
        source = ctx.resolve(src, must_exist=True)
        out = unique_path(ws.art / "effects" / f"{source.stem}-{name}.png")
        run = run_effect(make_effect(name, opts), source, out)
        links = ", ".join(ctx.file_link(p) for p in [*run.outputs, run.options_file] if p is not None)
        return load_for_effect(out), f"wrote {links}", effect_command(name, opts, source, out)

    def on_effect_choice(name):
        return (gr.update(visible=name == "quantize"), gr.update(visible=name == "superpixels"),
                gr.update(visible=name == "enhance"))

    preview_args = dict(fn=g(on_fx_preview), inputs=[effect, fx_source, fx_small, *fx_controls],
                        outputs=[fx_preview, fx_status, fx_cmd], show_progress="hidden", trigger_mode="always_last")
    for src_comp in (fx_up, fx_pick):
        src_comp.change(g(on_fx_source), [fx_up, fx_pick], [fx_source, fx_small, fx_preview, fx_status]).then(
            **preview_args)
    effect.change(on_effect_choice, effect, [q_group, s_group, e_group]).then(**preview_args)
    for c in fx_controls:
        c.change(**preview_args)
    fx_apply.click(g(on_fx_apply), [effect, fx_source, *fx_controls], [fx_preview, fx_status, fx_cmd])

    # ---------------------------------------------------------------- folders and videos
    gr.Markdown("## Folders and videos\nPaint every photo of a workspace folder, or every frame of a video, as a "
                "job in a worker process (the queue is under *Jobs* at the top). Style transfer uses the styles "
                "and settings above; effects use the effect settings.")
    with gr.Row():
        batch_path = gr.Textbox(label="Workspace folder or video", placeholder="images/photos",
                                elem_id="paint-batch-path")
        batch_video = gr.File(label="...or upload a video", file_types=VIDEO_TYPES, elem_id="paint-batch-video")
        batch_what = gr.Radio(["style transfer", *EFFECTS], value="quantize", label="Do", elem_id="paint-batch-what")
    batch_btn = gr.Button("Start job", elem_id="paint-batch-run")
    with gr.Row():
        batch_preview = gr.Image(label="Job preview", type="filepath", interactive=False, elem_id="paint-batch-preview",
                                 height=240)
        batch_status = gr.Markdown(elem_id="paint-batch-status")
    batch_job = gr.State(None)
    timer = gr.Timer(1.5, active=False)

    def batch_source(path_text, video_file) -> Path:
        if video_file:
            src = Path(video_file if isinstance(video_file, str) else video_file.name)
            if src.suffix.lower() not in VIDEO_TYPES:
                raise UsageError(f"{src.name} is not a video (.mp4, .mov, .gif ...)")
            dest = unique_path(ws.images / "uploads" / src.name)
            dest.parent.mkdir(parents=True, exist_ok=True)
            import shutil

            shutil.copyfile(src, dest)
            return dest
        if not (path_text or "").strip():
            raise UsageError("name a workspace folder (e.g. images/photos) or upload a video")
        src = ctx.resolve(path_text, must_exist=True)
        if src.is_file() and input_kind(src) != "video":
            raise UsageError(f"{path_text} is one image: use the sections above for single images")
        return src

    def on_batch(what, path_text, video_file, s_up, s_pick, weights_text, vgg_choice, preserve_v, size_v, first_v,
                 steps_v, sw, *fx_values):
        src = batch_source(path_text, video_file)
        kind = input_kind(src)
        stem = src.name if kind == "folder" else src.stem
        if what == "style transfer":
            engine = engine_of(vgg_choice)
            style_paths = pick_styles(ctx, s_up, s_pick)
            opts = style_settings(len(style_paths), weights_text, preserve_v, size_v, first_v, steps_v, sw)
            opts.check(len(style_paths))
            out = unique_path(ws.art / "style" / (stem if kind == "folder" else f"{stem}-styled.mp4"))
            words = [w for s in style_paths for w in ("--style", ws.relative(s))] + ["-o", ws.relative(out)]
            cmd = ctx.command("style-video" if kind == "video" else "style", opts, engine, args=[src], extra=words)
            job = ctx.jobs.submit(f"style-{kind}", style_job, src, style_paths, out, opts, engine,
                                  title=f"style {ws.relative(src)}", command=cmd, device=engine.device)
        else:
            opts = effect_options(what, *fx_values)
            out = unique_path(ws.art / "effects" / (f"{stem}-{what}" if kind == "folder" else f"{stem}-{what}.mp4"))
            cmd = effect_command(what, opts, src, out)
            job = ctx.jobs.submit(f"effect-{kind}", effect_job, what, opts, src, out,
                                  title=f"{what} {ws.relative(src)}", command=cmd, device="cpu")
        picture, status = job_view(ctx, job.id)
        return job.id, picture, status, gr.Timer(active=True)

    batch_btn.click(g(on_batch), [batch_what, batch_path, batch_video, styles_up, styles_pick, weights, vgg, preserve,
                                  size, first_steps, steps, style_weight, *fx_controls],
                    [batch_job, batch_preview, batch_status, timer])

    def on_tick(job_id):
        picture, status = job_view(ctx, job_id)
        job = ctx.jobs.get(job_id) if job_id else None
        return picture, status, gr.Timer(active=job is not None and job.active)

    timer.tick(on_tick, batch_job, [batch_preview, batch_status, timer], show_progress="hidden")

    for picker in (content_pick, styles_pick, fx_pick):
        picker.focus(refresh_images, None, picker, show_progress="hidden")
