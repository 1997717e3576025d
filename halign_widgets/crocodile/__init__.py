"""CROCODILE: causal, contrastive and disentangled learning with prior knowledge, across domains.

After Carloni et al., "CROCODILE: Causality aids RObustness via COntrastive DIsentangled LEarning"
(2024) and Carloni's thesis "Human-aligned Deep Learning" (2025), finding (v); METHODS.md §2.4.
Pure PyTorch at teaching scale — a reconstruction, not the authors' exact method; the [ours]
choices are listed in each module's docstring.

- :func:`disentangled_attention` — causal ``A·V`` and spurious ``(1 − A)·V`` streams;
- :class:`DisentangledDecoderLayer`, :class:`GroupLinear`, :class:`Branch`, :class:`CrocodileNet`
  — the two-branch model with group-wise heads (``z_x``, ``z_c``, ``z_ĉ``);
- loss terms (:func:`classification_loss`, :func:`kl_to_uniform`, :func:`consistency_loss`,
  :func:`relational_contrastive_loss`, :func:`prior_loss`) and their weighted, switchable sum
  :class:`LossConfig` / :class:`CrocodileObjective` (the Trainer's ``step_fn``);
- :data:`CONFIGURATIONS` — the ablation ladder (:data:`LADDER`) and the baselines ERM, GroupDRO,
  CORAL (:data:`BASELINES`);
- the protocol: :func:`domain_splits` (:func:`in_distribution_splits` for data without sources),
  :class:`SelectionTracker`, :func:`mean_average_precision`,
  :func:`mean_auroc`, :func:`train_configuration`;
- experiments on the lab's runner: :func:`run_ladder`, :func:`summarize_ladder`,
  :func:`paper_direction`;
- inspection: :func:`attention_maps`, :func:`score_attention`, :func:`learned_causality_map`,
  :func:`prior_graph`.
"""

from .attention import DisentangledCrossAttention, disentangled_attention
from .baselines import BaselineNet, CORALObjective, ERMObjective, GroupDROObjective, coral_penalty
from .configs import BASELINES, CONFIGURATIONS, DEFAULT_WEIGHTS, LADDER, METHODS, Configuration, configuration
from .contrastive import RelationalScorer, relational_contrastive_loss, relational_pairs
from .data import (
                   DomainSplits,
                   check_domain_dataset,
                   domain_splits,
                   domain_targets,
                   finding_masks,
                   in_distribution_splits,
                   marker_masks,
)
from .decoder import DecoderOutput, DisentangledDecoderLayer, GroupLinear, StreamBlock
from .evaluation import (
                   SELECTIONS,
                   SelectionTracker,
                   finding_probabilities,
                   mean_auroc,
                   mean_average_precision,
                   split_scores,
)
from .experiments import METRICS, crocodile_cell, ladder_cells, paper_direction, run_ladder, summarize_ladder
from .losses import (
                   CLASSIFICATION_LOSSES,
                   asymmetric_loss,
                   classification_loss,
                   consistency_loss,
                   grouped_means,
                   kl_to_uniform,
                   prior_loss,
                   task_causality_map,
)
from .maps import attention_maps, score_attention
from .model import Branch, BranchOutput, CrocodileNet, CrocodileOutput
from .objective import DOMAIN_TERMS, TERMS, CrocodileObjective, LossConfig, split_targets
from .prior import PRIOR_KINDS, check_prior, learned_causality_map, prior_graph
from .run import RunResult, build_model, build_objective, make_trainer, resolve_prior, train_configuration

__all__ = [
    "BASELINES", "CLASSIFICATION_LOSSES", "CONFIGURATIONS", "DEFAULT_WEIGHTS", "DOMAIN_TERMS", "LADDER",
    "METHODS", "METRICS", "PRIOR_KINDS", "SELECTIONS", "TERMS",
    "disentangled_attention", "DisentangledCrossAttention",
    "DecoderOutput", "StreamBlock", "DisentangledDecoderLayer", "GroupLinear",
    "Branch", "BranchOutput", "CrocodileNet", "CrocodileOutput",
    "asymmetric_loss", "classification_loss", "kl_to_uniform", "grouped_means", "consistency_loss",
    "task_causality_map", "prior_loss", "RelationalScorer", "relational_pairs", "relational_contrastive_loss",
    "LossConfig", "CrocodileObjective", "split_targets",
    "BaselineNet", "ERMObjective", "GroupDROObjective", "CORALObjective", "coral_penalty",
    "Configuration", "configuration",
    "DomainSplits", "check_domain_dataset", "domain_targets", "domain_splits", "in_distribution_splits",
    "finding_masks", "marker_masks",
    "mean_average_precision", "mean_auroc", "finding_probabilities", "split_scores", "SelectionTracker",
    "RunResult", "build_model", "build_objective", "make_trainer", "resolve_prior", "train_configuration",
    "crocodile_cell", "ladder_cells", "run_ladder", "summarize_ladder", "paper_direction",
    "attention_maps", "score_attention", "check_prior", "prior_graph", "learned_causality_map",
]
