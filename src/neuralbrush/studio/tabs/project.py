"""Project: upload a painting, watch the projection converge, take its neighbours, pick into the tray.

The projection is the library's ``project_file`` (the files of ``neuralbrush project``: target,
projected_w.npz, proj.png, side_by_side.png, projection.json in ``art/projections/NNNNN-name/``),
run in a thread of the studio process while the page streams its previews: every few steps the
library's :class:`ProjectionStep` event hands over the current synthesis. The neighbours sheet is
``neighbours_sheet`` (``neuralbrush neighbours``), rendered one neighbour per batch so each event
carries one neighbour's picture for the gallery; a click keeps that neighbour's latent in the tray.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

from ...core.errors import UsageError

MAX_PAGE_STEPS = 5000  # the page's limit; longer projections belong on the command line


def build(ctx) -> None:
    import gradio as gr

    from ...core.progress import preview_of
    from ...latent.render import for_display
    from ..tray import Tray, link_views
    from .explore import load, model_choices, model_picker, numbered_folder, render_focus

    ws = ctx.workspace
    tray = Tray(ws.tray_dir)

    with gr.Row():
        model_box, refresh_btn = model_picker(ws, "project")
    with gr.Row():
        with gr.Column(scale=1):
            # a File, not an Image: the upload is checked by the studio (dataset build's validation)
            # before anything decodes it, so a bad file gets a sentence instead of a decoder error
            target = gr.File(label="Your painting (PNG, JPEG, ...)", file_types=["image"], type="filepath",
                             elem_id="project-target")
            target_view = gr.Image(label="Target", type="numpy", interactive=False, elem_id="project-target-view",
                                   height=200)
            with gr.Row():
                steps = gr.Number(300, label="Steps", precision=0, minimum=1, maximum=MAX_PAGE_STEPS,
                                  elem_id="project-steps")
                every = gr.Number(10, label="Preview every N steps", precision=0, minimum=1,
                                  elem_id="project-every")
            with gr.Row():
                space = gr.Radio(["w", "w+", "z"], value="w+", label="Space", elem_id="project-space")
                loss = gr.Radio(["mse", "lpips", "both"], value="mse",
                                label="Loss (lpips needs the vgg16 + lpips-vgg weights)", elem_id="project-loss")
            run_btn = gr.Button("Project", variant="primary", elem_id="project-run")
        with gr.Column(scale=1):
            live = gr.Image(label="Converging", type="numpy", interactive=False, elem_id="project-live", height=260)
            status = gr.Markdown("", elem_id="project-status")
            result = gr.Image(label="Target | projection", type="filepath", interactive=False,
                              elem_id="project-result", height=200)
    command = gr.Textbox("", label="Equivalent command", lines=2, interactive=False, buttons=["copy"],
                         elem_id="project-command")
    files_md = gr.Markdown("", elem_id="project-files")
    keep_proj_btn = gr.Button("Keep the projection in the tray", elem_id="project-keep")
    with gr.Accordion("Neighbours of the projection", open=True):
        with gr.Row():
            count = gr.Number(24, label="Count", precision=0, minimum=1, maximum=256, elem_id="project-nb-count")
            sigma = gr.Slider(0.0, 2.0, value=0.5, step=0.05, label="Sigma (spread)", elem_id="project-nb-sigma")
            nb_seed = gr.Number(0, label="Seed", precision=0, minimum=0, elem_id="project-nb-seed")
            nb_btn = gr.Button("Neighbours", variant="primary", elem_id="project-neighbours-run")
        neighbours = gr.Gallery(label="Neighbours: click one to keep it in the tray", columns=8, height="auto",
                                allow_preview=False, fit_columns=False, object_fit="contain",
                                elem_id="project-neighbours")
        nb_md = gr.Markdown("", elem_id="project-nb-info")
    with gr.Accordion("Tray", open=True):
        tray_gallery = gr.Gallery(value=tray.gallery, label="Tray", columns=8, height=220, allow_preview=False,
                                  fit_columns=False, object_fit="contain", elem_id="project-tray")

    proj_state = gr.State(None)  # {"dir", "w", "model", "space"} of the last projection
    nb_state = gr.State(None)  # {"dir", "count", "opts"} of the last neighbours sheet

    # ---------------------------------------------------------------- handlers
    def on_refresh():
        return gr.update(choices=model_choices(ws))

    def on_upload(upload):
        """Check the upload at once: a bad file is refused with its reason and the box cleared."""
        import numpy as np

        from ...core.errors import NeuralbrushError

        if not upload:
            return gr.update(), None, ""
        name = Path(upload).name
        try:
            img = ws.check_upload(upload, name=name)
        except NeuralbrushError as e:
            message = " ".join(str(e).split())
            gr.Warning(message)
            return None, None, f"Refused: {message}"
        img.thumbnail((256, 256))
        return gr.update(), np.asarray(img.convert("RGB")), f"{name}: ready to project"

    def on_project(text, upload, n_steps, n_every, sp, ls):
        from ...latent.options import ProjectOptions
        from ...latent.project import project_file

        if not upload:
            raise UsageError("upload a painting first")
        m = load(ws, text)
        name = Path(upload).name
        ctx.check_upload(upload, name=name, what="a painting")  # the dataset-build validation
        n_steps, n_every = int(n_steps or 0), max(1, int(n_every or 1))
        if not 1 <= n_steps <= MAX_PAGE_STEPS:
            raise UsageError(f"steps must be 1-{MAX_PAGE_STEPS} in the page (the command line takes more)")
        if not m.has_w and sp != "z":
            sp = "z"  # a DCGAN has only z
        opts = ProjectOptions(steps=n_steps, space=sp, loss=ls)
        opts.validate(m.G)
        lpips = None
        if ls in ("lpips", "both"):
            from ...latent.lpips import LPIPS

            lpips = LPIPS.from_store()  # a missing file is named before any work
        out = numbered_folder(ws.art / "projections", Path(name).stem[:40] or "painting")
        kept = ws.keep_upload(upload, ws.relative(out), name=name)
        cmd = ctx.command("project", opts, args=[m.text, kept], extra={"-o": out})
        events: queue.Queue = queue.Queue()
        box: dict = {}

        def report(e) -> None:
            if e.step % n_every == 0 or e.step == e.total:
                events.put((e.step, e.total, preview_of(e), getattr(e, "dist", None)))

        def work() -> None:
            try:
                box["result"] = project_file(m.G, kept, out, opts, m.runtime, model=m.text, lpips=lpips,
                                             progress=report)
            except BaseException as e:  # noqa: BLE001 - re-raised in the handler, where the page shows it
                box["error"] = e
            finally:
                events.put(None)

        worker = threading.Thread(target=work, name="studio-project", daemon=True)
        t0 = time.time()
        worker.start()
        yield (gr.update(), f"Projecting {name}: starting", None, cmd, "", None)
        while True:
            item = events.get()
            if item is None:
                break
            step, total, picture, dist = item
            text_ = f"Projecting {name}: step {step}/{total}" + (f", distance {dist:.4f}" if dist is not None else "")
            yield (for_display([picture], 256)[0], text_, gr.update(), gr.update(), gr.update(), gr.update())
        worker.join()
        if "error" in box:
            raise box["error"]
        res = box["result"]
        files = (f"Files: {ctx.file_link(res.w)}, {ctx.file_link(res.proj)}, {ctx.file_link(res.side_by_side)}, "
                 f"{ctx.file_link(out / 'projection.json')}")
        state = {"dir": str(out), "w": str(res.w), "proj": str(res.proj), "model": m.text, "space": opts.space}
        yield (gr.update(), f"Projected {name} in {time.time() - t0:.1f} s: PSNR {res.psnr:.2f} dB",
               str(res.side_by_side), cmd, files, state)

    def on_keep_projection(text, proj):
        from ...core.imageio import load_array

        if not proj:
            raise UsageError("project a painting first")
        m = load(ws, text)
        item = tray.add_file(proj["w"], load_array(proj["proj"]), label=f"projection {Path(proj['dir']).name}",
                             model=m.text, source=ws.relative(proj["w"]), G=m.G)
        return f"Kept the projection as tray item {item.id} ({ctx.file_link(tray.latent_path(item))})"

    def on_neighbours(text, proj, n, sig, seed, progress=gr.Progress()):
        from ...latent.neighbours import neighbours_sheet
        from ...latent.options import NeighboursOptions

        if not proj:
            raise UsageError("project a painting first: its neighbours surround the projection")
        m = load(ws, text)
        space = "w" if m.has_w and proj["space"] != "z" else "z"
        opts = NeighboursOptions(count=int(n or 0), sigma=float(sig), space=space, seed=int(seed or 0), batch=1)
        opts.validate()
        if opts.count > 256:
            raise UsageError("the page shows at most 256 neighbours; use the command line for more")
        sheet = Path(proj["dir"]) / "nb" / "sheet.png"  # as the README's example: -o out/nb/sheet.png
        frames = []

        def report(e) -> None:  # batch 1: every event carries one neighbour's picture
            frames.append(preview_of(e))
            progress((e.step, e.total), desc="neighbours")

        res = neighbours_sheet(m.G, proj["w"], sheet, count=opts.count, sigma=opts.sigma, space=opts.space,
                               seed=opts.seed, runtime=m.runtime, batch=1, model=m.text, progress=report)
        cmd = ctx.command("neighbours", opts, args=[m.text], extra={"--w": proj["w"], "-o": sheet})
        info = (f"Files: {ctx.file_link(res.sheet)}, {ctx.file_link(res.latents)}, one latent per neighbour in "
                f"{ws.relative(res.folder)}/. Click a neighbour to keep it in the tray.")
        gallery = [(for_display([f], 128)[0], str(i)) for i, f in enumerate(frames)]
        state = {"dir": str(res.folder), "sheet": str(sheet), "count": opts.count, "sigma": opts.sigma,
                 "space": opts.space, "seed": opts.seed}
        return gallery, info, cmd, state

    def on_pick(evt: gr.SelectData, text, proj, nb):
        from ...latent.options import NeighboursOptions

        if not nb or not proj:
            raise UsageError("make the neighbours first")
        i = int(evt.index)
        latent = Path(nb["dir"]) / f"{i:03d}.npz"
        m = load(ws, text)
        frame, lat, _ = render_focus(m, {"file": str(latent), "index": 0}, 1.0, None, [])
        item = tray.add(lat, frame, label=f"neighbour {i} of {Path(proj['dir']).name}", model=m.text,
                        source=ws.relative(latent))
        opts = NeighboursOptions(count=nb["count"], sigma=nb["sigma"], space=nb["space"], seed=nb["seed"], batch=1,
                                 pick=i)
        cmd = ctx.command("neighbours", opts, args=[m.text], extra={"--w": proj["w"], "-o": nb["sheet"]})
        gr.Info(f"neighbour {i} kept as tray item {item.id}")
        return (f"Neighbour {i} kept as tray item {item.id} ({ctx.file_link(tray.latent_path(item))}); "
                f"the command line's --pick {i} writes it as keyframe_{i}.npz", cmd)

    on_pick.__annotations__["evt"] = gr.SelectData  # resolved now: gradio reads the hint to pass the click

    # ---------------------------------------------------------------- wiring
    g = ctx.guard
    refresh_btn.click(g(on_refresh), None, model_box)
    target.upload(g(on_upload), target, [target, target_view, status])
    run_btn.click(g(on_project), [model_box, target, steps, every, space, loss],
                  [live, status, result, command, files_md, proj_state])
    keep = keep_proj_btn.click(g(on_keep_projection), [model_box, proj_state], files_md)
    nb_btn.click(g(on_neighbours), [model_box, proj_state, count, sigma, nb_seed],
                 [neighbours, nb_md, command, nb_state])
    pick = neighbours.select(g(on_pick), [model_box, proj_state, nb_state], [nb_md, command])
    link_views(ctx, tray_gallery, [keep, pick], tray)
