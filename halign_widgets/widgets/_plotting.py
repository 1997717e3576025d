"""Shared pieces of the figure helpers (private): the notebook figure, sizing, panels, image drawing.

See :mod:`halign_widgets.widgets.plots` for the public helpers and the rules they follow.
"""

from __future__ import annotations

import io
import math
import struct
import textwrap
from collections.abc import Sequence
from typing import Any

import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor

from ..errors import ConfigError, InputShapeError

__all__ = ["COLUMN_WIDTH", "LABEL_PT", "NotebookFigure", "SCALES", "TITLE_PT", "as_images", "column_width",
           "decorate_panel", "mask_at", "panel_grid", "prepare_figure", "register_sharp_png", "show_image",
           "titles_for", "wrap_text"]

#: Widest figure (inches) that a notebook column shows without shrinking its text.
COLUMN_WIDTH = 9.5
TITLE_PT, LABEL_PT = 9.0, 8.0
SCALES = ("per-map", "shared", "abs")


class NotebookFigure(Figure):
    """A figure that shows itself as a sharp PNG in a notebook, with or without pyplot.

    Created by the helpers when no figure is given. ``_repr_png_`` renders at twice the figure's
    dpi and asks the frontend to show it at the figure's own size, so text is never stretched.
    """

    def _repr_png_(self) -> tuple[bytes, dict[str, int]]:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=2 * self.dpi, bbox_inches="tight", facecolor="white")
        data = buf.getvalue()
        w, h = struct.unpack(">II", data[16:24])
        return data, {"width": w // 2, "height": h // 2}


def register_sharp_png(formatter: Any = None) -> bool:
    """Make IPython show every :class:`NotebookFigure` through its own sharp ``_repr_png_``.

    Once pyplot's inline backend is active in a kernel it registers a PNG printer for every
    matplotlib ``Figure`` (at 1× the dpi), and IPython prefers a printer registered for a type
    over the object's ``_repr_png_``; a printer registered for this subclass is found first along
    the class hierarchy, whatever the order of registration. ``formatter`` is IPython's
    ``image/png`` formatter (the running shell's when omitted); ``False`` outside IPython.
    """
    if formatter is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
        if shell is None:
            return False
        formatter = shell.display_formatter.formatters["image/png"]
    formatter.for_type(NotebookFigure, NotebookFigure._repr_png_)
    return True


def prepare_figure(fig: Figure | None, width: float | None, height: float) -> Figure:
    """``fig`` cleared and resized (or a new :class:`NotebookFigure`), with constrained layout."""
    if fig is None:
        fig = NotebookFigure(figsize=(width or COLUMN_WIDTH, height), dpi=100)
        FigureCanvasAgg(fig)
        register_sharp_png()
    else:
        fig.clear()
        fig.set_size_inches(width or fig.get_figwidth(), height)
    fig.set_layout_engine("constrained")
    engine: Any = fig.get_layout_engine()  # the constrained engine just set, whose set() takes the pads
    if engine is not None:
        engine.set(w_pad=0.02, h_pad=0.02, wspace=0.03, hspace=0.03)
    return fig


def column_width(fig: Figure | None, width: float | None) -> float:
    w = float(width if width is not None else (fig.get_figwidth() if fig is not None else COLUMN_WIDTH))
    if not 1.0 <= w <= 10.0:
        raise ConfigError(f"width must lie in [1, 10] inches (a notebook column), got {w}.")
    return w


def wrap_text(text: str, inches: float, points: float = TITLE_PT) -> str:
    """Wrap each line of ``text`` to about the number of characters that fit in ``inches``."""
    chars = max(6, int(inches * 72 / (0.58 * points)))
    return "\n".join(textwrap.fill(line, chars) if len(line) > chars else line for line in text.split("\n"))


def as_images(images: Tensor | Sequence[Tensor]) -> list[Tensor]:
    """A list of ``C×H×W`` (or ``H×W``) tensors from a batch or a sequence (leading 1s dropped)."""
    items = list(images) if not isinstance(images, Tensor) else (list(images) if images.dim() == 4 else [images])
    out = []
    for t in items:
        t = torch.as_tensor(t).detach().float().cpu()
        while t.dim() > 3 and t.shape[0] == 1:
            t = t[0]
        if t.dim() not in (2, 3):
            raise InputShapeError(f"an image must be C×H×W or H×W, got shape {tuple(t.shape)}.")
        out.append(t)
    if not out:
        raise InputShapeError("no images to draw; give at least one.")
    return out


def show_image(ax: Axes, image: Tensor, vmin: float | None = 0.0, vmax: float | None = 1.0) -> None:
    if image.dim() == 3 and image.shape[0] == 3:
        ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy())
    else:
        gray = image if image.dim() == 2 else image.mean(0)
        ax.imshow(gray.numpy(), cmap="gray", vmin=vmin, vmax=vmax)


def decorate_panel(ax: Axes, mask: Tensor | None = None, boxes: Sequence[Sequence[int]] = ()) -> None:
    """Mask contour (lime), boxes ``(y0, y1, x0, x1)`` (cyan), no ticks."""
    if mask is not None and bool(torch.as_tensor(mask).any()):
        ax.contour(torch.as_tensor(mask).float().squeeze().cpu().numpy(), levels=[0.5], colors="lime",
                   linewidths=0.8)
    for y0, y1, x0, x1 in boxes:
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="cyan", lw=1.0))
    ax.set_xticks([])
    ax.set_yticks([])


def panel_grid(fig: Figure, n: int, ncols: int, **kw: Any) -> list[Axes]:
    rows = math.ceil(n / ncols)
    axes = list(fig.subplots(rows, ncols, squeeze=False, **kw).flat)
    for ax in axes[n:]:
        ax.remove()
    return axes[:n]


def mask_at(masks: Tensor | None, i: int) -> Tensor | None:
    if masks is None:
        return None
    m = torch.as_tensor(masks)[i]
    return m[0] if m.dim() == 3 else m


def titles_for(given: Sequence[str] | None, n: int, default: Sequence[str], what: str) -> list[str]:
    if given is None:
        return list(default)
    given = list(given)
    if len(given) != n:
        raise ConfigError(f"{len(given)} {what} for {n} panels; give one per panel.")
    return [str(t) for t in given]
