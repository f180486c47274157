"""Storyboard: tray items as ordered keyframes, per-keyframe loop and transition, a quick preview,
the full render as a job, and the storyboard YAML that ``neuralbrush video storyboard`` opens.

The page writes ``art/storyboards/NAME.yaml`` in the CLI's format (keyframes ``latent:
../tray/003.npz``, the model relative to the file, so it renders from any folder), and checks it
with the library's own parser before anything renders. The quick preview renders a copy of the
plan with every segment shortened (``NAME.preview.yaml`` -> ``NAME.preview.gif``) in-process;
the full film is ``render_storyboard`` in a worker process (``NAME.mp4``, frame cache
``NAME.cache/``: a stopped render resumes).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from ...core.errors import UsageError

COLUMNS = ["tray item", "label", "loop", "stops", "frames/stop", "sigma", "transition frames", "easing", "kind"]
DATATYPES = ["str", "str", "bool", "number", "number", "number", "number", "str", "str"]
PREVIEW_FRAMES = 48  # the quick preview's length at most
PREVIEW_FPS = 12.0
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def default_row(item) -> list:
    from ...latent.storyboard_file import LOOP_DEFAULTS, TRANSITION_DEFAULTS

    return [item.id, item.label, True, 3, 12, LOOP_DEFAULTS["sigma"], 24, TRANSITION_DEFAULTS["easing"],
            TRANSITION_DEFAULTS["kind"]]


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or not set(name) <= NAME_CHARS or len(name) > 60:
        raise UsageError("the storyboard name must be 1-60 letters, digits, - or _ (it names the YAML and film files)")
    return name


def _whole(value: Any, what: str) -> int:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{what} must be a whole number, not {value!r}") from None
    if not math.isfinite(f) or f != int(f):
        raise UsageError(f"{what} must be a whole number, not {value!r}")
    return int(f)


def _number(value: Any, what: str) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{what} must be a number, not {value!r}") from None
    if not math.isfinite(f):
        raise UsageError(f"{what} must be a finite number")
    return f


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1", "on")
    return bool(value)


def rows_of(table) -> list[list]:
    """The keyframe rows of the page's table (a DataFrame or a list of lists), empty rows left out."""
    if table is None:
        return []
    if hasattr(table, "values") and hasattr(table, "columns"):
        table = table.values.tolist()
    return [list(r) for r in table if r and str(r[0]).strip() not in ("", "nan", "None")]


def storyboard_data(ws, tray, rows, *, model_path: Path | str, yaml_dir: Path, fps: float, trunc: float, close: bool,
                    seed: int, scale: float = 1.0) -> dict:
    """The storyboard as the YAML's mapping. ``model_path``: a workspace path (written relative to
    the YAML's folder) or a store name; ``scale`` shortens every segment (the quick preview)."""
    if not rows:
        raise UsageError("no keyframes yet: click tray items to add them")
    items = {i.id: i for i in tray.items()}
    keyframes = []
    for n, row in enumerate(rows, 1):
        row = list(row) + [None] * (len(COLUMNS) - len(row))
        item_id = str(row[0]).strip()
        if item_id not in items:
            raise UsageError(f"keyframe {n}: tray item {item_id} is not in the tray")
        latent = Path(os.path.relpath(tray.latent_path(items[item_id]), yaml_dir)).as_posix()
        kf: dict[str, Any] = {"latent": latent, "name": str(row[1] or items[item_id].label)}
        if _flag(row[2]):
            kf["loop"] = {"stops": _whole(row[3], f"keyframe {n} stops"),
                          "frames_per_stop": max(1, round(_whole(row[4], f"keyframe {n} frames/stop") * scale)),
                          "sigma": _number(row[5], f"keyframe {n} sigma")}
        else:
            kf["loop"] = False
        kf["transition"] = {"frames": max(1, round(_whole(row[6], f"keyframe {n} transition frames") * scale)),
                            "easing": str(row[7] or "ease-in-out").strip(), "kind": str(row[8] or "slerp").strip()}
        keyframes.append(kf)
    model = str(model_path)
    if Path(model).is_absolute():
        model = Path(os.path.relpath(model, yaml_dir)).as_posix()
    return {"model": model, "fps": float(fps), "trunc": float(trunc), "seed": int(seed), "close": bool(close),
            "keyframes": keyframes}


def write_storyboard(path: Path, data: dict):
    """Write the YAML (atomically) and read it back with the library's parser: the page's check is
    the CLI's check. Returns the parsed storyboard."""
    import yaml

    from ...core.checkpoint import atomic_path
    from ...latent.storyboard_file import parse_storyboard

    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# neuralbrush storyboard, written by the studio: neuralbrush video storyboard THIS.yaml -o film.mp4\n"
    text += yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return parse_storyboard(path)


def preview_scale(sb, limit: int = PREVIEW_FRAMES) -> float:
    from ...latent.storyboard_file import film_frames

    total = film_frames(sb)
    return 1.0 if total <= limit else limit / total


def build(ctx) -> None:
    import gradio as gr

    from ...core.progress import preview_of
    from ...latent.render import for_display
    from ...latent.walk import EASINGS
    from ..tray import Tray, link_views
    from .explore import load, model_argument, model_choices

    ws = ctx.workspace
    tray = Tray(ws.tray_dir)
    boards = ws.art / "storyboards"

    runs = model_choices(ws)  # newest first: the newest run is the default
    with gr.Row():
        model_box = gr.Dropdown(choices=runs, value=runs[0] if runs else None, allow_custom_value=True,
                                label="Model the tray latents belong to", elem_id="storyboard-model", scale=4)
        refresh_btn = gr.Button("Refresh", elem_id="storyboard-refresh", scale=1)
    tray_gallery = gr.Gallery(value=tray.gallery, label="Tray: click an item to add it as the next keyframe",
                              columns=8, height=220, allow_preview=False, fit_columns=False, object_fit="contain",
                              elem_id="storyboard-tray")
    table = gr.Dataframe(value=[], headers=COLUMNS, datatype=DATATYPES, interactive=True, type="array",
                         label="Keyframes in film order (edit loop and transition per keyframe)",
                         elem_id="storyboard-keyframes", column_count=(len(COLUMNS), "fixed"))
    with gr.Row():
        row_no = gr.Number(1, label="Keyframe #", precision=0, minimum=1, elem_id="storyboard-row")
        up_btn = gr.Button("Move up", elem_id="storyboard-up")
        down_btn = gr.Button("Move down", elem_id="storyboard-down")
        del_btn = gr.Button("Remove", elem_id="storyboard-remove")
    gr.Markdown(f"Easings: {', '.join(EASINGS)}. Kinds: slerp, linear.")
    with gr.Row():
        name = gr.Textbox("story", label="Name (art/storyboards/NAME.yaml)", elem_id="storyboard-name")
        fps = gr.Number(30, label="fps", minimum=1, maximum=240, elem_id="storyboard-fps")
        trunc = gr.Slider(0.0, 1.5, value=1.0, step=0.05, label="Truncation ψ", elem_id="storyboard-trunc")
        seed = gr.Number(0, label="Loop seed", precision=0, minimum=0, elem_id="storyboard-seed")
        close = gr.Checkbox(True, label="Close the loop (back to the first keyframe)", elem_id="storyboard-close")
    with gr.Row():
        save_btn = gr.Button("Save YAML", elem_id="storyboard-save")
        preview_btn = gr.Button("Quick preview", variant="primary", elem_id="storyboard-preview")
        render_btn = gr.Button("Render film (job)", variant="primary", elem_id="storyboard-render")
    status = gr.Markdown("", elem_id="storyboard-status")
    with gr.Row():
        preview = gr.Image(label="Quick preview", type="filepath", interactive=False, elem_id="storyboard-preview-img",
                           height=260)
        video = gr.Video(label="Film", interactive=False, elem_id="storyboard-video", height=260)
    yaml_view = gr.Code("", language="yaml", label="Storyboard YAML (the CLI's format)", interactive=False,
                        elem_id="storyboard-yaml")
    command = gr.Textbox("", label="Equivalent command", lines=1, interactive=False, buttons=["copy"],
                         elem_id="storyboard-command")
    files_md = gr.Markdown("", elem_id="storyboard-files")
    job_state = gr.State(None)
    timer = gr.Timer(1.0, active=False)

    # ---------------------------------------------------------------- handlers
    def on_refresh():
        return gr.update(choices=model_choices(ws)), tray.gallery()

    def on_pick(evt: gr.SelectData, rows, text):
        items = tray.items()
        i = int(evt.index)
        if i >= len(items):
            raise UsageError("that tray item is gone; refresh")
        first = not rows_of(rows)
        rows = rows_of(rows) + [default_row(items[i])]
        model = gr.update()
        if items[i].model and (first or not (text or "").strip()):
            model = gr.update(value=items[i].model)  # the model the latent was made with
        return rows, model, f"Added tray item {items[i].id} as keyframe {len(rows)}"

    on_pick.__annotations__["evt"] = gr.SelectData  # resolved now: gradio reads the hint to pass the click

    def on_move(rows, n, delta):
        rows = rows_of(rows)
        i = _whole(n, "keyframe #") - 1
        if not 0 <= i < len(rows):
            raise UsageError(f"there is no keyframe {i + 1} (keyframes 1-{len(rows)})" if rows else "no keyframes yet")
        if delta == 0:
            rows.pop(i)
            return rows, max(1, min(i + 1, len(rows)))
        j = i + delta
        if 0 <= j < len(rows):
            rows[i], rows[j] = rows[j], rows[i]
            i = j
        return rows, i + 1

    def _save(text, rows, nm, f, psi, s, cl, *, scale: float = 1.0, suffix: str = ""):
        if not rows_of(rows):
            raise UsageError("no keyframes yet: click tray items to add them")
        nm = check_name(nm)
        shown, arg = model_argument(ws, text)
        yaml_path = boards / f"{nm}{suffix}.yaml"
        model_path = ws.resolve(arg) if arg != shown or Path(arg).is_absolute() else arg
        data = storyboard_data(ws, tray, rows_of(rows), model_path=model_path, yaml_dir=boards, fps=f, trunc=psi,
                               close=cl, seed=_whole(s, "loop seed"), scale=scale)
        sb = write_storyboard(yaml_path, data)
        return yaml_path, sb

    def on_save(text, rows, nm, f, psi, s, cl):
        from ...latent.storyboard_file import film_frames

        path, sb = _save(text, rows, nm, f, psi, s, cl)
        film = path.with_suffix(".mp4")
        cmd = ctx.command("video storyboard", args=[path], extra={"-o": film})
        frames = film_frames(sb)
        return (path.read_text(encoding="utf-8"), cmd,
                f"Saved {ctx.file_link(path)}: {len(sb.keyframes)} keyframes, {frames} frames "
                f"({frames / sb.fps:.1f} s at {sb.fps:g} fps)")

    def on_preview(text, rows, nm, f, psi, s, cl):
        from ...latent.storyboard import render_storyboard

        path, sb = _save(text, rows, nm, f, psi, s, cl)  # the real file, checked
        # every segment shortened so the whole film fits PREVIEW_FRAMES frames, played at PREVIEW_FPS
        ppath, _ = _save(text, rows, nm, PREVIEW_FPS, psi, s, cl, scale=preview_scale(sb), suffix=".preview")
        m = load(ws, text)
        gif = boards / f"{check_name(nm)}.preview.gif"
        cmd = ctx.command("video storyboard", args=[ppath], extra={"-o": gif})
        shown = []

        def report(e) -> None:
            if getattr(e, "task", "") == "frames":
                shown.append(preview_of(e))

        yield None, f"Rendering the quick preview of {path.name}...", path.read_text(encoding="utf-8"), cmd, ""
        import queue
        import threading

        events: queue.Queue = queue.Queue()
        box: dict = {}

        def work():
            try:
                box["res"] = render_storyboard(ppath, gif, runtime=m.runtime, G=m.G, cache=gif.with_suffix(".cache"),
                                               restart=True, progress=lambda e: (report(e), events.put(e.step)))
            except BaseException as e:  # noqa: BLE001 - re-raised below, where the page shows it
                box["error"] = e
            finally:
                events.put(None)

        threading.Thread(target=work, name="studio-storyboard-preview", daemon=True).start()
        while (step := events.get()) is not None:
            if shown and step % 4 == 0:  # the frames as they come, then the GIF
                yield (for_display([shown[-1]], 256)[0], f"Quick preview: frame {len(shown)}", gr.update(),
                       gr.update(), gr.update())
        if "error" in box:
            raise box["error"]
        res = box["res"]
        yield (str(gif), f"Quick preview: {res.frames} frames at {PREVIEW_FPS:g} fps (the film itself: "
               f"Render film)", path.read_text(encoding="utf-8"), cmd,
               f"Files: {ctx.file_link(gif)}, {ctx.file_link(ppath)}; the film's plan: {ctx.file_link(path)}")

    def on_render(text, rows, nm, f, psi, s, cl):
        path, sb = _save(text, rows, nm, f, psi, s, cl)
        film = path.with_suffix(".mp4")
        cache = path.with_name(path.stem + ".cache")
        cmd = ctx.command("video storyboard", args=[path], extra={"-o": film})
        job = ctx.jobs.submit("storyboard", "neuralbrush.latent.storyboard:render_storyboard", path, film,
                              title=f"storyboard {path.stem}", command=cmd, cache=cache)
        return (job.id, gr.update(active=True), f"Render queued as job {job.id} ({job.status})", cmd,
                path.read_text(encoding="utf-8"))

    def on_tick(job_id):
        job = ctx.jobs.get(job_id) if job_id else None
        if job is None:
            return gr.update(active=False), gr.update(), gr.update(), gr.update()
        p = job.progress or {}
        where = f" frame {p.get('step', 0)}/{p['total']}" if p.get("total") and p.get("task") == "frames" else ""
        where = where or (f" encoding {p.get('step', 0)}/{p['total']}" if p.get("total") else "")
        text = f"Job {job.id}: {job.status}{where}" + (f" - {job.error}" if job.error else "")
        if job.active:
            return gr.update(), text, gr.update(), gr.update()
        if job.status == "done":
            film = next((o for o in job.outputs if str(o).endswith((".mp4", ".gif"))), None)
            if film is not None:
                return (gr.update(active=False), text + f": {ctx.file_link(film)}", film,
                        f"Film: {ctx.file_link(film)}")
        return gr.update(active=False), text, gr.update(), gr.update()

    def on_load():
        """A studio restarted mid-render: show the newest storyboard job again."""
        job = ctx.jobs.latest(["storyboard"])
        if job is None:
            return None, gr.update(active=False)
        return job.id, gr.update(active=True)

    # ---------------------------------------------------------------- wiring
    g = ctx.guard
    refresh_btn.click(g(on_refresh), None, [model_box, tray_gallery])
    tray_gallery.select(g(on_pick), [table, model_box], [table, model_box, status])
    up_btn.click(g(lambda r, n: on_move(r, n, -1)), [table, row_no], [table, row_no])
    down_btn.click(g(lambda r, n: on_move(r, n, +1)), [table, row_no], [table, row_no])
    del_btn.click(g(lambda r, n: on_move(r, n, 0)), [table, row_no], [table, row_no])
    inputs = [model_box, table, name, fps, trunc, seed, close]
    save_btn.click(g(on_save), inputs, [yaml_view, command, files_md])
    preview_btn.click(g(on_preview), inputs, [preview, status, yaml_view, command, files_md])
    render_btn.click(g(on_render), inputs, [job_state, timer, status, command, yaml_view])
    timer.tick(g(on_tick), job_state, [timer, status, video, files_md], show_progress="hidden")
    gr.on(None, g(on_load), None, [job_state, timer])  # on page load: reattach to a running render
    # (the model list is refreshed by its button, not on load: an update could undo text being typed)
    link_views(ctx, tray_gallery, [], tray)
