"""Chapter 01 in a real browser: run it, pick a method in the AttributionExplorer, the maps change."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _src(locator: Any) -> str:
    return locator.get_attribute("src") or ""


def test_attribution_explorer_method_pick_changes_maps(lab: Any) -> None:
    lab.open_notebook("01_explainability_visualization.ipynb")
    lab.run_all(timeout=400)
    # static matplotlib figures (plt.show) appear in the lab started by `make lab`
    static = lab.page.locator(".jp-RenderedImage img")
    assert static.count() >= 1, "no static figure: the kernel drew with a non-interactive backend"
    assert min(static.evaluate_all("els => els.map(e => e.naturalWidth)")) > 100
    app = lab.widget_area("halign-attribution-explorer")
    app.scroll_into_view_if_needed()
    maps = lab.widget_area("halign-attribution-maps")
    maps.wait_for(state="visible")
    deadline = time.monotonic() + 30
    while not _src(maps) and time.monotonic() < deadline:   # the first PNG arrives with the widget state
        time.sleep(0.25)
    before = _src(maps)
    assert before, "the explorer shows no map image"

    select = lab.widget_area("halign-attribution-methods").locator("select")
    select.select_option(label=["Layer-CAM", "Score-CAM"])
    timing = lab.widget_area("halign-attribution-timing")
    deadline = time.monotonic() + 120
    # the timing line is written last, once maps and deletion/insertion curves are redrawn
    while "Layer-CAM" not in timing.inner_text() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "Layer-CAM" in timing.inner_text() and "Score-CAM" in timing.inner_text()
    assert _src(maps) != before, "picking methods did not re-render the maps"
    assert app.locator("b", has_text="Error").count() == 0
    # every app figure on the page is shown at its own size (not shrunk by the column: its text stays
    # at least the 8 pt the Python side checks, tests/test_app_figures.py) and at least 2 image pixels
    # per CSS pixel (sharp on high-density screens)
    sizes = lab.page.evaluate("""() => [...document.querySelectorAll('.halign-app img')]
        .filter(i => i.naturalWidth > 0 && i.style.width.endsWith('px'))
        .map(i => ({css: parseFloat(i.style.width), shown: i.clientWidth, natural: i.naturalWidth}))""")
    assert sizes, "no app figure found on the page"
    for size in sizes:
        assert size["shown"] >= 0.95 * size["css"], f"an app figure is shrunk below its size: {size}"
        assert size["natural"] >= 1.9 * size["shown"], f"an app figure is drawn at low resolution: {size}"
    shot = lab.screenshot(lab.shot_path("attribution.png"), app)
    assert shot.stat().st_size > 10_000
