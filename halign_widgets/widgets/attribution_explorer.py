"""AttributionExplorer: several attribution / CAM maps of one image side by side, with metrics.

A thin view over :func:`halign_widgets.explain.explain` and (when available)
:func:`halign_widgets.explain.metrics.deletion_insertion`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import ipywidgets as W
import torch
from torch import nn

from ..errors import TargetOutOfRangeError, unknown_name
from ..explain import Explanation, explain, list_methods
from ..explain._registry import METHODS
from ..explain.metrics._common import predict_probs
from ..models import layer_shapes
from ._app import App, RangeIntText, guarded
from .plots import plot_attributions, plot_deletion_insertion

__all__ = ["AttributionExplorer"]

DEFAULT_METHODS = ("gradcam", "saliency", "integrated_gradients")
#: Options that keep slow methods interactive in the app (the library defaults stay unchanged).
APP_OPTIONS: dict[str, dict[str, Any]] = {"rise": {"n_masks": 300}, "integrated_gradients": {"n_steps": 16}}


class AttributionExplorer(App):
    """Pick an image, a target class, methods and a layer; see the maps and their deletion/insertion curves.

    Parameters
    ----------
    model:
        The classifier to explain.
    dataset:
        An :class:`~halign_widgets.data.ImageDataset` (its ground-truth masks, if any, are drawn as
        contours).
    key:
        Replace-on-rerun key (see :class:`~halign_widgets.widgets._app.App`).
    methods:
        Methods selected at start.
    steps:
        Steps of the deletion / insertion curves.

    Examples
    --------
    >>> app = AttributionExplorer(model, world.test)                           # doctest: +SKIP
    >>> app.select(index=3, methods=["gradcam", "scorecam"], target=1)          # doctest: +SKIP
    >>> app.explanations["scorecam"].maps.shape                                 # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, dataset: Any, key: str | None = None,
                 methods: Sequence[str] = DEFAULT_METHODS, steps: int = 16) -> None:
        super().__init__(key=key)
        self.model, self.dataset, self.steps = model, dataset, int(steps)
        self.explanations: dict[str, Explanation] = {}
        self.curves: Any = None
        self.seconds = 0.0
        classes = list(getattr(dataset, "classes", [])) or [str(k) for k in range(self._num_classes())]
        shapes = layer_shapes(model, tuple(dataset.images.shape[1:]))
        default_layer = getattr(model, "last_conv_layer", None) or list(shapes)[-1]
        names = list_methods()
        for m in methods:
            if m not in names:
                raise unknown_name("explanation method", m, names)
        style = {"description_width": "70px"}
        self.index = RangeIntText(value=0, min=0, max=len(dataset) - 1, description="image", style=style,
                                      layout=W.Layout(width="170px"))
        self.target = W.Dropdown(options=[("predicted", -1)] + [(f"{k}: {c}", k) for k, c in enumerate(classes)],
                                 value=-1, description="target", style=style, layout=W.Layout(width="220px"))
        self.methods = W.SelectMultiple(options=[(METHODS[n].label, n) for n in names],
                                        value=tuple(methods), rows=8,
                                        description="methods", style=style, layout=W.Layout(width="260px"))
        self.layer = W.Dropdown(options=[(f"{n}  ({'×'.join(map(str, s))})", n) for n, s in shapes.items()],
                                value=default_layer, description="layer", style=style, layout=W.Layout(width="300px"))
        self.scale = W.ToggleButtons(options=["per-map", "shared"], value="per-map", description="colours",
                                     style=style)
        self.curve_method = W.Dropdown(options=[], description="curves of", style=style,
                                       layout=W.Layout(width="260px"))
        self.button = W.Button(description="Explain", icon="refresh", button_style="primary")
        self.progress = W.IntProgress(value=0, min=0, max=1, layout=W.Layout(width="200px", visibility="hidden"))
        self.timing = W.HTML()
        self.note = W.HTML()
        self.maps_view = self.figure(figsize=(9.0, 2.6))
        self.curves_view = self.figure(figsize=(6.0, 2.4))
        self.track(self.index, self.target, self.methods, self.layer, self.scale, self.curve_method,
                   self.button, self.progress, self.timing, self.note)
        self.observe([self.index, self.target, self.methods, self.layer], self._on_change)
        self.observe(self.scale, self._on_view_change)
        self.observe(self.curve_method, self._on_curve_change)
        self.button.on_click(lambda _b: self.run())
        controls = W.VBox([W.HBox([self.index, self.target, self.button, self.progress]),
                           W.HBox([self.methods, W.VBox([self.layer, self.scale, self.curve_method, self.timing])])])
        self.set_body(controls, self.maps_view.widget, W.HBox([self.curves_view.widget, self.note]))
        # DOM classes for the browser tests (tests/browser/test_browser_01.py)
        self.ui.add_class("halign-attribution-explorer")
        self.methods.add_class("halign-attribution-methods")
        self.maps_view.widget.add_class("halign-attribution-maps")
        self.timing.add_class("halign-attribution-timing")
        self.run()

    # -- driving from Python -------------------------------------------------------------
    @guarded
    def select(self, index: int | None = None, methods: Sequence[str] | None = None, target: int | None = None,
               layer: str | None = None, scale: str | None = None) -> AttributionExplorer | None:
        """Set any of the controls at once, then recompute once. ``target=-1`` = predicted class."""
        if target is not None and target not in [v for _, v in self.target.options]:
            raise TargetOutOfRangeError(f"target class {target} is out of range; valid targets are "
                                        f"0..{len(self.target.options) - 2} (or -1 for the predicted class).")
        if layer is not None and layer not in [v for _, v in self.layer.options]:
            raise unknown_name("layer", layer, [v for _, v in self.layer.options])
        if methods is not None:
            known = [v for _, v in self.methods.options]
            for m in methods:
                if m not in known:
                    raise unknown_name("explanation method", m, known)
        with self.holding():
            if index is not None:
                self.index.value = int(index)
            if target is not None:
                self.target.value = int(target)
            if layer is not None:
                self.layer.value = layer
            if methods is not None:
                self.methods.value = tuple(methods)
            if scale is not None:
                self.scale.value = scale
        self.run()
        return self

    @guarded
    def run(self) -> dict[str, Explanation] | None:
        """Recompute the selected maps (and the curves) for the current controls."""
        self.clear_error()
        x = self.dataset.images[self.index.value][None]
        target = None if self.target.value < 0 else self.target.value
        names = list(self.methods.value)
        # no panel shows the previous setting's result while this one is computed
        self.maps_view.placeholder("computing …")
        self.curves_view.placeholder("computing …")
        self.progress.max, self.progress.value = max(1, len(names)), 0
        self.progress.layout.visibility = "visible"
        start = time.perf_counter()
        results: dict[str, Explanation] = {}
        try:
            for name in names:
                self.set_status(f"computing {METHODS[name].label} …")
                results[name] = explain(self.model, x, name, target=target, layer=self.layer.value,
                                        **APP_OPTIONS.get(name, {}))
                self.progress.value += 1
        finally:
            self.progress.layout.visibility = "hidden"
        self.explanations = results
        self.seconds = time.perf_counter() - start
        with self.holding():
            self.curve_method.options = [(METHODS[n].label, n) for n in results]
            self.curve_method.value = names[0] if names else None
        self.draw_maps()
        self.draw_curves()
        # timing and status last, so they announce a finished update (the browser test waits on them)
        per = ", ".join(f"{METHODS[n].label} {e.seconds * 1000:.0f} ms" for n, e in results.items())
        self.timing.value = f"<small>recomputed in {self.seconds:.2f} s<br>{per}</small>"
        self.set_status(f"{len(results)} map(s) in {self.seconds:.2f} s")
        return results

    # -- drawing -------------------------------------------------------------------------
    def _probs(self, x: torch.Tensor) -> torch.Tensor:
        return predict_probs(self.model, x)

    def draw_maps(self) -> None:
        """Draw the image (mask contour, truth and prediction) and one panel per map."""
        i = self.index.value
        img = self.dataset.images[i]
        mask = None if getattr(self.dataset, "masks", None) is None else self.dataset.masks[i, 0]
        probs = self._probs(img[None])[0]
        pred = int(probs.argmax())
        names = [lab.split(": ", 1)[-1] for lab, _ in self.target.options][1:]
        label = self.dataset.labels[i]
        truth = names[int(label)] if label.dim() == 0 and int(label) < len(names) else "multi-label"
        title = f"#{i} {truth} · pred {names[pred] if pred < len(names) else pred} ({probs[pred]:.2f})"
        plot_attributions(self.explanations, img[None], None if mask is None else mask[None],
                          image_titles=[title], scale=self.scale.value, fig=self.maps_view.figure)
        self.maps_view.redraw()

    def draw_curves(self) -> None:
        """Deletion / insertion curves of the map chosen in "curves of" (when the metrics exist)."""
        name = self.curve_method.value
        self.curves = None
        self.curves_view.figure.clear()
        if name is None or name not in self.explanations:
            self.curves_view.redraw()
            return
        try:
            from ..explain.metrics import deletion_insertion
        except ImportError:
            self.note.value = "<i>deletion / insertion metrics are not available in this install.</i>"
            self.curves_view.redraw()
            return
        e = self.explanations[name]
        x = self.dataset.images[self.index.value][None]
        self.curves = deletion_insertion(self.model, x, e.maps, e.target, baseline="blur", steps=self.steps)
        plot_deletion_insertion(self.curves, e.label, int(e.target[0]), fig=self.curves_view.figure)
        self.note.value = ("<small>A good map makes the <b>deletion</b> curve fall fast and the <b>insertion</b> "
                           "curve rise fast (blurred baseline).</small>")
        self.curves_view.redraw()

    # -- callbacks -----------------------------------------------------------------------
    def _num_classes(self) -> int:
        return int(self._probs(self.dataset.images[:1]).shape[1])

    def _on_change(self, _change: dict) -> None:
        self.run()

    def _on_view_change(self, _change: dict) -> None:
        self.draw_maps()

    def _on_curve_change(self, _change: dict) -> None:
        self.draw_curves()
