"""Biological vision: CoCoReco, a network wired like the primate visual cortex, with context attention.

After Carloni et al., "Connectivity-Inspired Network for Context-Aware Recognition" (ECCV 2024
workshops); see METHODS.md §3. Pure PyTorch.

- :data:`AREAS`, :data:`EDGES`, :data:`PATHWAYS`, :data:`SOURCE` — the area graph and its fixed
  connectome gains, as data (:func:`connectome_table` for a table);
- :class:`CoCoReco` — the network (``features(x)`` gives every area's activations);
- :class:`ContextualAttention` — the parameter-free CAB, built on the causality maps and factors;
- :func:`alignment_loss` (``L_mb`` [ours]) and :class:`CoCoRecoStep` — training with the Trainer;
- :class:`ScratchCNN` — the plain 7-stage baseline;
- :func:`ablate` — cut edges, pathways or CABs, change gains, and get the model back;
- :func:`compare_models`, :func:`summarize_comparison`, :func:`summarize_drops`,
  :func:`classification_scores`, :func:`cam_scores`, :func:`pathway_drops` — the experiments.
"""

from .ablation import ablate, resolve_cuts
from .attention import CABOutput, ContextualAttention
from .connectome import (
    AREAS,
    EDGES,
    PATHWAYS,
    SOURCE,
    Area,
    Edge,
    area_names,
    connectome_table,
    edge_name,
    edge_names,
    get_area,
    get_edge,
    in_edges,
    pathway_edges,
    topological_order,
)
from .experiments import (
    VARIANT_LABELS,
    VARIANTS,
    Comparison,
    build_model,
    compare_models,
    summarize_comparison,
    summarize_drops,
    train_model,
)
from .loss import alignment_loss
from .model import DEFAULT_CAB_AREAS, MIN_CHANNELS, CoCoReco, CoCoRecoOutput, area_channels, min_input_size
from .scores import cam_scores, classification_scores, pathway_drops
from .scratch import ScratchCNN
from .training import DEFAULT_LMB_WEIGHT, CoCoRecoStep

__all__ = [
    "AREAS", "EDGES", "PATHWAYS", "SOURCE", "Area", "Edge", "area_names", "edge_names", "edge_name", "get_area",
    "get_edge", "in_edges", "pathway_edges", "topological_order", "connectome_table",
    "CoCoReco", "CoCoRecoOutput", "DEFAULT_CAB_AREAS", "MIN_CHANNELS", "area_channels", "min_input_size",
    "ContextualAttention", "CABOutput",
    "alignment_loss", "CoCoRecoStep", "DEFAULT_LMB_WEIGHT",
    "ScratchCNN",
    "ablate", "resolve_cuts",
    "VARIANTS", "VARIANT_LABELS", "Comparison", "build_model", "train_model", "classification_scores",
    "cam_scores", "pathway_drops", "compare_models", "summarize_comparison", "summarize_drops",
]
