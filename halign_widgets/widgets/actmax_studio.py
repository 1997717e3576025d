"""ActivationMaximizationStudio: watch a synthesized input evolve while it maximizes a unit.

A thin view over :func:`halign_widgets.explain.activation_maximization`; the optimization runs in a
worker thread, the image and the objective curve are redrawn (throttled) as it goes, Stop works.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import ipywidgets as W
from torch import Tensor, nn

from ..errors import ConfigError
from ..explain.actmax import ActMaxResult, activation_maximization
from ..models import in_channels, layer_shapes
from ..validation import check_int
from ._app import App, RangeIntText, guarded

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
    >>> studio.steps.value = 100; studio.run().image.shape                # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, key: str | None = None, classes: Sequence[str] | None = None,
                 size: int = 64, data_range: tuple[float, float] = (0.0, 1.0)) -> None:
        if not (len(data_range) == 2 and float(data_range[0]) < float(data_range[1])):
            raise ConfigError(f"data_range must be (low, high) with low < high, got {data_range!r}.")
        size = check_int("size", size, 4, hint="pixels per side")
        super().__init__(key=key)
        self.model, self.size, self.data_range = model, int(size), data_range
        self.result: ActMaxResult | None = None
        self._trajectory: list[float] = []
        self._unit: tuple | None = None
        in_ch = in_channels(model) or 1
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
        self.channel = RangeIntText(value=0, min=0, max=1, description="channel", style=st, layout=lay())
        common = dict(continuous_update=False, style=st)
        self.steps = W.IntSlider(value=200, min=10, max=1000, step=10, description="steps", layout=lay(), **common)
        self.lr = W.FloatLogSlider(value=0.05, base=10, min=-3, max=0, description="learning rate", layout=lay(),
                                   **common)
        self.l2 = W.FloatLogSlider(value=1e-3, base=10, min=-5, max=0, description="L2", layout=lay(), **common)
        self.tv = W.FloatLogSlider(value=0.05, base=10, min=-4, max=1, description="TV", layout=lay(), **common)
        self.blur_every = W.IntSlider(value=4, min=0, max=20, description="blur every", layout=lay(), **common)
        self.blur_sigma = W.FloatSlider(value=0.5, min=0.1, max=3.0, step=0.1, description="blur σ", layout=lay(),
                                        **common)
        self.jitter = W.IntSlider(value=2, min=0, max=8, description="jitter", layout=lay(), **common)
        self.param = W.ToggleButtons(options=["pixel", "fourier"], value="pixel", description="param", style=st)
        self.start_from = W.ToggleButtons(options=["noise", "mean"], value="noise", description="start", style=st)
        self.seed = W.IntText(value=0, description="seed", style=st, layout=W.Layout(width="160px"))
        self.start_button = W.Button(description="Start", icon="play", button_style="success")
        self.stop_button = W.Button(description="Stop", icon="stop", button_style="danger", disabled=True)
        self.progress = W.IntProgress(value=0, min=0, max=1, description="steps", style=st,
                                      layout=W.Layout(width="300px"))
        self.view = self.figure(figsize=(7.0, 2.8), min_interval=0.4)
        self.track(self.kind, self.klass, self.layer, self.channel, self.steps, self.lr, self.l2, self.tv,
                   self.blur_every, self.blur_sigma, self.jitter, self.param, self.start_from, self.seed,
                   self.start_button, self.stop_button)
        self.observe(self.layer, self._on_layer)
        self.observe(self.kind, self._on_kind)
        self.observe([self.param, self.blur_every], self._on_param)
        self.start_button.on_click(lambda _b: self.run(background=True))
        self.stop_button.on_click(lambda _b: self.stop())
        self.worker_buttons(self.start_button, self.stop_button)
        self._on_layer({})
        self._on_kind({})
        self._on_param({})
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
                      W.HBox([self.start_button, self.stop_button, self.progress]), self.view.widget)
        self.ui.add_class("halign-actmax-studio")
        self.set_status("set a unit and press Start")

    # -- state -------------------------------------------------------------------------
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
    def run(self, background: bool = False) -> ActMaxResult | None:
        """Optimize the selected unit (stopping a running optimization first).

        ``background=True`` (the Start button) runs in the app's worker and returns ``None``;
        otherwise the call returns the :class:`~halign_widgets.explain.actmax.ActMaxResult`.
        """
        unit, opts = self.unit(), self.options()
        return self.execute(self._work, unit, opts, background=background)

    # -- worker ------------------------------------------------------------------------
    def _work(self, stop: threading.Event, unit: tuple, opts: dict[str, Any]) -> ActMaxResult:
        self._unit, self._trajectory = unit, []
        self._t0 = self._last_tick = time.perf_counter()
        self.progress.max, self.progress.value = max(1, int(opts["steps"])), 0
        self.set_status(f"optimizing {unit} …")
        try:
            result = activation_maximization(self.model, unit, callback=self._on_step, stop=stop, **opts)
        except Exception:
            self.set_status("failed")
            raise
        self.result = result
        self.progress.value = len(result.trajectory)
        self._show(result.image, force=True)
        state = "stopped" if result.stopped else "done"
        last = result.trajectory[-1] if result.trajectory else float("nan")
        self.set_status(f"{state}: {len(result.trajectory)} steps in {result.seconds:.1f} s, unit value {last:.3f}")
        return result

    def _on_step(self, step: int, image: Tensor, value: float) -> None:
        self._trajectory.append(value)
        now = time.perf_counter()
        if now - self._last_tick >= 0.2 or step + 1 == self.progress.max:   # ≤ 5 updates per second
            self._last_tick = now
            self.progress.value = step + 1
            left = (now - self._t0) / (step + 1) * (self.progress.max - step - 1)
            self.set_status(f"step {step + 1}/{self.progress.max} · unit value {value:.3f} · "
                            f"{now - self._t0:.1f} s, about {left:.0f} s left")
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
    def _on_layer(self, _change: dict) -> None:
        if self.layer.value is not None:
            self.channel.max = int(self.shapes[self.layer.value][0]) - 1

    def _on_param(self, _change: dict) -> None:
        # blur only acts on the pixel parameterization; its sigma only when blurring at all
        pixel = self.param.value == "pixel"
        self.blur_every.disabled = not pixel
        self.blur_sigma.disabled = not pixel or self.blur_every.value == 0

    def _on_kind(self, _change: dict) -> None:
        is_class = self.kind.value == "class"
        self.klass.layout.display = None if is_class else "none"
        self.layer.layout.display = "none" if is_class else None
        self.channel.layout.display = "none" if is_class else None
