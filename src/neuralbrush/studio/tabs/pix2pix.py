"""pix2pix: pick a generator (a workspace run, a snapshot, a junyanz .pth or a weights-store name,
through the one resolver), give a photo or a video, see original | input | output side by side.

A photo is translated in-process by :func:`neuralbrush.pix2pix.apply.apply_paths` (what ``neuralbrush
pix2pix apply MODEL PHOTO -o OUT --side-by-side`` writes, into ``art/pix2pix/``); a video runs as a
worker job through :func:`neuralbrush.pix2pix.video.apply_video` (``neuralbrush pix2pix video``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ...core.errors import NeuralbrushError, UsageError
from .paint import IMAGE_TYPES, VIDEO_TYPES, job_view, pick_image, unique_path, workspace_images


def model_choices(ws) -> list[str]:
    """Workspace runs holding a pix2pix snapshot, newest first (workspace-relative), then the bundled model."""
    from ...pix2pix.apply import pix2pix_source
    from .explore import bundled_models

    runs = sorted((p for p in ws.runs.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True) \
        if ws.runs.is_dir() else []
    out = []
    for run in runs:
        try:
            pix2pix_source(run)
        except (NeuralbrushError, OSError):
            continue
        out.append(ws.relative(run))
    return out + bundled_models(("blooms64-pix2pix-edges",))


def model_argument(ctx, text: str | None) -> tuple[str, str]:
    """(what the command line says, what the library is given) for the MODEL box: a workspace path
    (kept inside the workspace) or a weights-store name."""
    from ...pix2pix.apply import pix2pix_source

    text = (text or "").strip()
    if not text:
        raise UsageError("choose a pix2pix model: a run of this workspace, a snapshot, a .pth or a weights name")
    ws = ctx.workspace
    if (ws.root / text).exists() or "/" in text or text.startswith("."):
        path = ctx.resolve(text, must_exist=True)
        pix2pix_source(path)
        return ws.relative(path), str(path)
    pix2pix_source(text)  # a weights-store name (the resolver's sentence otherwise)
    return text, text


def build(ctx) -> None:
    import gradio as gr

    from ...core.imageio import load_image
    from ...pix2pix.options import ApplyOptions, VideoOptions

    ws, g = ctx.workspace, ctx.guard
    gr.Markdown("## pix2pix\nTurn a photo (or every frame of a video) into the look a pix2pix generator learnt. "
                "The input is derived as in training (edges or colour clusters).")
    with gr.Row():
        model = gr.Dropdown(choices=model_choices(ws), value=None, allow_custom_value=True, elem_id="p2p-model",
                            label="Model: a workspace run, a snapshot .safetensors, a junyanz .pth or a weights name")
        dropout = gr.Checkbox(False, label="Test-time dropout noise", elem_id="p2p-dropout")
        size = gr.Number(0, label="Working size (0: as trained)", precision=0, elem_id="p2p-size")
    with gr.Row():
        photo_up = gr.File(label="Photo (upload)", file_types=IMAGE_TYPES, elem_id="p2p-photo-upload")
        photo_pick = gr.Dropdown(choices=workspace_images(ws), value=None, allow_custom_value=True,
                                 label="...or a workspace image", elem_id="p2p-photo-pick")
        video_up = gr.File(label="...or a video (runs as a job)", file_types=VIDEO_TYPES, elem_id="p2p-video-upload")
    apply_btn = gr.Button("Apply", variant="primary", elem_id="p2p-apply")
    with gr.Row():
        original = gr.Image(label="Original", type="numpy", interactive=False, elem_id="p2p-original", height=300)
        translated = gr.Image(label="pix2pix output", type="numpy", interactive=False, elem_id="p2p-output",
                              height=300)
    side = gr.Image(label="original | input | output", type="numpy", interactive=False, elem_id="p2p-side", height=260)
    status = gr.Markdown(elem_id="p2p-status")
    command = gr.Textbox(label="Equivalent command", lines=2, interactive=False, buttons=["copy"],
                         elem_id="p2p-command")
    job_state = gr.State(None)
    timer = gr.Timer(1.5, active=False)

    def options(dropout_v, size_v, cls=ApplyOptions, **kw):
        from ...core.options import check

        value = None if size_v in (None, "", 0) else int(size_v)
        return check(cls(dropout=bool(dropout_v), size=value, **kw))

    def on_apply(model_text, dropout_v, size_v, p_up, p_pick, v_up):
        from ...pix2pix.apply import apply_paths

        shown, given = model_argument(ctx, model_text)
        if v_up and not (p_up or p_pick):
            src = Path(v_up if isinstance(v_up, str) else v_up.name)
            if src.suffix.lower() not in VIDEO_TYPES:
                raise UsageError(f"{src.name} is not a video (.mp4, .mov, .gif ...)")
            dest = unique_path(ws.images / "uploads" / src.name)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            opts = options(dropout_v, size_v, VideoOptions)
            out = unique_path(ws.art / "pix2pix" / f"{dest.stem}-pix2pix.mp4")
            cmd = ctx.command("pix2pix video", opts, args=[shown, dest], extra={"-o": out})
            job = ctx.jobs.submit("pix2pix-video", "neuralbrush.pix2pix.video:apply_video", given, dest, out, opts,
                                  title=f"pix2pix video {ws.relative(dest)}", command=cmd)
            picture, text = job_view(ctx, job.id)
            return None, picture, None, text, cmd, job.id, gr.Timer(active=True)
        photo = pick_image(ctx, p_up, p_pick, "a photo (or a video)")
        opts = options(dropout_v, size_v, side_by_side=True)
        out = unique_path(ws.art / "pix2pix" / f"{photo.stem}-pix2pix.png")
        cmd = ctx.command("pix2pix apply", opts, args=[shown, photo], extra={"-o": out})
        res = apply_paths(given, [photo], out, opts, progress=lambda e: None)
        written = [*res.outputs, *res.side_by_side, *([res.options_file] if res.options_file else [])]
        row = res.side_by_side[0] if res.side_by_side else None
        links = ", ".join(ctx.file_link(p) for p in written)
        return (load_image(photo), load_image(out), load_image(row) if row else None,
                f"wrote {links}", cmd, None, gr.Timer(active=False))

    def on_tick(job_id):
        picture, text = job_view(ctx, job_id)
        job = ctx.jobs.get(job_id) if job_id else None
        return picture, text, gr.Timer(active=job is not None and job.active)

    apply_btn.click(g(on_apply), [model, dropout, size, photo_up, photo_pick, video_up],
                    [original, translated, side, status, command, job_state, timer], concurrency_limit=1,
                    concurrency_id="p2p-apply")
    timer.tick(on_tick, job_state, [translated, status, timer], show_progress="hidden")
    model.focus(lambda: gr.update(choices=model_choices(ws)), None, model, show_progress="hidden")
    photo_pick.focus(lambda: gr.update(choices=workspace_images(ws)), None, photo_pick, show_progress="hidden")
