"""Explore: pick a model, scan a seed grid, click to select, truncation, direction sliders,
style mixing, breeding of the selected images, and the tray.

Previews are light work done in-process (a small torch thread budget so a training job keeps
its cores): the focus image is re-rendered from its latent with the library's own pieces
(:func:`latents_from_seeds`, :func:`apply_edits`, :class:`Renderer`), exactly what ``generate``
does for one seed, so a slider gives a new picture in well under a second at 256 px. Actions that
make files call the library's command functions (``generate``, ``write_directions``,
``style_mix``, ``breed``) into ``art/explore/`` and show the equivalent command line.

Over 400 lines on purpose: one tab's page wiring (grid, focus, directions, mixing, breeding,
tray), each a few gradio callbacks that share the tab's state; the work itself is library calls.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...core.errors import NeuralbrushError, UsageError

N_SLIDERS = 6
_MODELS_LOCK = threading.Lock()
_MODELS: dict[tuple, "LoadedModel"] = {}
_MAX_MODELS = 2


# ------------------------------------------------------------------------------------------ models

@dataclass
class LoadedModel:
    """A generator loaded for previews: the MODEL text as the CLI would take it, and caches."""

    text: str  # workspace-relative path or store name (what the command line says)
    path: str  # what the library is given (absolute inside the workspace, or the store name)
    G: Any
    runtime: Any
    _identity: Any = None
    directions: dict = field(default_factory=dict)  # method -> (Directions, [Edit at amount 1])

    @property
    def resolution(self) -> int:
        return int(self.G.img_resolution)

    @property
    def has_w(self) -> bool:
        from ...latent.latents import has_w

        return has_w(self.G)

    def identity(self):
        from ...latent.directions import model_identity

        if self._identity is None:
            self._identity = model_identity(self.G)
        return self._identity

    def describe(self) -> str:
        G = self.G
        kind = f"StyleGAN2, w {G.w_dim} x {G.num_ws}" if self.has_w else "no w space (z only: DCGAN or lite)"
        return f"**{self.text}**: {self.resolution} px, z {G.z_dim}, {kind}, on {self.runtime.describe()}"


def model_picker(ws, prefix: str):
    """The model dropdown (workspace runs, newest first, or any name the resolver takes) and its
    "Refresh list" button, for the tabs that work on a GAN; call inside a ``gr.Row``."""
    import gradio as gr

    runs = model_choices(ws)  # newest first: the newest run is the default
    box = gr.Dropdown(choices=runs, value=runs[0] if runs else None, allow_custom_value=True,
                      label="Model: run folder, snapshot, weights-store name or .pkl (inside the workspace)",
                      elem_id=f"{prefix}-model", scale=4)
    refresh = gr.Button("Refresh list", elem_id=f"{prefix}-refresh", scale=1)
    return box, refresh


def bundled_models(names: tuple[str, ...]) -> list[str]:
    """The demo models bundled with neuralbrush (weights-store names), after the workspace's runs."""
    from ...weights import store

    return [n for n in names if store.find(n)]


def model_choices(ws) -> list[str]:
    """Run folders of the workspace that hold a GAN snapshot (newest first), workspace-relative, then the
    bundled demo GANs."""
    from ...gan.loading import gan_source

    out = []
    runs = sorted((p for p in ws.runs.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True) \
        if ws.runs.is_dir() else []
    for run in runs:
        try:
            gan_source(run)
        except (NeuralbrushError, OSError):
            continue
        out.append(ws.relative(run))
    return out + bundled_models(("blooms64-stylegan2", "blooms64-lite"))


def model_argument(ws, text: str) -> tuple[str, str]:
    """(what the page and command line call it, what the library loads) for a MODEL text: a path
    inside the workspace, or a weights-store name. Paths outside the workspace are refused."""
    from ...weights import store

    text = (text or "").strip()
    if not text:
        raise UsageError("choose a model first: a run folder, a snapshot (.safetensors), a weights-store name "
                         "or a .pkl inside the workspace")
    if text in store.CATALOGUE:
        return text, text
    path = ws.resolve(text, must_exist=True)
    return ws.relative(path), str(path)


def load(ws, text: str) -> LoadedModel:
    """The generator ``text`` names, loaded once (reloaded when its snapshot file changes)."""
    from ...core.device import resolve_runtime
    from ...gan.loading import gan_source
    from ...latent.render import load_model

    shown, arg = model_argument(ws, text)
    src = gan_source(arg)
    try:
        stamp = src.path.stat().st_mtime_ns
    except OSError:
        stamp = 0
    key = (str(src.path), stamp)
    with _MODELS_LOCK:
        if key in _MODELS:
            m = _MODELS[key]
            m.text = shown
            return m
    runtime = resolve_runtime("auto", "auto")
    G = load_model(arg, runtime)
    m = LoadedModel(shown, arg, G, runtime)
    with _MODELS_LOCK:
        while len(_MODELS) >= _MAX_MODELS:
            _MODELS.pop(next(iter(_MODELS)))
        _MODELS[key] = m
    return m


# ------------------------------------------------------------------------------------------ previews

def focus_latent(m: LoadedModel, item: dict, psi: float):
    """The latent of a candidate before edits: seeds are re-mapped at ``psi`` (as ``generate
    --seeds S --trunc PSI``); latent files are used as saved (as ``generate --w``)."""
    from ...latent.latents import latents_from_seeds, load_latents

    if item.get("seed") is not None:
        return latents_from_seeds(m.G, [int(item["seed"])], psi=float(psi))
    lat = load_latents(item["file"], m.G)
    return lat.select(int(item.get("index", 0)))


def slider_edits(m: LoadedModel, method: str | None, amounts) -> list:
    """The direction edits the sliders ask for (components 0..N-1, in standard deviations)."""
    if not method or method not in m.directions:
        return []
    _, unit = m.directions[method]
    return [e.with_amount(float(a)) for e, a in zip(unit, amounts) if a is not None and float(a) != 0.0]


def render_focus(m: LoadedModel, item: dict, psi: float, method: str | None, amounts):
    """(picture, latents after edits, edit history) of the focus item."""
    from ...latent.edits import edit_latents
    from ...latent.render import Renderer

    lat = focus_latent(m, item, psi)
    edits = slider_edits(m, method, amounts)
    hist = None
    if edits:
        lat, hist = edit_latents(lat, edits)
    space = "w" if m.has_w else "z"
    r = Renderer(m.G, m.runtime, psi=float(psi) if space == "z" and item.get("seed") is not None else 1.0)
    frame = r.frames(lat.in_space(space), space)[0]
    return frame, lat, hist


def directions_path(ws, m: LoadedModel, method: str) -> Path:
    """Where the directions of this model are cached: one folder per model identity and method."""
    return ws.art / "directions" / f"{m.identity().digest[:12]}-{method}" / "dirs.npz"


def ensure_directions(ws, m: LoadedModel, method: str, progress=None) -> tuple[Path, bool]:
    """Load (or compute once, as ``neuralbrush directions``) the directions for the sliders."""
    from ...latent.directions import Directions, write_directions
    from ...latent.edits import resolve_edits
    from ...latent.steer_options import DirectionsOptions

    if not m.has_w:
        raise UsageError("direction sliders move w, and this model is a DCGAN (z only)")
    path = directions_path(ws, m, method)
    made = False
    if path.is_file():
        Directions.load(path).check_model(m.identity())
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_directions(m.G, path, directions_options(method), m.runtime, model=m.text,
                         progress=progress or _quiet)
        made = True
    dirs = Directions.load(path)
    count = min(N_SLIDERS, len(dirs.components))
    unit, _ = resolve_edits(m.G, [f"{path}:{k}:1" for k in range(count)])
    m.directions[method] = (dirs, unit)
    return path, made


def directions_options(method: str):
    from ...latent.steer_options import DirectionsOptions

    # the sheet (a grid of 126 pictures) is left out: the sliders show each direction live
    return DirectionsOptions(method=method, samples=20_000, sheet_components=0)


# ------------------------------------------------------------------------------------------ page helpers

def numbered_folder(parent: Path, name: str) -> Path:
    """``parent/NNNNN-name`` with the next free number (one folder per action, like run folders)."""
    parent.mkdir(parents=True, exist_ok=True)
    nums = [int(p.name.split("-", 1)[0]) for p in parent.iterdir() if p.name.split("-", 1)[0].isdigit()]
    return parent / f"{max(nums, default=-1) + 1:05d}-{name}"


def seed_list_text(seeds) -> str:
    return ",".join(str(s) for s in seeds)


def _quiet(_event) -> None:
    """A progress presenter that shows nothing (no terminal bars in the studio's server)."""


def _candidates_gallery(cands: list[dict]) -> list:
    return [(c["image"], c["label"]) for c in cands]


def _selected_text(cands: list[dict], selected: list[int]) -> str:
    if not selected:
        return "Selected: none (click images in the grid to select them; the last one clicked is the focus)"
    return "Selected: " + ", ".join(cands[i]["label"] for i in selected if i < len(cands))


# ------------------------------------------------------------------------------------------ the tab

def build(ctx) -> None:
    import gradio as gr

    from ...latent.render import for_display
    from ..tray import Tray, link_views

    ws = ctx.workspace
    tray = Tray(ws.tray_dir)

    with gr.Row():
        model_box, refresh_btn = model_picker(ws, "explore")
        load_btn = gr.Button("Load model", variant="primary", elem_id="explore-load", scale=1)
    model_info = gr.Markdown("No model loaded.", elem_id="explore-model-info")
    with gr.Row():
        seeds_box = gr.Textbox("0-11", label="Seeds (e.g. 0-11,42)", elem_id="explore-seeds", scale=2)
        trunc = gr.Slider(0.0, 1.5, value=1.0, step=0.05, label="Truncation ψ (focus now; grid on Show seeds)",
                          elem_id="explore-trunc", scale=3)
        show_btn = gr.Button("Show seeds", variant="primary", elem_id="explore-show", scale=1)
    grid = gr.Gallery(label="Candidates: click to select (several for breeding)", columns=8, height="auto",
                      allow_preview=False, fit_columns=False, elem_id="explore-grid", object_fit="contain")
    selected_md = gr.Markdown(_selected_text([], []), elem_id="explore-selected")
    with gr.Row():
        with gr.Column(scale=1):
            focus = gr.Image(label="Focus", type="numpy", interactive=False, elem_id="explore-focus", height=320)
            focus_md = gr.Markdown("", elem_id="explore-focus-info")
            keep_btn = gr.Button("Keep in tray", elem_id="explore-keep")
        with gr.Column(scale=1):
            with gr.Row():
                method = gr.Radio(["sefa", "pca"], value="sefa", label="Directions", elem_id="explore-method")
                dirs_btn = gr.Button("Compute directions", elem_id="explore-directions")
            dirs_md = gr.Markdown("Directions: none yet (computed once per model, kept in art/directions/).",
                                  elem_id="explore-directions-info")
            sliders = [gr.Slider(-3.0, 3.0, value=0.0, step=0.1, label=f"direction {k} (std)",
                                 elem_id=f"explore-dir-{k}") for k in range(N_SLIDERS)]
    with gr.Accordion("Style mixing", open=False):
        with gr.Row():
            mix_rows = gr.Textbox("0,1", label="Rows: seeds that keep their coarse look", elem_id="explore-mix-rows")
            mix_cols = gr.Textbox("2,3", label="Columns: seeds that give their styles", elem_id="explore-mix-cols")
            mix_styles = gr.Textbox("0-3", label="Layers taken from the columns", elem_id="explore-mix-styles")
            mix_btn = gr.Button("Mix", elem_id="explore-mix")
        mix_img = gr.Image(label="Style-mixing grid", type="filepath", interactive=False, elem_id="explore-mix-grid")
    with gr.Accordion("Breeding: children of the selected images", open=True):
        with gr.Row():
            children = gr.Number(8, label="Children", precision=0, minimum=1, maximum=64, elem_id="explore-children")
            mutation = gr.Slider(0.0, 2.0, value=0.3, step=0.05, label="Mutation", elem_id="explore-mutation")
            crossover = gr.Radio(["layers", "blend"], value="layers", label="Crossover", elem_id="explore-crossover")
            breed_seed = gr.Number(0, label="Seed", precision=0, minimum=0, elem_id="explore-breed-seed")
            breed_btn = gr.Button("Breed selected", elem_id="explore-breed")
    command = gr.Textbox("", label="Equivalent command", lines=2, interactive=False, buttons=["copy"],
                         elem_id="explore-command")
    files_md = gr.Markdown("", elem_id="explore-files")
    with gr.Accordion("Tray: kept latents (art/tray/), used by Storyboard", open=True):
        tray_gallery = gr.Gallery(value=tray.gallery, label="Tray", columns=8, height=220, allow_preview=False,
                                  fit_columns=False, object_fit="contain", elem_id="explore-tray")
        with gr.Row():
            tray_remove = gr.Textbox("", label="Remove tray item (id)", elem_id="explore-tray-id", scale=3)
            remove_btn = gr.Button("Remove", elem_id="explore-tray-remove", scale=1)

    cands_state = gr.State([])  # candidates: {label, image, file, seed?, index}
    sel_state = gr.State([])  # selected candidate indices, in click order
    focus_state = gr.State(None)  # the focus candidate

    # ---------------------------------------------------------------- handlers
    def on_refresh():
        return gr.update(choices=model_choices(ws))

    def on_load(text):
        m = load(ws, text)
        info = m.describe()
        for meth in ("sefa", "pca"):
            if m.has_w and directions_path(ws, m, meth).is_file():
                ensure_directions(ws, m, meth)
        if m.directions:
            info += f"; directions ready: {', '.join(m.directions)}"
        return info

    def _grid(text, seeds, psi, progress=gr.Progress()):
        from ...latent.generate import generate
        from ...latent.options import GenerateOptions, parse_seeds

        m = load(ws, text)
        opts = GenerateOptions(seeds=str(seeds).strip(), trunc=str(float(psi)))
        opts.validate()
        seed_list = parse_seeds(opts.seeds)
        if len(seed_list) > 64:
            raise UsageError(f"{len(seed_list)} seeds; the explore grid shows at most 64 (use the command line "
                             "for bigger grids)")
        out = numbered_folder(ws.art / "explore", "seeds")
        def report(e):
            progress((e.step, e.total), desc="rendering seeds")

        res = generate(m.G, out, opts, m.runtime, model=m.text, progress=report)
        cands = [{"label": f"seed {s}", "image": str(p), "file": str(p.with_suffix(".npz")), "seed": s}
                 for s, p in zip(seed_list, res.images)]
        cmd = ctx.command("generate", opts, args=[m.text], extra={"-o": out})
        files = f"Files: {ctx.file_link(res.grid)} and one PNG + latent .npz per seed in {ws.relative(out)}/"
        return cands, cmd, files

    def on_show(text, seeds, psi, progress=gr.Progress()):
        cands, cmd, files = _grid(text, seeds, psi, progress)
        return (cands, [], None, _candidates_gallery(cands), _selected_text(cands, []), cmd, files)

    def on_select(evt: gr.SelectData, cands, selected):
        i = int(evt.index)
        if not cands or i >= len(cands):
            raise UsageError("that image is no longer in the grid; show the seeds again")
        selected = list(selected or [])
        if selected and selected[-1] == i:
            selected.remove(i)  # a second click on the focus deselects it
        else:
            if i in selected:
                selected.remove(i)
            selected.append(i)
        item = cands[selected[-1]] if selected else None
        seeds = [str(cands[j]["seed"]) for j in selected if cands[j].get("seed") is not None]
        half = max(1, len(seeds) // 2)
        rows = gr.update(value=",".join(seeds[:half])) if len(seeds) >= 2 else gr.update()
        cols = gr.update(value=",".join(seeds[half:])) if len(seeds) >= 2 else gr.update()
        return selected, item, _selected_text(cands, selected), rows, cols

    on_select.__annotations__["evt"] = gr.SelectData  # resolved now: gradio reads the hint to pass the click

    def _focus_text(item, psi) -> str:
        if item.get("seed") is not None:
            return f"Focus: {item['label']} at ψ {float(psi):g}"
        return f"Focus: {item['label']} (a saved latent: ψ does not apply)"

    def _focus_command(m, item, psi, meth, amounts) -> str:
        from ...latent.options import GenerateOptions

        edits = slider_edits(m, meth, amounts)
        words = []
        if edits:
            path = directions_path(ws, m, meth)
            rel = ws.relative(path)
            for k, a in enumerate(amounts):
                if a is not None and float(a) != 0:
                    words += ["--edit", f"{rel}:{k}:{float(a):+g}"]
        if item.get("seed") is not None:
            opts = GenerateOptions(seeds=str(item["seed"]), trunc=str(float(psi)))
        else:
            opts = GenerateOptions(w_file=ws.relative(item["file"]))
        return ctx.command("generate", opts, args=[m.text], extra=[*words, "-o", "art/explore/focus"])

    def on_focus_change(text, item, psi, meth, *amounts):
        if not item:
            return None, "", gr.update()
        m = load(ws, text)
        frame, _, _ = render_focus(m, item, psi, meth, amounts)
        return for_display([frame], 256)[0], _focus_text(item, psi), _focus_command(m, item, psi, meth, amounts)

    def on_directions(text, meth, progress=gr.Progress()):
        m = load(ws, text)

        def report(e):
            progress((e.step, e.total or 1), desc=f"directions: {e.task}")

        path, made = ensure_directions(ws, m, meth, progress=report)
        dirs, _ = m.directions[meth]
        share = dirs.explained[:N_SLIDERS]
        what = ", ".join(f"{k}: {100 * s:.1f}%" for k, s in enumerate(share))
        info = (f"Directions ({meth}) {'computed' if made else 'loaded'}: {ctx.file_link(path)}; share of w's "
                f"variance along each: {what}")
        from ...latent.steer_options import DirectionsOptions  # noqa: F401 (the command's options)

        cmd = ctx.command("directions", directions_options(meth), args=[m.text], extra={"-o": path})
        return info, cmd

    def on_keep(text, item, psi, meth, *amounts):
        if not item:
            raise UsageError("nothing to keep: click an image in the grid first")
        m = load(ws, text)
        frame, lat, hist = render_focus(m, item, psi, meth, amounts)
        label = item["label"] + (f" ψ{float(psi):g}" if item.get("seed") is not None and float(psi) != 1 else "")
        label += " edited" if hist is not None else ""
        kept = tray.add(lat, frame, label=label, model=m.text, source=ws.relative(item["file"]),
                        extra=hist.arrays() if hist is not None else None)
        gr.Info(f"kept {kept.id} in the tray")
        return tray.gallery(), f"Kept as {ctx.file_link(tray.latent_path(kept))} (tray item {kept.id})"

    def on_mix(text, rows, cols, styles, psi, progress=gr.Progress()):
        from ...latent.mix import style_mix
        from ...latent.options import MixOptions

        m = load(ws, text)
        opts = MixOptions(rows=rows.strip(), cols=cols.strip(), styles=styles.strip(), trunc=float(psi))
        rs, cs, _ = opts.validate(m.G.num_ws if m.has_w else None)
        if len(rs) * len(cs) > 64:
            raise UsageError("the explore page mixes at most 64 images at once; use the command line for more")
        out = numbered_folder(ws.art / "explore", "mix")
        res = style_mix(m.G, out, rows=opts.rows, cols=opts.cols, styles=opts.styles, trunc=opts.trunc,
                        runtime=m.runtime, model=m.text, progress=lambda e: progress((e.step, e.total), desc="mixing"))
        cmd = ctx.command("mix", opts, args=[m.text], extra={"-o": out})
        return str(res.grid), cmd, f"Files: {ctx.file_link(res.grid)} and mix-ROW-COL.png in {ws.relative(out)}/"

    def check_breed(text, cands, selected):
        load(ws, text)
        parents = [cands[i]["file"] for i in (selected or []) if i < len(cands)]
        if len(parents) < 2:
            raise UsageError("select at least two images in the grid to breed them (click them)")

    def on_breed(text, cands, selected, n, mut, cross, seed, progress=gr.Progress()):
        from ...latent.breed import breed
        from ...latent.steer_options import BreedOptions

        check_breed(text, cands, selected)
        m = load(ws, text)
        parents = [cands[i]["file"] for i in selected if i < len(cands)]
        opts = BreedOptions(parents=parents, children=int(n or 8), mutation=float(mut), crossover=str(cross),
                            seed=int(seed or 0))
        out = numbered_folder(ws.art / "explore", "breed")
        frames: list[np.ndarray] = []
        res_px = m.resolution

        def report(e):
            from ...core.progress import preview_of

            strip = preview_of(e)
            if strip is not None:  # the batch side by side: split it back into children
                frames.extend(np.split(strip, strip.shape[1] // res_px, axis=1))
            progress((e.step, e.total), desc="breeding")

        res = breed(m.G, out / "sheet.png", opts, m.runtime, model=m.text, progress=report)
        cands = [{"label": f"child {i}", "image": frames[i], "file": str(res.folder / f"{i:03d}.npz")}
                 for i in range(min(len(frames), res.count))]
        shown = dataclasses.replace(opts, parents=[ws.relative(p) for p in opts.parents])
        cmd = ctx.command("breed", shown, args=[m.text], extra={"-o": res.sheet})
        files = f"Files: {ctx.file_link(res.sheet)}, {ws.relative(res.latents)}, one latent per child in " \
                f"{ws.relative(res.folder)}/"
        return cands, [], None, _candidates_gallery(cands), _selected_text(cands, []), cmd, files

    def on_remove(item_id):
        item_id = (item_id or "").strip()
        if not item_id:
            raise UsageError("type the id of the tray item to remove (the number under its picture)")
        tray.remove(item_id)
        return tray.gallery(), ""

    # ---------------------------------------------------------------- wiring
    g = ctx.guard
    slider_inputs = [model_box, focus_state, trunc, method, *sliders]
    refresh_btn.click(g(on_refresh), None, model_box)
    load_btn.click(g(on_load), model_box, model_info)
    show_btn.click(g(on_show), [model_box, seeds_box, trunc],
                   [cands_state, sel_state, focus_state, grid, selected_md, command, files_md])
    grid.select(g(on_select), [cands_state, sel_state], [sel_state, focus_state, selected_md, mix_rows, mix_cols]
                ).then(g(on_focus_change), slider_inputs, [focus, focus_md, command], show_progress="hidden")
    for s in [trunc, *sliders]:
        s.change(g(on_focus_change), slider_inputs, [focus, focus_md, command], trigger_mode="always_last",
                 show_progress="hidden")
    dirs_btn.click(g(on_directions), [model_box, method], [dirs_md, command])
    keep = keep_btn.click(g(on_keep), slider_inputs, [tray_gallery, files_md])
    mix_btn.click(g(on_mix), [model_box, mix_rows, mix_cols, mix_styles, trunc], [mix_img, command, files_md])
    # checked first in an event without outputs: a refusal must not leave the grid under an error overlay
    breed_btn.click(g(check_breed), [model_box, cands_state, sel_state], None).success(
        g(on_breed), [model_box, cands_state, sel_state, children, mutation, crossover, breed_seed],
        [cands_state, sel_state, focus_state, grid, selected_md, command, files_md])
    remove = remove_btn.click(g(on_remove), tray_remove, [tray_gallery, tray_remove])
    link_views(ctx, tray_gallery, [keep, remove], tray)
    ctx.shared["explore_model"] = model_box
