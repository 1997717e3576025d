"""The hidden structure of a causality map: its direction graph is a total order of channels.

See METHODS.md §2.1 ("teaching point"). With the closed forms of :mod:`.maps`,

- Max estimator: ``C[i, j] > C[j, i] ⇔ M_i M_j / S_j > M_j M_i / S_i ⇔ S_i > S_j`` — channel ``i``
  "causes" ``j`` exactly when it has more mass ``S_i = Σ F_i``;
- Lehmer estimator: ``C[i, j] = LM_p(F_i)``, so ``i`` causes ``j`` exactly when its Lehmer mean is
  larger.

So the graph carries no more information than one number per channel. Sorting the channels by that
statistic (largest first) makes the adjacency matrix strictly upper-triangular (apart from ties).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import unknown_name
from .maps import ESTIMATORS, _check_features, lehmer_mean, normalize_features

__all__ = ["channel_statistic", "channel_order", "reorder", "is_total_order"]


def channel_statistic(features: Tensor, estimator: str = "max", p: float = 1.0, eps: float = 1e-6) -> Tensor:
    """The per-channel number that decides the direction graph, ``B×k``.

    Parameters
    ----------
    features:
        ``B×k×h×w`` feature maps (the same input as :func:`~halign_widgets.causality.causality_map`).
    estimator:
        ``"max"`` → the mass ``S_i = Σ F_i``; ``"lehmer"`` → the Lehmer mean ``LM_p(F_i)``.
    p, eps:
        As in :func:`~halign_widgets.causality.causality_map`.
    """
    if estimator not in ESTIMATORS:
        raise unknown_name("causality estimator", estimator, ESTIMATORS)
    _check_features(features)
    f = normalize_features(features.double(), eps).flatten(2)
    stat = f.sum(2) if estimator == "max" else lehmer_mean(f, float(p))
    return stat.to(features.dtype)


def channel_order(statistic: Tensor) -> Tensor:
    """Channel indices sorted by decreasing statistic (first = the strongest "cause"), same leading shape."""
    return torch.argsort(statistic, dim=-1, descending=True, stable=True)


def reorder(matrix: Tensor, order: Tensor) -> Tensor:
    """Permute rows and columns of a ``k×k`` (or ``B×k×k``) matrix by ``order``."""
    if matrix.dim() == 2:
        return matrix[order][:, order]
    idx = order.unsqueeze(-1).expand(-1, -1, matrix.shape[-1])
    rows = matrix.gather(1, idx)
    return rows.gather(2, order.unsqueeze(1).expand(-1, matrix.shape[1], -1))


def is_total_order(adjacency: Tensor, statistic: Tensor) -> Tensor:
    """Check that ``A[i, j] = 1[stat_i > stat_j]`` for every pair, per sample (``B`` bools).

    Equivalently: reordered by :func:`channel_order`, the adjacency is strictly upper-triangular
    with every pair of distinct values ordered.
    """
    if adjacency.dim() == 2:
        adjacency, statistic = adjacency[None], statistic[None]
    expected = (statistic.unsqueeze(2) > statistic.unsqueeze(1)).to(adjacency.dtype)
    return (adjacency == expected).flatten(1).all(1)
