"""ProtoPNet's training objective: cross-entropy + cluster + separation + L1 on wrong-class weights.

After Chen et al., NeurIPS 2019 (METHODS.md §1.5): ``CE + λ_clst·Clst + λ_sep·Sep + λ_L1·‖W ⊙ (1 − I)‖₁``
with ``Clst`` the mean over images of the distance to the closest own-class prototype, ``Sep`` the
mean distance to the closest other-class prototype, and defaults λ_clst = 0.8, λ_sep = −0.08,
λ_L1 = 1e-4. In the last-layer stage the features are fixed, so the objective is ``CE + λ_L1·L1``.
Every term is returned to the Trainer (``step_fn``), so each lands in the history as
``train_<term>`` / ``val_<term>``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError, unknown_name
from ..validation import check_real
from .model import ProtoOutput, ProtoPNet

__all__ = ["LOSS_STAGES", "ExtraTerm", "ProtoPNetLoss", "cluster_separation", "wrong_class_l1"]

LOSS_STAGES = ("warm-up", "joint", "last layer")

#: An extra loss term: ``term(model, out, x, y) -> (weight, value)`` (e.g. ProtoPDebug's forgetting loss).
ExtraTerm = Callable[[ProtoPNet, ProtoOutput, Tensor, Tensor], tuple[float, Tensor]]


def cluster_separation(min_distances: Tensor, labels: Tensor, prototype_class: Tensor,
                       active: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Cluster and separation costs from the ``B×P`` minimum distances.

    ``Clst`` = mean over images of the smallest distance to an active prototype of the image's
    class; ``Sep`` = the same for prototypes of the other classes. Images without any active
    prototype of the needed kind are left out of that mean (0 if none is left).

    Examples
    --------
    >>> d = torch.tensor([[1.0, 4.0, 2.0, 9.0]])          # prototypes of classes 0, 0, 1, 1
    >>> cluster_separation(d, torch.tensor([0]), torch.tensor([0, 0, 1, 1]))
    (tensor(1.), tensor(2.))
    """
    valid = (torch.ones_like(min_distances, dtype=torch.bool) if active is None
             else (active > 0)[None].expand_as(min_distances))
    own = prototype_class[None, :] == labels[:, None]

    def closest(which: Tensor) -> Tensor:
        allowed = which & valid
        big = torch.finfo(min_distances.dtype).max
        nearest = min_distances.masked_fill(~allowed, big).amin(1)
        rows = allowed.any(1)
        return nearest[rows].mean() if bool(rows.any()) else min_distances.sum() * 0.0

    return closest(own), closest(~own)


def wrong_class_l1(model: ProtoPNet) -> Tensor:
    """``‖W ⊙ (1 − I)‖₁``: the absolute last-layer weights from prototypes to classes they do not belong to."""
    mask = 1.0 - model.prototype_class_identity.t()
    return (model.last_layer.weight * mask).abs().sum()


class ProtoPNetLoss:
    """The ``step_fn`` of a ProtoPNet run: ``(loss, logits, terms)`` for the Trainer.

    Parameters
    ----------
    clst, sep, l1:
        λ_clst, λ_sep, λ_L1 (Chen et al.'s 0.8, −0.08, 1e-4).
    stage:
        ``"warm-up"``, ``"joint"`` (full objective) or ``"last layer"`` (``CE + λ_L1·L1``);
        :func:`~halign_widgets.prototypes.train_protopnet` sets it between stages.
    extra:
        Further terms ``term(model, out, x, y) -> (weight, value)`` keyed by name, added to the
        loss and reported (ProtoPDebug's ``forget`` / ``remember`` losses use this).

    Returns (when called)
    ---------------------
    ``(loss, logits, {"ce", "clst", "sep", "l1", *extra})`` — every term, whatever the stage.
    """

    def __init__(self, clst: float = 0.8, sep: float = -0.08, l1: float = 1e-4, stage: str = "joint",
                 extra: dict[str, ExtraTerm] | None = None) -> None:
        for name, value in (("clst", clst), ("sep", sep), ("l1", l1)):
            check_real(f"λ_{name}", value, hint="the weight of a loss term")
        self.clst, self.sep, self.l1 = float(clst), float(sep), float(l1)
        self.stage = stage
        self.extra: dict[str, ExtraTerm] = dict(extra or {})

    @property
    def stage(self) -> str:
        """The current stage (decides which terms enter the loss)."""
        return self._stage

    @stage.setter
    def stage(self, value: str) -> None:
        if value not in LOSS_STAGES:
            raise unknown_name("training stage", str(value), LOSS_STAGES)
        self._stage = value

    def __call__(self, model: Any, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        if not isinstance(model, ProtoPNet):
            raise ConfigError(f"ProtoPNetLoss trains a ProtoPNet, got a {type(model).__name__}; build the model "
                              "with halign_widgets.prototypes.ProtoPNet(...).")
        out = model.forward_parts(x)
        ce = F.cross_entropy(out.logits, y)
        clst, sep = cluster_separation(out.min_distances, y, model.prototype_class, model.prototype_active)
        l1 = wrong_class_l1(model)
        terms: dict[str, Tensor] = {"ce": ce, "clst": clst, "sep": sep, "l1": l1}
        if self.stage == "last layer":
            loss = ce + self.l1 * l1
        else:
            loss = ce + self.clst * clst + self.sep * sep + self.l1 * l1
        for name, term in self.extra.items():
            weight, value = term(model, out, x, y)
            terms[name] = value
            loss = loss + float(weight) * value
        return loss, out.logits, {k: v.detach() for k, v in terms.items()}
