"""What the figure tests ask of a drawn figure (shared by test_plots.py and test_plots_chapters.py)."""

from __future__ import annotations

from matplotlib.figure import Figure

from halign_widgets.widgets.legibility import format_problems, legibility_problems


def assert_legible(fig: Figure) -> None:
    """No text too small, clipped or overlapping (the lab's legibility checker)."""
    problems = legibility_problems(fig)
    assert not problems, format_problems(problems)


def colour_bars(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
