"""Shared plumbing of every app: inline errors, replace-on-rerun, figures as images, closing.

Private module: apps subclass :class:`App` and draw with :class:`FigureView`.

Conventions (see DESIGN.md, "Widgets"):

- build widgets once, update traits;
- a callback error is shown inside the app (:meth:`App.show_error`) and the app stays usable;
- creating an app with the same ``key`` as a live one closes the old one, so re-running a
  notebook cell replaces the app instead of leaking it;
- figures are plain :class:`matplotlib.figure.Figure` objects (no pyplot global state) rendered
  to PNG into an :class:`ipywidgets.Image`, which every frontend (JupyterLab, Notebook 7,
  VS Code, Voilà) displays without a custom extension.
"""

from __future__ import annotations

import functools
import html
import io
import threading
import time
import traceback
from typing import Any, Callable, ClassVar, TypeVar

import ipywidgets as W
import numpy as np
from PIL import Image as PILImage
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..errors import HalignError

__all__ = ["App", "FigureView", "guarded"]

F = TypeVar("F", bound=Callable[..., Any])


class FigureView:
    """A matplotlib figure shown as a PNG in an :class:`ipywidgets.Image`, redrawn on demand.

    Parameters
    ----------
    figsize:
        Figure size in inches.
    dpi:
        Resolution of the PNG.
    min_interval:
        Minimum seconds between two renders when ``redraw(throttle=True)`` is used.
    """

    def __init__(self, figsize: tuple[float, float] = (6.0, 3.0), dpi: int = 80, min_interval: float = 0.5) -> None:
        self.figure = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(self.figure)
        self.image = W.Image(format="png", layout=W.Layout(width="auto", max_width="100%"))
        self.min_interval = float(min_interval)
        self._last = 0.0
        self._lock = threading.Lock()
        self.renders = 0

    @property
    def widget(self) -> W.Image:
        """The widget to place in a layout."""
        return self.image

    def redraw(self, *, throttle: bool = False) -> bool:
        """Render the figure into the image widget; with ``throttle`` skip if rendered too recently.

        Returns ``True`` when a render happened.
        """
        now = time.monotonic()
        if throttle and now - self._last < self.min_interval:
            return False
        with self._lock:
            self.image.value = self.png()
            self._last = time.monotonic()
            self.renders += 1
        return True

    def png(self) -> bytes:
        """Render the figure to PNG bytes.

        Draws on the Agg canvas and encodes with Pillow at a low compression level: about 40 %
        cheaper than ``savefig`` for the small figures of the apps, so live curves cost little
        training time.
        """
        canvas = self.figure.canvas
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        buf = io.BytesIO()
        PILImage.fromarray(rgba[..., :3]).save(buf, format="png", compress_level=1)
        return buf.getvalue()

    def close(self) -> None:
        """Release the figure and the image widget."""
        self.figure.clear()
        self.image.close()


def guarded(method: F) -> F:
    """Decorate an app method used as a widget callback: exceptions are shown inline, not lost."""

    @functools.wraps(method)
    def wrapper(self: "App", *args: Any, **kwargs: Any) -> Any:
        try:
            result = method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every error must reach the user
            self.show_error(exc)
            return None
        return result

    return wrapper  # type: ignore[return-value]


class App:
    """Base class of the lab's apps.

    Subclasses build their widgets in ``__init__`` (calling ``super().__init__(key=...)`` first),
    put the top-level layout in ``self.ui`` children via :meth:`set_body`, and decorate
    callbacks with :func:`guarded`.

    Parameters
    ----------
    key:
        Identity used for replace-on-rerun; defaults to the class name, so one live app per class.
    """

    _live: ClassVar[dict[str, "App"]] = {}

    def __init__(self, *, key: str | None = None) -> None:
        self.key = key or type(self).__name__
        old = App._live.get(self.key)
        if old is not None and old is not self:
            old.close()
        App._live[self.key] = self
        self.closed = False
        self.last_error: BaseException | None = None
        self.error_box = W.HTML(value="", layout=W.Layout(display="none"))
        self.status = W.HTML(value="")
        self.ui = W.VBox([])
        self.ui.add_class("halign-app")
        self.ui.add_class(f"halign-{type(self).__name__}")  # lets browser tests find an app
        self._widgets: list[W.Widget] = [self.error_box, self.status, self.ui]
        self._figures: list[FigureView] = []

    # -- building -------------------------------------------------------------------------
    def set_body(self, *children: W.Widget) -> None:
        """Set the app's content; the error box and status line are appended below it."""
        self.ui.children = (*children, self.error_box, self.status)

    def track(self, *widgets: W.Widget) -> None:
        """Register widgets to close with the app."""
        self._widgets.extend(widgets)

    def figure(self, figsize: tuple[float, float] = (6.0, 3.0), dpi: int = 80, min_interval: float = 0.5) -> FigureView:
        """Create a :class:`FigureView` owned (and closed) by this app."""
        view = FigureView(figsize, dpi, min_interval)
        self._figures.append(view)
        return view

    # -- messages -------------------------------------------------------------------------
    def show_error(self, exc: BaseException) -> None:
        """Show ``exc`` inline in the app (red box); the app stays usable."""
        self.last_error = exc
        kind = type(exc).__name__
        text = html.escape(str(exc) or kind)
        detail = ""
        if not isinstance(exc, HalignError):
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=4))
            detail = f"<details><summary>details</summary><pre>{html.escape(tb)}</pre></details>"
        self.error_box.value = (f"<div style='color:#a00;border:1px solid #a00;padding:4px;border-radius:3px'>"
                                f"<b>{kind}</b>: {text}{detail}</div>")
        self.error_box.layout.display = "block"

    def clear_error(self) -> None:
        """Hide the error box."""
        self.last_error = None
        self.error_box.value = ""
        self.error_box.layout.display = "none"

    def set_status(self, text: str) -> None:
        """Set the one-line status shown under the app."""
        self.status.value = f"<span style='color:#444'>{html.escape(text)}</span>"

    # -- life cycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Close every widget and figure of the app (subclasses stop their workers first)."""
        if self.closed:
            return
        self.closed = True
        for view in self._figures:
            view.close()
        for widget in self._widgets:
            widget.close()
        if App._live.get(self.key) is self:
            del App._live[self.key]

    def _ipython_display_(self) -> None:  # pragma: no cover - exercised in notebooks
        from IPython.display import display

        display(self.ui)

    @property
    def widget(self) -> W.VBox:
        """The top-level widget (for embedding the app in another layout)."""
        return self.ui
