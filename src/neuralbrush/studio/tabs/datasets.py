"""Datasets tab: build a training dataset (``dataset build``) or pix2pix pairs (``dataset pairs``)
from uploaded images/zips or a folder inside the workspace.

The build runs as a job in a worker process (:mod:`neuralbrush.studio.jobs`) calling
:func:`neuralbrush.datasets.build.build_dataset` / :func:`neuralbrush.datasets.pairs.build_pairs`
with the options dataclass the widgets were generated from, so ``WORKSPACE/datasets/`` holds
exactly what the CLI writes (``NAME.zip`` + ``NAME-report/`` for a dataset, ``NAME/`` for pairs).
The page then shows the contact sheet and every rejected file with its reason, read from the
report files on disk (the same view opens any dataset of the workspace later).
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

from ..forms import OptionsForm
from ..workspace import MAX_UPLOAD_BYTES

BUILD_MAIN = ("size", "crop", "min_size", "mirror", "dedupe")
BUILD_MORE = ("dedupe_threshold", "dedupe_difference", "labels_from_folders", "max_images", "pad_color",
              "background", "workers", "sample_count", "overwrite")
# The studio starts from values that work on the sample data (64 px blooms); the command shows them.
BUILD_START = {"size": 64, "min_size": 0}
PAIRS_MAIN = ("input", "size", "crop", "clusters", "thickness", "val_fraction")
PAIRS_MORE = ("pad_color", "min_size", "seed", "overwrite")
PAIRS_START = {"size": 64}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
REJECTED_HEADERS = ["file", "reason", "detail", "duplicate of"]
POLL_S = 0.4
BAR_WIDTH = 24


# ------------------------------------------------------------------------------------ the workspace

def list_datasets(ws: Any) -> list[str]:
    """The datasets of the workspace, as workspace-relative paths: ``datasets/NAME.zip`` and folders
    holding a dataset (``dataset.json`` or the NVlabs image folders), report folders left out."""
    root = Path(ws.datasets)
    found = []
    for p in sorted(root.iterdir()) if root.is_dir() else []:
        if p.name.startswith(".") or p.name.endswith("-report"):
            continue
        if (p.is_file() and p.suffix.lower() == ".zip") or (p.is_dir() and (
                (p / "dataset.json").is_file() or any(p.glob("[0-9][0-9][0-9][0-9][0-9]")))):
            found.append(ws.relative(p))
    return found


def list_image_folders(ws: Any) -> list[str]:
    """Folders under ``images/`` (the sample data, earlier uploads): likely sources."""
    root = Path(ws.images)
    if not root.is_dir():
        return []
    return [ws.relative(p) for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]


def _shown_path(ws: Any, text: str) -> str:
    """A file named by a report, relative to the workspace where it lies inside it."""
    path, sep, member = str(text).partition(".zip:")
    base = path + (".zip" if sep else "")
    try:
        if ws.contains(base) and Path(base).is_absolute():
            return ws.relative(base) + (":" + member if sep else "")
    except Exception:  # noqa: BLE001 - a name that is not a path stays as it is
        pass
    return str(text)


def dataset_view(ws: Any, rel: str | None) -> tuple[str | None, list[list[str]], str]:
    """(contact sheet, rejected rows, summary markdown) of a workspace dataset, read from its report
    (``NAME-report/`` of a build, the pairs folder's own files for pairs)."""
    if not rel:
        return None, [], ""
    path = ws.resolve(rel, must_exist=True)
    from ...datasets.build_output import report_dir_for

    pairs_doc = path / "dataset.json" if path.is_dir() else None
    if pairs_doc is not None and pairs_doc.is_file():
        try:
            doc = json.loads(pairs_doc.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            doc = {}
        if doc.get("format") == "neuralbrush-pairs":
            rows = [[_shown_path(ws, r.get("source", "")), r.get("reason", ""), r.get("detail", ""), ""]
                    for r in doc.get("rejected", [])]
            c = doc.get("counts", {})
            sheet = path / "contact_sheet.png"
            summary = (f"**{ws.relative(path)}**: pix2pix pairs ({doc.get('input')}, {doc.get('size')} px): "
                       f"{c.get('train', 0)} training, {c.get('val', 0)} validation, {c.get('rejected', 0)} rejected")
            return (str(sheet) if sheet.is_file() else None), rows, summary
    report = report_dir_for(path)
    rows = []
    csv_path = report / "rejected.csv"
    if csv_path.is_file():
        with open(csv_path, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                rows.append([_shown_path(ws, r.get("path", "")), r.get("reason", ""), r.get("detail", ""),
                             _shown_path(ws, r.get("duplicate_of", "")) if r.get("duplicate_of") else ""])
    summary = f"**{ws.relative(path)}**"
    try:
        s = json.loads((report / "summary.json").read_text(encoding="utf-8"))
        reasons = ", ".join(f"{n} {r}" for r, n in (s.get("rejected_by_reason") or {}).items())
        summary += (f": {s.get('accepted', 0)} of {s.get('candidates', 0)} images accepted, {s.get('written', 0)} "
                    f"written, {s.get('rejected', 0)} rejected" + (f" ({reasons})" if reasons else "")
                    + f", {s.get('seconds', 0)} s")
    except (OSError, ValueError):
        summary += ": no report found (made outside neuralbrush?)"
    sheet = report / "contact_sheet.png"
    return (str(sheet) if sheet.is_file() else None), rows, summary


def keep_uploads(ws: Any, files: list[str] | None, name: str) -> Path | None:
    """Copy uploaded images/zips into ``images/<name>-upload[-N]/`` (a new folder per build, so the
    command shown names exactly these files); files over the upload cap are refused in one sentence.
    Whether each one is a usable image is the build's to say (its rejected table, with reasons)."""
    from ...core.errors import UsageError

    if not files:
        return None
    for f in files:
        size = Path(f).stat().st_size
        if size > MAX_UPLOAD_BYTES:
            raise UsageError(f"{Path(f).name} is {size / 2**20:.0f} MB, more than the studio's upload limit of "
                             f"{MAX_UPLOAD_BYTES / 2**20:.0f} MB; copy big files into the workspace's images/ folder")
    dest = Path(ws.images) / f"{name}-upload"
    n = 1
    while dest.exists():
        dest = Path(ws.images) / f"{name}-upload-{n}"
        n += 1
    dest.mkdir(parents=True)
    for f in files:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(f).name).lstrip(".") or "upload"
        target = dest / base
        k = 1
        while target.exists():
            target = dest / f"{Path(base).stem}-{k}{Path(base).suffix}"
            k += 1
        shutil.copyfile(f, target)
    return dest


def resolve_sources(ctx: Any, files: list[str] | None, folder: str, name: str) -> list[Path]:
    """The build's sources: a workspace folder (or file) typed in, and/or the uploads (kept in images/)."""
    sources: list[Path] = []
    for part in [p for p in re.split(r"[,\n]", folder or "") if p.strip()]:
        sources.append(ctx.workspace.resolve(part.strip(), must_exist=True))
    kept = keep_uploads(ctx.workspace, files, name)
    if kept is not None:
        sources.append(kept)
    if not sources:
        ctx.fail("upload images or a zip, or name a folder inside the workspace (e.g. images/blooms)")
    return sources


def check_name(ctx: Any, name: str) -> str:
    name = (name or "").strip()
    if name.lower().endswith(".zip"):
        name = name[:-4]
    if not NAME_RE.match(name) or name.endswith("-report"):
        ctx.fail(f"the dataset name {name!r} should be letters, digits, '-', '_' or '.' (up to 64), e.g. blooms64")
    return name


# ------------------------------------------------------------------------------------ job progress

def progress_text(job: Any, runner: Any) -> str:
    """One markdown line for a job: queued behind what, step/total as a bar, or how it ended."""
    if job is None:
        return ""
    if job.status == "queued":
        ahead = [j.title for j in runner.queue() if j.status == "running" and j.device == job.device and j.heavy]
        return f"**Queued** behind {', '.join(ahead)}" if ahead else "**Queued**"
    p = job.progress or {}
    if job.status == "running":
        step, total = p.get("step") or 0, p.get("total")
        if total:
            filled = int(BAR_WIDTH * min(step / total, 1.0))
            return f"**Running** `{'#' * filled}{'.' * (BAR_WIDTH - filled)}` {step}/{total} {p.get('message', '')}"
        return "**Running** (starting the worker...)"
    if job.status == "done":
        return "**Done**"
    if job.status == "failed":
        return f"**Failed:** {job.error}"
    return f"**{job.status.capitalize()}**" + (f": {job.error}" if job.error else "")


def follow(ctx: Any, job_id: str):
    """Yield the job as it moves (queued, running, finished), until it has finished."""
    from ..jobs import FINISHED

    while True:
        job = ctx.jobs.get(job_id)
        yield job
        if job is None or job.status in FINISHED:
            return
        time.sleep(POLL_S)


# ------------------------------------------------------------------------------------ the tab

def build(ctx: Any) -> None:
    import gradio as gr

    from ...datasets.build_options import BuildOptions
    from ...datasets.pairs import PairsOptions

    ws = ctx.workspace
    gr.Markdown("Turn a folder of pictures into a training dataset: every file is checked, cropped (or "
                "face-aligned) and resized; the ones that cannot be used are listed with the reason. The result "
                "goes to `datasets/` exactly as `neuralbrush dataset build` writes it.")
    with gr.Row():
        with gr.Column(scale=1):
            with gr.Tab("Dataset", elem_id="ds-build-tab"):
                b_files = gr.File(label="Upload images or zips", file_count="multiple",
                                  file_types=["image", ".zip"], elem_id="ds-upload")
                b_folder = gr.Dropdown(choices=list_image_folders(ws), value=None, allow_custom_value=True,
                                       label="...or a folder inside the workspace", elem_id="ds-folder",
                                       info="e.g. images/blooms (folders are searched recursively)")
                b_name = gr.Textbox(label="Dataset name", value="blooms64", elem_id="ds-name",
                                    info="written to datasets/NAME.zip, the report to datasets/NAME-report/")
                b_form = OptionsForm(BuildOptions, BUILD_MAIN, values=BUILD_START, elem_prefix="ds-opt-")
                with gr.Accordion("More options", open=False):
                    b_more = OptionsForm(BuildOptions, BUILD_MORE, values=BUILD_START, elem_prefix="ds-opt-")
                b_btn = gr.Button("Build dataset", variant="primary", elem_id="ds-build")
            with gr.Tab("pix2pix pairs", elem_id="ds-pairs-tab"):
                gr.Markdown("Aligned pairs for pix2pix: the input derived from each photo (edges or colour "
                            "clusters) on the left, the photo on the right (`neuralbrush dataset pairs`).")
                p_files = gr.File(label="Upload photos or zips", file_count="multiple",
                                  file_types=["image", ".zip"], elem_id="pairs-upload")
                p_folder = gr.Dropdown(choices=list_image_folders(ws), value=None, allow_custom_value=True,
                                       label="...or a folder inside the workspace", elem_id="pairs-folder")
                p_name = gr.Textbox(label="Pairs name", value="photos-edges", elem_id="pairs-name",
                                    info="written to the folder datasets/NAME/")
                p_form = OptionsForm(PairsOptions, PAIRS_MAIN, values=PAIRS_START, elem_prefix="pairs-opt-")
                with gr.Accordion("More options", open=False):
                    p_more = OptionsForm(PairsOptions, PAIRS_MORE, values=PAIRS_START, elem_prefix="pairs-opt-")
                p_btn = gr.Button("Make pairs", variant="primary", elem_id="pairs-build")
        with gr.Column(scale=1):
            command = gr.Textbox(label="Equivalent command (run it from the workspace folder)", interactive=False,
                                 buttons=["copy"], elem_id="ds-command")
            status = gr.Markdown(elem_id="ds-status")
            shown = gr.Dropdown(choices=list_datasets(ws), value=None, label="Show a dataset of the workspace",
                                elem_id="ds-show")
            summary = gr.Markdown(elem_id="ds-summary")
            sheet = gr.Image(label="Contact sheet", type="filepath", interactive=False, elem_id="ds-contact-sheet")
            rejected = gr.Dataframe(headers=REJECTED_HEADERS, value=[], label="Rejected files and why",
                                    interactive=False, wrap=True, elem_id="ds-rejected")

    b_inputs = [b_files, b_folder, b_name, *b_form.inputs(), *b_more.inputs()]
    p_inputs = [p_files, p_folder, p_name, *p_form.inputs(), *p_more.inputs()]
    nb, np_ = len(b_form.names), len(p_form.names)

    def build_plan(files, folder, name, *values, keep: bool):
        """(sources, output, options, command) of a dataset build; uploads kept only when ``keep``."""
        name = check_name(ctx, name)
        opts = b_form.options(values[:nb], **b_more.values(values[nb:]))
        output = Path(ws.datasets) / f"{name}.zip"
        if keep:
            sources = resolve_sources(ctx, files, folder, name)
        else:
            sources = [Path(p.strip()) for p in re.split(r"[,\n]", folder or "") if p.strip()] or \
                [Path(ws.images) / f"{name}-upload"]
        cmd = ctx.command("dataset build", opts, args=sources, extra={"-o": output})
        return sources, output, opts, cmd

    def pairs_plan(files, folder, name, *values, keep: bool):
        name = check_name(ctx, name)
        opts = p_form.options(values[:np_], **p_more.values(values[np_:]))
        out = Path(ws.datasets) / name
        if keep:
            sources = resolve_sources(ctx, files, folder, name)
        else:
            sources = [Path(p.strip()) for p in re.split(r"[,\n]", folder or "") if p.strip()] or \
                [Path(ws.images) / f"{name}-upload"]
        cmd = ctx.command("dataset pairs", opts, args=sources, extra={"-o": out})
        return sources, out, opts, cmd

    def preview_command(plan):
        def show(*args):
            try:
                return plan(*args, keep=False)[3]
            except Exception as e:  # noqa: BLE001 - the box says what is wrong instead of a command
                from ..app import one_sentence

                return f"# {e.message if isinstance(e, gr.Error) else one_sentence(e)}"
        return show

    def run(kind: str, plan, *args):
        sources, output, opts, cmd = plan(*args, keep=True)
        exists = output.exists()
        if exists and not opts.overwrite and (kind == "dataset" or any(output.glob("train/*.png"))
                                              or (output / "dataset.json").exists()):
            ctx.fail(f"{ws.relative(output)} already exists; choose another name or tick Overwrite")
        if kind == "dataset":
            target, title = "neuralbrush.datasets.build:build_dataset", f"dataset {ws.relative(output)}"
        else:
            target, title = "neuralbrush.datasets.pairs:build_pairs", f"pairs {ws.relative(output)}"
        job = ctx.jobs.submit(kind, target, sources, output, opts, title=title, command=cmd)
        skip = gr.skip()
        for job in follow(ctx, job.id):
            text = progress_text(job, ctx.jobs)
            if job is None or job.status not in ("done", "failed", "cancelled", "stopped", "interrupted"):
                yield cmd, text, skip, skip, skip, skip
        rel = ws.relative(output)
        if job is not None and job.status == "done":
            image, rows, info = dataset_view(ws, rel)
            done = f"**Done**: {ctx.file_link(output)}" + (f" ({len(rows)} file(s) rejected, listed below)"
                                                           if rows else "")
            yield (cmd, done, gr.update(choices=list_datasets(ws), value=rel), info, image, rows)
        else:
            yield cmd, progress_text(job, ctx.jobs), skip, skip, skip, skip

    outputs = [command, status, shown, summary, sheet, rejected]
    def run_build(*args):
        yield from run("dataset", build_plan, *args)

    def run_pairs(*args):
        yield from run("pairs", pairs_plan, *args)

    b_btn.click(ctx.guard(run_build), b_inputs, outputs)
    p_btn.click(ctx.guard(run_pairs), p_inputs, outputs)
    for comp in b_inputs[1:]:
        comp.change(preview_command(build_plan), b_inputs, command, show_progress="hidden")
    for comp in p_inputs[1:]:
        comp.change(preview_command(pairs_plan), p_inputs, command, show_progress="hidden")

    def show_dataset(rel):
        image, rows, info = dataset_view(ws, rel)
        return info, image, rows

    shown.change(ctx.guard(show_dataset), shown, [summary, sheet, rejected])
    shown.focus(lambda: gr.update(choices=list_datasets(ws)), None, shown, show_progress="hidden")
    for box in (b_folder, p_folder):
        box.focus(lambda: gr.update(choices=list_image_folders(ws)), None, box, show_progress="hidden")
