"""Everything one can read off the causality map of one batch of features, in one record.

What the causality explorer shows and what a chapter cell prints: the ``k×k`` map, its direction
graph, the factors of a setting, the statistic that orders the channels (METHODS.md §2.1, the
"teaching point"), the reordered adjacency, and whether the graph really is a total order — with
the ties counted, because with ``p`` far below 0 every Lehmer mean tends to the clamp ``eps`` and
all channels tie (no edge at all). After Carloni & Colantonio (2024).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .factors import causality_factors, direction_graph
from .maps import Estimator, causality_map
from .module import CausalityModule, Setting, factor_kind
from .ordering import channel_order, channel_statistic, is_total_order, reorder

__all__ = ["MapReport", "map_report"]


@dataclass
class MapReport:
    """The causality map of one image's features and what follows from it (all tensors of that image).

    Attributes
    ----------
    features:
        ``k×h×w`` feature maps.
    map, adjacency, sorted_adjacency:
        ``k×k`` causality map, direction graph ``1[C[i,j] > C[j,i]]`` and that graph with the
        channels sorted by :attr:`statistic`.
    factors:
        ``k`` factors of :attr:`setting` (ReLU(o − ι) or its 0/1 version, in :attr:`direction`).
    statistic, order:
        ``k`` per-channel statistic (mass or Lehmer mean) and the channels by decreasing statistic.
    total_order:
        The graph is exactly the order of the channels by the statistic (ties: no edge).
    distinct, edges:
        Distinct statistic values among the ``k`` channels; edges of the graph.
    stat_name:
        ``"mass S_i"`` or ``"Lehmer mean LM_p"``.
    input_size:
        Classifier input size of :attr:`setting` for these features.
    """

    features: Tensor
    map: Tensor
    adjacency: Tensor
    sorted_adjacency: Tensor
    factors: Tensor
    statistic: Tensor
    order: Tensor
    total_order: bool
    distinct: int
    edges: int
    estimator: str
    p: float
    direction: str
    setting: Setting
    stat_name: str
    input_size: int

    @property
    def k(self) -> int:
        """Number of channels."""
        return int(self.features.shape[0])

    @property
    def uses_factors(self) -> bool:
        """True for the ``mul*`` settings."""
        return self.setting.startswith("mul")


def map_report(features: Tensor, estimator: Estimator = "max", p: float = 1.0, direction: str = "causes",
               setting: Setting = "mulcat") -> MapReport:
    """The :class:`MapReport` of the first image of ``features`` (``B×k×h×w``, post-ReLU)."""
    module = CausalityModule(setting, estimator, p, direction)   # validates the names
    cmap = causality_map(features[:1], estimator, p)
    adjacency = direction_graph(cmap)
    stat = channel_statistic(features[:1], estimator, p)
    order = channel_order(stat)
    k, h, w = features.shape[1:]
    return MapReport(
        features=features[0], map=cmap[0], adjacency=adjacency[0], sorted_adjacency=reorder(adjacency[0], order[0]),
        factors=causality_factors(cmap, factor_kind(setting), direction)[0], statistic=stat[0], order=order[0],
        total_order=bool(is_total_order(adjacency, stat)[0]), distinct=int(torch.unique(stat[0]).numel()),
        edges=int(adjacency[0].sum()), estimator=estimator, p=float(p), direction=direction, setting=setting,
        stat_name="mass S_i" if estimator == "max" else f"Lehmer mean LM_{float(p):g}",
        input_size=module.output_size(int(k), int(h), int(w)))
