"""``in_channels`` and ``num_classes`` read from a model's ``config``: one definition for every lab model.

Every model of the lab stores its constructor arguments in ``self.config`` (checkpoints save it, so a
saved model can be rebuilt); the facts the methods ask for are read from there.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ConfigFacts"]


class ConfigFacts:
    """Mixin for an ``nn.Module`` whose ``config`` holds ``in_channels`` and ``num_classes``."""

    config: dict[str, Any]

    @property
    def in_channels(self) -> int:
        """Input channels the model expects."""
        return int(self.config["in_channels"])

    @property
    def num_classes(self) -> int:
        """Number of output logits."""
        return int(self.config["num_classes"])
