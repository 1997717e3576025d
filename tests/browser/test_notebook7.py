"""Chapter 00 in Notebook 7 (``jupyter notebook``): every cell runs and the apps render there too.

Notebook 7 is started the way ``make notebook`` starts it (``tools/lab.sh`` with
``HALIGN_LAB_APP=notebook``: the same folder, token, root handling and start chapter as
``make lab``), on 127.0.0.1 with a token, ``HALIGN_SMOKE=1``, serving a temporary copy of
``notebooks/``. The test opens chapter 00 at ``/notebooks/…``, runs all cells through
``window.jupyterapp`` (``expose_app_in_browser``), checks that no cell failed and that the
chapter's apps (DatasetBrowser, TrainingDashboard) are in the page with their pictures, and
saves ``notebook7_start_here.png``.
"""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import _servers

pytestmark = pytest.mark.browser

CHAPTER = "00_start_here.ipynb"

_STATE_JS = """
() => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  const errors = [];
  let pending = 0;
  for (const c of cells) {
    if (c.model.executionCount === null || c.model.executionCount === undefined) pending++;
    for (const o of c.model.outputs.toJSON()) if (o.output_type === 'error') errors.push(o.ename + ': ' + o.evalue);
  }
  return {status: kernel ? kernel.status : 'none', pending, total: cells.length, errors};
}
"""


@pytest.fixture(scope="module")
def notebook_server(tmp_path_factory: pytest.TempPathFactory, chromium_path: Path) -> Iterator[_servers.Server]:
    base = tmp_path_factory.mktemp("notebook7")
    folder = base / "notebooks"
    shutil.copytree(_servers.ROOT / "notebooks", folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    env, dirs = _servers.isolated_env(base)
    env.update(HALIGN_LAB_DIR=str(folder), HALIGN_LAB_START=CHAPTER)
    port, token = _servers.free_port(), secrets.token_hex(16)
    args = ["--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False", "--no-browser",
            "--JupyterNotebookApp.expose_app_in_browser=True",
            f"--JupyterNotebookApp.app_settings_dir={dirs['app_settings']}",
            f"--JupyterNotebookApp.user_settings_dir={dirs['user_settings']}",
            f"--JupyterNotebookApp.workspaces_dir={dirs['workspaces']}"]
    server = _servers.start("notebook", {"LAB_ARGS": " ".join(args)}, env, folder, base / "notebook.log", port,
                            token, probe=f"/api/status?token={token}")
    try:
        yield server
    finally:
        server.stop()


def _wait(page: Any, predicate: Any, timeout: float, what: str) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        state = page.evaluate(_STATE_JS) or {}
        if state.get("errors"):
            raise AssertionError(f"a cell failed in Notebook 7: {state['errors']}")
        if predicate(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached after {timeout:.0f} s: {state}")
        time.sleep(0.5)


def test_notebook7_runs_chapter_00_and_renders_its_apps(browser: Any, notebook_server: _servers.Server,
                                                       shot_dir: Path) -> None:
    log = notebook_server.log.read_text(errors="replace")
    assert f"/notebooks/{CHAPTER}" in log, f"`make notebook` does not open chapter 00:\n{log[-2000:]}"
    context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    page = context.new_page()
    try:
        page.goto(f"{notebook_server.url}/notebooks/{CHAPTER}?token={notebook_server.token}",
                  wait_until="domcontentloaded", timeout=90_000)
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                               "&& window.jupyterapp.shell.currentWidget.sessionContext", timeout=90_000)
        assert page.locator(".jp-LabShell").count() == 0 and page.locator("#main-panel, .jp-NotebookPanel").count()
        _wait(page, lambda s: s.get("status") == "idle", 90, "an idle kernel")
        run_all = ("async () => { const app = window.jupyterapp; const panel = app.shell.currentWidget; "
                   "await panel.sessionContext.ready; app.commands.execute('notebook:run-all-cells'); }")
        page.evaluate(run_all)
        issued = time.monotonic()
        while (page.evaluate(_STATE_JS) or {}).get("pending") == (page.evaluate(_STATE_JS) or {}).get("total"):
            if time.monotonic() - issued > 15:           # a command sent while the panel settles can be dropped
                page.evaluate(run_all)
                issued = time.monotonic()
            time.sleep(0.5)
        _wait(page, lambda s: s.get("pending") == 0 and s.get("status") == "idle", 240, "all cells run")

        apps = page.locator(".jupyter-widgets.halign-app")
        assert apps.count() >= 2, f"{apps.count()} app(s) rendered in Notebook 7"
        dashboard = page.locator(".jupyter-widgets.halign-TrainingDashboard").first
        dashboard.scroll_into_view_if_needed()
        dashboard.wait_for(state="visible", timeout=30_000)
        images = dashboard.locator("img")
        deadline = time.monotonic() + 30
        while not (images.count() and (images.first.get_attribute("src") or "")) and time.monotonic() < deadline:
            time.sleep(0.25)
        assert images.count() and (images.first.get_attribute("src") or ""), "the dashboard shows no curve image"
        assert dashboard.locator("button.jupyter-button").count() >= 1
        shot = shot_dir / "notebook7_start_here.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        dashboard.screenshot(path=str(shot))
        assert shot.stat().st_size > 5_000
    finally:
        context.close()
