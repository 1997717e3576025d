"""Pruning after Chen et al.: drop prototypes whose nearest training patches mostly belong to other classes.

C. Chen et al., "This Looks Like That", NeurIPS 2019, §2.3 (their code: ``k = 6``, prune when fewer
than ``3`` of the 6 nearest patches come from the prototype's class). A prototype whose nearest
patches are mostly of other classes encodes something the classes share (background, a border,
tissue texture) rather than a part of its own class. Pruning here switches such prototypes off
(``prototype_active``) instead of deleting them, so it can be undone and the checkpoint keeps the
prototype count [ours].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..errors import ConfigError
from ..validation import check_int
from .explanations import NearestPatches, nearest_patches
from .model import ProtoPNet

__all__ = ["PruneResult", "prune_prototypes", "prune_rule"]


def prune_rule(neighbor_labels: Tensor, prototype_class: Tensor, threshold: int) -> Tensor:
    """``P`` bools: prune prototype ``j`` when fewer than ``threshold`` of its neighbours share its class.

    Examples
    --------
    >>> prune_rule(torch.tensor([[0, 0, 1], [1, 1, 0]]), torch.tensor([0, 0]), threshold=2)
    tensor([False,  True])
    """
    if neighbor_labels.dim() != 2 or neighbor_labels.shape[0] != prototype_class.shape[0]:
        raise ConfigError(f"neighbour labels must be P×k for {prototype_class.shape[0]} prototypes, got "
                          f"{tuple(neighbor_labels.shape)}.")
    k = neighbor_labels.shape[1]
    threshold = check_int("threshold", threshold, 0, k, hint=f"k = {k} neighbours per prototype")
    own = (neighbor_labels == prototype_class[:, None]).sum(1)
    return own < threshold


@dataclass
class PruneResult:
    """What pruning decided: the switched-off prototypes and the accuracy before and after."""

    pruned: list[int]
    kept: list[int]
    own_counts: list[int]
    k: int
    threshold: int
    accuracy_before: float | None = None
    accuracy_after: float | None = None
    nearest: NearestPatches | None = field(default=None, repr=False)

    def summary(self) -> str:
        """One sentence saying what was removed and what it cost."""
        which = ", ".join(f"p{j}" for j in self.pruned) or "none"
        acc = ""
        if self.accuracy_before is not None and self.accuracy_after is not None:
            acc = f"; test accuracy {self.accuracy_before:.3f} → {self.accuracy_after:.3f}"
        return (f"pruned {len(self.pruned)} of {len(self.pruned) + len(self.kept)} prototypes ({which}): fewer than "
                f"{self.threshold} of their {self.k} nearest training patches belong to their class{acc}")


def prune_prototypes(model: ProtoPNet, dataset: Any, k: int = 6, threshold: int = 3, *, test: Any = None,
                     apply: bool = True, nearest: NearestPatches | None = None) -> PruneResult:
    """Find (and, with ``apply``, switch off) the prototypes the pruning rule rejects.

    Parameters
    ----------
    model:
        The ProtoPNet.
    dataset:
        Training images with labels, searched for the nearest patches (all classes).
    k, threshold:
        Chen et al.'s 6 and 3: prune when fewer than ``threshold`` of the ``k`` nearest patches
        come from the prototype's own class.
    test:
        Data on which to report accuracy before and after.
    apply:
        Switch the pruned prototypes off (``False``: only report).
    nearest:
        Precomputed :func:`~halign_widgets.prototypes.nearest_patches` with at least ``k`` patches.
    """
    from .compare import classification_scores

    if nearest is None or nearest.k < k:
        nearest = nearest_patches(model, dataset, k, boxes=False)
    labels = nearest.labels[:, :k]
    prune = prune_rule(labels, model.prototype_class.cpu(), threshold)
    prune &= model.prototype_active.cpu() > 0            # already switched off: nothing to prune
    before = classification_scores(model, test)["accuracy"] if test is not None else None
    if apply:
        with torch.no_grad():
            model.prototype_active[prune.to(model.prototype_active.device)] = 0.0
    after = classification_scores(model, test)["accuracy"] if test is not None and apply else before
    own = (labels == model.prototype_class.cpu()[:, None]).sum(1)
    return PruneResult(pruned=prune.nonzero()[:, 0].tolist(), kept=(~prune).nonzero()[:, 0].tolist(),
                       own_counts=own.tolist(), k=k, threshold=threshold, accuracy_before=before,
                       accuracy_after=after, nearest=nearest)
