"""CROCODILE's loss terms, one function each (METHODS.md §2.4).

After Carloni et al., "CROCODILE: Causality aids RObustness via COntrastive DIsentangled LEarning"
(2024):

- :func:`classification_loss` — BCE or ASL (Ridnik et al., "Asymmetric Loss For Multi-Label
  Classification", ICCV 2021) on multi-label logits;
- :func:`kl_to_uniform` — ``KL(uniform ‖ softmax z_c)``: the spurious logits must carry no class
  information;
- :func:`consistency_loss` — mini-batch consistency, grouped per label explicitly: causal features
  pulled to the mean of the samples with the *same* label, spurious features to the mean of the
  samples with a *different* label;
- :func:`task_causality_map`, :func:`prior_loss` — the Max-estimator causality map of the task
  queries (computed by :func:`halign_widgets.causality.causality_map`, not a copy) against a
  ``K×K`` prior graph (row = cause, column = effect).

The relational-scorer contrastive loss is in :mod:`.contrastive`; how the terms are weighted and
switched is :mod:`.objective`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..causality import causality_map
from ..errors import ConfigError, unknown_name

__all__ = ["CLASSIFICATION_LOSSES", "asymmetric_loss", "classification_loss", "kl_to_uniform", "grouped_means",
           "consistency_loss", "task_causality_map", "prior_loss"]

CLASSIFICATION_LOSSES = ("bce", "asl")


def asymmetric_loss(logits: Tensor, targets: Tensor, gamma_pos: float = 0.0, gamma_neg: float = 4.0,
                    clip: float = 0.05) -> Tensor:
    """Asymmetric loss (Ridnik et al. 2021), averaged over every entry [ours: mean, like BCE].

    ``L = −y (1−p)^γ+ log p − (1−y) p_m^γ− log(1−p_m)`` with ``p = σ(z)`` and the shifted
    probability ``p_m = max(p − clip, 0)`` of the negatives. ``gamma_pos = gamma_neg = clip = 0``
    is plain BCE.
    """
    p = torch.sigmoid(logits)
    p_m = (p - clip).clamp(min=0.0) if clip > 0 else p
    log_p = F.logsigmoid(logits)
    log_not = torch.log((1.0 - p_m).clamp(min=1e-8)) if clip > 0 else F.logsigmoid(-logits)
    pos = targets * (1.0 - p).pow(gamma_pos) * log_p
    neg = (1.0 - targets) * p_m.pow(gamma_neg) * log_not
    return -(pos + neg).mean()


def classification_loss(logits: Tensor, targets: Tensor, kind: str = "bce") -> Tensor:
    """Multi-label loss on ``B×K`` logits: ``"bce"`` (binary cross-entropy) or ``"asl"``."""
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, targets)
    if kind == "asl":
        return asymmetric_loss(logits, targets)
    raise unknown_name("classification loss", kind, CLASSIFICATION_LOSSES)


def kl_to_uniform(logits: Tensor) -> Tensor:
    """``KL(u ‖ softmax z)`` with ``u`` uniform over the ``C`` classes, averaged over the batch.

    ``= −log C − (1/C) Σ_c log softmax(z)_c``; 0 exactly when all logits of a row are equal.
    """
    c = logits.shape[-1]
    return (-math.log(c) - torch.log_softmax(logits, -1).mean(-1)).mean()


def grouped_means(features: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Per column ``c``, the mean feature of the samples sharing / not sharing each sample's label.

    Parameters
    ----------
    features:
        ``B×C×d`` per-class features.
    labels:
        ``B×C`` integer labels (0/1 findings, or the source index repeated for every query).

    Returns
    -------
    tuple of Tensor
        ``same`` and ``other``, ``B×C×d``: the mean over ``{b' : labels[b', c] == labels[b, c]}``
        and over ``{b' : labels[b', c] != labels[b, c]}``; NaN where the group is empty.
    """
    labels = labels.long()
    values = int(labels.max()) + 1 if labels.numel() else 1
    onehot = F.one_hot(labels, values).to(features.dtype)              # B×C×V
    counts = onehot.sum(0)                                             # C×V
    sums = torch.einsum("bcv,bcd->cvd", onehot, features)              # C×V×d
    total, n = features.sum(0), features.shape[0]                      # C×d
    cols = torch.arange(features.shape[1], device=features.device).expand_as(labels)
    same_sum, same_n = sums[cols, labels], counts[cols, labels].unsqueeze(-1)
    same = same_sum / same_n
    other = (total.unsqueeze(0) - same_sum) / (n - same_n)             # 0/0 → NaN for empty groups
    return same, other


def consistency_loss(causal: Tensor, spurious: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Mini-batch consistency, grouped per label: ``(pull, push)``.

    ``pull`` = mean squared distance of each causal feature ``Q[b, c]`` to the mean of the samples
    with the same label in column ``c``; ``push`` = the same for the spurious feature ``Q̄[b, c]``
    and the mean of the samples with a *different* label (so ``Q̄`` carries no label information).
    The group means are targets (no gradient) [ours]; entries whose group is empty are skipped.

    Parameters
    ----------
    causal, spurious:
        ``B×C×d`` features of one branch.
    labels:
        ``B×C`` 0/1 findings (task branch) or ``B`` source indices (domain branch: repeated for
        every query).
    """
    if labels.dim() == 1:
        labels = labels.unsqueeze(1).expand(-1, causal.shape[1])
    same, _ = grouped_means(causal.detach(), labels)
    _, other = grouped_means(spurious.detach(), labels)

    def mean_sq(x: Tensor, target: Tensor) -> Tensor:
        ok = torch.isfinite(target).all(-1)
        if not bool(ok.any()):
            return x.sum() * 0.0
        return (x - torch.nan_to_num(target)).pow(2).mean(-1)[ok].mean()

    return mean_sq(causal, same), mean_sq(spurious, other)


def task_causality_map(task_causal: Tensor) -> Tensor:
    """The ``B×K×K`` Max-estimator causality map among the task queries.

    Each query's feature vector (``d`` numbers, after a ReLU so they read as presence
    probabilities [ours]) plays the role of a channel's feature map in
    :func:`halign_widgets.causality.causality_map` (a ``d×1`` grid): ``C[i, j] = M_i·M_j / S_j``.
    """
    return causality_map(torch.relu(task_causal).unsqueeze(-1), "max")


def prior_loss(task_causal: Tensor, prior: Tensor) -> Tensor:
    """MSE between the off-diagonal entries of the task queries' causality map and a prior graph.

    Parameters
    ----------
    task_causal:
        ``B×K×d`` causal features of the task queries.
    prior:
        ``K×K`` prior graph, row = cause, column = effect (e.g. the world's ``info["graph"]``).
        The diagonal is ignored [ours]: ``C[i, i] = M_i²/S_i`` is no causal relation.
    """
    k = task_causal.shape[1]
    if tuple(prior.shape) != (k, k):
        raise ConfigError(f"the prior graph is {tuple(prior.shape)} but there are {k} task queries; give a "
                          f"{k}×{k} matrix (row = cause, column = effect).")
    cmap = task_causality_map(task_causal)
    off = ~torch.eye(k, dtype=torch.bool, device=cmap.device)
    return (cmap - prior.to(cmap)).pow(2)[:, off].mean()
