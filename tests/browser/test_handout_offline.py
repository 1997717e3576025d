"""A handout opened the way a student opens it: the HTML file, in a browser, with no network.

Chapter 02 (an app and math) is executed with papermill (smoke parameters, as `make course` does
with the defaults), exported by tools/handout.py, and opened from ``file://`` in a browser context
that is offline and aborts every http(s) request. The app's snapshot, its figures, the static
figures and the typeset math must all be there, and nothing may have been fetched.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import handout  # noqa: E402
import nb_tool  # noqa: E402

CHAPTER = ROOT / "notebooks" / "02_explainability_suny.ipynb"


def test_handout_renders_offline(browser: Any, shot_dir: Path, tmp_path: Path) -> None:
    executed = tmp_path / CHAPTER.name
    nb_tool.run_notebook(CHAPTER, executed, smoke=True, cwd=tmp_path, timeout=600)
    body, report = handout.export_html(nbformat.read(executed, as_version=4))
    page_path = tmp_path / "02_explainability_suny.html"
    page_path.write_text(body, encoding="utf-8")
    assert report["snapshots"] >= 1 and report["external"] == [] and report["mathjax"]

    context = browser.new_context(offline=True, viewport={"width": 1100, "height": 900})
    attempted: list[str] = []

    def block(route: Any) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            attempted.append(url)
            route.abort()

    context.route("**/*", block)
    try:
        page = context.new_page()
        page.goto(page_path.as_uri(), wait_until="load")
        page.wait_for_function("() => document.querySelectorAll('mjx-container').length > 0", timeout=30_000)
        images = page.evaluate("() => [...document.images].map(i => ({w: i.naturalWidth, alt: i.alt, "
                               "snap: !!i.closest('.halign-snapshot')}))")
        app_images = [i for i in images if i["snap"]]
        static = [i for i in images if not i["snap"]]
        assert app_images and all(i["w"] > 100 for i in app_images), f"app figures missing: {images}"
        assert static and all(i["w"] > 100 for i in static), f"static figures missing: {images}"
        snapshot = page.locator(".halign-snapshot").first
        assert "snapshot of the app" in snapshot.inner_text()
        assert page.locator("mjx-container").count() >= 5, "the math is not typeset"
        assert attempted == [], f"the handout tried to fetch: {attempted[:5]}"
        snapshot.scroll_into_view_if_needed()
        shot_dir.mkdir(parents=True, exist_ok=True)
        shot = shot_dir / "handout_offline.png"
        page.screenshot(path=str(shot), full_page=False)
        assert shot.stat().st_size > 20_000
    finally:
        context.close()
