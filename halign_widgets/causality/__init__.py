"""Causality from feature co-occurrence: maps, factors, the causality-driven module, experiments.

After Carloni & Colantonio (2024) and Carloni et al. (2023); see METHODS.md §2.1–2.3.

- :func:`causality_map` — ``B×k×k`` maps (Max and Lehmer estimators; faithful and fast modes);
- :func:`causality_factors`, :func:`random_factors` — per-channel weights (straight-through);
- :func:`channel_statistic`, :func:`channel_order` — the total order hidden in every map;
- :class:`CausalityModule`, :class:`CausalCNN`, :func:`causality_map_of` — the modules;
- :func:`map_report` → :class:`MapReport` — one image's map, graph, factors, order and ties;
- :func:`run_experiments`, :func:`summarize` — seeds × settings × worlds, mean ± std;
- :data:`SCAFFOLD` — the XAI ↔ causality scaffold as a data tree.
"""

from .experiments import run_experiments, summarize
from .factors import (
    DIRECTIONS,
    FACTOR_KINDS,
    causality_factors,
    degrees,
    direction_graph,
    random_factors,
    straight_through_step,
)
from .maps import ESTIMATORS, FAITHFUL_LIMIT, MODES, causality_map, lehmer_mean, normalize_features
from .module import SETTINGS, CausalityModule, factor_kind
from .network import CausalClassifier, CausalCNN, causality_map_of, feature_extractor, features_of
from .ordering import channel_order, channel_statistic, is_total_order, reorder
from .report import MapReport, map_report
from .scaffold import SCAFFOLD, ScaffoldNode, find_node, iter_nodes

__all__ = [
    "ESTIMATORS", "MODES", "FAITHFUL_LIMIT", "FACTOR_KINDS", "DIRECTIONS", "SETTINGS",
    "causality_map", "lehmer_mean", "normalize_features",
    "causality_factors", "random_factors", "direction_graph", "degrees", "straight_through_step",
    "channel_statistic", "channel_order", "reorder", "is_total_order",
    "CausalityModule", "CausalClassifier", "CausalCNN", "causality_map_of", "feature_extractor", "features_of",
    "factor_kind",
    "MapReport", "map_report",
    "SCAFFOLD", "ScaffoldNode", "find_node", "iter_nodes",
    "run_experiments", "summarize",
]
