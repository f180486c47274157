"""The studio's page: one tab per area, each built by ``neuralbrush.studio.tabs.<name>.build(ctx)``.

:func:`build_app` makes the ``gr.Blocks`` for a workspace; :func:`serve` launches it with the
safety rules (loopback unless ``auth``; no share links; files served only from the workspace;
gradio's uploads and cache inside the workspace; an upload size cap). A tab module receives a
:class:`StudioContext`: the workspace, the job runner and the helpers every tab needs (the
equivalent CLI command, checked uploads, safe paths, one-sentence errors, file links).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .commands import command_text
from .jobs import JobRunner
from .workspace import MAX_UPLOAD_BYTES, Workspace

# (tab label, module under neuralbrush.studio.tabs); a module that is not there yet is skipped
TABS = (
    ("Datasets", "datasets"),
    ("Train", "train"),
    ("Explore", "explore"),
    ("Project", "project"),
    ("Storyboard", "storyboard"),
    ("Paint", "paint"),
    ("pix2pix", "pix2pix"),
)
LIGHT_THREADS = 2  # torch threads for in-process previews: heavy work runs in worker processes
SAMPLE_BLOOMS = 96
SAMPLE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def one_sentence(e: BaseException) -> str:
    """What the page says about an error: the library's own sentence for user mistakes, the kind of
    failure otherwise (the traceback goes to the studio's log, never to the page)."""
    from ..core.errors import NeuralbrushError

    if isinstance(e, NeuralbrushError):
        return " ".join(str(e).split())
    if isinstance(e, MemoryError):
        return "not enough memory for this; use a smaller size or count"
    if isinstance(e, OSError):
        from ..cli.main import describe_os_error

        return describe_os_error(e)
    return f"something went wrong ({type(e).__name__}: {' '.join(str(e).split())[:200]}); details in .studio/studio.log"


@dataclass
class StudioContext:
    """What a tab's ``build(ctx)`` gets: the workspace, the job runner and shared helpers."""

    workspace: Workspace
    jobs: JobRunner
    light_threads: int = LIGHT_THREADS
    shared: dict[str, Any] = field(default_factory=dict)  # components tabs share (the tray's State, ...)

    # -- text for the page
    def command(self, command: str, *options: Any, **kw: Any) -> str:
        """The equivalent CLI command (paths relative to the workspace: run it from there)."""
        return command_text(command, *options, workspace=self.workspace, **kw)

    def file_url(self, path: str | os.PathLike) -> str:
        """The URL gradio serves a workspace file at (only workspace files are allowed)."""
        return f"/gradio_api/file={self.workspace.resolve(path)}"

    def file_link(self, path: str | os.PathLike, text: str | None = None) -> str:
        """A markdown link to a workspace file, named by its workspace-relative path."""
        rel = self.workspace.relative(path)
        return f"[{text or rel}]({self.file_url(path)})"

    # -- checks that end in a message in the page
    def fail(self, message: str) -> None:
        """Stop this event with one sentence shown in the page (a gradio error toast)."""
        import gradio as gr

        raise gr.Error(message, print_exception=False)

    def resolve(self, path: str | os.PathLike, *, must_exist: bool = False) -> Path:
        """A user-typed path inside the workspace, or a message in the page."""
        try:
            return self.workspace.resolve(path, must_exist=must_exist)
        except Exception as e:  # noqa: BLE001
            self.fail(one_sentence(e))
            raise  # unreachable

    def check_upload(self, path: str | os.PathLike | None, *, name: str | None = None, what: str = "an image"):
        """An uploaded image (PIL, RGB) after the dataset-build validation, or a message in the page."""
        if path is None:
            self.fail(f"upload {what} first")
        try:
            return self.workspace.check_upload(path, name=name or Path(path).name)
        except Exception as e:  # noqa: BLE001
            self.fail(one_sentence(e))
            raise  # unreachable

    def guard(self, fn: Callable) -> Callable:
        """Wrap an event handler so any exception becomes one sentence in the page (gr.Error),
        never a stack trace; generators (live previews) are wrapped too."""
        import gradio as gr

        log = self.workspace.state / "studio.log"

        def report(e: BaseException) -> None:
            if isinstance(e, gr.Error):
                raise e
            if not isinstance(e, Exception):
                raise e
            with open(log, "a", encoding="utf-8") as f:
                f.write(f"--- {fn.__qualname__}\n{traceback.format_exc()}\n")
            raise gr.Error(one_sentence(e), print_exception=False) from None

        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen(*a: Any, **k: Any):
                try:
                    yield from fn(*a, **k)
                except BaseException as e:  # noqa: BLE001
                    report(e)
            return gen

        @functools.wraps(fn)
        def plain(*a: Any, **k: Any):
            try:
                return fn(*a, **k)
            except BaseException as e:  # noqa: BLE001
                report(e)
        return plain


def write_sample_data(workspace: Workspace, *, blooms: int = SAMPLE_BLOOMS, size: int = 64) -> list[Path]:
    """The newcomer's inputs: procedural blooms in ``images/blooms`` and the scikit-image photos in
    ``images/photos`` (what every tab can start from); returns the folders written."""
    from ..core.imageio import save_image
    from ..datasets.samples import skimage_photo, write_blooms

    blooms_dir = workspace.images / "blooms"
    photos_dir = workspace.images / "photos"
    write_blooms(blooms_dir, blooms, size=size, seed=0)
    photos_dir.mkdir(parents=True, exist_ok=True)
    for name in SAMPLE_PHOTOS:
        save_image(skimage_photo(name), photos_dir / f"{name}.png")
    return [blooms_dir, photos_dir]


def add_images(ctx: StudioContext, files: list | None, folder: str | None) -> tuple[list[Path], list[str]]:
    """Copy uploaded images into ``images/<folder>`` after the dataset-build validation; returns
    (kept files, one sentence per refused file)."""
    if not files:
        ctx.fail("choose one or more images to upload first")
    folder = (folder or "uploads").strip().strip("/") or "uploads"
    target = ctx.resolve(Path("images") / folder)
    if not ctx.workspace.contains(target) or ctx.workspace.images not in (target, *target.parents):
        ctx.fail(f"images/{folder} is not a folder inside images/")
    kept, refused = [], []
    for f in files:
        path = Path(getattr(f, "name", f))
        try:
            kept.append(ctx.workspace.keep_upload(path, ctx.workspace.relative(target), name=path.name))
        except Exception as e:  # noqa: BLE001 - each file gets its own sentence
            refused.append(one_sentence(e))
    return kept, refused


def _workspace_summary(ws: Workspace) -> str:
    def count(folder: Path) -> int:
        return sum(1 for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else 0

    return (f"**Workspace** `{ws.root}`: {count(ws.images)} image folder(s) in images/, {count(ws.datasets)} "
            f"dataset(s), {count(ws.runs)} run(s), {count(ws.art)} item(s) in art/")


def _jobs_table(jobs: JobRunner) -> list[list[str]]:
    rows = []
    for job in jobs.queue():
        p = job.progress
        where = f"{p.get('step', 0)}/{p['total']}" if p.get("total") else ""
        rows.append([job.id, job.title, job.status, where, str(p.get("message", ""))[:80]])
    return rows


def build_app(workspace: Workspace | str | os.PathLike, *, jobs: JobRunner | None = None) -> Any:
    """The studio page for ``workspace`` (a :class:`Workspace` or its folder)."""
    import gradio as gr

    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    runner = jobs if jobs is not None else JobRunner(ws)
    ctx = StudioContext(ws, runner)
    try:
        import torch

        torch.set_num_threads(max(1, min(ctx.light_threads, os.cpu_count() or 1)))
    except ImportError:  # pragma: no cover
        pass

    with gr.Blocks(title="neuralbrush studio", analytics_enabled=False) as app:
        gr.Markdown("# neuralbrush studio")
        summary = gr.Markdown(_workspace_summary(ws), elem_id="workspace-summary")
        with gr.Row(visible=ws.is_empty(), elem_id="sample-data-row") as sample_row:
            gr.Markdown("This workspace is empty. Start with the built-in sample data: procedural blooms and "
                        "scikit-image photographs, written into `images/` so every tab has inputs.")
            sample_btn = gr.Button("Start with sample data", variant="primary", elem_id="sample-data")
        sample_status = gr.Markdown(elem_id="sample-data-status")

        def add_samples():
            folders = write_sample_data(ws)
            names = ", ".join(f"`{ws.relative(f)}`" for f in folders)
            return (gr.update(visible=False), _workspace_summary(ws),
                    f"Sample data written: {names}. Build a dataset from `images/blooms` in the Datasets tab.")

        sample_btn.click(ctx.guard(add_samples), None, [sample_row, summary, sample_status])

        with gr.Accordion("Add images to the workspace", open=False, elem_id="upload-panel"):
            with gr.Row():
                upload_files = gr.File(label="images", file_count="multiple", elem_id="upload-files", scale=3)
                with gr.Column(scale=1):
                    upload_folder = gr.Textbox("uploads", label="into images/", elem_id="upload-folder")
                    upload_btn = gr.Button("Add to workspace", elem_id="upload-add")
            upload_status = gr.Markdown(elem_id="upload-status")

        def add_uploads(files, folder):
            kept, refused = add_images(ctx, files, folder)
            lines = []
            if kept:
                lines.append(f"Added {len(kept)} image(s) to `{ws.relative(kept[0].parent)}`.")
            if refused:
                lines.append("Not added (nothing was written for these):")
                lines += [f"- {reason}" for reason in refused]
                gr.Warning(f"{len(refused)} file(s) refused: {refused[0]}")
            return _workspace_summary(ws), "\n".join(lines)

        upload_btn.click(ctx.guard(add_uploads), [upload_files, upload_folder], [summary, upload_status])

        with gr.Accordion("Jobs", open=False, elem_id="jobs-panel"):
            jobs_table = gr.Dataframe(headers=["id", "job", "status", "progress", "message"],
                                      value=_jobs_table(runner), interactive=False, elem_id="jobs-table")
            with gr.Row():
                job_id = gr.Textbox(label="job id", scale=3, elem_id="jobs-id")
                stop_btn = gr.Button("Stop (snapshot first)", elem_id="jobs-stop")
                cancel_btn = gr.Button("Cancel", variant="stop", elem_id="jobs-cancel")
            jobs_status = gr.Markdown(elem_id="jobs-status")

        def act(kind: str, which: str):
            which = (which or "").strip()
            job = runner.get(which)
            if job is None:
                ctx.fail(f"no job {which!r} in this workspace" if which else "type a job id from the table")
            job = runner.stop(which) if kind == "stop" else runner.cancel(which)
            what = "stop requested" if kind == "stop" else "cancelled"
            return _jobs_table(runner), f"{job.title}: {what if job.active or job.status == 'cancelled' else job.status}"

        stop_btn.click(ctx.guard(functools.partial(act, "stop")), job_id, [jobs_table, jobs_status])
        cancel_btn.click(ctx.guard(functools.partial(act, "cancel")), job_id, [jobs_table, jobs_status])
        jobs_timer = gr.Timer(2.0)
        jobs_timer.tick(lambda: _jobs_table(runner), None, jobs_table, show_progress="hidden")

        def on_load():  # every page load shows the workspace as it is now, not as it was at start
            return gr.update(visible=ws.is_empty()), _workspace_summary(ws), _jobs_table(runner)

        app.load(on_load, None, [sample_row, summary, jobs_table], show_progress="hidden")

        with gr.Tabs(elem_id="studio-tabs"):
            for label, module in TABS:
                with gr.Tab(label, id=module, elem_id=f"tab-{module}"):
                    build_tab(module, ctx)
    app.studio_context = ctx  # type: ignore[attr-defined]
    return app


def build_tab(module: str, ctx: StudioContext) -> None:
    """Build one tab from ``neuralbrush.studio.tabs.<module>``; a tab not written yet says so."""
    import gradio as gr

    try:
        mod = importlib.import_module(f"{__package__}.tabs.{module}")
    except ModuleNotFoundError as e:
        if e.name != f"{__package__}.tabs.{module}":
            raise
        gr.Markdown(f"The {module} tab is not part of this installation.")
        return
    mod.build(ctx)


def check_bind(host: str, auth: tuple[str, str] | None) -> None:
    """Refuse a non-loopback address without a password (anyone on the network could use it)."""
    from ..core.errors import UsageError

    if not is_loopback(host) and auth is None:
        raise UsageError(f"refusing to listen on {host} without --auth USER:PASS: anyone who can reach this "
                         "machine could read the workspace and run jobs; add --auth or use 127.0.0.1")


def is_loopback(host: str) -> bool:
    import ipaddress

    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_auth(text: str | None) -> tuple[str, str] | None:
    from ..core.errors import UsageError

    if text is None:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise UsageError("--auth must be USER:PASS with both parts non-empty")
    return user, password


def launch_kwargs(ws: Workspace, host: str, port: int, auth: tuple[str, str] | None) -> dict[str, Any]:
    """gradio's launch() settings: files only from the workspace, never a share link."""
    return dict(server_name=host, server_port=port, auth=auth, share=False, allowed_paths=[str(ws.root)],
                max_file_size=MAX_UPLOAD_BYTES,
                show_error=False, quiet=True, inbrowser=False, ssr_mode=False, footer_links=[], mcp_server=False,
                # gradio's own "is localhost reachable" probe gives up after one 3 s HEAD request, and on a
                # busy machine (a training worker on every core) that fails a studio that works: skip it
                _frontend=False)


def prepare_environment(ws: Workspace) -> None:
    """Before gradio is imported: no analytics, its upload cache inside the workspace."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["GRADIO_TEMP_DIR"] = str(ws.temp)
    os.environ.setdefault("NEURALBRUSH_QUIET", "1")
    ws.temp.mkdir(parents=True, exist_ok=True)


def serve(workspace: str | os.PathLike, *, host: str = "127.0.0.1", port: int = 7860, auth: str | None = None,
          block: bool = True, on_ready: Callable[[str], None] | None = None) -> Any:
    """Start the studio on ``host:port`` for ``workspace``; prints (via ``on_ready``) the URL."""
    pair = parse_auth(auth)
    check_bind(host, pair)
    ws = Workspace(workspace)
    prepare_environment(ws)
    app = build_app(ws)
    app.queue(default_concurrency_limit=4)
    app.launch(prevent_thread_lock=True, **launch_kwargs(ws, host, port, pair))
    url = f"http://{'[' + host + ']' if ':' in host else host}:{app.server_port}/"
    if on_ready is not None:
        on_ready(url)
    if block:
        try:
            app.block_thread()
        finally:
            app.studio_context.jobs.shutdown()
    return app
