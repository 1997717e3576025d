"""CausalityMapExplorer: the causality map of one image, its direction graph, factors and hidden order.

A thin view over :func:`halign_widgets.causality.causality_map_of` and
:mod:`halign_widgets.causality.ordering` (METHODS.md §2.1–2.2).
"""

from __future__ import annotations

import math
from typing import Any

import ipywidgets as W
from torch import Tensor, nn

from ..causality import ESTIMATORS, SETTINGS, CausalityModule, features_of, map_report
from ..errors import ConfigError, InputShapeError, unknown_name
from ..models import get_layer
from ..validation import check_int
from ._app import App, RangeIntText, guarded

__all__ = ["CausalityMapExplorer"]


class CausalityMapExplorer(App):
    """Pick an image; see its k×k causality map, direction graph, factors and the order behind them.

    Parameters
    ----------
    model:
        Any classifier with a conv layer: its ``forward_features`` (every model of the lab has one)
        or, for your own model, the output of ``layer`` (default: its last conv layer, or the
        activation after it). Its causality module, if any, sets the initial estimator, ``p``,
        direction and setting.
    dataset:
        An :class:`~halign_widgets.data.ImageDataset` or an ``N×C×H×W`` tensor of images.
    key:
        Replace-on-rerun key.
    top:
        Channels drawn in the direction graph (the strongest by the ordering statistic).
    layer:
        The conv layer whose features are mapped (``None``: see ``model``).

    Examples
    --------
    >>> app = CausalityMapExplorer(model, world.test)                     # doctest: +SKIP
    >>> app.select(index=4, estimator="lehmer", p=2.0, channel=3)         # doctest: +SKIP
    >>> bool(app.result["total_order"])                                   # doctest: +SKIP
    True
    """

    def __init__(self, model: nn.Module, dataset: Any, key: str | None = None, top: int = 8,
                 layer: str | None = None) -> None:
        top = check_int("top", top, 2, hint="channels drawn in the graph")
        super().__init__(key=key)
        images = dataset.images if hasattr(dataset, "images") else dataset
        if not isinstance(images, Tensor) or images.dim() != 4 or len(images) == 0:
            raise InputShapeError("dataset must be an ImageDataset or a non-empty N×C×H×W tensor of images.")
        if layer is not None:
            get_layer(model, layer)                       # an unknown layer: a typed error listing them
        self.model, self.images, self.layer = model, images, layer
        self.labels = getattr(dataset, "labels", None)
        self.result: dict[str, Any] = {}
        self._features: dict[int, Tensor] = {}
        module = getattr(model, "causality", None) or CausalityModule()
        k = int(self._feats(0).shape[1])
        style = {"description_width": "70px"}
        self.index = RangeIntText(value=0, min=0, max=len(images) - 1, description="image", style=style,
                                      layout=W.Layout(width="160px"))
        self.channel = W.IntSlider(value=0, min=0, max=k - 1, description="channel", style=style,
                                   continuous_update=False)
        self.estimator = W.ToggleButtons(options=list(ESTIMATORS), value=module.estimator, description="estimator",
                                         style=style)
        self.p = W.FloatSlider(value=module.p, min=-10.0, max=20.0, step=0.5, description="Lehmer p",
                               style=style, continuous_update=False)
        self.direction = W.ToggleButtons(options=["causes", "effects"], value=module.direction,
                                         description="direction", style=style)
        self.setting = W.Dropdown(options=list(SETTINGS), value=module.setting, description="setting", style=style,
                                  layout=W.Layout(width="220px"))
        self.top = W.IntSlider(value=min(top, k), min=2, max=min(k, 24), description="graph of", style=style,
                               continuous_update=False)
        self.info = W.HTML()
        self.view = self.figure(figsize=(10.0, 6.4))
        self.track(self.index, self.channel, self.estimator, self.p, self.direction, self.setting, self.top, self.info)
        self.observe([self.index, self.channel, self.estimator, self.p, self.direction, self.setting, self.top],
                     self._on_change)
        controls = W.VBox([W.HBox([self.index, self.channel, self.top]),
                           W.HBox([self.estimator, self.p]), W.HBox([self.direction, self.setting])])
        self.set_body(controls, self.info, self.view.widget)
        self.run()

    # -- driving from Python -------------------------------------------------------------
    @guarded
    def select(self, index: int | None = None, channel: int | None = None, estimator: str | None = None,
               p: float | None = None, direction: str | None = None, setting: str | None = None,
               top: int | None = None) -> CausalityMapExplorer | None:
        """Set any controls at once, then recompute once."""
        if estimator is not None and estimator not in ESTIMATORS:
            raise unknown_name("causality estimator", estimator, ESTIMATORS)
        if direction is not None and direction not in ("causes", "effects"):
            raise unknown_name("causality direction", direction, ("causes", "effects"))
        if setting is not None and setting not in SETTINGS:
            raise unknown_name("causality setting", setting, SETTINGS)
        if index is not None and not 0 <= int(index) < len(self.images):
            raise ConfigError(f"image index {index} is out of range 0..{len(self.images) - 1}.")
        if channel is not None and not 0 <= int(channel) <= self.channel.max:
            raise ConfigError(f"channel {channel} is out of range 0..{self.channel.max}.")
        with self.holding():
            if p is not None:   # the slider covers the teaching range; the method accepts any finite p
                self.p.min, self.p.max = min(self.p.min, float(p)), max(self.p.max, float(p))
                self.p.value = float(p)
            for widget, value in ((self.index, index), (self.channel, channel), (self.estimator, estimator),
                                  (self.direction, direction), (self.setting, setting), (self.top, top)):
                if value is not None:
                    widget.value = value
        return self.run()

    @guarded
    def run(self) -> CausalityMapExplorer | None:
        """Recompute the map, graph and factors of the selected image and redraw."""
        self.p.disabled = self.estimator.value != "lehmer"      # p only shapes the Lehmer mean
        self.result = self._compute()
        self._draw()
        r = self.result
        self.info.value = (f"<b>{r['k']}</b> channels on a {r['grid']} grid · estimator <b>{r['estimator']}</b>"
                           f"{' p=' + format(r['p'], 'g') if r['estimator'] == 'lehmer' else ''} · "
                           f"{order_summary(r)} · classifier input {r['input_size']} numbers ({r['setting']})")
        self.set_status(f"image {self.index.value}" + (f", label {int(self.labels[self.index.value])}"
                                                        if self.labels is not None and self.labels.dim() == 1 else ""))
        return self

    def _on_change(self, _change: dict[str, Any]) -> None:
        self.run()

    # -- computing -----------------------------------------------------------------------
    def _feats(self, index: int) -> Tensor:
        if index not in self._features:
            self._features[index] = features_of(self.model, self.images[index:index + 1], self.layer)
        return self._features[index]

    def _compute(self) -> dict[str, Any]:
        feats = self._feats(self.index.value)
        report = map_report(feats, self.estimator.value, float(self.p.value), self.direction.value, self.setting.value)
        h, w = report.features.shape[1:]
        return dict(vars(report), k=report.k, grid=f"{h}×{w}", uses_factors=report.uses_factors,
                    channel=self.channel.value)

    # -- drawing -------------------------------------------------------------------------
    def _draw(self) -> None:
        r, fig = self.result, self.view.figure
        fig.clear()
        axes = fig.subplots(2, 3)
        img = self.images[self.index.value]
        fmap = r["features"][r["channel"]].numpy()
        ax = axes[0, 0]
        ax.imshow(img.mean(0).numpy(), cmap="gray", extent=(0, 1, 1, 0))
        overlay = ax.imshow(fmap, cmap="magma", alpha=0.55, extent=(0, 1, 1, 0), interpolation="nearest")
        # the bar says what the overlay's colours mean (a constant channel, e.g. a dead ReLU, is named as such)
        fig.colorbar(overlay, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=8)
        flat = f" (constant {fmap.min():.3g})" if fmap.min() == fmap.max() else ""
        ax.set_title(f"image {self.index.value}, channel {r['channel']}: activation{flat}", fontsize=9)
        ax.axis("off")
        ax = axes[0, 1]
        im = ax.imshow(r["map"].numpy(), cmap="viridis")
        fig.colorbar(im, ax=ax, fraction=0.046)
        ax.set_title("causality map C[i, j] (row i → column j)", fontsize=9)
        ax.set_xlabel("j (effect)", fontsize=8)
        ax.set_ylabel("i (cause)", fontsize=8)
        ax = axes[0, 2]
        ax.imshow(r["sorted_adjacency"].numpy(), cmap="Greys", vmin=0, vmax=1)
        ax.set_title(f"A reordered by {r['stat_name']}\n(strictly upper-triangular = total order)", fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
        self._draw_graph(axes[1, 0])
        ax = axes[1, 1]
        k = r["k"]
        colors = ["tab:red" if i == r["channel"] else "tab:blue" for i in range(k)]
        ax.bar(range(k), r["factors"].numpy(), color=colors)
        ax.set_title(f"factors w ({'0/1' if r['setting'].endswith('bool') else 'ReLU(o − ι)'}, {r['direction']})"
                     + ("" if r["uses_factors"] else f" — unused by '{r['setting']}'"), fontsize=9)
        ax.set_xlabel("channel", fontsize=8)
        ax = axes[1, 2]
        order = r["order"].numpy()
        ax.bar(range(k), r["statistic"].numpy()[order], color="tab:green")
        ax.set_title(f"channels sorted by {r['stat_name']}", fontsize=9)
        ax.set_xlabel("rank (first = causes all the others)", fontsize=8)
        # tight_layout is slow
        fig.subplots_adjust(left=0.04, right=0.98, top=0.92, bottom=0.08, wspace=0.35, hspace=0.45)
        self.view.redraw()

    def _draw_graph(self, ax: Any) -> None:
        r = self.result
        chosen = r["order"][: self.top.value].tolist()
        m = len(chosen)
        angles = [math.pi / 2 - 2 * math.pi * t / m for t in range(m)]
        pos = {c: (math.cos(a), math.sin(a)) for c, a in zip(chosen, angles, strict=True)}
        adjacency = r["adjacency"].numpy()
        self.graph_edges = [(i, j) for i in chosen for j in chosen if adjacency[i, j] > 0]
        for i, j in self.graph_edges:
            ax.annotate("", xy=pos[j], xytext=pos[i],
                        arrowprops=dict(arrowstyle="-|>", color="0.55", lw=0.8, shrinkA=9, shrinkB=9))
        for rank, c in enumerate(chosen):
            ax.scatter(*pos[c], s=260, color="tab:red" if c == r["channel"] else _rank_color(rank, m), zorder=3)
            ax.text(*pos[c], str(c), ha="center", va="center", fontsize=8, color="white", zorder=4)
        ax.set_xlim(-1.3, 1.3), ax.set_ylim(-1.3, 1.3)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(f"direction graph of the {m} strongest channels\n(arrow i → j when C[i,j] > C[j,i])",
                     fontsize=9)


def order_summary(r: dict[str, Any]) -> str:
    """What the direction graph of one image is, in words, from the explorer's own numbers.

    Ties matter: with ``p`` far below 0 every Lehmer mean tends to the clamp ``eps`` and all
    channels tie — then there is no edge at all, which is not a "total order".
    """
    k, distinct, edges, stat = r["k"], r["distinct"], r["edges"], r["stat_name"]
    if not r["total_order"]:
        return f"direction graph: {edges} edge(s), <b>not</b> the order of one statistic (numerical ties)"
    if distinct == 1:
        return f"direction graph: <b>no edge</b> — all {k} channels tie on {stat}, so nothing is ordered"
    if distinct < k:
        return (f"direction graph: {edges} edge(s), an order by <b>{stat}</b> <b>with ties</b> ({distinct} distinct "
                f"values among {k} channels; tied channels have no edge)")
    return f"direction graph: {edges} edge(s), a <b>total order</b> of all {k} channels by <b>{stat}</b>"


def _rank_color(rank: int, m: int) -> tuple[float, float, float]:
    """Node colour by rank in the order (dark = first cause)."""
    t = rank / max(m - 1, 1)
    return (0.1 + 0.5 * t, 0.3 + 0.4 * t, 0.6 + 0.3 * t)
