"""SunyExplorer: necessity and sufficiency maps of one image, and interventions you perform yourself.

A thin view over :func:`halign_widgets.explain.suny.suny` (Xuan et al., CVPR workshops 2024):
pick an image, a cause kind, a layer, the pool size and the Monte-Carlo budget; the necessity,
sufficiency and 2-D maps appear side by side with the colour legend. Then pick a cause of the
pools and press "remove it" or "keep only it" to see the intervened input and ``p_c`` before/after.
Computations started from the buttons run in a worker thread with a progress bar and Stop.
"""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets as W
import torch
from torch import nn

from ..data.dataset import check_images
from ..errors import ConfigError, unknown_name
from ..explain._suny.intervene import InterventionMode
from ..explain.suny import CAUSE_KINDS, SunyResult, intervene, suny
from ..models import in_channels, layer_shapes
from ._app import App, RangeIntText, check_stop, guarded
from .plots import COLUMN_WIDTH, plot_suny

__all__ = ["SunyExplorer"]


_UNIT = {"features": "feature region", "filters": "filter", "patches": "patch"}


class SunyExplorer(App):
    """Explore SUNY's necessity / sufficiency maps and intervene on single causes.

    Parameters
    ----------
    model:
        The classifier to explain.
    dataset:
        An :class:`~halign_widgets.data.ImageDataset` (or anything with ``.images``).
    key:
        Replace-on-rerun key.

    Examples
    --------
    >>> app = SunyExplorer(model, world.test)                        # doctest: +SKIP
    >>> app.select(index=2, causes="patches", pool=8)                # doctest: +SKIP
    >>> app.intervene(int(app.result.pool_n[0, 0]), "remove")        # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, dataset: Any, key: str | None = None) -> None:
        images: Any = getattr(dataset, "images", None)  # check_images refuses a missing one
        check_images(images, channels=in_channels(model), name="the dataset's images")
        super().__init__(key=key)
        self.model, self.dataset = model, dataset
        self.result: SunyResult | None = None
        self.last_intervention: dict[str, Any] | None = None
        shapes = layer_shapes(model, tuple(dataset.images.shape[1:]))
        st = {"description_width": "60px"}
        self.index = RangeIntText(value=0, min=0, max=len(dataset.images) - 1, description="image",
                                      style=st, layout=W.Layout(width="150px"))
        self.causes = W.Dropdown(options=list(CAUSE_KINDS), value="features", description="causes", style=st,
                                 layout=W.Layout(width="190px"))
        default = getattr(model, "last_conv_layer", None) or list(shapes)[-1]
        self.layer = W.Dropdown(options=[(f"{n} ({'×'.join(map(str, s))})", n) for n, s in shapes.items()],
                                value=default, description="layer", style=st, layout=W.Layout(width="290px"))
        self.pool = W.IntSlider(value=8, min=1, max=16, description="pool", continuous_update=False, style=st)
        self.grid = W.IntSlider(value=4, min=2, max=8, description="grid", continuous_update=False, style=st)
        self.samples = RangeIntText(value=0, min=0, max=10000, description="samples", style=st,
                                        layout=W.Layout(width="160px"),
                                        tooltip="Monte-Carlo permutations; 0 = exact when pool ≤ 10")
        self.run_button = W.Button(description="Compute", icon="play", button_style="primary")
        self.stop_button = W.Button(description="Stop", icon="stop", button_style="danger", disabled=True)
        self.progress = W.IntProgress(value=0, min=0, max=100, layout=W.Layout(width="180px"))
        self.cause = W.Dropdown(options=[], description="cause", style=st, layout=W.Layout(width="330px"))
        self.remove_button = W.Button(description="remove it", icon="eraser")
        self.keep_button = W.Button(description="keep only it", icon="crop")
        self.prob = W.HTML()
        self.maps_view = self.figure(figsize=(10.0, 2.4))
        self.cause_view = self.figure(figsize=(6.0, 2.4))
        self.track(self.index, self.causes, self.layer, self.pool, self.grid, self.samples, self.run_button,
                   self.stop_button, self.progress, self.cause, self.remove_button, self.keep_button, self.prob)
        self.observe([self.index, self.causes, self.layer, self.pool, self.grid, self.samples], self._on_change)
        self.observe(self.cause, self._on_cause)
        self.run_button.on_click(lambda _b: self.run(background=True))
        self.stop_button.on_click(lambda _b: self.stop())
        self.worker_buttons(self.run_button, self.stop_button)
        self.remove_button.on_click(lambda _b: self.intervene(self.cause.value, "remove"))
        self.keep_button.on_click(lambda _b: self.intervene(self.cause.value, "keep"))
        self.set_body(W.HBox([self.index, self.causes, self.layer, self.samples]),
                      W.HBox([self.pool, self.grid, self.run_button, self.stop_button, self.progress]),
                      self.maps_view.widget,
                      W.HBox([self.cause, self.remove_button, self.keep_button]), self.prob, self.cause_view.widget)
        self._enable_controls()
        self.maps_view.placeholder("press Compute to explain the image")
        self.cause_view.placeholder("compute SUNY, then pick a cause")
        self.set_status("press Compute (or call app.run())")

    # -- driving from Python -------------------------------------------------------------
    @guarded
    def select(self, index: int | None = None, causes: str | None = None, layer: str | None = None,
               pool: int | None = None, samples: int | None = None, grid: int | None = None) -> SunyExplorer | None:
        """Set any of the controls at once, then compute (synchronously)."""
        if causes is not None and causes not in CAUSE_KINDS:
            raise unknown_name("cause kind", causes, CAUSE_KINDS)
        if layer is not None and layer not in [v for _, v in self.layer.options]:
            raise unknown_name("layer", layer, [v for _, v in self.layer.options])
        for name, value, widget in (("index", index, self.index), ("pool", pool, self.pool),
                                    ("samples", samples, self.samples), ("grid", grid, self.grid)):
            if value is not None and not widget.min <= value <= widget.max:
                raise ConfigError(f"{name} must lie in [{widget.min}, {widget.max}], got {value}.")
        with self.holding():
            pairs: tuple[tuple[Any, Any], ...] = ((index, self.index), (causes, self.causes), (layer, self.layer),
                                                  (pool, self.pool), (samples, self.samples), (grid, self.grid))
            for value, widget in pairs:
                if value is not None:
                    widget.value = value
            self._enable_controls()
        self.run()
        return self

    def _options(self) -> dict[str, Any]:
        return dict(causes=self.causes.value, layer=self.layer.value, pool=self.pool.value,
                    samples=self.samples.value or None, grid=self.grid.value)

    def _image(self) -> torch.Tensor:
        return self.dataset.images[self.index.value][None]

    @guarded
    def run(self, background: bool = False) -> SunyResult | None:
        """Compute SUNY for the current controls (stopping a running computation first).

        ``background=True`` (the Compute button, control changes) uses the app's worker, so Stop
        works and the call returns ``None``; otherwise the result is returned.
        """
        return self.execute(self._compute, self._image(), self._options(), background=background)

    def _compute(self, stop: threading.Event, x: torch.Tensor, opts: dict[str, Any]) -> SunyResult:
        def progress(fraction: float) -> None:
            check_stop(stop)
            self.progress.value = int(round(100 * fraction))

        self.progress.value = 0
        self.result, self.last_intervention = None, None
        with self.holding():
            self.cause.options = []
        self.prob.value = "<i>computing…</i>"
        self.set_status(f"computing SUNY ({opts['causes']}, pool {opts['pool']}) …")
        self.maps_view.placeholder("computing SUNY …")
        self.cause_view.placeholder("pick a cause after the maps appear")
        result = suny(self.model, x, progress=progress, **opts)
        self.progress.value = 100
        self.result = result
        how = "exact" if result.exact else f"{result.samples} permutations"
        self.set_status(f"SUNY in {result.seconds:.2f} s ({result.forwards} forwards, {how}); "
                        f"p(class {int(result.target[0])}) = {float(result.p_full[0]):.3f}")
        pools = [int(k) for k in result.pool_n[0]] + [int(k) for k in result.pool_s[0]]
        unit = _UNIT[result.causes]
        options = [(self._cause_label(k, unit), k) for k in dict.fromkeys(pools)]
        with self.holding():
            self.cause.options = options
            self.cause.value = options[0][1] if options else None
        self.prob.value = (f"<i>{unit} {self.cause.value} selected (pick another above): press <b>remove it</b> or "
                           f"<b>keep only it</b> — p(class {int(result.target[0])}) = {float(result.p_full[0]):.3f} "
                           "now</i>")
        self.draw_maps()
        self.draw_cause()
        return result

    def _cause_label(self, k: int, unit: str) -> str:
        res = self.result
        assert res is not None  # labels are drawn for a computed result only
        parts = [f"{unit} {k}"]
        for name, pool, r in (("R_N", res.pool_n[0], res.r_n[0]), ("R_S", res.pool_s[0], res.r_s[0])):
            hit = (pool == k).nonzero()
            if len(hit):
                parts.append(f"{name}={float(r[hit[0, 0]]):+.3f}")
        return "  ".join(parts)

    # -- interventions ---------------------------------------------------------------------
    @guarded
    def intervene(self, cause: int | None = None, mode: InterventionMode = "remove") -> float | None:
        """Remove the cause, or keep only it, on the current image; return ``p_c`` after the intervention.

        ``cause=None`` takes the one selected in the dropdown.

        Filters kept "only" are kept within the union of both pools (the other pool channels are
        zeroed), as in the sufficiency game.
        """
        if self.result is None:
            raise ConfigError("compute SUNY first (press Compute or call app.run()).")
        cause = self.cause.value if cause is None else cause
        done = intervene(self.model, self._image(), self.result, cause, mode)
        self.last_intervention = dict(cause=done.cause, mode=done.mode, before=done.before, after=done.after,
                                      image=done.image, region=done.region)
        res, after = self.result, done.after
        verb = "removing" if mode == "remove" else "keeping only"
        unit = _UNIT[res.causes]
        self.prob.value = (f"p(class {done.target}) = <b>{done.before:.3f}</b> before → <b>{after:.3f}</b> after "
                           f"{verb} {unit} {int(cause)}")
        self.draw_cause()
        return after

    # -- drawing -------------------------------------------------------------------------
    def draw_maps(self) -> None:
        """Image, necessity and sufficiency (with colour bars), 2-D map and legend (:func:`.plots.plot_suny`)."""
        res = self.result
        assert res is not None  # drawn after a run only
        plot_suny(self._image()[0], res, title=f"#{self.index.value} p={float(res.p_full[0]):.2f}",
                  fig=self.maps_view.figure, width=COLUMN_WIDTH)
        self.maps_view.redraw()

    def _on_cause(self, _change: Any = None) -> None:
        if self.result is not None:
            self.last_intervention = None
            self.prob.value = (f"<i>{_UNIT[self.result.causes]} {self.cause.value} selected: press <b>remove it</b> "
                               f"or <b>keep only it</b></i>")
            self.draw_cause()

    def draw_cause(self) -> None:
        """The selected cause's region and, after an intervention, the intervened input (or a placeholder)."""
        fig, res = self.cause_view.figure, self.result
        k = self.cause.value if self.last_intervention is None else self.last_intervention["cause"]
        if res is None or k is None:
            self.cause_view.placeholder("compute SUNY, then pick a cause")
            return
        fig.clear()
        axes = fig.subplots(1, 2)
        im = axes[0].imshow(res.cause_maps[0, k].numpy(), cmap="viridis", vmin=0, vmax=1)
        fig.colorbar(im, ax=axes[0], fraction=0.046, pad=0.04).ax.tick_params(labelsize=8)
        axes[0].set_title(f"region A_{k} of {_UNIT[res.causes]} {k}", fontsize=8)
        last = self.last_intervention
        if last is not None and last["image"] is not None:
            axes[1].imshow(last["image"].mean(0).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            axes[1].set_title(f"{last['mode']}: p {last['before']:.2f} → {last['after']:.2f}", fontsize=8)
        elif last is not None:
            axes[1].text(0.5, 0.5, f"filter {k} {last['mode']}d inside the network\n"
                         f"p {last['before']:.2f} → {last['after']:.2f}", ha="center", va="center", fontsize=8)
        else:
            axes[1].text(0.5, 0.5, "press 'remove it' or\n'keep only it'", ha="center", va="center", fontsize=8,
                         color="0.4")
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
        fig.tight_layout()
        self.cause_view.redraw()

    def _enable_controls(self) -> None:
        # the layer picks feature / filter causes; the grid only cuts patches
        self.layer.disabled = self.causes.value == "patches"
        self.grid.disabled = self.causes.value != "patches"

    def _on_change(self, _change: Any = None) -> None:
        self._enable_controls()
        self.run(background=True)
