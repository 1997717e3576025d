"""The weighted, switchable sum of CROCODILE's losses, as the lab Trainer's ``step_fn``.

After Carloni et al. (2024), METHODS.md §2.4. The terms (names as they appear in the history,
``train_<term>`` / ``val_<term>``):

=====================  =====================================================================
``task``               BCE or ASL on the causal logits ``z_x``
``task_uniform``       ``KL(uniform ‖ softmax z_c)`` on the spurious logits
``task_intervened``    BCE or ASL on the intervened logits ``z_ĉ``
``task_consistency``   mini-batch consistency of the task features, grouped per finding
``domain``             cross-entropy of the domain branch's causal logits on the source
``domain_uniform``     ``KL(uniform ‖ softmax)`` of its spurious logits
``domain_intervened``  cross-entropy of its intervened logits
``domain_consistency`` mini-batch consistency of the domain features, grouped per source
``contrastive``        the relational-scorer contrastive loss (:mod:`.contrastive`)
``prior``              MSE between the task queries' causality map and the prior graph
=====================  =====================================================================

A switched-off term is not computed at all (it contributes no gradient) and is recorded as 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError, unknown_name
from ..validation import check_real
from .contrastive import relational_contrastive_loss
from .losses import CLASSIFICATION_LOSSES, classification_loss, consistency_loss, kl_to_uniform, prior_loss
from .model import CrocodileNet
from .prior import check_prior

__all__ = ["TERMS", "DOMAIN_TERMS", "LossConfig", "CrocodileObjective", "split_targets"]

TERMS = ("task", "task_uniform", "task_intervened", "task_consistency", "domain", "domain_uniform",
         "domain_intervened", "domain_consistency", "contrastive", "prior")
#: Terms that need the domain branch.
DOMAIN_TERMS = ("domain", "domain_uniform", "domain_intervened", "domain_consistency", "contrastive")


@dataclass(frozen=True)
class LossConfig:
    """Which loss terms are on, their weights, and the multi-label loss.

    Parameters
    ----------
    on:
        Names of the switched-on terms (see :data:`TERMS`).
    weights:
        Weight per term (1.0 where not given).
    classification:
        ``"bce"`` or ``"asl"`` for the task's ``z_x`` and ``z_ĉ`` terms.
    """

    on: frozenset[str] = frozenset(("task", "task_uniform", "task_intervened", "task_consistency"))
    weights: Mapping[str, float] = field(default_factory=dict)
    classification: str = "bce"

    def __post_init__(self) -> None:
        object.__setattr__(self, "on", frozenset(self.on))
        object.__setattr__(self, "weights", dict(self.weights))
        for name in (*self.on, *self.weights):
            if name not in TERMS:
                raise unknown_name("loss term", name, TERMS)
        for name, w in self.weights.items():
            check_real(f"the weight of {name!r}", w, 0.0)
        if self.classification not in CLASSIFICATION_LOSSES:
            raise unknown_name("classification loss", self.classification, CLASSIFICATION_LOSSES)

    def weight(self, name: str) -> float:
        """The weight of ``name`` (1.0 by default)."""
        return float(self.weights.get(name, 1.0))

    def switched(self, on: Iterable[str] = (), off: Iterable[str] = ()) -> LossConfig:
        """A copy with the terms ``on`` switched on and ``off`` switched off."""
        return replace(self, on=(self.on | frozenset(on)) - frozenset(off))

    def weighted(self, **weights: float) -> LossConfig:
        """A copy with some weights changed."""
        return replace(self, weights={**self.weights, **weights})

    def check(self, domain_branch: bool) -> None:
        """Refuse an impossible combination: a domain or contrastive term without the domain branch."""
        missing = sorted(self.on & set(DOMAIN_TERMS)) if not domain_branch else []
        if missing:
            raise ConfigError(f"loss term(s) {missing} need the domain branch, which this configuration does not "
                              "have; build the model with domain_branch=True or switch those terms off.")


def split_targets(y: Tensor, num_findings: int) -> tuple[Tensor, Tensor]:
    """``(findings, source index)`` from the ``[findings | one-hot source]`` targets (``B×(K+D)``)."""
    findings, onehot = y[:, :num_findings], y[:, num_findings:]
    return findings, onehot.argmax(1)


class CrocodileObjective:
    """``step_fn(model, x, y) -> (loss, readout, terms)`` for a :class:`CrocodileNet`.

    Parameters
    ----------
    losses:
        The :class:`LossConfig`.
    prior:
        ``K×K`` prior graph, required when the ``prior`` term is on.
    """

    def __init__(self, losses: LossConfig, prior: Any = None) -> None:
        self.losses = losses
        self.prior = None if prior is None else torch.as_tensor(prior, dtype=torch.float32)
        if "prior" in losses.on and self.prior is None:
            raise ConfigError("the prior loss is on but no prior graph was given; pass prior=world.info['graph'] "
                              "(or switch the prior term off).")

    def __call__(self, model: CrocodileNet, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, dict[str, Any]]:
        cfg, k = self.losses, model.num_findings
        cfg.check(model.has_domain_branch)
        if self.prior is not None:
            self.prior = check_prior(self.prior, k)
        findings, source = split_targets(y, k)
        # in eval mode a fixed permutation (a roll) keeps evaluation free of random draws [ours]
        perm = None if model.training else torch.roll(torch.arange(x.shape[0], device=x.device), 1)
        out = model.forward_all(x, perm=perm, intervene=bool(cfg.on & {"task_intervened", "domain_intervened"}))
        t, d = out.task, out.domain
        terms: dict[str, Tensor | float] = {name: 0.0 for name in TERMS}
        on = cfg.on
        if "task" in on:
            terms["task"] = classification_loss(t.z, findings, cfg.classification)
        if "task_uniform" in on:
            terms["task_uniform"] = kl_to_uniform(t.z_spurious)
        if "task_intervened" in on:
            assert t.z_intervened is not None  # forward_all(intervene=True) above
            terms["task_intervened"] = classification_loss(t.z_intervened, findings, cfg.classification)
        if "task_consistency" in on:
            pull, push = consistency_loss(t.causal, t.spurious, findings)
            terms["task_consistency"] = pull + push
        if d is not None:
            if "domain" in on:
                terms["domain"] = F.cross_entropy(d.z, source)
            if "domain_uniform" in on:
                terms["domain_uniform"] = kl_to_uniform(d.z_spurious)
            if "domain_intervened" in on:
                assert d.z_intervened is not None  # forward_all(intervene=True) above
                terms["domain_intervened"] = F.cross_entropy(d.z_intervened, source)
            if "domain_consistency" in on:
                pull, push = consistency_loss(d.causal, d.spurious, source)
                terms["domain_consistency"] = pull + push
            if "contrastive" in on:
                assert model.scorer is not None  # a domain branch comes with its relational scorer
                terms["contrastive"] = relational_contrastive_loss(model.scorer, t.causal, t.spurious, d.causal,
                                                                   d.spurious)
        if "prior" in on:
            assert self.prior is not None  # __init__ refuses the prior term without a prior
            terms["prior"] = prior_loss(t.causal, self.prior.to(t.causal.device))
        active = [cfg.weight(name) * cast(Tensor, terms[name]) for name in TERMS if name in on]  # set above
        loss = torch.stack(active).sum() if active else t.z.sum() * 0.0
        source_z = d.z if d is not None else t.z.new_zeros(x.shape[0], model.num_sources)
        return loss, torch.cat([t.z, source_z], 1), terms
