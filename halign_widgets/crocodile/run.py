"""Train one configuration through the lab's Trainer and test it under the protocol.

Every configuration — the ladder's rungs and the baselines — gets the same budget: the same
epochs, batch size, optimizer (Adam) and learning rate, the same data and seed, and the same
selection rule (:mod:`.evaluation`). The model is built under a seed derived from ``seed``, so two
runs with the same arguments give the same numbers on the CPU.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..training import Callback, History, Trainer, derive_seed, multilabel_accuracy, seeded
from .baselines import BaselineNet, CORALObjective, ERMObjective, GroupDROObjective
from .configs import Configuration, configuration
from .data import DomainSplits
from .evaluation import SelectionTracker
from .model import CrocodileNet
from .objective import CrocodileObjective
from .prior import check_prior, prior_graph

__all__ = ["RunResult", "build_model", "build_objective", "resolve_prior", "make_trainer", "train_configuration"]


def _finding_accuracy(logits: Tensor, y: Tensor, k: int) -> Tensor:
    return multilabel_accuracy(logits[:, :k], y[:, :k])


def build_model(config: str | Configuration, splits: DomainSplits, width: int = 8, depth: int = 3,
                dim: int = 32) -> nn.Module:
    """A fresh model for ``config``: a :class:`CrocodileNet` or a :class:`BaselineNet`."""
    config = configuration(config)
    c, k, d = splits.dataset.channels, splits.num_findings, splits.num_sources
    if config.method == "crocodile":
        return CrocodileNet(c, k, d, domain_branch=config.domain_branch, width=width, depth=depth, dim=dim)
    return BaselineNet(c, k, d, width=width, depth=depth)


def resolve_prior(prior: Any, splits: DomainSplits) -> Tensor:
    """A ``K×K`` prior: a kind (``"true"``, ``"empty"``, ``"reversed"`` of the world's ``info["graph"]``), or a matrix.
    """
    k = splits.num_findings
    if isinstance(prior, str):
        graph = splits.dataset.info.get("graph")
        if graph is None:
            raise ConfigError(f"prior {prior!r} needs the dataset's info['graph'] (the domains world has one); "
                              f"pass a {k}×{k} matrix instead.")
        return check_prior(prior_graph(prior, graph), k)
    return check_prior(prior, k)


def build_objective(config: str | Configuration, splits: DomainSplits, prior: Any = "true") -> Any:
    """The ``step_fn`` of ``config`` (the prior is resolved only when the prior loss is on)."""
    config = configuration(config)
    if config.method == "crocodile":
        return CrocodileObjective(config.losses, resolve_prior(prior, splits) if config.uses_prior else None)
    if config.method == "erm":
        return ERMObjective()
    if config.method == "groupdro":
        return GroupDROObjective(splits.num_sources)
    return CORALObjective()


@dataclass
class RunResult:
    """A trained configuration and its scores.

    Attributes
    ----------
    results:
        Per selection rule (``"train-val"``, ``"oracle"``): ``epoch``, ``id_map``, ``ood_map``,
        ``drop_map``, ``id_auroc``, ``ood_auroc``, ``drop_auroc``.
    """

    config: Configuration
    model: nn.Module
    trainer: Trainer
    tracker: SelectionTracker
    results: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds_per_epoch: float = 0.0

    @property
    def history(self) -> History:
        """The Trainer's per-epoch history (every loss term, ID and OOD scores)."""
        return self.trainer.history

    @property
    def params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def make_trainer(config: str | Configuration, splits: DomainSplits, *, epochs: int = 6, batch_size: int = 64,
                 lr: float = 2e-3, seed: int = 0, width: int = 8, depth: int = 3, dim: int = 32,
                 prior: Any = "true", device: str | torch.device = "auto", callbacks: Iterable[Callback] = (),
                 progress: bool = False) -> tuple[Trainer, SelectionTracker]:
    """Build model, objective, tracker and Trainer for ``config`` (nothing is trained yet)."""
    config = configuration(config)
    with seeded(derive_seed(seed, "init")):
        model = build_model(config, splits, width, depth, dim)
    tracker = SelectionTracker(splits)
    trainer = Trainer(model, splits.tensors("train"), splits.tensors("val"), epochs=epochs, batch_size=batch_size,
                      lr=lr, step_fn=build_objective(config, splits, prior), seed=seed, device=device,
                      metrics=functools.partial(_finding_accuracy, k=splits.num_findings),
                      callbacks=[tracker, *callbacks], progress=progress)
    return trainer, tracker


def train_configuration(config: str | Configuration, splits: DomainSplits, **kwargs: Any) -> RunResult:
    """Train ``config`` on ``splits`` and test it under both selection rules.

    Keyword arguments are those of :func:`make_trainer` (``epochs``, ``batch_size``, ``lr``,
    ``seed``, ``width``, ``depth``, ``dim``, ``prior``, ``device``, ``callbacks``, ``progress``).
    The returned model holds the weights selected on training-source validation.

    Examples
    --------
    >>> splits = domain_splits(make_world("domains", 1200, size=32))            # doctest: +SKIP
    >>> run = train_configuration("full", splits, epochs=6)                    # doctest: +SKIP
    >>> run.results["train-val"]["ood_map"]                                     # doctest: +SKIP
    """
    config = configuration(config)
    trainer, tracker = make_trainer(config, splits, **kwargs)
    start = time.perf_counter()
    trainer.fit()
    seconds = (time.perf_counter() - start) / max(1, len(trainer.history))
    results = tracker.results(trainer.model)
    return RunResult(config, trainer.model, trainer, tracker, results, seconds)
