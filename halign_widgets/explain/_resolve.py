"""Defaults and validation shared by the explainers: input channels, layer, target classes."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from ..errors import ConfigError, InputShapeError, TargetOutOfRangeError, unknown_name
from ..models import conv_layers, get_layer

__all__ = ["in_channels", "resolve_layer", "resolve_target"]


def in_channels(model: nn.Module) -> int | None:
    """Input channels of ``model`` (its ``in_channels`` attribute, else its first Conv2d), or ``None``."""
    channels = getattr(model, "in_channels", None)
    if isinstance(channels, int):
        return channels
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return first.in_channels if first is not None else None


def resolve_layer(model: nn.Module, layer: str | nn.Module | None) -> tuple[str, nn.Module]:
    """Layer name and module: ``None`` → ``model.last_conv_layer`` or the last conv layer."""
    if isinstance(layer, nn.Module):
        for name, module in model.named_modules():
            if module is layer:
                return name, module
        raise unknown_name("layer", type(layer).__name__, conv_layers(model))
    if layer is None:
        layer = getattr(model, "last_conv_layer", None)
        if layer is None:
            names = list(conv_layers(model))
            if not names:
                raise ConfigError("the model has no Conv2d layer; pass layer=<module name> explicitly.")
            layer = names[-1]
    return str(layer), get_layer(model, str(layer))


def resolve_target(target: int | Sequence[int] | Tensor | None, logits: Tensor) -> Tensor:
    """Target classes as a ``B`` long tensor; ``None`` → the predicted classes."""
    b, k = logits.shape[:2]
    if target is None:
        return logits.argmax(1)
    t = torch.as_tensor(target, device=logits.device).long().flatten()
    if t.numel() == 1:
        t = t.expand(b).clone()
    if t.numel() != b:
        raise InputShapeError(f"{t.numel()} targets for {b} images; give one target or one per image.")
    bad = (t < 0) | (t >= k)
    if bool(bad.any()):
        raise TargetOutOfRangeError(f"target class {int(t[bad][0])} is out of range; the model has {k} "
                                    f"classes, valid targets are 0..{k - 1}.")
    return t
