"""Browser tier: a real JupyterLab driven by Playwright in Debian's chromium.

Fixtures (session-scoped unless said otherwise):

``chromium_path``
    ``/usr/bin/chromium`` (or ``$HALIGN_CHROMIUM``). Missing → the test FAILS on CI (``CI=true``: ``make test`` installs
    it)
    and is skipped with a reason elsewhere.
``lab_server``
    JupyterLab started the way a user starts it — ``make lab`` (which runs ``tools/lab.sh``) —
    on 127.0.0.1, a random free port and a token, serving a temporary copy of ``notebooks/``
    (autosave never touches the committed notebooks), with its own config, data, runtime and
    settings folders: ``overrides.json`` turns news off and sets the notebook windowing mode to
    ``defer``; the ``python3`` kernel is this interpreter; ``HALIGN_SMOKE=1``; the environment is
    the user's (in particular no ``MPLBACKEND`` forced on the kernels).
``browser``
    Playwright's chromium (``executable_path=/usr/bin/chromium``; a browser is never downloaded).
``lab`` (function-scoped)
    A :class:`LabDriver` on a fresh page: ``open_notebook``, ``run_all``, ``button``,
    ``widget_area``, ``screenshot``. Chapter tests (``test_browser_01.py`` …) only use this one.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import lab_overrides  # noqa: E402

# Debian's chromium; HALIGN_CHROMIUM may point elsewhere (e.g. a system Chrome on a laptop)
CHROMIUM = Path(os.environ.get("HALIGN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
                 "--disable-dev-shm-usage", "--no-proxy-server"]
SERVER_START_TIMEOUT = 90.0
#: Screenshots go to the build folder unless the docs are being updated on purpose.
SHOTS = ROOT / ("docs/images" if os.environ.get("HALIGN_UPDATE_DOCS") == "1" else "build/screenshots")
# talk to the local server directly even when an http(s)_proxy is set in the environment
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's chromium; fails on CI when missing, skips with a reason elsewhere."""
    if CHROMIUM.exists():
        return CHROMIUM
    message = (f"{CHROMIUM} is missing: install Debian's chromium (`bash tools/setup.sh --browser`, "
               "which `make test` runs); never `playwright install`.")
    if _on_ci():
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError  # unreachable


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LabServer:
    """A running JupyterLab: its base URL, token, served folder and log file."""

    url: str
    token: str
    root_dir: Path
    log: Path
    process: subprocess.Popen

    def shutdown_kernels(self) -> None:
        """Shut down every kernel session (each test's notebook kernel would otherwise stay alive)."""
        try:
            with _LOCAL.open(f"{self.url}/api/sessions?token={self.token}", timeout=10) as resp:
                sessions = json.loads(resp.read())
            for session in sessions:
                req = urllib.request.Request(f"{self.url}/api/sessions/{session['id']}?token={self.token}",
                                             method="DELETE")
                _LOCAL.open(req, timeout=30).close()
        except OSError:
            pass  # the server is gone: nothing left to shut down

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's log (for failure messages)."""
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory, chromium_path: Path) -> Iterator[LabServer]:
    base = tmp_path_factory.mktemp("jupyterlab")
    root_dir = base / "notebooks"
    shutil.copytree(ROOT / "notebooks", root_dir, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    dirs = {name: base / name for name in ("config", "data", "runtime", "app_settings", "user_settings",
                                           "workspaces", "kernels_path")}
    for folder in dirs.values():
        folder.mkdir()
    lab_overrides.write(dirs["app_settings"])
    # the `python3` kernel is this interpreter, whatever kernelspecs the user has
    spec_dir = dirs["kernels_path"] / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python"}), encoding="utf-8")

    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ,
               HALIGN_SMOKE="1",
               JUPYTER_CONFIG_DIR=str(dirs["config"]),
               JUPYTER_DATA_DIR=str(dirs["data"]),
               JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
               JUPYTER_PATH=str(dirs["kernels_path"]),
               JUPYTERLAB_SETTINGS_DIR=str(dirs["user_settings"]),
               JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    # the user's environment (tests/conftest.py sets no MPLBACKEND for child processes), so the
    # kernels use matplotlib's inline backend exactly as under `make lab`
    env["HALIGN_LAB_DIR"] = str(root_dir)
    lab_args = ["--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False", "--no-browser",
                "--LabApp.expose_app_in_browser=True",
                f"--LabApp.app_settings_dir={dirs['app_settings']}",
                f"--LabApp.user_settings_dir={dirs['user_settings']}",
                f"--LabApp.workspaces_dir={dirs['workspaces']}",
                "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate"]
    # started exactly as a user starts it: `make lab` (setup check, then tools/lab.sh)
    cmd = ["make", "-s", "-C", str(ROOT), "lab", "LAB_ARGS=" + " ".join(lab_args),
           f"VENV={Path(sys.executable).parents[1]}"]
    log = base / "server.log"
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(cmd, cwd=root_dir, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    server = LabServer(f"http://127.0.0.1:{port}", token, root_dir, log, proc)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with code {proc.returncode}:\n{server.log_tail()}")
            try:
                with _LOCAL.open(f"{server.url}/api/status?token={token}", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer within {SERVER_START_TIMEOUT:.0f} s:\n{server.log_tail()}")
            time.sleep(0.3)
        yield server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


@pytest.fixture(scope="session")
def shot_dir() -> Path:
    """The folder screenshots go to (``build/screenshots``; ``docs/images`` with HALIGN_UPDATE_DOCS=1)."""
    return SHOTS


@pytest.fixture(scope="session")
def browser(chromium_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


# -- the page driver ---------------------------------------------------------------------------------
_NOTEBOOK_STATE_JS = """
() => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  const errors = [];
  let pending = 0, executed = 0;
  for (const c of cells) {
    if (c.model.executionCount === null || c.model.executionCount === undefined) pending++; else executed++;
    for (const o of c.model.outputs.toJSON()) {
      if (o.output_type === 'error') errors.push(o.ename + ': ' + o.evalue);
    }
  }
  const busy = cells.some(c => c.promptNode && c.promptNode.textContent.includes('*'));
  return {status: kernel ? kernel.status : 'none', pending, executed, total: cells.length, errors, busy};
}
"""


_RUN_ALL_JS = """
async () => {
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  await panel.sessionContext.ready;
  app.shell.activateById(panel.id);
  app.commands.execute('notebook:run-all-cells');  // not awaited: run_all() polls the cells
}
"""


class LabDriver:
    """Drive one JupyterLab page: open a notebook, run it, find widgets, take screenshots."""

    def __init__(self, page: Any, server: LabServer) -> None:
        self.page = page
        self.server = server

    def open_notebook(self, name: str, timeout: float = 90.0) -> None:
        """Open ``notebooks/<name>`` and wait until its kernel is idle."""
        # A fresh, reset workspace per notebook: otherwise JupyterLab restores the previous test's
        # tabs (whose kernels were shut down) next to this one.
        workspace = f"t{secrets.token_hex(4)}"
        self.page.goto(f"{self.server.url}/lab/workspaces/{workspace}/tree/{name}?reset&token={self.server.token}",
                       wait_until="domcontentloaded", timeout=timeout * 1000)
        self.page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                                    "&& window.jupyterapp.shell.currentWidget.sessionContext",
                                    timeout=timeout * 1000)
        self.page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=timeout * 1000)
        self.wait_idle(timeout)

    def state(self) -> dict[str, Any]:
        """Kernel status and per-cell execution summary of the current notebook."""
        return self.page.evaluate(_NOTEBOOK_STATE_JS) or {}

    def wait_idle(self, timeout: float = 90.0) -> dict[str, Any]:
        """Wait until the current notebook's kernel reports ``idle``."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            if state.get("status") == "idle" and not state.get("busy"):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"kernel not idle after {timeout:.0f} s: {state}\n{self.server.log_tail()}")
            time.sleep(0.25)

    def run_all(self, timeout: float = 120.0) -> dict[str, Any]:
        """Run every cell and wait until all code cells executed and the kernel is idle.

        Raises ``AssertionError`` with the error name and value when a cell fails.
        """
        start = self.state()
        self.page.evaluate(_RUN_ALL_JS)
        issued = time.monotonic()
        deadline = issued + timeout
        started = False
        while True:
            state = self.state()
            if state.get("errors"):
                raise AssertionError(f"a cell failed in the browser: {state['errors']}")
            started = started or bool(state.get("busy")) or state.get("status") == "busy" \
                or state.get("pending") != start.get("pending")
            if started and state.get("pending") == 0 and state.get("status") == "idle" and not state.get("busy"):
                return state
            if not started and time.monotonic() - issued > 15:
                # The command can be dropped when it arrives while the panel is still settling
                # (seen on a loaded 2-core machine): issue it again rather than wait for nothing.
                self.page.evaluate(_RUN_ALL_JS)
                issued = time.monotonic()
            if time.monotonic() > deadline or (not started and time.monotonic() - deadline + timeout > 90):
                raise AssertionError(f"run-all not finished ({'never started' if not started else 'timeout'}): "
                                     f"{state}; {self.diagnose()}")
            time.sleep(0.5)

    def button(self, text: str | re.Pattern[str], within: Any = None) -> Any:
        """The ipywidgets button whose label matches ``text`` (a locator; must be unique)."""
        scope = within if within is not None else self.page
        return scope.locator("button.jupyter-button", has_text=text)

    def app_output(self, button_text: str) -> Any:
        """The cell output holding an app with a button labelled exactly ``button_text``."""
        button = self.page.locator("button.jupyter-button",
                                   has_text=re.compile(rf"^\s*{re.escape(button_text)}\s*$"))
        return self.page.locator(".jp-OutputArea-output").filter(has=button)

    def set_number(self, within: Any, description: str, value: float) -> None:
        """Type ``value`` into the ``IntText``/``FloatText`` labelled ``description`` and commit it."""
        box = within.locator(".widget-text").filter(
            has=self.page.locator("label.widget-label", has_text=re.compile(rf"^\s*{re.escape(description)}\s*$")))
        field = box.locator("input")
        field.fill(str(value))
        field.press("Enter")

    def record_progress(self, progress: Any) -> None:
        """Start recording every width of the progress bar located by ``progress``."""
        progress.locator(".progress-bar").first.evaluate(
            "(el) => { window.__halignProgress = []; new MutationObserver(() => "
            "window.__halignProgress.push(parseFloat(el.style.width || el.style.height) / 100))"
            ".observe(el, {attributes: true, attributeFilter: ['style']}); }")

    def recorded_progress(self) -> list[float]:
        """Fill fractions seen since :meth:`record_progress`."""
        return list(self.page.evaluate("() => window.__halignProgress || []"))

    def widget_area(self, css_class: str) -> Any:
        """The widget carrying the DOM class ``css_class`` (``widget.add_class``) — a locator."""
        return self.page.locator(f".jupyter-widgets.{css_class}")

    def progress_fraction(self, progress: Any) -> float:
        """Fill fraction (0..1) of an ipywidgets progress bar located by ``progress``."""
        style = progress.locator(".progress-bar").first.get_attribute("style") or ""
        match = re.search(r"(width|height):\s*([0-9.]+)%", style)
        return float(match.group(2)) / 100.0 if match else 0.0

    def image_sources(self, within: Any) -> list[str]:
        """The ``src`` of every ``img`` inside ``within`` (data/blob URLs of ipywidgets Images)."""
        return [img.get_attribute("src") or "" for img in within.locator("img").all()]

    def notebook_setting(self, key: str) -> Any:
        """A value of the current notebook's ``notebookConfig`` (e.g. ``windowingMode``)."""
        return self.page.evaluate(f"() => window.jupyterapp.shell.currentWidget.content.notebookConfig[{key!r}]")

    def diagnose(self) -> str:
        """What is on screen when something hangs: open dialogs, the tab titles, and a screenshot."""
        try:
            info = self.page.evaluate("""() => ({
                dialogs: [...document.querySelectorAll('.jp-Dialog')].map(d => d.innerText.slice(0, 300)),
                tabs: [...document.querySelectorAll('.lm-TabBar-tabLabel')].map(t => t.innerText),
                current: window.jupyterapp && window.jupyterapp.shell.currentWidget
                         ? window.jupyterapp.shell.currentWidget.title.label : null,
            })""")
            shot = self.screenshot(ROOT / "build" / "browser-failure.png")
            return f"page: {info}; screenshot: {shot}; server log tail:\n{self.server.log_tail()}"
        except Exception as exc:  # noqa: BLE001 - diagnostics must not hide the real failure
            return f"(no diagnostics: {exc})"

    @staticmethod
    def shot_path(name: str) -> Path:
        """Where a test saves screenshot ``name``: ``build/screenshots/`` — or ``docs/images/`` with
        ``HALIGN_UPDATE_DOCS=1``, so a test run never rewrites the committed pictures unasked."""
        return SHOTS / name

    def screenshot(self, path: Path, target: Any = None) -> Path:
        """Save a PNG of ``target`` (a locator) or the whole page to ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        (target or self.page).screenshot(path=str(path))
        return path


@pytest.fixture()
def lab(browser: Any, lab_server: LabServer) -> Iterator[LabDriver]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield LabDriver(page, lab_server)
    finally:
        context.close()
        lab_server.shutdown_kernels()
