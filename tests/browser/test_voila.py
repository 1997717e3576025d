"""Chapter 04 as a Voilà app page: the apps work without the code around them.

Voilà is started the way a teacher starts it — ``make voila CHAPTER=04_causality_maps`` (through
``tools/voila.sh``) — on 127.0.0.1 with a token, ``HALIGN_SMOKE=1`` in the server's environment,
serving a temporary copy of ``notebooks/``. The test opens the page, waits until the chapter ran
(Voilà executes it; progressive rendering shows the cells as they finish), checks that no code
is shown and no cell failed, then uses the CausalityMapExplorer: a click on the ``max`` estimator
must redraw its map. Saves ``voila_causality.png`` (``build/screenshots/``; ``docs/images/`` with
``HALIGN_UPDATE_DOCS=1``).
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import _servers

pytestmark = pytest.mark.browser

CHAPTER = "04_causality_maps"


@pytest.fixture(scope="module")
def voila_server(tmp_path_factory: pytest.TempPathFactory, chromium_path: Path) -> Iterator[_servers.Server]:
    base = tmp_path_factory.mktemp("voila")
    folder = base / "notebooks"
    shutil.copytree(_servers.ROOT / "notebooks", folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    env, _ = _servers.isolated_env(base)
    env["HALIGN_VOILA_DIR"] = str(folder)
    port, token = _servers.free_port(), secrets.token_hex(16)
    server = _servers.start("voila", {"CHAPTER": CHAPTER, "VOILA_ARGS": f"--port={port} --token={token}"}, env,
                            folder, base / "voila.log", port, token, probe="/voila/static/voila.js?token=" + token)
    try:
        yield server
    finally:
        server.stop()


def _src(locator: Any) -> str:
    return locator.get_attribute("src") or ""


def test_voila_page_runs_the_chapter_and_its_explorer_redraws(browser: Any, voila_server: _servers.Server,
                                                             shot_dir: Path) -> None:
    log = voila_server.log.read_text(errors="replace")
    assert re.search(r"http://127\.0\.0\.1:\d+/", log), f"voila printed no local URL:\n{log[-2000:]}"
    context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    page = context.new_page()
    try:
        page.goto(f"{voila_server.url}/?token={voila_server.token}", wait_until="domcontentloaded", timeout=120_000)
        app = page.locator(".jupyter-widgets.halign-CausalityMapExplorer")
        app.wait_for(state="visible", timeout=240_000)
        # the page is complete when Voilà's kernel went idle with every cell rendered
        page.wait_for_function("() => !document.querySelector('#loading') || "
                               "getComputedStyle(document.querySelector('#loading')).display === 'none'",
                               timeout=120_000)
        body = page.inner_text("body")
        assert "There was an error when executing cell" not in body and "Traceback" not in body, body[-3000:]
        assert "from halign_widgets.course import" not in body, "Voilà shows the code (strip_sources is off)"
        assert "✅ pass:" in body, "the chapter's checks (teacher's copy) printed no pass"
        app.scroll_into_view_if_needed()
        images = app.locator("img")
        deadline = time.monotonic() + 60
        while not (images.count() and all(_src(images.nth(i)) for i in range(images.count()))) \
                and time.monotonic() < deadline:
            time.sleep(0.25)
        before = [_src(images.nth(i)) for i in range(images.count())]
        assert before and all(before), "the explorer shows no picture"

        app.locator("button", has_text=re.compile(r"^\s*max\s*$")).click()
        deadline = time.monotonic() + 60
        while [_src(images.nth(i)) for i in range(images.count())] == before and time.monotonic() < deadline:
            time.sleep(0.25)
        after = [_src(images.nth(i)) for i in range(images.count())]
        assert after != before, "choosing the Max estimator did not redraw the explorer"
        assert app.locator("b", has_text="Error").count() == 0, "the app shows an error"
        shot = shot_dir / "voila_causality.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        app.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        context.close()
