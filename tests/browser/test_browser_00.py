"""Chapter 00 in a real JupyterLab: run all cells, then drive the TrainingDashboard by clicks.

Checks that the lab's settings reached the page, that every cell runs in the browser, that
clicking **Start** trains again (the progress bar moves through intermediate values and ends
full, the status reports the new number of epochs) and that the curve image changes; saves the
dashboard's screenshot as ``dashboard.png`` (``build/screenshots/``; ``docs/images/`` — shown in the
README — with ``HALIGN_UPDATE_DOCS=1``).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]


def test_make_lab_prints_a_url_that_opens_chapter_00(lab) -> None:  # noqa: ANN001 - fixture
    log = lab.server.log.read_text(errors="replace")
    paths = re.findall(r"http://127\.0\.0\.1:\d+(/[^?\s]*)\?token=", log)
    assert paths and set(paths) == {"/lab/tree/00_start_here.ipynb"}, paths
    # the server masks a token it was given, so the test adds the one it chose
    lab.page.goto(f"{lab.server.url}{paths[0]}?token={lab.server.token}&reset", wait_until="domcontentloaded")
    label_js = ("() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                "? window.jupyterapp.shell.currentWidget.title.label : null")
    deadline = time.monotonic() + 90
    label = None
    while time.monotonic() < deadline and label != "00_start_here.ipynb":
        time.sleep(0.5)
        label = lab.page.evaluate(label_js)
    assert label == "00_start_here.ipynb", f"the printed URL opened {label!r}; {lab.diagnose()}"


def test_start_here_dashboard_trains_on_click(lab) -> None:  # noqa: ANN001 - fixture
    lab.open_notebook("00_start_here.ipynb")
    assert lab.notebook_setting("windowingMode") == "defer", "overrides.json did not reach the page"

    state = lab.run_all(timeout=180)
    assert state["total"] > 5 and state["pending"] == 0 and not state["errors"]

    dash = lab.app_output("Start")
    dash.wait_for(state="visible")
    status = dash.locator(".widget-html").last
    assert re.search(r"\b\d+ epoch\(s\)", status.inner_text()), status.inner_text()  # run-all trained once
    curve = dash.locator("img").first
    before = curve.screenshot()

    # one more epoch than the notebook's run, so the new curves differ from the old ones
    epochs_field = dash.locator(".widget-text").filter(has_text="epochs").locator("input")
    epochs = int(epochs_field.input_value()) + 1
    lab.set_number(dash, "epochs", epochs)
    lab.record_progress(dash.locator(".widget-hprogress"))

    lab.button("Start", within=dash).click()
    # the run ends "finished: N epoch(s) …" (or "failed"/"stopped", which fail the test at once)
    ended = re.compile(rf"^(failed|stopped)|\b{epochs} epoch\(s\)")
    lab.page.wait_for_function(
        "([el, pattern]) => new RegExp(pattern).test(el.innerText)",
        arg=[status.element_handle(), ended.pattern], timeout=120_000)
    assert status.inner_text().startswith("finished"), status.inner_text()

    seen = lab.recorded_progress()
    assert any(0.0 < f < 1.0 for f in seen), f"the progress bar never showed an intermediate value: {seen}"
    assert lab.progress_fraction(dash.locator(".widget-hprogress")) == pytest.approx(1.0)
    lab.page.wait_for_timeout(500)  # the final figure render follows the status update
    after = curve.screenshot()
    assert after != before, "the loss/accuracy curves did not change after a new run"
    assert not dash.locator(".widget-html").filter(has_text="Error").count(), "the app shows an error"

    shot = lab.screenshot(lab.shot_path("dashboard.png"), dash)
    assert shot.stat().st_size > 5_000
