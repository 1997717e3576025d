"""FigureView: a matplotlib figure shown as a sharp PNG in an :class:`ipywidgets.Image` (private).

Figures are plain :class:`matplotlib.figure.Figure` objects (no pyplot global state) rendered to
PNG into an :class:`ipywidgets.Image`, which every frontend (JupyterLab, Notebook 7, VS Code,
Voilà) displays without a custom extension.

The PNG is rendered at ``scale`` × the figure's dpi and displayed at the figure's own size in CSS
pixels (``figsize × dpi``), so text stays sharp on high-density screens and is never stretched;
``max_width: 100%`` shrinks it (never enlarges it) in a narrow column.
"""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import ipywidgets as W
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image as PILImage

__all__ = ["FigureView"]


class FigureView:
    """A matplotlib figure shown as a PNG in an :class:`ipywidgets.Image`, redrawn on demand.

    Parameters
    ----------
    figsize:
        Figure size in inches.
    dpi:
        CSS pixels per inch at which the figure is displayed (96 = the browser's 100 % zoom).
    min_interval:
        Minimum seconds between two renders when ``redraw(throttle=True)`` is used.
    scale:
        Rendering resolution relative to the display size (2 = sharp on high-density screens).
    """

    def __init__(self, figsize: tuple[float, float] = (6.0, 3.0), dpi: int = 96, min_interval: float = 0.5,
                 scale: float = 2.0) -> None:
        self.figure = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(self.figure)
        self.dpi, self.scale = float(dpi), float(scale)
        width = int(round(figsize[0] * dpi))
        self.image = W.Image(format="png", layout=W.Layout(width=f"{width}px", max_width="100%", height="auto"))
        self.min_interval = float(min_interval)
        self._last = 0.0
        self._lock = threading.Lock()
        self.renders = 0

    @property
    def widget(self) -> W.Image:
        """The widget to place in a layout."""
        return self.image

    @property
    def display_width(self) -> int:
        """Width in CSS pixels at which the image is shown."""
        return int(round(self.figure.get_figwidth() * self.dpi))

    def redraw(self, *, throttle: bool = False) -> bool:
        """Render the figure into the image widget; with ``throttle`` skip if rendered too recently.

        Returns ``True`` when a render happened.
        """
        now = time.monotonic()
        if throttle and now - self._last < self.min_interval:
            return False
        with self._lock:
            self.image.layout.width = f"{self.display_width}px"   # the figure may have been resized
            self.image.value = self.png()
            self._last = time.monotonic()
            self.renders += 1
        return True

    def placeholder(self, text: str) -> None:
        """Replace the figure by a centred grey message ("computing …", "pick a cause") and render it."""
        self.figure.clear()
        self.figure.text(0.5, 0.5, text, ha="center", va="center", fontsize=10, color="0.4")
        self.redraw()

    def png(self) -> bytes:
        """Render the figure to PNG bytes at ``dpi × scale``.

        Draws on the Agg canvas and encodes with Pillow at a low compression level: about 40 %
        cheaper than ``savefig`` for the small figures of the apps, so live curves cost little
        training time.
        """
        fig = self.figure
        fig.set_dpi(self.dpi * self.scale)
        try:
            canvas: Any = fig.canvas  # drawn with Agg, which has buffer_rgba
            canvas.draw()
            rgba = np.asarray(canvas.buffer_rgba())
        finally:
            fig.set_dpi(self.dpi)
        buf = io.BytesIO()
        PILImage.fromarray(rgba[..., :3]).save(buf, format="png", compress_level=1)
        return buf.getvalue()

    def close(self) -> None:
        """Release the figure and the image widget."""
        self.figure.clear()
        self.image.close()
