"""Every app's figures are legible in a notebook column (widgets/legibility.py), after it has computed.

Issue 13 item 4: no text under 8 pt, no title overlapping another, no figure wider than a column,
no text cut off — checked on the figures each app of the lab really draws (the builders of
tests/test_app_lifecycle.py, each driven once so that its panels hold results, not placeholders).
The browser tier checks that the page shows those images at their size (tests/browser/test_browser_01.py).
"""

from __future__ import annotations

import pytest

from halign_widgets.widgets.legibility import format_problems, legibility_problems
from test_app_lifecycle import APPS, NAMES


def _drive(app) -> None:
    """Make the app compute once where it does not at construction."""
    name = type(app).__name__
    if name == "SunyExplorer":
        app.select(causes="patches", pool=4, grid=2)
        app.intervene(None, "remove")
    elif name == "ActivationMaximizationStudio":
        app.steps.value = 10
        app.run()
    elif name in ("TrainingDashboard", "ProtoPNetDashboard", "CrocodileLab"):
        app.epochs_box.value = 1 if hasattr(app, "epochs_box") else None
        app.run()


@pytest.mark.parametrize("name", NAMES)
def test_app_figures_are_legible(name: str) -> None:
    app = APPS[name][0](f"figures-{name}")
    try:
        _drive(app)
        assert app.last_error is None, app.last_error
        assert app._figures or name == "ScaffoldMap", "every app but the scaffold draws at least one figure"
        problems = {f"figure {i}": legibility_problems(view.figure) for i, view in enumerate(app._figures)}
        problems = {k: v for k, v in problems.items() if v}
        assert not problems, "\n".join(f"{k}: {format_problems(v)}" for k, v in problems.items())
        for view in app._figures:
            assert view.image.layout.width == f"{view.display_width}px" and view.image.layout.max_width == "100%"
    finally:
        app.close()
