"""Chapter 05 in a real JupyterLab: run all cells, train in the CrocodileLab, edit the prior graph.

Checks that every cell runs in the browser; that **Start** trains the full model (the status ends
"finished: 1 epoch(s)" and the learned causality map appears); that typing an entry into the
prior editor changes the prior (the status names the edited edge and the graph figure is
re-rendered) and that the *reversed* preset fills the editor with the transposed graph; saves the
app's screenshot as ``crocodile.png`` (``build/screenshots/``, or ``docs/images/`` with
``HALIGN_UPDATE_DOCS=1``).
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

pytestmark = pytest.mark.browser


def _src(locator: Any) -> str:
    return locator.get_attribute("src") or ""


def _wait_for_text(lab: Any, locator: Any, pattern: str, timeout: float = 120.0) -> str:
    lab.page.wait_for_function("([el, p]) => new RegExp(p).test(el.innerText)",
                               arg=[locator.element_handle(), pattern], timeout=timeout * 1000)
    return locator.inner_text()


def _wait_for_new_src(locator: Any, before: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while _src(locator) == before and time.monotonic() < deadline:
        time.sleep(0.25)
    return _src(locator)


def test_crocodile_lab_trains_and_the_prior_editor_changes_the_prior(lab) -> None:  # noqa: ANN001 - fixture
    lab.open_notebook("05_causality_crocodile.ipynb")
    state = lab.run_all(timeout=400)
    assert state["pending"] == 0 and not state["errors"]

    app = lab.widget_area("halign-CrocodileLab")
    app.scroll_into_view_if_needed()
    status = app.locator(".widget-html").last
    assert "ready" in status.inner_text(), status.inner_text()
    graphs = lab.widget_area("halign-crocodile-graphs")
    graphs.wait_for(state="visible")
    deadline = time.monotonic() + 30
    while not _src(graphs) and time.monotonic() < deadline:     # the first PNG arrives with the widget state
        time.sleep(0.25)
    before = _src(graphs)
    assert before, "the lab shows no graph figure"

    lab.button(re.compile(r"^\s*Start\s*$"), within=app).click()
    text = _wait_for_text(lab, status, r"^(finished|failed|stopped)", timeout=240)
    assert text.startswith("finished: 1 epoch(s)"), text
    assert "training-source validation" in app.inner_text()
    trained = _wait_for_new_src(graphs, before)
    assert trained != before, "the learned causality map did not appear after training"

    editor = lab.widget_area("halign-prior-editor")
    entries = editor.locator("input")
    assert entries.count() == 16
    entries.nth(3).fill("1")                                     # mass (row 0) → halo (column 3)
    entries.nth(3).press("Enter")
    text = _wait_for_text(lab, status, r"prior edited", timeout=30)
    assert "mass → halo = 1" in text, text
    edited = _wait_for_new_src(graphs, trained)
    assert edited != trained, "editing the prior did not redraw the graph figure"

    lab.button(re.compile(r"^\s*reversed\s*$"), within=app).click()
    _wait_for_text(lab, status, r"prior set to reversed", timeout=30)
    values = [float(entries.nth(i).input_value()) for i in range(16)]
    assert values[4] == 1.0 and values[1] == 0.0, values      # calcifications → mass now, mass → calcifications gone
    assert not app.locator("b", has_text="Error").count(), "the app shows an error"

    prior = lab.widget_area("halign-crocodile-prior")           # the editor beside the learned and true graphs
    prior.scroll_into_view_if_needed()
    shot = lab.screenshot(lab.shot_path("crocodile.png"), prior)
    assert shot.stat().st_size > 10_000
