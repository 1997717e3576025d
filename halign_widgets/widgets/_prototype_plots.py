"""Matplotlib drawing of the PrototypeBrowser (private): an image's top prototypes, one prototype's patches.

:func:`draw_similarity` (a map over the image) and :func:`draw_box` (a prototype's box) also draw
the prototype panels of the chapter's :func:`~halign_widgets.widgets.plots.plot_three_views`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle
from torch import Tensor

from ._plotting import decorate_panel, show_image

__all__ = ["crop", "draw_box", "draw_similarity", "plot_explanation", "plot_placeholder", "plot_prototype"]

Box = tuple[int, int, int, int]


def _gray(ax: Any, image: Tensor) -> None:
    show_image(ax, image.detach().float().cpu())


def draw_box(ax: Any, box: Box, color: str = "red", style: str = "-", scale: float = 1.0) -> None:
    """Outline a half-open pixel box ``(y0, y1, x0, x1)`` (``scale``: pixels per image pixel)."""
    y0, y1, x0, x1 = box
    ax.add_patch(Rectangle((x0 * scale - 0.5, y0 * scale - 0.5), (x1 - x0) * scale, (y1 - y0) * scale, fill=False,
                           ec=color, lw=1.2, ls=style))


def crop(image: Tensor, box: Box, margin: int = 2) -> tuple[Tensor, Box]:
    """The part of ``image`` (``C×H×W``) inside ``box`` plus ``margin`` pixels, and the box in crop coordinates."""
    h, w = image.shape[-2:]
    y0, y1, x0, x1 = box
    cy0, cy1, cx0, cx1 = max(0, y0 - margin), min(h, y1 + margin), max(0, x0 - margin), min(w, x1 + margin)
    return image[:, cy0:cy1, cx0:cx1], (y0 - cy0, y1 - cy0, x0 - cx0, x1 - cx0)


def draw_similarity(ax: Axes, image: Tensor, heat: Tensor, mask: Tensor | None = None, *, cmap: str = "magma",
                    raw: bool = False, box: Box | None = None, box_scale: float = 1.0) -> AxesImage:
    """``heat`` over ``image`` (``C×H×W``, alpha 0.55) with the mask's contour (lime), no ticks.

    ``raw``: the map alone on its own grid (no image, no mask). ``box`` (cyan) is in the map's
    pixels times ``box_scale``. Returns the map's image, for its colour bar.
    """
    if not raw:
        _gray(ax, image)
    shown = ax.imshow(heat.detach().float().cpu().numpy(), cmap=cmap, alpha=1.0 if raw else 0.55)
    if box is not None:
        draw_box(ax, box, "cyan", scale=box_scale)
    decorate_panel(ax, None if raw else mask)
    return shown


def plot_explanation(fig: Figure, image: Tensor, mask: Tensor | None, title: str, rows: Sequence[dict[str, Any]],
                     raw: bool) -> None:
    """The image, then per top prototype: its source patch (crop with the box) and its similarity map here.

    Each ``rows`` entry holds ``label`` (title of the map), ``source`` (the source image ``C×H×W``),
    ``source_box``, ``map`` (raw ``n×n`` or upsampled ``H×W``), ``box`` (high-activation box on
    this image) and ``note`` (title of the source crop).
    """
    fig.clear()
    n = max(1, len(rows))
    grid = fig.add_gridspec(n, 3, width_ratios=[1.25, 1, 1.2])
    ax = fig.add_subplot(grid[:, 0])
    _gray(ax, image)
    decorate_panel(ax, mask)
    ax.set_title(title, fontsize=9)
    w = image.shape[-1]
    for r, row in enumerate(rows):
        src = fig.add_subplot(grid[r, 1])
        part, box = crop(row["source"], row["source_box"])
        _gray(src, part)
        draw_box(src, box)
        src.set_title(row["note"], fontsize=8)
        decorate_panel(src)
        axm = fig.add_subplot(grid[r, 2])
        heat = row["map"]
        shown = draw_similarity(axm, image, heat, mask, raw=raw, box=row["box"],
                                box_scale=heat.shape[-1] / w if raw else 1.0)
        axm.set_title(row["label"], fontsize=8)
        cb = fig.colorbar(shown, ax=axm, fraction=0.046, pad=0.03)
        cb.ax.tick_params(labelsize=8)
    fig.tight_layout()


def plot_prototype(fig: Figure, source: Tensor, mask: Tensor | None, record: Any, title: str,
                   neighbours: Sequence[dict[str, Any]]) -> None:
    """A prototype's source image (box red, receptive field dashed cyan, mask green), then its nearest patches."""
    fig.clear()
    axes = fig.subplots(1, 1 + len(neighbours), squeeze=False)[0]
    _gray(axes[0], source)
    decorate_panel(axes[0], mask)
    draw_box(axes[0], record.box)
    draw_box(axes[0], record.receptive_field, "cyan", "--")
    axes[0].set_title(title, fontsize=8)
    for ax, nb in zip(axes[1:], neighbours, strict=False):
        part, box = crop(nb["image"], nb["box"])
        _gray(ax, part)
        draw_box(ax, box)
        ax.set_title(nb["label"], fontsize=8)
    for ax in axes:
        decorate_panel(ax)
    fig.tight_layout()


def plot_placeholder(fig: Figure, text: str) -> None:
    """An empty panel that says what to do."""
    fig.clear()
    ax = fig.subplots()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=10, color="#555")
    ax.axis("off")
