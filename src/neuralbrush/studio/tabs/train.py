"""Train tab: start StyleGAN2-ADA, DCGAN or pix2pix training (from scratch, transfer from a model,
or continuing a run) as a worker-process job, and watch any run of the workspace live.

Starting calls :func:`neuralbrush.gan.train.train` / :func:`neuralbrush.pix2pix.train.train` (or
their ``resume``) through the job runner with the options dataclass the widgets were generated
from, ``outdir`` = ``WORKSPACE/runs``: the run folder is the CLI's (``runs/NNNNN-<data>-<cfg>/``).
The live view reads only the run folder (newest sample grid, ``progress.gif``, ``stats.jsonl``)
and the job file (step, kimg, stop requested), so a closed tab or a restarted studio shows a
running training again at once, and runs made by the CLI show the same way. Stop asks the
trainer to write a snapshot and end (:meth:`neuralbrush.studio.jobs.JobRunner.stop`).

Over 400 lines on purpose: the start form for three trainers and the live run view share the
tab's state and refresh timer; the training itself is the library's, run as a job.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from ..forms import OptionsForm
from .datasets import list_datasets

TRAINERS = ("StyleGAN2-ADA", "DCGAN", "pix2pix")
MODES = ("from scratch", "transfer from a model", "continue a run")
NEWEST = "newest"
REFRESH_S = 1.5
GAN_MAIN = ("cfg", "res", "kimg", "minutes", "batch", "mirror", "aug", "tick", "snap", "metrics", "seed")
GAN_MORE = ("tick_minutes", "snap_minutes", "gamma", "glr", "dlr", "map_depth", "cbase", "cmax", "mbstd", "ema_kimg",
            "style_mixing", "pl_weight",
            "p", "target", "ada_kimg", "freezed", "keep", "grid", "metric_images", "workers", "threads", "cond",
            "device", "precision")
# Starting values for a laptop: the CPU-sized preset for ten minutes (the command shows them).
GAN_START = {"cfg": "small", "minutes": 10.0}
P2P_MAIN = ("input", "size", "epochs", "minutes", "batch", "arch", "flip", "holdout", "snap_epochs", "snap_minutes",
            "seed")
P2P_MORE = ("clusters", "epochs_decay", "ngf", "ndf", "n_layers", "norm", "dropout", "gan_loss", "lambda_l1", "lr",
            "scale_max", "keep", "max_images", "device", "precision")
P2P_START = {"size": 64, "minutes": 10.0}
GAN_LENGTH = ("kimg", "minutes")          # what a continued run takes from the form
P2P_LENGTH = ("epochs", "epochs_decay", "minutes")
TRAIN_KINDS = ("train", "pix2pix-train")


# ------------------------------------------------------------------------------------ runs and jobs

def list_runs(ws: Any) -> list[Path]:
    """The run folders of the workspace, newest (highest number) first."""
    from ...core.runs import run_dirs

    return list(reversed(run_dirs(ws.runs)))


def job_of_run(runner: Any, run_dir: Path) -> Any:
    """The newest training job that wrote ``run_dir`` (None for a run made outside the studio)."""
    target = str(run_dir.resolve())
    jobs = [j for j in runner.jobs(TRAIN_KINDS) if j.run_dir and str(Path(j.run_dir).resolve()) == target]
    return jobs[-1] if jobs else None


def run_choices(ws: Any, runner: Any) -> list[tuple[str, str]]:
    active = {str(Path(j.run_dir).resolve()) for j in runner.jobs(TRAIN_KINDS) if j.active and j.run_dir}
    choices = [("newest run", NEWEST)]
    for run in list_runs(ws):
        label = run.name + (" (training)" if str(run.resolve()) in active else "")
        choices.append((label, ws.relative(run)))
    return choices


def shown_run(ws: Any, runner: Any, choice: str | None) -> tuple[Path | None, Any]:
    """(run folder, its job) the live view shows: ``newest`` prefers the newest active training job
    (whose folder may not exist yet: then the run is None and the job says it is starting)."""
    if choice and choice != NEWEST:
        run = ws.resolve(choice, must_exist=True)
        return run, job_of_run(runner, run)
    jobs = runner.jobs(TRAIN_KINDS)
    active = [j for j in jobs if j.active]
    if active:
        job = active[-1]
        return (Path(job.run_dir) if job.run_dir else None), job
    runs = list_runs(ws)
    if not runs:
        return None, None
    return runs[0], job_of_run(runner, runs[0])


# ------------------------------------------------------------------------------------ what the view shows

def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def newest_grid(run: Path) -> tuple[Path | None, str]:
    """The newest sample grid of a run and a caption saying where in training it was made."""
    from ...core.training import grid_frames, run_trainer

    frames = grid_frames(run)
    if not frames:
        return None, "no sample grid yet"
    newest = frames[-1]
    digits = "".join(c for c in newest.stem if c.isdigit())
    if not digits:
        return newest, "sample grid at the start"
    count = int(digits)
    if newest.parent.name == "progress":  # frames are numbered by images shown (GAN) or steps (pix2pix)
        what = f"step {count}" if run_trainer(run) == "pix2pix" else f"kimg {count / 1000:.2f}"
    else:
        what = f"{'step' if run_trainer(run) == 'pix2pix' else 'kimg'} {count}"
    return newest, f"sample grid at {what}"


def status_text(ws: Any, run: Path | None, job: Any) -> str:
    """One markdown paragraph: the job's state, kimg (or step) of its total, speed and ETA."""
    from ...core.runs import read_stats, snapshot_files

    lines = []
    if job is not None:
        p = job.progress or {}
        unit = p.get("unit") or ("step" if job.kind == "pix2pix-train" else "kimg")
        count = p.get("count")
        step, total = p.get("step") or 0, p.get("total") or 0
        if job.status == "queued":
            lines.append(f"**Queued** ({job.title}): waits for the running job on {job.device}")
        elif job.status == "running" and job.stop_requested:
            lines.append("**Stopping**: the trainer writes a snapshot, then ends")
        elif job.status == "running" and count is None:
            lines.append(f"**Starting** {job.title}: loading the data and building the networks")
        elif job.status == "running":
            where = f"{unit} {count:.2f}" if unit == "kimg" else f"step {int(count)}"
            eta = ""
            if total and step:
                started = job.started or p.get("time", time.time())
                spent = max(p.get("time", time.time()) - started, 1e-6)
                eta = f" · ETA {_duration((total - step) * spent / step)}"
            pct = f" ({100 * min(step / total, 1):.0f}%)" if total else ""
            lines.append(f"**Training** {where}{pct}{eta} · job `{job.id}`")
        elif job.status == "failed":
            lines.append(f"**Failed:** {job.error}")
        else:
            lines.append(f"**{job.status.capitalize()}**" + (f": {job.error}" if job.error else ""))
    if run is not None:
        rows = read_stats(run)
        last = next((r for r in reversed(rows) if "kimg" in r or "epoch" in r), None)
        snaps = snapshot_files(run)
        if job is None:
            lines.append("Not training from this studio (a finished run, or one the command line runs).")
        facts = [f"run `{ws.relative(run)}`"]
        if last is not None and "kimg" in last:
            facts.append(f"kimg {last['kimg']:.2f}" + (f", {last['sec_per_kimg']:.1f} s/kimg"
                                                       if "sec_per_kimg" in last else ""))
        elif last is not None:
            facts.append(f"step {last.get('step')}, epoch {last.get('epoch')}")
        facts.append(f"newest snapshot: {snaps[-1].name}" if snaps else "no snapshot yet")
        lines.append(" · ".join(facts))
    elif job is None:
        lines.append("No runs in this workspace yet: start one on the left.")
    return "\n\n".join(lines)


def plot_frames(run: Path | None) -> tuple[Any, Any]:
    """(losses, metrics) of ``stats.jsonl`` as long tables (x, value, series) for gr.LinePlot."""
    import pandas as pd

    from ...core.runs import read_stats

    empty = pd.DataFrame({"x": [], "value": [], "series": []})
    if run is None:
        return empty, empty
    losses, metrics = [], []
    for row in read_stats(run):
        x = row.get("kimg", row.get("step"))
        if x is None:
            continue
        for key, value in row.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                continue
            if key.startswith("loss"):
                losses.append((float(x), float(value), key))
            elif key.startswith("metrics/") or key.startswith("val_L1") or key.startswith("mean_image_L1"):
                metrics.append((float(x), float(value), key.removeprefix("metrics/")))
    as_frame = lambda rows: pd.DataFrame(rows, columns=["x", "value", "series"]) if rows else empty  # noqa: E731
    return as_frame(losses), as_frame(metrics)


def run_files(ctx: Any, run: Path | None) -> str:
    from ...core.runs import snapshot_files

    if run is None:
        return ""
    links = []
    snaps = snapshot_files(run)
    if snaps:
        links.append(ctx.file_link(snaps[-1], snaps[-1].name))
    for name in ("progress.mp4", "training_options.json", "stats.jsonl", "log.txt"):
        if (run / name).is_file():
            links.append(ctx.file_link(run / name, name))
    return "Files: " + " · ".join(links) if links else ""


def view_signature(run: Path | None, job: Any) -> tuple:
    """What changes when the pictures or plots would: skip re-sending them otherwise."""
    def stamp(p: Path) -> tuple:
        try:
            st = p.stat()
            return (st.st_size, st.st_mtime_ns)
        except OSError:
            return ()

    if run is None:
        return (None,)
    grid, _ = newest_grid(run)
    return (str(run), str(grid), stamp(run / "stats.jsonl"), stamp(run / "progress.gif"))


# ------------------------------------------------------------------------------------ the tab

def build(ctx: Any) -> None:
    import gradio as gr

    from ...gan.presets import TrainOptions as GanOptions
    from ...pix2pix.options import TrainOptions as P2POptions

    ws, runner = ctx.workspace, ctx.jobs
    gr.Markdown("Train a generator on a dataset of the workspace. The run goes to `runs/` exactly as "
                "`neuralbrush train` / `neuralbrush pix2pix train` write it; it keeps training when this page "
                "closes or the studio restarts, and the view on the right comes back from its folder.")
    with gr.Row():
        with gr.Column(scale=2):
            trainer = gr.Radio(list(TRAINERS), value=TRAINERS[0], label="Trainer", elem_id="train-trainer")
            mode = gr.Radio(list(MODES), value=MODES[0], label="Start", elem_id="train-mode")
            with gr.Row():
                dataset = gr.Dropdown(choices=list_datasets(ws), value=None, allow_custom_value=True, scale=4,
                                      label="Dataset (in the workspace)", elem_id="train-dataset",
                                      info="datasets/NAME.zip from the Datasets tab, or a pairs folder for pix2pix")
            source = gr.Textbox(label="Transfer from", visible=False, elem_id="train-source",
                                info="a weights-store name (ffhq256, pix2pix-edges2shoes...), or a .pkl / .pth / "
                                     "snapshot file inside the workspace")
            continued = gr.Dropdown(choices=[c for c in run_choices(ws, runner) if c[1] != NEWEST], value=None,
                                    visible=False, label="Run to continue", elem_id="train-continue-run",
                                    info="continues in place from its newest snapshot; only the run length below "
                                         "may change")
            with gr.Group(visible=True) as gan_box:
                gan_form = OptionsForm(GanOptions, GAN_MAIN, values=GAN_START, elem_prefix="train-gan-",
                                       labels={"cfg": "Preset", "res": "Resolution", "kimg": "kimg",
                                               "tick": "Tick (kimg)", "snap": "Snapshot every (ticks)"},
                                       infos={"tick": "Progress/stats interval in kimg (empty: by the clock, see "
                                                      "More options)"})
                with gr.Accordion("More options", open=False):
                    gan_more = OptionsForm(GanOptions, GAN_MORE, values=GAN_START, elem_prefix="train-gan-")
            with gr.Group(visible=False) as p2p_box:
                p2p_form = OptionsForm(P2POptions, P2P_MAIN, values=P2P_START, elem_prefix="train-p2p-")
                with gr.Accordion("More options", open=False):
                    p2p_more = OptionsForm(P2POptions, P2P_MORE, values=P2P_START, elem_prefix="train-p2p-")
            start_btn = gr.Button("Start training", variant="primary", elem_id="train-start")
            command = gr.Textbox(label="Equivalent command (run it from the workspace folder)", interactive=False,
                                 buttons=["copy"], elem_id="train-command")
        with gr.Column(scale=3):
            with gr.Row():
                run_pick = gr.Dropdown(choices=run_choices(ws, runner), value=NEWEST, label="Run", scale=4,
                                       elem_id="train-run")
                stop_btn = gr.Button("Stop (snapshot, then stop)", variant="stop", scale=1, elem_id="train-stop")
                resume_btn = gr.Button("Continue this run", scale=1, elem_id="train-resume")
            status = gr.Markdown(elem_id="train-status")
            with gr.Row():
                grid = gr.Image(label="Newest sample grid", type="filepath", interactive=False, height=340,
                                elem_id="train-grid")
                animation = gr.Image(label="Progress animation", type="filepath", interactive=False, height=340,
                                     elem_id="train-animation")
            with gr.Row():
                loss_plot = gr.LinePlot(x="x", y="value", color="series", label="Losses", x_title="kimg / step",
                                        elem_id="train-loss", height=260)
                metric_plot = gr.LinePlot(x="x", y="value", color="series", label="Metrics (SWD, FID, L1)",
                                          x_title="kimg / step", elem_id="train-metrics", height=260)
            files = gr.Markdown(elem_id="train-files")
            run_command = gr.Textbox(label="How this run was started", interactive=False, buttons=["copy"],
                                     elem_id="train-run-command")
            signature = gr.State(None)
            choices_state = gr.State(None)
            timer = gr.Timer(REFRESH_S)

    form_inputs = [trainer, mode, dataset, source, continued, *gan_form.inputs(), *gan_more.inputs(),
                   *p2p_form.inputs(), *p2p_more.inputs()]
    cuts = [len(gan_form.names), len(gan_more.names), len(p2p_form.names), len(p2p_more.names)]

    def split(values):
        out, i = [], 0
        for n in cuts:
            out.append(values[i:i + n])
            i += n
        return out

    # -- what would run ------------------------------------------------------------------------
    def transfer_source(kind: str, text: str) -> str:
        text = (text or "").strip()
        if not text:
            ctx.fail("name the model to transfer from: a weights-store name or a file in the workspace")
        looks_like_path = "/" in text or "\\" in text or Path(text).suffix.lower() in (".pkl", ".pth", ".safetensors")
        if looks_like_path or (ws.root / text).exists():
            text = str(ctx.resolve(text, must_exist=True))
        if kind == "pix2pix":
            from ...pix2pix.snapshot import resolve_resume

            resolve_resume(text)  # one sentence when it names nothing pix2pix can start from
        else:
            from ...gan.loading import gan_source

            gan_source(text)
        return text

    def plan(trainer_name, mode_name, data, src, run_rel, *values):
        """(job kind, target, args, kwargs, title, command) of what Start would do."""
        from ...core.training import run_trainer

        gan_vals, gan_more_vals, p2p_vals, p2p_more_vals = split(values)
        if mode_name == MODES[2]:  # continue a run in place
            if not run_rel:
                ctx.fail("choose the run to continue")
            run = ctx.resolve(run_rel, must_exist=True)
            kind = run_trainer(run)
            if kind == "pix2pix":
                given = {**p2p_form.values(p2p_vals), **p2p_more.values(p2p_more_vals)}
                overrides = {k: given[k] for k in P2P_LENGTH if given.get(k) is not None}
                shown = P2POptions(resume=str(run), **overrides)
                cmd = ctx.command("pix2pix train", shown, skip={"data"})
                return ("pix2pix-train", "neuralbrush.pix2pix.train:resume", [run], overrides,
                        f"pix2pix {run.name} (continued)", cmd)
            given = {**gan_form.values(gan_vals), **gan_more.values(gan_more_vals)}
            overrides = {k: given[k] for k in GAN_LENGTH if given.get(k) is not None}
            if len(overrides) == 2:
                ctx.fail("give either kimg or minutes to continue a run, not both")
            shown = GanOptions(resume=str(run), **overrides)
            cmd = ctx.command("train", shown, skip={"data"})
            return "train", "neuralbrush.gan.train:resume", [run], overrides, f"train {run.name} (continued)", cmd
        if not data:
            ctx.fail("choose a dataset (build one in the Datasets tab)")
        data_path = ctx.resolve(data, must_exist=True)
        if trainer_name == "pix2pix":
            resume = transfer_source("pix2pix", src) if mode_name == MODES[1] else None
            opts = p2p_form.options(p2p_vals, **p2p_more.values(p2p_more_vals), data=str(data_path),
                                    outdir=str(ws.runs), resume=resume)
            from ...pix2pix.train import validate_options

            validate_options(opts)
            return ("pix2pix-train", "neuralbrush.pix2pix.train:train", [opts], {},
                    f"pix2pix on {data_path.name}", ctx.command("pix2pix train", opts))
        resume = transfer_source("gan", src) if mode_name == MODES[1] else None
        given = gan_form.values(gan_vals)
        if given.get("kimg") is not None and given.get("minutes") is not None:
            ctx.fail("give either kimg or minutes, not both")
        opts = gan_form.options(gan_vals, **gan_more.values(gan_more_vals), data=str(data_path),
                                outdir=str(ws.runs), resume=resume,
                                arch="dcgan" if trainer_name == "DCGAN" else "stylegan2")
        return ("train", "neuralbrush.gan.train:train", [opts], {}, f"{trainer_name} on {data_path.name}",
                ctx.command("train", opts))

    def preview_command(*values):
        try:
            return plan(*values)[5]
        except Exception as e:  # noqa: BLE001 - the box says what is missing instead of a command
            from ..app import one_sentence

            return f"# {e.message if isinstance(e, gr.Error) else one_sentence(e)}"

    def start(*values):
        kind, target, args, kwargs, title, cmd = plan(*values)
        job = runner.submit(kind, target, *args, title=title, command=cmd, **kwargs)
        shown = ws.relative(args[0]) if kind and isinstance(args[0], Path) else NEWEST
        return cmd, gr.update(choices=run_choices(ws, runner), value=shown), None, \
            f"**Submitted** {job.title} (job `{job.id}`)"

    # -- the live view -------------------------------------------------------------------------
    def refresh(choice, old_signature, old_choices):
        if not choice or not ws.contains(choice) or not (ws.root / choice).is_dir():
            choice = NEWEST  # a run deleted meanwhile (or a typed name that is none): the newest one
        run, job = shown_run(ws, runner, choice)
        text = status_text(ws, run, job)
        choices = run_choices(ws, runner)
        pick = gr.update(choices=choices) if choices != old_choices else gr.skip()
        sig = view_signature(run, job)
        how = job.command if job is not None and job.command else ""
        if sig == old_signature:
            skip = gr.skip()
            return pick, text, skip, skip, skip, skip, skip, how, sig, choices
        picture, caption = newest_grid(run) if run is not None else (None, "")
        gif = run / "progress.gif" if run is not None and (run / "progress.gif").is_file() else None
        losses, metrics = plot_frames(run)
        return (pick, text, gr.update(value=str(picture) if picture else None, label=caption or "Newest sample grid"),
                str(gif) if gif else None, losses, metrics, run_files(ctx, run), how, sig, choices)

    live_outputs = [run_pick, status, grid, animation, loss_plot, metric_plot, files, run_command, signature,
                    choices_state]
    timer.tick(ctx.guard(refresh), [run_pick, signature, choices_state], live_outputs, show_progress="hidden")
    run_pick.change(ctx.guard(refresh), [run_pick, gr.State(None), choices_state], live_outputs,
                    show_progress="hidden")

    def stop(choice):
        run, job = shown_run(ws, runner, choice)
        if job is None or not job.active:
            ctx.fail("this run is not training from this studio, so there is nothing to stop")
        runner.stop(job.id)
        return status_text(ws, run, runner.get(job.id))

    def continue_shown(choice, *values):
        run, job = shown_run(ws, runner, choice)
        if run is None:
            ctx.fail("no run to continue yet")
        if job is not None and job.active:
            ctx.fail(f"{run.name} is training already")
        values = list(values)
        values[1], values[4] = MODES[2], ws.relative(run)
        return start(*values)

    start_outputs = [command, run_pick, signature, status]
    start_btn.click(ctx.guard(start), form_inputs, start_outputs)
    stop_btn.click(ctx.guard(stop), run_pick, status)
    resume_btn.click(ctx.guard(continue_shown), [run_pick, *form_inputs], start_outputs)
    for comp in form_inputs:
        comp.change(preview_command, form_inputs, command, show_progress="hidden")

    def switch(trainer_name, mode_name):
        p2p = trainer_name == "pix2pix"
        cont = mode_name == MODES[2]
        return (gr.update(visible=not p2p), gr.update(visible=p2p), gr.update(visible=mode_name == MODES[1]),
                gr.update(visible=cont, choices=[c for c in run_choices(ws, runner) if c[1] != NEWEST]),
                gr.update(visible=not cont))

    for comp in (trainer, mode):
        comp.change(switch, [trainer, mode], [gan_box, p2p_box, source, continued, dataset], show_progress="hidden")
    dataset.focus(lambda: gr.update(choices=list_datasets(ws)), None, dataset, show_progress="hidden")
