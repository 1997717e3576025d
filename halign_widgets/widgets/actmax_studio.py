"""ActivationMaximizationStudio: watch a synthesized input evolve while it maximizes a unit.

A thin view over :func:`halign_widgets.explain.activation_maximization`; the optimization runs in a
worker thread, the image and the objective curve are redrawn (throttled) as it goes, Stop works.
"""

from __future__ import annotations

import threading
from typing import Any, Sequence

import ipywidgets as W
from torch import Tensor, nn

from ..explain.actmax import ActMaxResult, activation_maximization
from ..models import layer_shapes
from ..training import start_compute_thread
from ._app import App, guarded

__all__ = ["ActivationMaximizationStudio"]


class ActivationMaximizationStudio(App):
    """Pick a unit (class logit or channel of a conv layer), set the regularizers, Start / Stop.

    Parameters
    ----------
    model:
        The classifier.
    key:
        Replace-on-rerun key.
    classes:
        Class names for the class picker (default ``0 … K-1``).
    size:
        Side of the synthesized image.
    data_range:
        Intensity range of the data (the image never leaves it).

    Examples
    --------
    >>> studio = ActivationMaximizationStudio(model, classes=["benign", "malignant"])   # doctest: +SKIP
    >>> studio.steps.value = 100; studio.run(blocking=True).image.shape                # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, key: str | None = None, classes: Sequence[str] | None = None,
                 size: int = 64, data_range: tuple[float, float] = (0.0, 1.0)) -> None:
        super().__init__(key=key)
        self.model, self.size, self.data_range = model, int(size), data_range
        self.result: ActMaxResult | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._trajectory: list[float] = []
        self._unit: tuple | None = None
        in_ch = getattr(model, "in_channels", 1)
        self.shapes = layer_shapes(model, (int(in_ch), self.size, self.size))
        n_classes = int(getattr(model, "num_classes", 0) or len(classes or []) or 2)
        names = list(classes) if classes else [str(k) for k in range(n_classes)]
        st = {"description_width": "80px"}
        def lay() -> W.Layout:  # one Layout per widget: a shared one would hide them all together
            return W.Layout(width="300px")

        self.kind = W.ToggleButtons(options=["class", "channel"], value="class", description="unit", style=st)
        self.klass = W.Dropdown(options=[(f"{k}: {c}", k) for k, c in enumerate(names)], value=min(1, len(names) - 1),
                                description="class", style=st, layout=lay())
        self.layer = W.Dropdown(options=[(f"{n} ({'×'.join(map(str, s))})", n) for n, s in self.shapes.items()],
                                description="layer", style=st, layout=lay())
        self.channel = W.BoundedIntText(value=0, min=0, max=1, description="channel", style=st, layout=lay())
        common = dict(continuous_update=False, style=st)
        self.steps = W.IntSlider(value=200, min=10, max=1000, step=10, description="steps", layout=lay(), **common)
        self.lr = W.FloatLogSlider(value=0.05, base=10, min=-3, max=0, description="learning rate", layout=lay(), **common)
        self.l2 = W.FloatLogSlider(value=1e-3, base=10, min=-5, max=0, description="L2", layout=lay(), **common)
        self.tv = W.FloatLogSlider(value=0.05, base=10, min=-4, max=1, description="TV", layout=lay(), **common)
        self.blur_every = W.IntSlider(value=4, min=0, max=20, description="blur every", layout=lay(), **common)
        self.blur_sigma = W.FloatSlider(value=0.5, min=0.1, max=3.0, step=0.1, description="blur σ", layout=lay(), **common)
        self.jitter = W.IntSlider(value=2, min=0, max=8, description="jitter", layout=lay(), **common)
        self.param = W.ToggleButtons(options=["pixel", "fourier"], value="pixel", description="param", style=st)
        self.start_from = W.ToggleButtons(options=["noise", "mean"], value="noise", description="start", style=st)
        self.seed = W.IntText(value=0, description="seed", style=st, layout=W.Layout(width="160px"))
        self.start_button = W.Button(description="Start", icon="play", button_style="success")
        self.stop_button = W.Button(description="Stop", icon="stop", button_style="danger", disabled=True)
        self.view = self.figure(figsize=(7.0, 2.8), dpi=80, min_interval=0.4)
        self.track(self.kind, self.klass, self.layer, self.channel, self.steps, self.lr, self.l2, self.tv,
                   self.blur_every, self.blur_sigma, self.jitter, self.param, self.start_from, self.seed,
                   self.start_button, self.stop_button)
        self.layer.observe(self._on_layer, names="value")
        self.kind.observe(self._on_kind, names="value")
        self.start_button.on_click(lambda _b: self.run())
        self.stop_button.on_click(lambda _b: self.stop())
        self._on_layer({})
        self._on_kind({})
        ax_img, ax_curve = self.view.figure.subplots(1, 2)
        self._im = ax_img.imshow([[0.0]], cmap="gray", vmin=data_range[0], vmax=data_range[1])
        ax_img.set_xticks([])
        ax_img.set_yticks([])
        (self._line,) = ax_curve.plot([], [])
        ax_curve.set_xlabel("step", fontsize=8)
        ax_curve.set_ylabel("unit value", fontsize=8)
        self._axes = (ax_img, ax_curve)
        self.view.figure.subplots_adjust(top=0.86, bottom=0.18, wspace=0.3)
        unit_box = W.VBox([self.kind, self.klass, self.layer, self.channel])
        reg_box = W.VBox([self.steps, self.lr, self.l2, self.tv, self.blur_every, self.blur_sigma, self.jitter])
        self.set_body(W.HBox([unit_box, reg_box]),
                      W.HBox([self.param, self.start_from, self.seed]),
                      W.HBox([self.start_button, self.stop_button]), self.view.widget)
        self.ui.add_class("halign-actmax-studio")
        self.set_status("set a unit and press Start")

    # -- state -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while the worker thread optimizes."""
        return self._thread is not None and self._thread.is_alive()

    def unit(self) -> tuple:
        """The unit selected in the controls."""
        if self.kind.value == "class":
            return ("class", int(self.klass.value))
        return ("channel", str(self.layer.value), int(self.channel.value))

    def options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`activation_maximization` from the controls."""
        return dict(steps=self.steps.value, lr=self.lr.value, l2=self.l2.value, tv=self.tv.value,
                    blur_every=self.blur_every.value, blur_sigma=self.blur_sigma.value, jitter=self.jitter.value,
                    param=self.param.value, start=self.start_from.value, seed=self.seed.value,
                    data_range=self.data_range, size=self.size)

    # -- driving -----------------------------------------------------------------------
    @guarded
    def run(self, blocking: bool = False) -> ActMaxResult | None:
        """Start an optimization (stopping a running one first); ``blocking`` waits and returns the result."""
        self.stop()
        self.clear_error()
        self._stop = threading.Event()
        self._trajectory = []
        unit, opts = self.unit(), self.options()
        self._unit = unit
        self.start_button.disabled, self.stop_button.disabled = True, False
        self.set_status(f"optimizing {unit} …")
        self._thread = start_compute_thread(self._work, unit, opts, self._stop, name="halign-actmax")
        if blocking:
            self._thread.join()
            return self.result
        return None

    def stop(self, wait: bool = True) -> None:
        """Ask the worker to stop (it finishes the current step) and, with ``wait``, join it."""
        self._stop.set()
        if wait and self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    def close(self) -> None:
        self.stop()
        super().close()

    # -- worker ------------------------------------------------------------------------
    def _work(self, unit: tuple, opts: dict[str, Any], stop: threading.Event) -> None:
        try:
            self.result = activation_maximization(self.model, unit, callback=self._on_step, stop=stop, **opts)
            self._show(self.result.image, force=True)
            state = "stopped" if self.result.stopped else "done"
            last = self.result.trajectory[-1] if self.result.trajectory else float("nan")
            self.set_status(f"{state}: {len(self.result.trajectory)} steps in {self.result.seconds:.1f} s, "
                            f"unit value {last:.3f}")
        except Exception as exc:  # noqa: BLE001 - shown inline, the app stays usable
            self.show_error(exc)
            self.set_status("failed")
        finally:
            self.start_button.disabled, self.stop_button.disabled = False, True

    def _on_step(self, step: int, image: Tensor, value: float) -> None:
        self._trajectory.append(value)
        self._show(image, force=False)

    def _show(self, image: Tensor, force: bool) -> None:
        img = image[0].permute(1, 2, 0).squeeze(-1).numpy()
        self._im.set_data(img)
        ax_img, ax_curve = self._axes
        kind, *rest = self._unit or ("", "")
        ax_img.set_title(f"{kind} {' '.join(map(str, rest))}", fontsize=8)
        self._line.set_data(range(len(self._trajectory)), self._trajectory)
        ax_curve.relim()
        ax_curve.autoscale_view()
        self.view.redraw(throttle=not force)

    # -- callbacks -----------------------------------------------------------------------
    @guarded
    def _on_layer(self, _change: dict) -> None:
        if self.layer.value is not None:
            self.channel.max = int(self.shapes[self.layer.value][0]) - 1

    @guarded
    def _on_kind(self, _change: dict) -> None:
        is_class = self.kind.value == "class"
        self.klass.layout.display = None if is_class else "none"
        self.layer.layout.display = "none" if is_class else None
        self.channel.layout.display = "none" if is_class else None
