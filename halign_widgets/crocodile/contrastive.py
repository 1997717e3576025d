"""The image-level contrastive loss with a relational scorer.

After Carloni et al. (2024), METHODS.md §2.4, whose scorer follows the relation network of Sung
et al., "Learning to Compare: Relation Network for Few-Shot Learning" (CVPR 2018): a small learned
function scores a pair of embeddings in ``(0, 1)`` and is regressed (MSE) to a target relation.

Pairs, per image: the task branch's causal features with the domain branch's spurious ones, and
the task branch's spurious features with the domain branch's causal ones, are *related* (target 1:
what is causal for the finding is irrelevant for the source and vice versa); the same-type pairs
(task-causal with domain-causal, task-spurious with domain-spurious) are *unrelated* (target 0).
Each branch's features are averaged over its queries into one image-level vector first [ours].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["RelationalScorer", "relational_pairs", "relational_contrastive_loss"]


class RelationalScorer(nn.Module):
    """``score(a, b) = σ(MLP([a, b]))`` for ``B×d`` embeddings ``a`` and ``b``."""

    def __init__(self, dim: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or dim
        self.mlp = nn.Sequential(nn.Linear(2 * dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """``B`` scores in ``(0, 1)``."""
        return torch.sigmoid(self.mlp(torch.cat([a, b], -1))).squeeze(-1)


def relational_pairs(task_causal: Tensor, task_spurious: Tensor, domain_causal: Tensor,
                     domain_spurious: Tensor) -> list[tuple[Tensor, Tensor, float]]:
    """The four ``(a, b, target)`` pairs of image-level embeddings (``B×d`` each, query-averaged)."""
    tc, ts, dc, ds = (t.mean(1) for t in (task_causal, task_spurious, domain_causal, domain_spurious))
    return [(tc, ds, 1.0), (ts, dc, 1.0), (tc, dc, 0.0), (ts, ds, 0.0)]


def relational_contrastive_loss(scorer: RelationalScorer, task_causal: Tensor, task_spurious: Tensor,
                                domain_causal: Tensor, domain_spurious: Tensor) -> Tensor:
    """Mean squared error of the scorer's relation scores against the targets 1 (cross) / 0 (same type).

    Parameters
    ----------
    scorer:
        The model's :class:`RelationalScorer`.
    task_causal, task_spurious:
        ``B×K×d`` features ``Q`` and ``Q̄`` of the task branch.
    domain_causal, domain_spurious:
        ``B×D×d`` features of the domain branch.
    """
    losses = []
    for a, b, target in relational_pairs(task_causal, task_spurious, domain_causal, domain_spurious):
        score = scorer(a, b)
        losses.append(F.mse_loss(score, torch.full_like(score, target)))
    return torch.stack(losses).mean()
