"""ScratchCNN: the paper's baseline, a plain CNN as deep as CoCoReco's ventral path (7 conv stages).

After Carloni et al. (ECCV 2024 workshops), METHODS.md §3: seven stages with the paper's widths
16, 32, 64, 128, 256, 512, 1024 divided by the same ``width`` divisor as :class:`~.model.CoCoReco`
(at least 4 channels), each stage an :class:`~.blocks.AreaBlock` (3×3 conv → BN → ReLU → 2×2
max-pool, with the same [ours] pooling floor so 32–256 px inputs work), then global average
pooling and a linear layer [ours, as in CoCoReco].
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ..models import ConfigFacts
from ..training.registry import register_model
from .blocks import AreaBlock
from .model import MIN_CHANNELS, check_grid_input, check_network_options, min_input_size

__all__ = ["ScratchCNN", "SCRATCH_WIDTHS"]

#: Channels of the seven stages at full scale (the paper's retina → IT widths).
SCRATCH_WIDTHS = (16, 32, 64, 128, 256, 512, 1024)


class ScratchCNN(ConfigFacts, nn.Module):
    """Seven conv stages in a chain, global pooling, a linear head — CoCoReco's plain baseline.

    Parameters
    ----------
    in_channels, num_classes, width, norm, dropout, min_grid:
        As in :class:`~.model.CoCoReco`.

    Examples
    --------
    >>> model = ScratchCNN(in_channels=1, num_classes=2, width=16)
    >>> model(torch.zeros(2, 1, 32, 32)).shape
    torch.Size([2, 2])
    >>> model.last_conv_layer
    'stages.conv7'
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, width: int = 16, norm: str = "batch",
                 dropout: float = 0.0, min_grid: int = 4) -> None:
        super().__init__()
        check_network_options(in_channels, num_classes, width, norm, dropout, min_grid)
        self.config: dict[str, Any] = dict(in_channels=in_channels, num_classes=num_classes, width=width,
                                           norm=norm, dropout=dropout, min_grid=min_grid)
        stages: dict[str, nn.Module] = {}
        channels = in_channels
        for i, full in enumerate(SCRATCH_WIDTHS, 1):
            out = max(MIN_CHANNELS, full // width)
            stages[f"conv{i}"] = AreaBlock(channels, out, norm, min_grid)
            channels = out
        self.stages = nn.Sequential()
        for name, module in stages.items():
            self.stages.add_module(name, module)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(channels, num_classes)

    @property
    def min_input(self) -> int:
        """Smallest input side accepted."""
        return min_input_size(self.config["min_grid"])

    @property
    def last_conv_layer(self) -> str:
        """The seventh stage (the counterpart of CoCoReco's IT): ``"stages.conv7"``."""
        return "stages.conv7"

    def forward_features(self, x: Tensor) -> Tensor:
        """The seventh stage's activations ``B×k×n×n``."""
        check_grid_input(x, "ScratchCNN", self.in_channels, self.config["min_grid"], halving="its first three stages")
        return self.stages(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.dropout(self.forward_features(x).mean((2, 3))))


register_model(ScratchCNN)  # load_trained rebuilds it from a checkpoint's model_class / model_config
