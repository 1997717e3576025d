"""Is a matplotlib figure legible in a notebook column? Small text, overlapping titles, cut-off text.

:func:`legibility_problems` draws a figure with the Agg renderer and measures every visible text
with :meth:`~matplotlib.text.Text.get_window_extent`. Tests of every figure helper
(:mod:`halign_widgets.widgets.plots`) and of the apps' figures call it, so a figure that would be
shrunk below readable size, or whose titles collide when five or more panels share a row, fails a
test instead of a student's eyes.

The checks (the lab's figure rules, see the team brief):

- the figure is at most ``max_width`` inches wide (a notebook column is about 9–10 in);
- every visible, non-empty text is at least ``min_points`` points;
- no title, axis label, text drawn in an axes or figure text overlaps another one, a tick label of
  another axes, or the plotting area of another axes;
- no text sticks out of the figure.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

__all__ = ["format_problems", "legibility_problems"]


def _undrawn_ticklabels(fig: Figure) -> set[int]:
    """Ids of tick labels matplotlib keeps but does not draw: ticks outside the view, axes turned off."""
    out: set[int] = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if not ax.axison:     # ax.axis("off") / set_axis_off(): no tick label is drawn
                out.update(id(t) for tick in axis.get_major_ticks() + axis.get_minor_ticks()
                           for t in (tick.label1, tick.label2))
                continue
            lo, hi = sorted(axis.get_view_interval())
            eps = 1e-9 * max(1.0, abs(hi - lo))
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                loc = tick.get_loc()
                if loc is None or not lo - eps <= loc <= hi + eps:
                    out.update((id(tick.label1), id(tick.label2)))
    return out


def _visible_texts(fig: Figure) -> list[Text]:
    out = []
    undrawn = _undrawn_ticklabels(fig)
    for t in fig.findobj(Text):
        if not t.get_visible() or not t.get_text().strip() or id(t) in undrawn:
            continue
        if t.axes is not None and not t.axes.get_visible():
            continue
        out.append(t)
    return out


def _labels(ax: Axes) -> list[Text]:
    """Title(s) and axis labels of one axes (the texts that collide when panels are crowded)."""
    titles: Any = ax  # the left and right titles are private attributes of matplotlib's Axes
    texts = [ax.title, titles._left_title, titles._right_title, ax.xaxis.label, ax.yaxis.label]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def _ticklabels(ax: Axes, undrawn: set[int]) -> list[Text]:
    return [t for t in ax.get_xticklabels() + ax.get_yticklabels()
            if t.get_visible() and t.get_text().strip() and id(t) not in undrawn]


def _overlap(a: Bbox, b: Bbox, tolerance: float) -> bool:
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > tolerance) and (min(a.y1, b.y1) - max(a.y0, b.y0) > tolerance)


def _name(t: Text) -> str:
    s = " ".join(t.get_text().split())
    return repr(s if len(s) <= 40 else s[:37] + "...")


def legibility_problems(fig: Figure, min_points: float = 8.0, max_width: float = 10.0,
                        tolerance: float = 1.0) -> list[str]:
    """Problems that make ``fig`` hard to read in a notebook column (empty list = none).

    Parameters
    ----------
    fig:
        The figure (drawn here with the Agg renderer at its own dpi; an existing canvas is reused
        when it is an Agg canvas).
    min_points:
        Smallest acceptable font size in points.
    max_width:
        Widest acceptable figure in inches.
    tolerance:
        Overlaps of at most this many pixels (in both directions) are ignored.

    Returns
    -------
    list of str
        One human-readable line per problem, e.g. ``"text 'x' is 6.0 pt (< 8 pt)"``.
    """
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    problems: list[str] = []
    width = fig.get_figwidth()
    if width > max_width + 1e-9:
        problems.append(f"figure is {width:.1f} in wide (> {max_width:g} in): a notebook column shrinks it")
    texts = _visible_texts(fig)
    for t in texts:
        if float(t.get_fontsize()) < min_points - 1e-9:
            problems.append(f"text {_name(t)} is {t.get_fontsize():.1f} pt (< {min_points:g} pt)")
    page = fig.bbox
    for t in texts:
        bb = t.get_window_extent(renderer)
        if bb.x0 < page.x0 - tolerance or bb.y0 < page.y0 - tolerance or \
                bb.x1 > page.x1 + tolerance or bb.y1 > page.y1 + tolerance:
            problems.append(f"text {_name(t)} sticks out of the figure")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    labelled: list[tuple[Text, Axes | None]] = [(t, ax) for ax in axes for t in _labels(ax)]
    labelled += [(t, ax) for ax in axes for t in ax.texts if t.get_visible() and t.get_text().strip()]
    labelled += [(t, None) for t in fig.texts if t.get_visible() and t.get_text().strip()]
    suptitle = cast(Any, fig)._suptitle  # private: matplotlib has no public getter for the Text itself
    if suptitle is not None and suptitle.get_text().strip() and all(t is not suptitle for t, _ in labelled):
        labelled.append((suptitle, None))
    boxes = [(t, ax, t.get_window_extent(renderer)) for t, ax in labelled]
    undrawn = _undrawn_ticklabels(fig)
    for i, (t, ax, bb) in enumerate(boxes):
        for u, _bx, other in boxes[i + 1:]:
            if _overlap(bb, other, tolerance):
                problems.append(f"text {_name(t)} overlaps {_name(u)}")
        for other_ax in axes:
            if other_ax is ax:
                continue
            if _overlap(bb, other_ax.get_window_extent(renderer), tolerance):
                problems.append(f"text {_name(t)} overlaps the plotting area of another panel")
            for tick in _ticklabels(other_ax, undrawn):
                if _overlap(bb, tick.get_window_extent(renderer), tolerance):
                    problems.append(f"text {_name(t)} overlaps a tick label {_name(tick)} of another panel")
                    break
    return problems


def format_problems(problems: Iterable[str]) -> str:
    """The problems one per line (for an assertion message)."""
    return "\n".join(problems)
