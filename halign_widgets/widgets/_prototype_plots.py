"""Matplotlib drawing of the PrototypeBrowser (private): an image's top prototypes, one prototype's patches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor

__all__ = ["crop", "draw_box", "plot_explanation", "plot_placeholder", "plot_prototype"]

Box = tuple[int, int, int, int]


def _gray(ax: Any, image: Tensor) -> None:
    ax.imshow(image.permute(1, 2, 0).squeeze(-1).cpu().numpy(), cmap="gray", vmin=0, vmax=1)


def _clean(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


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


def _contour(ax: Any, mask: Tensor | None) -> None:
    if mask is not None and bool(mask.any()):
        ax.contour(mask.float().cpu().numpy(), levels=[0.5], colors="lime", linewidths=0.8)


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
    _contour(ax, mask)
    ax.set_title(title, fontsize=9)
    _clean(ax)
    w = image.shape[-1]
    for r, row in enumerate(rows):
        src = fig.add_subplot(grid[r, 1])
        part, box = crop(row["source"], row["source_box"])
        _gray(src, part)
        draw_box(src, box)
        src.set_title(row["note"], fontsize=8)
        _clean(src)
        axm = fig.add_subplot(grid[r, 2])
        heat = row["map"]
        scale = heat.shape[-1] / w
        if not raw:
            _gray(axm, image)
        shown = axm.imshow(heat.cpu().numpy(), cmap="magma", alpha=1.0 if raw else 0.55)
        draw_box(axm, row["box"], "cyan", scale=scale if raw else 1.0)
        if not raw:
            _contour(axm, mask)
        axm.set_title(row["label"], fontsize=8)
        _clean(axm)
        cb = fig.colorbar(shown, ax=axm, fraction=0.046, pad=0.03)
        cb.ax.tick_params(labelsize=8)
    fig.tight_layout()


def plot_prototype(fig: Figure, source: Tensor, mask: Tensor | None, record: Any, title: str,
                   neighbours: Sequence[dict[str, Any]]) -> None:
    """A prototype's source image (box red, receptive field dashed cyan, mask green), then its nearest patches."""
    fig.clear()
    axes = fig.subplots(1, 1 + len(neighbours), squeeze=False)[0]
    _gray(axes[0], source)
    _contour(axes[0], mask)
    draw_box(axes[0], record.box)
    draw_box(axes[0], record.receptive_field, "cyan", "--")
    axes[0].set_title(title, fontsize=8)
    for ax, nb in zip(axes[1:], neighbours, strict=False):
        part, box = crop(nb["image"], nb["box"])
        _gray(ax, part)
        draw_box(ax, box)
        ax.set_title(nb["label"], fontsize=8)
    for ax in axes:
        _clean(ax)
    fig.tight_layout()


def plot_placeholder(fig: Figure, text: str) -> None:
    """An empty panel that says what to do."""
    fig.clear()
    ax = fig.subplots()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=10, color="#555")
    ax.axis("off")
