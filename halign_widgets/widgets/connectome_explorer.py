"""ConnectomeExplorer: CoCoReco's area graph, cut pathways and change gains, see the prediction move.

A thin view over :mod:`halign_widgets.biovision` (METHODS.md §3): the diagram comes from the
connectome data, every change runs inside :func:`halign_widgets.biovision.ablate` (so the model
itself is never left modified), the CAM is :func:`halign_widgets.explain.explain`'s Grad-CAM at the
picked area's output. Training happens in the :class:`TrainingDashboard`, not here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import ipywidgets as W
import numpy as np
import torch

from ..biovision import AREAS, EDGES, PATHWAYS, CoCoReco, ablate, edge_name, get_area, pathway_edges
from ..biovision.wiring import check_gain
from ..errors import ConfigError, InputShapeError
from ..explain import explain
from ..models import eval_mode, model_input
from ._app import App, guarded
from ._connectome_plots import draw_detail, draw_factors, draw_graph

__all__ = ["ConnectomeExplorer"]

PATHWAY_LABELS = {"ventral": "ventral stream", "dorsal": "dorsal stream", "sc_pulvinar": "SC–pulvinar route",
                  "pfc_shortcut": "PFC shortcut", "feedback": "all feedback"}


class ConnectomeExplorer(App):
    """Pick an image and an area; cut pathways or edges, change gains, switch the CABs; watch the decision.

    Parameters
    ----------
    model:
        A trained :class:`~halign_widgets.biovision.CoCoReco`.
    dataset:
        An :class:`~halign_widgets.data.ImageDataset` (its masks are drawn) or an ``N×C×H×W`` tensor.
    key:
        Replace-on-rerun key.
    area, edge:
        Area and edge selected at start.

    Examples
    --------
    >>> app = ConnectomeExplorer(model, world.test)                    # doctest: +SKIP
    >>> app.select(index=3, area="v4", pathways=["dorsal"])              # doctest: +SKIP
    >>> app.result["probs"], app.result["intact_probs"]                  # doctest: +SKIP
    """

    def __init__(self, model: CoCoReco, dataset: Any, key: str | None = None, area: str = "it",
                 edge: str = "pfc->it") -> None:
        if not isinstance(model, CoCoReco):
            raise ConfigError(f"ConnectomeExplorer shows a CoCoReco model, got {type(model).__name__}; build one "
                              "with halign_widgets.biovision.CoCoReco(...).")
        images = dataset.images if hasattr(dataset, "images") else dataset
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or len(images) == 0:
            raise InputShapeError("dataset must be an ImageDataset or a non-empty N×C×H×W tensor of images.")
        if images.shape[1] != model.in_channels or min(images.shape[-2:]) < model.min_input:
            raise InputShapeError(f"the images are {tuple(images.shape[1:])} but the model needs "
                                  f"{model.in_channels} channel(s) and at least "
                                  f"{model.min_input}×{model.min_input} px.")
        area, edge = get_area(area).name, edge_name(edge)     # typed errors before anything is built
        super().__init__(key=key)
        self.model, self.images = model, images
        self.labels = getattr(dataset, "labels", None)
        masks = getattr(dataset, "masks", None)
        self.masks = None if masks is None else masks[:, 0]
        self.classes = list(getattr(dataset, "classes", [])) or [str(k) for k in range(model.num_classes)]
        self.cut_pathways: set[str] = set()
        self.cut_edges: set[str] = set()
        self.gain_overrides: dict[str, float] = {}
        self.result: dict[str, Any] = {}
        self._intact: dict[int, np.ndarray] = {}
        self._graph_key: tuple | None = None
        style = {"description_width": "60px"}
        self.index = W.BoundedIntText(value=0, min=0, max=len(images) - 1, description="image", style=style,
                                      layout=W.Layout(width="150px"))
        self.area = W.Dropdown(options=[(a.label, a.name) for a in AREAS], value=area, description="area",
                               style=style, layout=W.Layout(width="170px"))
        self.cab = W.Checkbox(value=bool(model.cab_areas), description="CABs on", disabled=not model.cab_areas,
                              indent=False, layout=W.Layout(width="100px"))
        self.edge = W.Dropdown(options=[(f"{get_area(e.src).label} → {get_area(e.dst).label}", e.name) for e in EDGES],
                               value=edge, description="edge", style=style, layout=W.Layout(width="230px"))
        self.gain = W.FloatSlider(value=model.gain(edge), min=0.0, max=2.0, step=0.005, description="gain α",
                                  readout_format=".3f", continuous_update=False, style=style)
        self.edge_cut = W.Checkbox(value=False, description="cut this edge", indent=False,
                                   layout=W.Layout(width="120px"))
        self.pathway_boxes = {p: W.Checkbox(value=False, description=f"cut {PATHWAY_LABELS[p]}", indent=False,
                                            layout=W.Layout(width="180px")) for p in PATHWAYS}
        for p, box in self.pathway_boxes.items():
            box.add_class(f"halign-cut-{p.replace('_', '-')}")
        self.reset_button = W.Button(description="Reset", icon="undo", tooltip="reconnect everything")
        self.reset_button.on_click(lambda _b: self.reset())
        self.info = W.HTML()
        self.info.add_class("halign-connectome-info")
        self.graph_view = self.figure((9.5, 3.4))
        self.detail_view = self.figure((9.5, 2.3))
        self.factor_view = self.figure((9.5, 1.6))
        self.graph_view.widget.add_class("halign-connectome-graph")
        self.detail_view.widget.add_class("halign-connectome-detail")
        self.observe([self.index, self.area, self.cab], lambda _c: self.run())
        self.observe(self.edge, lambda _c: self._show_edge())
        self.observe(self.gain, lambda c: self._set_gain(c["new"]))
        self.observe(self.edge_cut, lambda c: self._cut_edge(c["new"]))
        self.observe(list(self.pathway_boxes.values()), lambda _c: self._read_pathways())
        rows = (W.HBox([self.index, self.area, self.cab, self.reset_button]),
                W.HBox([self.edge, self.gain, self.edge_cut]), W.HBox(list(self.pathway_boxes.values())))
        self.set_body(*rows, self.info, self.graph_view.widget, self.detail_view.widget, self.factor_view.widget)
        self.run()

    # -- driving from Python ---------------------------------------------------------------------------
    @guarded
    def select(self, index: int | None = None, area: str | None = None, edge: str | None = None,
               gain: float | None = None, cut_edge: bool | None = None, pathways: Iterable[str] | None = None,
               cab: bool | None = None) -> ConnectomeExplorer | None:
        """Set several controls at once, then recompute once (``pathways`` = the set of cut pathways)."""
        area = get_area(area).name if area is not None else None
        edge = edge_name(edge) if edge is not None else None
        cut = None if pathways is None else [p for p in PATHWAYS if p in {self._pathway(q) for q in pathways}]
        if index is not None and not 0 <= int(index) < len(self.images):
            raise ConfigError(f"image index {index} is out of range 0..{len(self.images) - 1}.")
        if cab is not None and cab and not self.model.cab_areas:
            raise ConfigError("this model has no CAB to switch on; build it with cab_areas=('v1', 'pfc', 'it').")
        with self.holding():
            for widget, value in ((self.index, index), (self.area, area), (self.cab, cab)):
                if value is not None:
                    widget.value = value
            if edge is not None:
                self.edge.value = edge
                self._sync_edge_controls()
            if gain is not None:
                self._set_gain(gain, redraw=False)
            if cut_edge is not None:
                self._cut_edge(cut_edge, redraw=False)
            if cut is not None:
                for p, box in self.pathway_boxes.items():
                    box.value = p in cut
                self.cut_pathways = set(cut)
        return self.run()

    @guarded
    def cut(self, *names: str) -> ConnectomeExplorer | None:
        """Cut pathways (``"dorsal"``) or edges (``"pfc->it"``) in addition to what is cut already."""
        pathways = set(self.cut_pathways)
        for name in names:
            if name.replace("-", "_") in PATHWAYS:
                pathways.add(name.replace("-", "_"))
            else:
                self.cut_edges.add(edge_name(name))
        with self.holding():
            self._sync_edge_controls()
        return self.select(pathways=pathways)

    @guarded
    def reset(self) -> ConnectomeExplorer | None:
        """Reconnect everything, put every gain back and switch the CABs on."""
        self.cut_pathways, self.cut_edges, self.gain_overrides = set(), set(), {}
        with self.holding():
            for box in self.pathway_boxes.values():
                box.value = False
            self.cab.value = bool(self.model.cab_areas)
            self._sync_edge_controls()
        return self.run()

    # -- control callbacks -------------------------------------------------------------------------------
    @staticmethod
    def _pathway(name: str) -> str:
        key = str(name).replace("-", "_")
        pathway_edges(key)                                    # typed error for an unknown pathway
        return key

    def _sync_edge_controls(self) -> None:
        edge = self.edge.value
        self.gain.value = self.gain_overrides.get(edge, self.model.gain(edge))
        self.edge_cut.value = edge in self.cut_edges

    def _show_edge(self) -> None:
        with self.holding():
            self._sync_edge_controls()
        self._draw_graph()

    def _set_gain(self, value: float, redraw: bool = True) -> None:
        value = check_gain(self.edge.value, value)
        if value > self.gain.max:
            self.gain.max = value
        self.gain_overrides[self.edge.value] = value
        self.gain.value = value
        if redraw:
            self.run()

    def _cut_edge(self, on: bool, redraw: bool = True) -> None:
        (self.cut_edges.add if on else self.cut_edges.discard)(self.edge.value)
        self.edge_cut.value = bool(on)
        if redraw:
            self.run()

    def _read_pathways(self) -> None:
        self.cut_pathways = {p for p, box in self.pathway_boxes.items() if box.value}
        self.run()

    # -- computing ---------------------------------------------------------------------------------------
    @property
    def ablation(self) -> dict[str, Any]:
        """The arguments of :func:`~halign_widgets.biovision.ablate` for the current controls."""
        return dict(edges=sorted(self.cut_edges), pathways=sorted(self.cut_pathways),
                    gains=dict(self.gain_overrides), cabs=None if self.cab.value else "all")

    def _probs(self, x: torch.Tensor) -> np.ndarray:
        with eval_mode(self.model), torch.no_grad():
            return torch.softmax(self.model(x).float(), 1)[0].cpu().numpy()

    @guarded
    def run(self) -> ConnectomeExplorer | None:
        """Recompute the prediction, the area's maps, its CAM and the CAB factors, and redraw."""
        i, area = int(self.index.value), self.area.value
        x = model_input(self.model, self.images[i:i + 1])   # the model's device and dtype
        if i not in self._intact:
            self._intact[i] = self._probs(x)
        cabs = self.ablation["cabs"] if self.model.cab_areas else None
        with ablate(self.model, edges=self.ablation["edges"], pathways=self.ablation["pathways"],
                    gains=self.ablation["gains"], cabs=cabs):
            with eval_mode(self.model), torch.no_grad():
                out = self.model.forward_details(x)
            probs = torch.softmax(out.logits.float(), 1)[0].cpu().numpy()
            pred = int(probs.argmax())
            reaches = self.model.reaches_decision(area)
            cam = (explain(self.model, x, "gradcam", target=pred, layer=f"outputs.{area}").maps[0] if reaches
                   else torch.zeros(x.shape[-2:]))
            cut = set(self.model.cut_edges())
            gains = self.model.gain_table()
        acts = out.features[area][0].float().cpu()
        top = acts.mean((1, 2)).argsort(descending=True)[:4].tolist()
        peak = float(cam.clamp_min(0).max())
        self.result = dict(index=i, area=area, probs=probs, intact_probs=self._intact[i], prediction=pred,
                           cam=None if peak <= 0 else (cam.clamp_min(0) / peak).numpy(), channels=top,
                           activations=acts[top].numpy(),
                           factors={a: w[0].float().cpu().numpy() for a, w in out.factors.items()},
                           cut_edges=sorted(cut), gains=gains)
        self._draw_graph(cut, gains)
        self._draw_detail()
        self._draw_factors()
        self._write_info()
        return self

    # -- drawing -----------------------------------------------------------------------------------------
    def _draw_graph(self, cut: set[str] | None = None, gains: dict[str, float] | None = None) -> None:
        r = self.result
        gains = gains if gains is not None else r["gains"]
        cut = cut if cut is not None else set(r["cut_edges"])
        key = (tuple(sorted(gains.items())), tuple(sorted(cut)), self.area.value, self.edge.value, self.cab.value)
        if key == self._graph_key:     # the diagram shows nothing image-dependent: redraw only when it changes
            return
        draw_graph(self.graph_view.figure, self.model.channels, gains, cut, self.area.value, self.edge.value,
                   self.model.cab_areas, bool(self.cab.value))
        self.graph_view.redraw()
        self._graph_key = key

    def _draw_detail(self) -> None:
        r = self.result
        image = self.images[r["index"]].mean(0).numpy()
        mask = None if self.masks is None else self.masks[r["index"]].numpy()
        draw_detail(self.detail_view.figure, image, mask, r["activations"], r["channels"], r["cam"],
                    get_area(r["area"]).label, r["probs"], r["intact_probs"], self.classes)
        self.detail_view.redraw()

    def _draw_factors(self) -> None:
        if not self.model.cab_areas:
            message = "this model has no Contextual Attention Block"
        elif not self.cab.value:
            message = "CABs are off: tick 'CABs on' to see their factors"
        else:
            message = None
        draw_factors(self.factor_view.figure, self.result["factors"], message)
        self.factor_view.redraw()

    def _write_info(self) -> None:
        r = self.result
        name = self.classes[r["prediction"]]
        intact = int(np.argmax(r["intact_probs"]))
        label = "" if self.labels is None else f" · true class <b>{self.classes[int(self.labels[r['index']])]}</b>"
        changes = []
        if self.cut_pathways:
            changes.append("cut: " + ", ".join(PATHWAY_LABELS[p] for p in sorted(self.cut_pathways)))
        if self.cut_edges:
            changes.append("cut edges: " + ", ".join(sorted(self.cut_edges)))
        moved = {e: g for e, g in self.gain_overrides.items() if abs(g - self.model.gain(e)) > 1e-9}
        if moved:
            changes.append("gains: " + ", ".join(f"{e} = {g:g}" for e, g in sorted(moved.items())))
        if self.model.cab_areas and not self.cab.value:
            changes.append("CABs off")
        self.info.value = (f"prediction <b>{name}</b> (p = {r['probs'][r['prediction']]:.3f}); intact model: "
                           f"{self.classes[intact]} (p = {r['intact_probs'][intact]:.3f}){label} · "
                           + ("; ".join(changes) if changes else "nothing cut"))
        self.set_status(f"image {r['index']} · area {get_area(r['area']).label} · {len(r['cut_edges'])} of "
                        f"{len(EDGES)} edges cut")
