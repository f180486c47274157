"""Studio test fixtures: a workspace, a real studio server in a subprocess, a Playwright page in
headless Chromium (Debian's /usr/bin/chromium), and helpers for gradio pages and screenshots.

- ``workspace``: an empty :class:`Workspace` in tmp_path.
- ``studio_server(ws=None, extra_args=None, env=None)`` (factory): ``neuralbrush studio WS --port FREE``,
  started and waited for; ``.url``, ``.workspace``, ``.stop()``, ``.restart()``; stopped at the end.
- ``studio``: one shared server per test module (its own workspace), for tabs that need no restart.
- ``page``: a fresh browser page (1280x900); ``ui`` the page helpers: ``ui.open(page, url)`` loads
  the studio and waits for it, ``ui.select_tab(page, "Explore")``, ``ui.toast(page)`` reads gradio's
  error/warning toast, ``ui.text(page)`` the page's text, ``ui.get(url)`` an HTTP GET (status, body).
- ``screenshot(page, "explore")`` saves studio-explore.png: into docs/images/ (the docs' pictures)
  with NEURALBRUSH_SCREENSHOTS=1, else into a temporary folder.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("gradio")
playwright_sync = pytest.importorskip("playwright.sync_api")

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from neuralbrush.studio.workspace import Workspace  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "docs" / "images"
CHROMIUM = os.environ.get("NEURALBRUSH_CHROMIUM", "/usr/bin/chromium")
START_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """(status, body) of a GET, without raising for 4xx/5xx."""
    import urllib.error

    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class StudioServer:
    """``neuralbrush studio`` running in a subprocess on a free loopback port."""

    def __init__(self, workspace: Workspace, env: dict[str, str], extra: list[str] | None = None) -> None:
        self.workspace, self.env, self.extra = workspace, env, list(extra or [])
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log = workspace.state / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> "StudioServer":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "neuralbrush", "studio", str(self.workspace.root), "--port", str(self.port),
                 *self.extra], stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=str(self.workspace.root))
        deadline = time.time() + START_TIMEOUT_S
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"studio exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if http_get(self.url, timeout=2)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"studio did not answer within {START_TIMEOUT_S:.0f} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """End the studio (like Ctrl+C; job workers it started keep running, as they should)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def restart(self) -> "StudioServer":
        self.stop()
        return self.start()


def _server_env(home: Path) -> dict[str, str]:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "NEURALBRUSH_QUIET": "1", "NEURALBRUSH_HOME": str(home),
           "OMP_WAIT_POLICY": "PASSIVE", "PYTHONUNBUFFERED": "1"}
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def _kill_workers(ws: Workspace) -> None:
    """Workers outlive the studio by design; a test leaves none behind."""
    import json
    import signal

    for p in ws.jobs_dir.glob("*.json"):
        try:
            job = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        pid = job.get("pid")
        if job.get("status") == "running" and pid:
            from neuralbrush.studio.jobs import pid_alive

            if pid_alive(pid, job.get("id")):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass


@pytest.fixture()
def workspace(tmp_path) -> Workspace:
    return Workspace(tmp_path / "ws")


@pytest.fixture()
def studio_server(tmp_path, _isolated_store):
    """Factory: ``studio_server(ws=None, extra_args=None, env=None)`` starts a studio and returns it
    (``env``: more environment for the server and the job workers it starts)."""
    started: list[StudioServer] = []

    def start(ws: Workspace | None = None, extra_args: list[str] | None = None,
              env: dict[str, str] | None = None) -> StudioServer:
        ws = ws or Workspace(tmp_path / f"ws{len(started)}")
        server = StudioServer(ws, {**_server_env(_isolated_store), **(env or {})}, extra_args)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
        _kill_workers(server.workspace)


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """One studio per test module, on its own empty workspace and weights store."""
    root = tmp_path_factory.mktemp("studio")
    ws = Workspace(root / "ws")
    (root / "home").mkdir()
    server = StudioServer(ws, _server_env(root / "home")).start()
    yield server
    server.stop()
    _kill_workers(ws)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with playwright_sync.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    pg = context.new_page()
    yield pg
    context.close()


# ------------------------------------------------------------------------------ page helpers

def open_studio(page, url: str, timeout: float = 60_000):
    """Load the studio and wait until gradio has rendered it."""
    page.goto(url)
    page.wait_for_selector("#studio-tabs", timeout=timeout)
    return page


def select_tab(page, label: str) -> None:
    """Click the tab button named ``label`` (and wait for its panel)."""
    page.get_by_role("tab", name=label, exact=True).click()
    page.wait_for_timeout(200)


def toast_text(page, timeout: float = 20_000) -> str:
    """The text of the newest gradio toast (gr.Error / gr.Warning / gr.Info), waiting for one."""
    loc = page.locator("[data-testid=toast-body]")
    loc.last.wait_for(state="visible", timeout=timeout)
    return loc.last.inner_text()


def page_text(page) -> str:
    return page.locator("body").inner_text()


@pytest.fixture()
def screenshot(tmp_path_factory):
    """``screenshot(page, name)``: studio-<name>.png (full page), returns the path. The docs'
    pictures are refreshed only when asked (NEURALBRUSH_SCREENSHOTS=1: into docs/images/), so an
    ordinary test run leaves the checkout as it was; otherwise they go to a temporary folder."""
    folder = IMAGES if os.environ.get("NEURALBRUSH_SCREENSHOTS") else tmp_path_factory.mktemp("screenshots")

    def take(page, name: str, *, full_page: bool = True) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"studio-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


class UI:
    """The page helpers as one object (the ``ui`` fixture), so test modules need no imports."""

    open = staticmethod(open_studio)
    select_tab = staticmethod(select_tab)
    toast = staticmethod(toast_text)
    text = staticmethod(page_text)
    get = staticmethod(http_get)


@pytest.fixture()
def ui() -> UI:
    return UI()


TINY_RUN = "runs/00000-tiny-small"  # test_explore_tab / test_project_tab type this name


@pytest.fixture(scope="module")
def model_run(studio):
    """A tiny random-weight StyleGAN2 snapshot as a run of the module's studio workspace."""
    from gan_helpers import small_stylegan

    from neuralbrush.gan.snapshot import save_snapshot, snapshot_name

    run = studio.workspace.root / TINY_RUN
    run.mkdir(parents=True)
    G = small_stylegan(res=32, dim=32)
    save_snapshot(run / snapshot_name(0), arch="stylegan2", G=G, G_ema=G)
    return run
