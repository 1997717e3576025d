"""The one lifecycle every app shares: replace-on-rerun, inline errors, a worker, closing (private).

Apps subclass :class:`App` and draw with :class:`FigureView` (:mod:`._figure`). What the base gives
every app, so that no app writes it again (DESIGN.md, "Widgets"):

**Building and replacing.** A subclass builds its widgets in ``__init__`` (calling
``super().__init__(key=...)`` first) and puts its layout in place with :meth:`App.set_body`.
Constructing an app with the ``key`` of a live one *replaces* it — but only once the new app was
built: a constructor that raises (a typo in a method name, an index out of range) closes what it
had created and leaves the working app alone.

**Callbacks.** :func:`guarded` methods show any exception inline (red box) and return ``None``;
the error box clears at the start of the next guarded action, so an error never outlives a
success. :meth:`App.observe` connects controls to a guarded callback that is skipped while the
app sets several controls at once (``with app.holding(): ...``). Every float control an app
creates refuses a non-finite number (a NaN typed into a box) by putting the previous value back
and saying so, so the app never keeps failing on a value the user cannot see; a
:class:`RangeIntText` (image index, channel) out of range is brought to the nearest bound and the
status line says so.

**One worker.** :meth:`App.start_worker` runs ``target(stop_event, *args)`` in a background thread
(after releasing the notebook thread's idle OpenMP pool, see
:func:`halign_widgets.training.start_compute_thread`); :meth:`App.stop` asks it to stop and waits,
:meth:`App.wait` waits, :attr:`App.running` tells. A second start either replaces the running work
(``replace=True``: explorers recompute for the newest setting) or is refused
(:class:`~halign_widgets.errors.TrainingBusyError`: never two trainings at once). The worker's
Start button is disabled and its Stop button enabled while it runs (Start also while a synchronous
``run()`` blocks), and Stop clears the error box (:meth:`App.worker_buttons`). Inside the worker,
:func:`check_stop` raises :class:`WorkerStopped` when Stop was pressed. Every app exposes the same
verbs: ``run(background=False)`` (synchronous by default, for scripts and tests; the buttons pass
``background=True``), ``stop()``, ``wait()``, ``close()``.

**Closing frees everything.** :meth:`App.close` stops the worker, closes every widget the app
created (containers, layouts and styles included, found both from the widgets created during
construction and by walking the widget tree), its figures and the apps it adopted
(:meth:`App.adopt`), and drops its references to them, so a closed app is garbage-collected and
re-running a cell twenty times leaves the count of live widgets where it was.
"""

from __future__ import annotations

import functools
import html
import math
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar, cast

import ipywidgets as W
from ipywidgets.widgets.widget import _instances

from ..errors import ConfigError, HalignError, TrainingBusyError
from ..training import start_compute_thread
from ._figure import FigureView

__all__ = ["App", "FigureView", "RangeIntText", "WorkerStopped", "check_stop", "guarded", "live_widget_count"]

P = ParamSpec("P")
R = TypeVar("R")
A = TypeVar("A", bound="App")


class WorkerStopped(Exception):
    """Raised inside a worker when Stop was pressed (:func:`check_stop`); ends the worker quietly."""


def check_stop(stop: threading.Event | None) -> None:
    """Raise :class:`WorkerStopped` if ``stop`` is set (call it between steps of long work)."""
    if stop is not None and stop.is_set():
        raise WorkerStopped()


def live_widget_count() -> int:
    """Number of ipywidgets alive in this process (what a leak test compares)."""
    return len(_instances)


def guarded(method: Callable[Concatenate[A, P], R]) -> Callable[Concatenate[A, P], R | None]:
    """Decorate an app method used as a widget callback: errors are shown inline, not lost.

    The error box is cleared when the call starts, so a previous error disappears with the next
    action; if the call raises, its error is shown instead and ``None`` is returned. The type says
    so: a method declared ``-> X`` is ``-> X | None`` once guarded, and the type checker makes its
    callers handle the ``None`` (write ``-> X | None`` on the method too, so readers see it).
    """

    @functools.wraps(method)
    def wrapper(self: A, /, *args: P.args, **kwargs: P.kwargs) -> R | None:
        if self.closed:
            return None
        self.clear_error()
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every error must reach the user
            self.show_error(exc)
            return None

    return wrapper


def _children_of(widget: W.Widget) -> Iterator[W.Widget]:
    """The widgets a widget refers to through its synced traits (children, layout, style …)."""
    for name in getattr(widget, "keys", ()):
        try:
            value = getattr(widget, name)
        except Exception:  # noqa: BLE001 - a trait that cannot be read holds no widget
            continue
        if isinstance(value, W.Widget):
            yield value
        elif isinstance(value, (list, tuple)):
            yield from (v for v in value if isinstance(v, W.Widget))


def widget_tree(roots: Iterable[W.Widget]) -> list[W.Widget]:
    """Every widget reachable from ``roots`` (each once)."""
    seen: dict[int, W.Widget] = {}
    stack = [w for w in roots if isinstance(w, W.Widget)]
    while stack:
        widget = stack.pop()
        if id(widget) in seen:
            continue
        seen[id(widget)] = widget
        stack.extend(_children_of(widget))
    return list(seen.values())


_FLOAT_CONTROLS = (W.FloatSlider, W.FloatLogSlider, W.FloatText, W.BoundedFloatText)


class RangeIntText(W.IntText):
    """An integer box that its app keeps within ``[min, max]`` — and says so when it has to.

    ``BoundedIntText`` clamps silently (image 9999 quietly became image 44); here a value outside
    the range is brought to the nearest bound and the app's status line reports it. ``min`` and
    ``max`` are plain attributes the app may change (e.g. the channels of another layer).
    """

    def __init__(self, *, min: int = 0, max: int = 0, **kwargs: Any) -> None:  # noqa: A002 - ipywidgets' names
        super().__init__(**kwargs)
        self.min, self.max = int(min), int(max)

    def outside(self, value: Any) -> bool:
        """True when ``value`` is an integer outside ``[min, max]``."""
        return isinstance(value, int) and not self.min <= value <= self.max


class _AppMeta(type):
    """Builds an app, then replaces the live app of the same key; a failed build closes its widgets."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        before = set(_instances)
        app = cast(Any, cls).__new__(cls)
        try:
            app.__init__(*args, **kwargs)
        except BaseException:
            for model_id in set(_instances) - before:
                widget = _instances.get(model_id)
                if widget is not None:
                    widget.close()
            raise
        app._created = [w for mid in set(_instances) - before if (w := _instances.get(mid)) is not None]
        app._activate()
        return app


class App(metaclass=_AppMeta):
    """Base class of the lab's apps (see the module docstring for the lifecycle).

    Parameters
    ----------
    key:
        Identity used for replace-on-rerun; defaults to the class name, so one live app per class.

    Attributes
    ----------
    ui:
        The top-level widget (shown when the app is the last expression of a cell).
    last_error:
        The exception shown in the error box, or ``None``.
    closed:
        True once :meth:`close` ran.
    """

    _live: ClassVar[dict[str, App]] = {}
    #: Seconds :meth:`stop` waits for a worker to end.
    STOP_TIMEOUT: ClassVar[float] = 30.0

    def __init__(self, *, key: str | None = None) -> None:
        self.key = key or type(self).__name__
        self.closed = False
        self.last_error: BaseException | None = None
        self.error_box = W.HTML(value="", layout=W.Layout(display="none"))
        self.status = W.HTML(value="")
        self.ui = W.VBox([])
        self.ui.add_class("halign-app")
        self.ui.add_class(f"halign-{type(self).__name__}")  # lets browser tests find an app
        self._widgets: list[W.Widget] = [self.error_box, self.status, self.ui]
        self._created: list[W.Widget] = []
        self._figures: list[FigureView] = []
        self._children: list[App] = []
        self._held = 0
        self._refused: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._start_button: W.Button | None = None
        self._stop_button: W.Button | None = None

    def _activate(self) -> None:
        for widget in self._created:   # every float control of the app refuses NaN / ±inf
            if isinstance(widget, _FLOAT_CONTROLS):
                widget.observe(self._refuse_non_finite, names="value")
            elif isinstance(widget, RangeIntText):
                widget.observe(self._clamp_to_range, names="value")
        old = App._live.get(self.key)
        if old is not None and old is not self:
            old.close()
        App._live[self.key] = self

    # -- building -------------------------------------------------------------------------
    def set_body(self, *children: W.Widget) -> None:
        """Set the app's content; the error box and status line are appended below it."""
        self.ui.children = (*children, self.error_box, self.status)

    def track(self, *widgets: W.Widget) -> None:
        """Register widgets to close with the app (widgets created in ``__init__`` are found anyway)."""
        self._widgets.extend(widgets)

    def figure(self, figsize: tuple[float, float] = (6.0, 3.0), dpi: int = 96,
               min_interval: float = 0.5) -> FigureView:
        """Create a :class:`FigureView` owned (and closed) by this app."""
        view = FigureView(figsize, dpi, min_interval)
        self._figures.append(view)
        return view

    def adopt(self, app: App) -> App:
        """Own another app shown inside this one: it is closed with this app."""
        self._children.append(app)
        return app

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Within the block, callbacks connected with :meth:`observe` do not fire."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1

    @property
    def held(self) -> bool:
        """True inside :meth:`holding`."""
        return self._held > 0

    def observe(self, widgets: W.Widget | Iterable[W.Widget], callback: Callable[[dict[str, Any]], Any],
                names: str = "value") -> None:
        """Call ``callback(change)`` (guarded) when a control changes, except while :meth:`holding`.

        A non-finite float (NaN, ±inf) never reaches ``callback``: the control gets its previous
        value back and a :class:`~halign_widgets.errors.ConfigError` is shown.
        """
        widgets = [widgets] if isinstance(widgets, W.Widget) else list(widgets)

        def handler(change: dict[str, Any]) -> None:
            new, owner = change.get("new"), change.get("owner")
            if self.held or self.closed or (isinstance(new, float) and not math.isfinite(new)):
                return  # a non-finite number is put back by _refuse_non_finite
            if isinstance(owner, RangeIntText) and owner.outside(new):
                return  # _clamp_to_range brings it into range (and this handler then runs again)
            self._guarded_call(callback, change)

        for widget in widgets:
            widget.observe(handler, names=names)

    def _clamp_to_range(self, change: dict[str, Any]) -> None:
        """Bring a :class:`RangeIntText` value back into its range and say what was done."""
        box, new = change["owner"], change["new"]
        if self.closed or not box.outside(new):
            return
        clamped = min(max(new, box.min), box.max)
        box.value = clamped                   # the app's callbacks run for the clamped value …
        label = box.description or change["name"]
        self.set_status(f"{label} {new} is outside {box.min}–{box.max}: showing {label} {clamped}")  # … then this

    def _refuse_non_finite(self, change: dict[str, Any]) -> None:
        """Put the previous value back when a float control receives NaN or ±inf, and say so."""
        new = change.get("new")
        if self.closed:
            return
        if not (isinstance(new, float) and not math.isfinite(new)):
            if self.last_error is not None and self.last_error is self._refused:
                self.clear_error()          # a usable value replaces the one refused
            return
        owner = change["owner"]
        with self.holding():
            setattr(owner, change["name"], change["old"])
        label = getattr(owner, "description", "") or change["name"]
        self._refused = ConfigError(f"{label} = {new} is not a number the app can use; it was set back to "
                                    f"{change['old']}. Give a finite value.")
        self.show_error(self._refused)

    @guarded
    def _guarded_call(self, callback: Callable[..., Any], *args: Any) -> Any:
        return callback(*args)

    # -- messages -------------------------------------------------------------------------
    def show_error(self, exc: BaseException) -> None:
        """Show ``exc`` inline in the app (red box); the app stays usable."""
        if self.closed:
            return
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
        if self.closed or self.last_error is None and not self.error_box.value:
            return
        self.last_error = None
        self.error_box.value = ""
        self.error_box.layout.display = "none"

    def set_status(self, text: str) -> None:
        """Set the one-line status shown under the app."""
        if not self.closed:
            self.status.value = f"<span style='color:#444'>{html.escape(text)}</span>"

    # -- the worker -------------------------------------------------------------------------
    def worker_buttons(self, start: W.Button | None = None, stop: W.Button | None = None) -> None:
        """Declare the Start and Stop buttons: Start is disabled and Stop enabled while a worker runs."""
        self._start_button, self._stop_button = start, stop
        self._show_running(self.running)

    def _show_running(self, running: bool, stoppable: bool = True) -> None:
        if self.closed:
            return
        if self._start_button is not None:
            self._start_button.disabled = running
        if self._stop_button is not None:
            self._stop_button.disabled = not (running and stoppable)

    @property
    def running(self) -> bool:
        """True while the app's worker thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def start_worker(self, target: Callable[..., Any], *args: Any, replace: bool = True,
                     name: str | None = None) -> threading.Thread:
        """Run ``target(stop_event, *args)`` in the app's background thread and return the thread.

        Parameters
        ----------
        target:
            The work; it should call :func:`check_stop` (or test ``stop_event.is_set()``) between
            steps. Exceptions are shown inline; :class:`WorkerStopped` sets the status to "stopped".
        replace:
            If a worker is running: stop it and start this one (``True``), or refuse with
            :class:`~halign_widgets.errors.TrainingBusyError` (``False``).
        """
        if self.running:
            if not replace:
                raise TrainingBusyError("this app is still working (training or computing): press Stop (or "
                                        "call app.stop()) and wait for it to end before starting again.")
            self.stop(wait=True)
        stop = threading.Event()
        self._stop_event = stop
        self._show_running(True)
        self._thread = start_compute_thread(self._worker_main, target, stop, args,
                                            name=name or f"halign-{type(self).__name__}")
        return self._thread

    def execute(self, target: Callable[..., Any], *args: Any, background: bool = False,
                replace: bool = True) -> Any:
        """Run ``target(stop_event, *args)`` now (returning its result) or, with ``background``, in the worker.

        The synchronous path is what ``app.run()`` does in scripts and tests; it first stops a
        running worker (``replace``) or refuses while one runs. Errors propagate to the caller
        (a :func:`guarded` method shows them).
        """
        if background:
            self.start_worker(target, *args, replace=replace)
            return None
        if replace:
            self.stop(wait=True)
        else:
            self.require_idle("start again")
        # Start is disabled while the call blocks too (a click would only queue a second run); Stop stays
        # disabled, since the kernel could not take its click before the call has returned
        self._show_running(True, stoppable=False)
        try:
            return target(threading.Event(), *args)
        finally:
            self._show_running(self.running)

    def _worker_main(self, target: Callable[..., Any], stop: threading.Event, args: tuple[Any, ...]) -> None:
        try:
            target(stop, *args)
        except WorkerStopped:
            self.set_status("stopped")
        except Exception as exc:  # noqa: BLE001 - shown inline, the app stays usable
            self.show_error(exc)
        finally:
            if self._stop_event is stop:
                self._show_running(False)
            self._worker_finished()

    def _worker_finished(self) -> None:
        """Hook: called in the worker thread when it ends (after success, stop or failure)."""

    def _stop_requested(self) -> None:
        """Hook: called by :meth:`stop` (e.g. to forward the request to a Trainer)."""

    def stop(self, wait: bool = True) -> None:
        """Ask the worker to stop after its current step; with ``wait``, wait for it to end.

        Stopping a running worker is an action like any other: it clears the error box (a refused
        second Start, a value put back), so no error outlives it. An error of the work itself is
        shown when the worker ends.
        """
        if self.running and threading.current_thread() is not self._thread:
            self.clear_error()
        self._stop_event.set()
        self._stop_requested()
        thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join(self.STOP_TIMEOUT)
        if not self.running:
            self._show_running(False)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the worker; ``True`` if no worker runs any more (``False`` on timeout)."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        return not self.running

    def require_idle(self, action: str) -> None:
        """Raise :class:`~halign_widgets.errors.TrainingBusyError` if the worker runs (e.g. before an edit)."""
        if self.running:
            raise TrainingBusyError(f"cannot {action} while the app is working; press Stop (or call app.stop()) "
                                    "and try again when it has ended.")

    # -- life cycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Stop the worker, close every widget, figure and adopted app, and drop the references."""
        if self.closed:
            return
        self.stop(wait=True)
        self.closed = True
        for child in self._children:
            child.close()
        for widget in widget_tree([*self._widgets, *self._created, *(v.widget for v in self._figures)]):
            widget.close()
        for view in self._figures:
            view.close()
        if App._live.get(self.key) is self:
            del App._live[self.key]
        self._widgets, self._created, self._figures, self._children = [], [], [], []

    def _ipython_display_(self) -> None:  # pragma: no cover - exercised in notebooks
        from IPython.display import display

        display(self.ui)

    @property
    def widget(self) -> W.VBox:
        """The top-level widget (for embedding the app in another layout)."""
        return self.ui
