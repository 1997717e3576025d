"""Domain-generalization baselines on the lab's CNN: ERM, GroupDRO and CORAL, as ``step_fn`` objects.

Written compactly by hand: no well-kept pip library provides them for plain PyTorch models
(DomainBed and WILDS ship them inside their own training frameworks, not as a package to import).

- **ERM** — empirical risk minimization: BCE on the pooled training sources (Vapnik, 1998;
  Gulrajani & Lopez-Paz, "In Search of Lost Domain Generalization", ICLR 2021, found a tuned
  ERM hard to beat).
- **GroupDRO** — Sagawa et al., "Distributionally Robust Neural Networks for Group Shifts"
  (ICLR 2020): one weight per training source, raised multiplicatively (step ``eta``) on the
  sources with a high loss; the loss is the weighted sum of the per-source losses.
- **CORAL** — Sun & Saenko, "Deep CORAL: Correlation Alignment for Deep Domain Adaptation"
  (ECCV-W 2016), in its domain-generalization form: a penalty on the differences of the feature
  means and covariances between every pair of sources in the batch (weight ``penalty``).

Every model here reads out ``K + D`` columns like :class:`~halign_widgets.crocodile.CrocodileNet`
(the findings' logits, then zeros for the sources), so all methods train on the same targets.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models import SmallCNN
from ..training.registry import register_model
from ..validation import check_int, check_real
from ._facts import DomainFacts
from .objective import split_targets

__all__ = ["BaselineNet", "ERMObjective", "GroupDROObjective", "CORALObjective", "coral_penalty"]


class BaselineNet(DomainFacts, nn.Module):
    """The lab's :class:`~halign_widgets.models.SmallCNN` (one trunk, like one CROCODILE branch), ``K + D`` outputs."""

    def __init__(self, in_channels: int = 1, num_findings: int = 4, num_sources: int = 3, *, width: int = 8,
                 depth: int = 3, dropout: float = 0.0) -> None:
        super().__init__()
        self.cnn = SmallCNN(in_channels, num_findings, width, depth, dropout)
        self.config = dict(in_channels=in_channels, num_findings=num_findings, num_sources=num_sources,
                           width=width, depth=depth, dropout=dropout)

    def embed(self, x: Tensor) -> Tensor:
        """Globally pooled trunk features, ``B×k`` (what CORAL aligns)."""
        return self.cnn.pool(self.cnn.forward_features(x)).flatten(1)

    def readout(self, features: Tensor) -> Tensor:
        """``[findings' logits | zeros for the sources]`` from pooled features."""
        z = self.cnn.classifier(self.cnn.dropout(features))
        return torch.cat([z, z.new_zeros(z.shape[0], self.num_sources)], 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.readout(self.embed(x))


class ERMObjective:
    """``step_fn`` of ERM: BCE on the findings' logits."""

    def __call__(self, model: BaselineNet, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, dict[str, Any]]:
        findings, _ = split_targets(y, model.num_findings)
        out = model(x)
        loss = F.binary_cross_entropy_with_logits(out[:, :model.num_findings], findings)
        return loss, out, {"task": loss}


class GroupDROObjective:
    """``step_fn`` of GroupDRO with one group per training source.

    Parameters
    ----------
    num_groups:
        Training sources.
    eta:
        Step of the exponentiated-gradient update of the group weights (Sagawa et al. use 0.01).
    """

    def __init__(self, num_groups: int, eta: float = 0.01) -> None:
        num_groups = check_int("num_groups", num_groups, 1, hint="GroupDRO's groups: the training sources")
        self.eta = check_real("eta", eta, 0.0, strict=True, hint="GroupDRO's step size, e.g. 0.01")
        self.q = torch.full((num_groups,), 1.0 / num_groups)

    def __call__(self, model: BaselineNet, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, dict[str, Any]]:
        findings, source = split_targets(y, model.num_findings)
        out = model(x)
        per_sample = F.binary_cross_entropy_with_logits(out[:, :model.num_findings], findings,
                                                        reduction="none").mean(1)
        onehot = F.one_hot(source, self.q.numel()).to(per_sample.dtype)
        counts = onehot.sum(0)
        group_loss = (onehot * per_sample[:, None]).sum(0) / counts.clamp(min=1)
        q = self.q.to(per_sample.device)
        if model.training:              # the weights move only while training
            present = counts > 0
            q = q * torch.exp(self.eta * group_loss.detach() * present)
            q = q / q.sum()
            self.q = q.detach().cpu()
        loss = (q * group_loss).sum()
        return loss, out, {"task": per_sample.mean(), "groupdro_worst": group_loss.max()}


def coral_penalty(features: Tensor, groups: Tensor) -> Tensor:
    """Mean over pairs of groups (with ≥ 2 samples each) of the squared mean and covariance differences.

    ``mean((μ_a − μ_b)²) + mean((Σ_a − Σ_b)²)`` for ``B×k`` features; 0 with fewer than two groups.
    """
    stats = []
    for g in torch.unique(groups):
        f = features[groups == g]
        if f.shape[0] < 2:
            continue
        mu = f.mean(0)
        centred = f - mu
        stats.append((mu, centred.t() @ centred / (f.shape[0] - 1)))
    terms = [(ma - mb).pow(2).mean() + (ca - cb).pow(2).mean()
             for i, (ma, ca) in enumerate(stats) for mb, cb in (s for s in stats[i + 1:])]
    return torch.stack(terms).mean() if terms else features.sum() * 0.0


class CORALObjective:
    """``step_fn`` of CORAL: BCE plus ``penalty`` × :func:`coral_penalty` over the batch's sources."""

    def __init__(self, penalty: float = 1.0) -> None:
        self.penalty = check_real("the CORAL penalty weight", penalty, 0.0)

    def __call__(self, model: BaselineNet, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, dict[str, Any]]:
        findings, source = split_targets(y, model.num_findings)
        feats = model.embed(x)
        out = model.readout(feats)
        bce = F.binary_cross_entropy_with_logits(out[:, :model.num_findings], findings)
        coral = coral_penalty(feats, source)
        return bce + self.penalty * coral, out, {"task": bce, "coral": coral}


register_model(BaselineNet)  # load_trained rebuilds it from a checkpoint's model_class / model_config
