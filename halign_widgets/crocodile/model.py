"""The two-branch CROCODILE network at teaching scale: a task branch and a domain branch.

After Carloni et al., "CROCODILE: Causality aids RObustness via COntrastive DIsentangled LEarning"
(2024), METHODS.md §2.4. Both branches have the same design: the lab's conv trunk
(:class:`~halign_widgets.models.SmallCNN`'s blocks) → image tokens → one disentangled decoder
layer (:mod:`.decoder`) → group-wise heads. The task branch has one query per finding, the domain
branch one per training source. The authors' version uses two ResNet-50 backbones on chest X-rays;
this one has a few thousand parameters per branch.

**Readout convention** [ours]: ``model(x)`` returns ``K + D`` columns, the task's causal logits
``z_x`` followed by the domain branch's causal source logits (zeros — a uniform source
prediction — without a domain branch). The targets of the lab's ``Trainer`` have the same layout
(findings, then the one-hot source; :func:`~halign_widgets.crocodile.domain_targets`), which is
how the source reaches the losses through the Trainer's ``step_fn(model, x, y)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..models import SmallCNN
from ..training.registry import register_model
from ..validation import check_int, check_real
from ._facts import DomainFacts
from .contrastive import RelationalScorer
from .decoder import DisentangledDecoderLayer, GroupLinear

__all__ = ["BranchOutput", "CrocodileOutput", "Branch", "CrocodileNet"]


@dataclass
class BranchOutput:
    """One branch's outputs for a batch.

    Attributes
    ----------
    z, z_spurious, z_intervened:
        ``B×C`` causal logits (from ``Q``), spurious logits (from ``Q̄``) and intervened logits (from
        ``Q + Dropout(Q̄[perm])``; ``None`` when no permutation was given).
    causal, spurious:
        ``B×C×d`` query features ``Q`` and ``Q̄``.
    attention:
        ``B×C×N`` attention over the ``N = h·w`` tokens of the trunk's grid.
    grid:
        ``(h, w)`` of the token grid.
    """

    z: Tensor
    z_spurious: Tensor
    z_intervened: Tensor | None
    causal: Tensor
    spurious: Tensor
    attention: Tensor
    grid: tuple[int, int]


@dataclass
class CrocodileOutput:
    """Both branches' outputs and the batch permutation used for the intervention."""

    task: BranchOutput
    domain: BranchOutput | None
    perm: Tensor | None


class Branch(nn.Module):
    """Conv trunk → tokens → disentangled decoder → causal and spurious group-wise heads.

    Parameters
    ----------
    in_channels, num_queries:
        Image channels; queries (= classes of this branch).
    width, depth:
        Of the conv trunk (:class:`~halign_widgets.models.SmallCNN` blocks).
    dim:
        Width of tokens and queries.
    dropout:
        Dropout in the decoder's stream blocks.
    intervention_dropout:
        Dropout applied to the permuted spurious features in ``z_ĉ``.
    """

    def __init__(self, in_channels: int, num_queries: int, width: int = 8, depth: int = 3, dim: int = 32,
                 dropout: float = 0.1, intervention_dropout: float = 0.5) -> None:
        super().__init__()
        check_real("intervention_dropout", intervention_dropout, 0.0, 1.0, strict_high=True,
                   hint="dropout on the permuted spurious features")
        cnn = SmallCNN(in_channels, 1, width, depth)
        self.trunk = cnn.features
        self.tokens = nn.Linear(cnn.feature_channels, dim)
        self.decoder = DisentangledDecoderLayer(num_queries, dim, dropout=dropout)
        self.causal_head = GroupLinear(num_queries, dim)
        self.spurious_head = GroupLinear(num_queries, dim)
        self.intervention = nn.Dropout(intervention_dropout)

    def forward(self, x: Tensor, perm: Tensor | None = None) -> BranchOutput:
        feats = self.trunk(x)
        h, w = int(feats.shape[2]), int(feats.shape[3])
        out = self.decoder(self.tokens(feats.flatten(2).transpose(1, 2)))
        z = self.causal_head(out.causal)
        z_int = None if perm is None else self.causal_head(out.causal + self.intervention(out.spurious[perm]))
        return BranchOutput(z, self.spurious_head(out.spurious), z_int, out.causal, out.spurious, out.attention,
                            (h, w))


class CrocodileNet(DomainFacts, nn.Module):
    """Task branch (one query per finding) and optional domain branch (one query per source).

    Parameters
    ----------
    in_channels:
        Image channels.
    num_findings:
        ``K``: findings (multi-label targets).
    num_sources:
        ``D``: training sources (the domain branch's classes; also the width of the source part
        of the readout).
    domain_branch:
        Build the domain branch (and the relational scorer that pairs its features with the task
        branch's). ``False`` is the first rung of the ablation ladder.
    width, depth, dim, dropout, intervention_dropout:
        See :class:`Branch` (both branches share them).

    Examples
    --------
    >>> net = CrocodileNet(1, num_findings=4, num_sources=3)
    >>> net(torch.rand(2, 1, 32, 32)).shape        # z_x (4) then the source logits (3)
    torch.Size([2, 7])
    """

    def __init__(self, in_channels: int = 1, num_findings: int = 4, num_sources: int = 3, *,
                 domain_branch: bool = True, width: int = 8, depth: int = 3, dim: int = 32,
                 dropout: float = 0.1, intervention_dropout: float = 0.5) -> None:
        super().__init__()
        for key, value in (("in_channels", in_channels), ("num_findings", num_findings),
                           ("num_sources", num_sources), ("dim", dim)):
            check_int(key, value, 1)
        self.config = dict(in_channels=in_channels, num_findings=num_findings, num_sources=num_sources,
                           domain_branch=bool(domain_branch), width=width, depth=depth, dim=dim,
                           dropout=dropout, intervention_dropout=intervention_dropout)
        kw: dict[str, Any] = dict(width=width, depth=depth, dim=dim, dropout=dropout,
                                  intervention_dropout=intervention_dropout)
        self.task = Branch(in_channels, num_findings, **kw)
        self.domain = Branch(in_channels, num_sources, **kw) if domain_branch else None
        self.scorer = RelationalScorer(dim) if domain_branch else None

    @property
    def has_domain_branch(self) -> bool:
        """Whether the domain branch exists."""
        return self.domain is not None

    def forward_all(self, x: Tensor, perm: Tensor | None = None, intervene: bool = True) -> CrocodileOutput:
        """Both branches; with ``intervene`` a random batch permutation (``perm``) feeds ``z_ĉ``.

        The permutation comes from torch's global generator (which the Trainer seeds per epoch)
        unless given.
        """
        if intervene and perm is None:
            perm = torch.randperm(x.shape[0], device=x.device)
        perm = perm if intervene else None
        task = self.task(x, perm)
        domain = self.domain(x, perm) if self.domain is not None else None
        return CrocodileOutput(task, domain, perm)

    def forward(self, x: Tensor) -> Tensor:
        task_z = self.task(x).z
        source_z = self.domain(x).z if self.domain is not None else task_z.new_zeros(x.shape[0], self.num_sources)
        return torch.cat([task_z, source_z], 1)


register_model(CrocodileNet)  # load_trained rebuilds it from a checkpoint's model_class / model_config
