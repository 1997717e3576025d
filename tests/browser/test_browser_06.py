"""Chapter 06 in a real JupyterLab: run all cells, cut a pathway in the ConnectomeExplorer by a click.

Checks that every cell runs in the browser, that ticking "cut dorsal stream" re-computes the app
(the info line names the cut and the detail panel — prediction bars, CAM, channels — is redrawn)
and saves the explorer's screenshot as ``connectome.png`` (``build/screenshots/``; ``docs/images/``
with ``HALIGN_UPDATE_DOCS=1``).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

pytestmark = pytest.mark.browser


def _src(locator: Any) -> str:
    return locator.get_attribute("src") or ""


def test_cutting_a_pathway_in_the_connectome_explorer(lab: Any) -> None:
    lab.open_notebook("06_biovision_cocoreco.ipynb")
    state = lab.run_all(timeout=400)
    assert state["pending"] == 0 and not state["errors"]

    app = lab.widget_area("halign-ConnectomeExplorer")
    app.scroll_into_view_if_needed()
    info = lab.widget_area("halign-connectome-info")
    detail = lab.widget_area("halign-connectome-detail")
    graph = lab.widget_area("halign-connectome-graph")
    detail.wait_for(state="visible")
    deadline = time.monotonic() + 30
    while not (_src(detail) and _src(graph)) and time.monotonic() < deadline:   # PNGs arrive with the state
        time.sleep(0.25)
    before_detail, before_graph = _src(detail), _src(graph)
    assert before_detail and before_graph, "the explorer shows no figure"
    assert "nothing cut" in info.inner_text()

    lab.widget_area("halign-cut-dorsal").locator("input").check()
    lab.page.wait_for_function("(el) => el.innerText.includes('dorsal stream')", arg=info.element_handle(),
                               timeout=60_000)
    deadline = time.monotonic() + 30
    while (_src(detail) == before_detail or _src(graph) == before_graph) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert _src(detail) != before_detail, "cutting the dorsal stream did not redraw the prediction panel"
    assert _src(graph) != before_graph, "the diagram does not show the cut"
    assert "intact model" in info.inner_text()
    assert app.locator("b", has_text="Error").count() == 0, "the app shows an error"
    shot = lab.screenshot(lab.shot_path("connectome.png"), app)
    assert shot.stat().st_size > 10_000
