"""The conv trunk of a ProtoPNet: a lab backbone cut after a named layer, and its receptive field (private)."""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from dataclasses import dataclass

from torch import nn

from ..errors import ConfigError, unknown_name

__all__ = ["ReceptiveField", "cut_trunk", "receptive_field", "trunk_channels"]


def cut_trunk(backbone: nn.Module, layer: str | None) -> tuple[nn.Sequential, str]:
    """A copy of ``backbone.features`` up to and including ``layer``, and the layer's name.

    Every conv trunk of the lab (:class:`~halign_widgets.models.SmallCNN`, ``CausalCNN``) keeps its
    conv stack in an ``nn.Sequential`` called ``features``; ``layer`` is a dotted name inside it
    (``"features.conv3"``), default the backbone's ``last_conv_layer``. The backbone is copied, so
    training the ProtoPNet never changes the model it was built from.

    Raises
    ------
    ConfigError
        The backbone has no ``features`` ``nn.Sequential``.
    UnknownNameError
        ``layer`` is not one of its children (the message lists them).
    """
    features = getattr(backbone, "features", None)
    if not isinstance(features, nn.Sequential):
        raise ConfigError(f"a ProtoPNet trunk needs a backbone whose conv stack is an nn.Sequential called "
                          f"'features' (SmallCNN, CausalCNN); {type(backbone).__name__} has none. Wrap your "
                          "layers as backbone.features = nn.Sequential(...).")
    names = [f"features.{n}" for n, _ in features.named_children()]
    layer = layer or getattr(backbone, "last_conv_layer", None) or names[-1]
    if layer not in names:
        raise unknown_name("trunk layer", str(layer), names)
    keep = names.index(layer) + 1
    children = list(features.named_children())[:keep]
    return nn.Sequential(OrderedDict((n, copy.deepcopy(m)) for n, m in children)), str(layer)


def trunk_channels(trunk: nn.Sequential) -> int:
    """Output channels of the trunk (those of its last ``nn.Conv2d``)."""
    convs = [m for m in trunk.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ConfigError("the trunk holds no nn.Conv2d layer; cut it after a conv block (e.g. 'features.conv2').")
    return int(convs[-1].out_channels)


@dataclass(frozen=True)
class ReceptiveField:
    """Where a cell of the trunk's output grid looks in the input (sizes in input pixels).

    Cell ``(r, c)`` is centred at ``start + r·jump`` (rows) and ``start + c·jump`` (columns) and
    sees ``size`` pixels each way around that centre.
    """

    size: float
    jump: float
    start: float

    def box(self, row: int, col: int, height: int, width: int) -> tuple[int, int, int, int]:
        """Half-open ``(y0, y1, x0, x1)`` pixel box of cell ``(row, col)``, clipped to the image."""
        half = (self.size - 1) / 2.0
        cy, cx = self.start + row * self.jump, self.start + col * self.jump
        y0, y1 = max(0, math.floor(cy - half)), min(height, math.floor(cy + half) + 1)
        x0, x1 = max(0, math.floor(cx - half)), min(width, math.floor(cx + half) + 1)
        return int(y0), int(y1), int(x0), int(x1)


def _pair(value: int | str | tuple[int, ...]) -> int:
    if isinstance(value, tuple):
        if len(set(value)) != 1:
            raise ConfigError(f"receptive fields need square kernels, strides and paddings, got {value}.")
        return int(value[0])
    return int(value)


def receptive_field(trunk: nn.Module) -> ReceptiveField:
    """Receptive field of the trunk's output cells, from its conv and pooling layers in forward order.

    The usual recursion (``size += (k − 1)·jump``, ``start += ((k − 1)/2 − padding)·jump``,
    ``jump *= stride``), valid for a sequential trunk such as :func:`cut_trunk` returns; ``ConvBlock``
    wrappers, batch norm and ReLU do not change it.
    """
    size, jump, start = 1.0, 1.0, 0.0
    for module in trunk.modules():
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k, s = _pair(module.kernel_size), _pair(module.stride)
            p = _pair(module.padding)
            d = _pair(getattr(module, "dilation", 1)) if isinstance(module, nn.Conv2d) else 1
            k = d * (k - 1) + 1
            size += (k - 1) * jump
            start += ((k - 1) / 2.0 - p) * jump
            jump *= s
    return ReceptiveField(size=size, jump=jump, start=start)
