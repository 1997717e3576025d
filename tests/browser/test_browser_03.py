"""Chapter 03 in a real browser: run it, pick a prototype in the PrototypeBrowser, its panel changes."""

from __future__ import annotations

import time
from typing import Any


def _src(locator: Any) -> str:
    return locator.get_attribute("src") or ""


def test_prototype_browser_pick_changes_the_prototype_panel(lab: Any) -> None:
    lab.open_notebook("03_explainability_prototypes.ipynb")
    state = lab.run_all(timeout=600)
    assert state["pending"] == 0 and not state["errors"]
    app = lab.widget_area("halign-PrototypeBrowser").first
    app.scroll_into_view_if_needed()
    panel = app.locator(".halign-prototypes-prototype-panel")
    truth = app.locator(".halign-prototypes-truth")
    panel.wait_for(state="visible")
    deadline = time.monotonic() + 30
    while not _src(panel) and time.monotonic() < deadline:   # the first PNG arrives with the widget state
        time.sleep(0.25)
    before = _src(panel)
    assert before, "the browser shows no prototype panel"
    assert "pick a prototype" in truth.inner_text()

    app.locator(".halign-prototypes-prototype-pick select").select_option(index=1)   # p0
    deadline = time.monotonic() + 60
    while "p0 ·" not in truth.inner_text() and time.monotonic() < deadline:
        time.sleep(0.25)
    assert "p0 ·" in truth.inner_text() and "patch on the true cause" in truth.inner_text()
    deadline = time.monotonic() + 30
    while _src(panel) == before and time.monotonic() < deadline:
        time.sleep(0.25)
    assert _src(panel) != before, "picking a prototype did not redraw its panel"
    assert app.locator("b", has_text="Error").count() == 0
    lab.page.set_viewport_size({"width": 1280, "height": 1500})   # the whole app fits on screen
    app.scroll_into_view_if_needed()
    lab.page.wait_for_timeout(500)
    shot = lab.screenshot(lab.shot_path("prototypes.png"), app)
    assert shot.stat().st_size > 10_000
