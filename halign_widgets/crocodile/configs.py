"""Named configurations: the ablation ladder of CROCODILE and the baselines, all at the same budget.

The ladder of Carloni et al. (2024), METHODS.md §2.4, one rung per added ingredient:

1. ``task_only`` — the task branch with its own losses (``z_x``, the uniform spurious logits, the
   intervened logits, mini-batch consistency);
2. ``task_domain`` — + the domain branch and its losses;
3. ``task_domain_contrastive`` — + the relational-scorer contrastive loss;
4. ``full`` — + the prior-knowledge loss.

Baselines on the lab's CNN: ``erm``, ``groupdro``, ``coral`` (:mod:`.baselines`). Default weights
are ours (the paper's are tuned for chest X-rays): the auxiliary terms at 0.5 or below so that the
task loss leads [ours].
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..errors import ConfigError, unknown_name
from .objective import LossConfig

__all__ = ["METHODS", "Configuration", "CONFIGURATIONS", "LADDER", "BASELINES", "DEFAULT_WEIGHTS",
           "configuration"]

METHODS = ("crocodile", "erm", "groupdro", "coral")
#: [ours] weights of the terms (1.0 for the terms not listed).
DEFAULT_WEIGHTS = {"task_uniform": 0.5, "task_intervened": 0.5, "task_consistency": 0.1, "domain": 0.5,
                   "domain_uniform": 0.25, "domain_intervened": 0.25, "domain_consistency": 0.05,
                   "contrastive": 0.5, "prior": 1.0}
_TASK = ("task", "task_uniform", "task_intervened", "task_consistency")
_DOMAIN = ("domain", "domain_uniform", "domain_intervened", "domain_consistency")


@dataclass(frozen=True)
class Configuration:
    """One trainable configuration.

    Attributes
    ----------
    name, label:
        Identifier and a short label for tables.
    method:
        ``"crocodile"``, ``"erm"``, ``"groupdro"`` or ``"coral"``.
    domain_branch:
        Whether a CROCODILE model has its domain branch.
    losses:
        The loss terms (CROCODILE only).
    reference:
        The paper the configuration follows.
    """

    name: str
    label: str
    method: str = "crocodile"
    domain_branch: bool = True
    losses: LossConfig = LossConfig()
    reference: str = "after Carloni et al., CROCODILE (2024)"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise unknown_name("method", self.method, METHODS)
        if self.method == "crocodile":
            self.losses.check(self.domain_branch)
            if not self.losses.on:
                raise ConfigError(f"configuration {self.name!r} switches every loss term off; switch at least "
                                  "'task' on.")

    @property
    def uses_prior(self) -> bool:
        """Whether the prior-knowledge loss is on."""
        return self.method == "crocodile" and "prior" in self.losses.on

    def with_losses(self, on: Any = (), off: Any = (), **weights: float) -> Configuration:
        """A copy with terms switched and weights changed; the domain branch follows the domain terms.

        Switching a domain term on without the domain branch raises
        :class:`~halign_widgets.errors.ConfigError` (e.g. the contrastive loss on ``task_only``).
        """
        losses = self.losses.switched(on, off).weighted(**weights)
        return replace(self, name=f"{self.name}*", label=f"{self.label} (edited)", losses=losses)


def _rung(name: str, label: str, terms: tuple[str, ...], domain: bool) -> Configuration:
    return Configuration(name, label, "crocodile", domain, LossConfig(frozenset(terms), DEFAULT_WEIGHTS))


CONFIGURATIONS: dict[str, Configuration] = {c.name: c for c in (
    _rung("task_only", "task branch only", _TASK, False),
    _rung("task_domain", "+ domain branch", _TASK + _DOMAIN, True),
    _rung("task_domain_contrastive", "+ contrastive", _TASK + _DOMAIN + ("contrastive",), True),
    _rung("full", "+ prior (full)", _TASK + _DOMAIN + ("contrastive", "prior"), True),
    Configuration("erm", "ERM (SmallCNN)", "erm", False, reference="Vapnik (1998); Gulrajani & Lopez-Paz (2021)"),
    Configuration("groupdro", "GroupDRO", "groupdro", False, reference="Sagawa et al. (ICLR 2020)"),
    Configuration("coral", "CORAL", "coral", False, reference="Sun & Saenko (ECCV-W 2016)"),
)}
LADDER = ("task_only", "task_domain", "task_domain_contrastive", "full")
BASELINES = ("erm", "groupdro", "coral")


def configuration(config: str | Configuration) -> Configuration:
    """The named configuration (see :data:`CONFIGURATIONS`), or ``config`` itself if it is one."""
    if isinstance(config, Configuration):
        return config
    if config not in CONFIGURATIONS:
        raise unknown_name("configuration", str(config), CONFIGURATIONS)
    return CONFIGURATIONS[config]
