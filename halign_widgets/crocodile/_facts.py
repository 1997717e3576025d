"""The facts both CROCODILE-protocol models (``CrocodileNet``, ``BaselineNet``) read from their ``config``."""

from __future__ import annotations

from ..models import ConfigFacts

__all__ = ["DomainFacts"]


class DomainFacts(ConfigFacts):
    """``in_channels``, ``K`` findings, ``D`` training sources and a readout of ``K + D`` logits."""

    @property
    def num_findings(self) -> int:
        """``K``, the findings."""
        return int(self.config["num_findings"])

    @property
    def num_sources(self) -> int:
        """``D``, the training sources."""
        return int(self.config["num_sources"])

    @property
    def num_classes(self) -> int:
        """Width of the readout, ``K + D``."""
        return self.num_findings + self.num_sources
