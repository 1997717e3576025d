"""A small configurable CNN backbone with named conv layers that explainers can target."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ConfigError, unknown_name
from ..validation import check_int
from .facts import ConfigFacts
from .modes import eval_mode, model_device, model_dtype

__all__ = ["ConvBlock", "SmallCNN", "conv_layers", "feature_layer", "get_layer", "layer_shapes"]


class ConvBlock(nn.Sequential):
    """3×3 convolution → batch norm → ReLU (no pooling: the block's output keeps its grid).

    The block's *output* is what explainers hook when they target ``features.convN``:
    post-ReLU activations, as Grad-CAM and the causality maps expect.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(OrderedDict(
            conv=nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            bn=nn.BatchNorm2d(out_channels),
            relu=nn.ReLU(inplace=False),
        ))


class SmallCNN(ConfigFacts, nn.Module):
    """A small CNN: ``depth`` conv blocks, 2×2 max-pooling between blocks, global pooling, linear head.

    Channel widths double at each block starting from ``width`` (capped at ``8 * width``).
    For a 64×64 input and ``depth=4`` the blocks see grids of 64, 32, 16 and 8 pixels, so the last
    conv layer (``features.conv4``) has an 8×8 grid — fine enough for CAMs and causality maps.

    Parameters
    ----------
    in_channels:
        Channels of the input images (1 for the grayscale worlds).
    num_classes:
        Number of output logits.
    width:
        Channels of the first block.
    depth:
        Number of conv blocks (1–8).
    dropout:
        Dropout probability before the linear head.

    Examples
    --------
    >>> model = SmallCNN(in_channels=1, num_classes=2)
    >>> model(torch.zeros(3, 1, 64, 64)).shape
    torch.Size([3, 2])
    >>> model.last_conv_layer
    'features.conv4'
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, width: int = 16, depth: int = 4,
                 dropout: float = 0.0) -> None:
        super().__init__()
        for key, value, low in (("in_channels", in_channels, 1), ("num_classes", num_classes, 1),
                                ("width", width, 1), ("depth", depth, 1)):
            check_int(key, value, low)
        if depth > 8:
            raise ConfigError(f"depth must be at most 8 (each block halves the grid), got {depth}.")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must lie in [0, 1), got {dropout}.")
        self.config: dict[str, Any] = dict(in_channels=in_channels, num_classes=num_classes, width=width,
                                           depth=depth, dropout=dropout)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels = in_channels
        for i in range(1, depth + 1):
            out = width * 2 ** min(i - 1, 3)
            if i > 1:
                layers[f"pool{i - 1}"] = nn.MaxPool2d(2)
            layers[f"conv{i}"] = ConvBlock(channels, out)
            channels = out
        self.features = nn.Sequential(layers)
        self.feature_channels = channels
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(channels, num_classes)

    @property
    def min_input_size(self) -> int:
        """Smallest image side the model accepts: ``2**(depth − 1)`` (each max-pooling halves the grid)."""
        return 2 ** (int(self.config["depth"]) - 1)

    @property
    def min_input_reason(self) -> str:
        """Why :attr:`min_input_size` (used in error messages)."""
        pools = int(self.config["depth"]) - 1
        return f" (depth={pools + 1}: its {pools} 2×2 max-pooling(s) halve the grid {pools} time(s))"

    @property
    def last_conv_layer(self) -> str:
        """Dotted name of the last conv block (the default layer of CAM methods)."""
        return f"features.conv{self.config['depth']}"

    def forward_features(self, x: Tensor) -> Tensor:
        """Return the last conv block's activations, ``B×k×n×n``."""
        return self.features(x)

    def head(self, features: Tensor) -> Tensor:
        """Map last-layer features to logits (global average pooling → dropout → linear)."""
        return self.classifier(self.dropout(self.pool(features).flatten(1)))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x))


def conv_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Named layers an explainer can target, in forward order.

    For a :class:`SmallCNN` these are the conv blocks (``features.conv1`` …); for any other model
    every ``nn.Conv2d`` is listed.
    """
    blocks: dict[str, nn.Module] = {name: m for name, m in model.named_modules() if isinstance(m, ConvBlock)}
    if blocks:
        return blocks
    return {name: m for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}


_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.ELU, nn.ReLU6)


def feature_layer(model: nn.Module) -> str:
    """The layer whose output is the model's last conv *features* (post-activation where it can tell).

    ``model.last_conv_layer`` when the model declares it (every model of the lab does); otherwise
    the last ``Conv2d`` — or, when its next sibling in the same container is an activation
    (``nn.Sequential(..., Conv2d, ReLU)``, the usual layout), that activation, so causality maps
    and channel units see the non-negative features they are defined on.

    Raises
    ------
    ConfigError
        The model has no ``Conv2d`` layer.
    """
    declared = getattr(model, "last_conv_layer", None)
    if isinstance(declared, str):
        return declared
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not names:
        raise ConfigError(f"{type(model).__name__} has no Conv2d layer; causality maps, CAMs and channel units "
                          "need conv features — pass layer=<module name> of a layer with B×k×h×w outputs.")
    last = names[-1]
    parent_name, _, child = last.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    siblings = list(parent.named_children())
    keys = [k for k, _ in siblings]
    if child in keys and keys.index(child) + 1 < len(siblings):
        nxt_name, nxt = siblings[keys.index(child) + 1]
        if isinstance(nxt, _ACTIVATIONS):
            return f"{parent_name}.{nxt_name}" if parent_name else nxt_name
    return last


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """Return the sub-module called ``name``; an unknown name raises a typed error listing the conv layers."""
    modules = dict(model.named_modules())
    if name not in modules or name == "":
        raise unknown_name("layer", name, conv_layers(model) or [n for n in modules if n])
    return modules[name]


@torch.no_grad()
def layer_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Output shape (without batch) of every conv layer for one input of ``input_shape`` (C×H×W)."""
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []
    for name, module in conv_layers(model).items():
        handles.append(module.register_forward_hook(
            lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:]))))
    try:
        with eval_mode(model):
            model(torch.zeros((1, *input_shape), device=model_device(model), dtype=model_dtype(model) or torch.float32))
    finally:
        for h in handles:
            h.remove()
    return shapes
