"""ScaffoldMap: the XAI ↔ causality scaffold (METHODS.md §2.3) as a navigable tree and a handout figure.

A thin view over :data:`halign_widgets.causality.SCAFFOLD` (a pure data tree).
"""

from __future__ import annotations

import html
import textwrap
from typing import Any

import ipywidgets as W
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..causality.scaffold import SCAFFOLD, ScaffoldNode, find_node, iter_nodes
from ._app import App, guarded

__all__ = ["ScaffoldMap", "scaffold_figure", "node_html"]


def _link_html(label: str, target: str) -> str:
    if target.startswith("planned:"):
        return f"{html.escape(label)} — <i>{html.escape(target)}</i>"
    if target.endswith(".ipynb"):
        name = target.rsplit("/", 1)[-1]      # chapters sit side by side in notebooks/
        return (f"<a href='{html.escape(name)}' target='_blank'>{html.escape(label)}</a> "
                f"(<code>{html.escape(target)}</code>)")
    return f"{html.escape(label)}: <code>{html.escape(target)}</code>"


def node_html(node: ScaffoldNode) -> str:
    """HTML card of one node: title, description, links and references."""
    parts = [f"<h4 style='margin:2px 0'>{html.escape(node.title)}</h4>", f"<p>{html.escape(node.description)}</p>"]
    if node.links:
        items = "".join(f"<li>{_link_html(*link)}</li>" for link in node.links)
        parts.append("<b>In this lab:</b><ul>" + items + "</ul>")
    if node.references:
        parts.append("<small><b>References:</b> " + "; ".join(html.escape(r) for r in node.references) + "</small>")
    return "".join(parts)


class ScaffoldMap(App):
    """The scaffold as nested accordions; each node's card shows its description, links and references.

    Below the tree, the same scaffold as a static figure (:func:`scaffold_figure`, for handouts).

    Parameters
    ----------
    key:
        Replace-on-rerun key.
    show_figure:
        Render the static figure under the tree at start.

    Examples
    --------
    >>> app = ScaffoldMap()                                  # doctest: +SKIP
    >>> app.open("causality-for-xai/concepts")               # doctest: +SKIP
    >>> app.current
    'causality-for-xai/concepts'
    """

    def __init__(self, key: str | None = None, show_figure: bool = True, start: str = "") -> None:
        find_node(start)  # an unknown path raises before anything is built
        super().__init__(key=key)
        self.current = ""
        self.detail = W.HTML(layout=W.Layout(border="1px solid #ccc", padding="6px", width="420px"))
        self._accordions: dict[str, W.Accordion] = {}
        self._buttons: dict[str, W.Button] = {}
        self.tree = self._build(SCAFFOLD, "")
        self.handout = self.figure(figsize=(9.5, 5.2))
        self.track(self.detail, self.tree, *self._accordions.values(), *self._buttons.values())
        self.set_body(W.HTML(f"<h3>{html.escape(SCAFFOLD.title)}</h3>"), W.HBox([self.tree, self.detail]),
                      self.handout.widget)
        for path, acc in self._accordions.items():
            def on_toggle(change: Any, path: str = path) -> None:
                self._on_toggle(path, change["new"])

            self.observe(acc, on_toggle, names="selected_index")
        self.open(start)
        if show_figure:
            self.render()

    def _build(self, node: ScaffoldNode, path: str) -> W.Widget:
        button = W.Button(description="about" if node.children else "open", icon="info-circle",
                          layout=W.Layout(width="90px"))
        button.on_click(lambda _b, path=path: self.open(path))
        self._buttons[path] = button
        if not node.children:
            return W.VBox([W.HTML(html.escape(node.description)), button])
        items = [self._build(c, f"{path}/{c.key}" if path else c.key) for c in node.children]
        acc = W.Accordion(children=items, titles=tuple(c.title for c in node.children), selected_index=None)
        self._accordions[path] = acc
        return W.VBox([button, acc]) if path else acc

    def _on_toggle(self, parent: str, index: int | None) -> None:
        """The card follows the branch the user opens (or goes back to the parent when it is closed)."""
        if index is None:
            self._show(parent)
            return
        child = find_node(parent).children[index]
        self._show(f"{parent}/{child.key}" if parent else child.key)

    def _show(self, key: str) -> None:
        self.current = key
        self.detail.value = node_html(find_node(key))
        self.set_status(f"showing: {key or 'root'}")

    @guarded
    def open(self, path: str) -> ScaffoldMap | None:
        """Expand the tree down to ``path`` (keys joined by ``/``; ``""`` = root) and show its card."""
        find_node(path)  # an unknown path raises before anything changes
        key = path.strip("/")
        parts = key.split("/") if key else []
        with self.holding():
            for depth in range(len(parts)):
                parent = "/".join(parts[:depth])
                acc = self._accordions[parent]
                children = [c.key for c in find_node(parent).children]
                acc.selected_index = children.index(parts[depth])
        self._show(key)
        return self

    def paths(self) -> list[str]:
        """Every node's path (root first)."""
        return [p for p, _ in iter_nodes()]

    def render(self) -> Figure:
        """Draw the static handout figure into the app's figure view and return the figure."""
        scaffold_figure(self.handout.figure)
        self.handout.redraw()
        return self.handout.figure


def scaffold_figure(figure: Figure | None = None, root: ScaffoldNode = SCAFFOLD, width: float | None = None) -> Figure:
    """Static drawing of the scaffold as a left-to-right tree (for handouts); returns the figure.

    Columns are placed from the measured width of their boxes and the figure's height follows the
    number of text lines, so every label stays at 9–10 pt inside a notebook column (``width``:
    default the given figure's width, or 9.5 in; at most 10 in). Lines that do not fit are wrapped.
    """
    from .plots import COLUMN_WIDTH, NotebookFigure

    w = min(10.0, float(width if width is not None else
                        (figure.get_figwidth() if figure is not None else COLUMN_WIDTH)))
    if figure is None:
        figure = NotebookFigure(figsize=(w, 4.0), dpi=100)
        FigureCanvasAgg(figure)
    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else FigureCanvasAgg(figure)
    nodes = list(iter_nodes(root))
    depth = {p: min(p.count("/") + 1 if p else 0, 2) for p, _ in nodes}
    size, pad, gap = {0: 10.0, 1: 10.0, 2: 9.0}, 0.3, 0.3   # font (pt), box pad (× font), column gap (in)
    leaves = [p for p, n in nodes if n.is_leaf]
    chars = 80
    while True:                                    # wrap lines until the three columns fit the width
        lines = {p: _node_lines(n, depth[p], chars) for p, n in nodes}
        line_h = 1.35 * size[2] / 72
        heights = {p: (len(lines[p]) + 1.1) * line_h for p in leaves}
        total = sum(heights.values()) + 0.1
        figure.clear()
        figure.set_size_inches(w, total)
        figure.set_layout_engine(None)
        ax = figure.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, w)
        ax.set_ylim(0, total)
        ax.axis("off")
        renderer = canvas.get_renderer()
        texts = {p: ax.text(0, 0, "\n".join(lines[p]), fontsize=size[depth[p]], va="center", ha="left")
                 for p, _ in nodes}
        widths = {p: t.get_window_extent(renderer).width / figure.dpi + 2 * pad * size[depth[p]] / 72
                  for p, t in texts.items()}
        col = [max(widths[p] for p in widths if depth[p] == d) for d in range(3)]
        if 0.1 + sum(col) + 2 * gap <= w - 0.05 or chars <= 20:
            break
        chars = int(chars * 0.85)
    xs = {0: 0.1, 1: 0.1 + col[0] + gap, 2: 0.1 + col[0] + col[1] + 2 * gap}
    ypos: dict[str, float] = {}
    top = total - 0.05
    for p in leaves:
        ypos[p] = top - heights[p] / 2
        top -= heights[p]
    for path, node in reversed(nodes):            # parents centred on their children
        if not node.is_leaf:
            kids = [f"{path}/{c.key}" if path else c.key for c in node.children]
            ypos[path] = sum(ypos[k] for k in kids) / len(kids)
    colours = {0: "#dfe8f5", 1: "#f5ecd6", 2: "#e3f2e1"}
    for path, node in nodes:
        d = depth[path]
        x, y = xs[d], ypos[path]
        texts[path].set_position((x + pad * size[d] / 72, y))
        texts[path].set_bbox(dict(boxstyle=f"round,pad={pad}", fc=colours[d], ec="0.6"))
        for child in node.children:
            cp = f"{path}/{child.key}" if path else child.key
            ax.plot([x + widths[path], xs[min(d + 1, 2)]], [y, ypos[cp]], color="0.6", lw=0.8)
    return figure


def _node_lines(node: ScaffoldNode, depth: int, chars: int) -> list[str]:
    """A node's box text: its title and, for leaves, one "→ link" line each, wrapped at ``chars``."""
    out = textwrap.wrap(node.title, chars) or [""]
    if depth < 2:
        return out
    for _, target in node.links:
        line = "→ " + target
        while len(line) > chars:
            cut = max(line.rfind("/", 0, chars), line.rfind(".", 0, chars), line.rfind(" ", 0, chars))
            cut = cut if cut > 4 else chars - 1
            out.append(line[:cut + 1])
            line = "    " + line[cut + 1:]
        out.append(line)
    return out
