"""Defaults and validation shared by the explainers: input channels, layer, target classes."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..errors import ConfigError, InputShapeError, TargetOutOfRangeError, unknown_name
from ..models import conv_layers, get_layer

__all__ = ["class_indices", "resolve_layer", "resolve_target"]


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


def _has_odd_element(value: object) -> bool:
    """Whether a (nested) Python sequence holds a bool or a string (``torch.as_tensor`` would accept them)."""
    if isinstance(value, (bool, str, bytes)):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has_odd_element(v) for v in value)
    return False


def class_indices(target: object, what: str = "target") -> Tensor:
    """``target`` as a flat long tensor of class indices, refusing anything that is not an integer.

    Accepted: ints, integer tensors / arrays, (nested) lists of ints, and floats whose value is a
    whole number (``1.0``). Refused with :class:`ConfigError`: booleans (``True`` is not class 1),
    strings, fractional or non-finite numbers (``1.7`` is not class 1).
    """
    hint = (f"the {what} must be an integer class index (or one per image), e.g. 1 or [0, 2]; got "
            f"{target!r:.80}")
    if _has_odd_element(target):
        raise ConfigError(hint + " (booleans and strings are not class indices).")
    try:
        t = target if isinstance(target, Tensor) else torch.as_tensor(target)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ConfigError(hint + ".") from exc
    if t.dtype == torch.bool:
        raise ConfigError(hint + " (booleans are not class indices).")
    if t.is_floating_point() or t.is_complex():
        if t.is_complex() or not bool(torch.isfinite(t).all()) or bool((t != t.round()).any()):
            raise ConfigError(hint + " (a fractional or non-finite number is not a class index).")
    return t.long().flatten()


def resolve_target(target: int | Sequence[int] | Tensor | None, logits: Tensor) -> Tensor:
    """Target classes as a ``B`` long tensor; ``None`` → the predicted classes.

    Raises
    ------
    ConfigError
        A boolean, string, fractional or non-finite target (see :func:`class_indices`).
    InputShapeError
        Neither one target nor one per image.
    TargetOutOfRangeError
        A target outside ``[0, K)``.
    """
    b, k = logits.shape[:2]
    if target is None:
        return logits.argmax(1)
    t = class_indices(target).to(logits.device)
    if t.numel() == 1:
        t = t.expand(b).clone()
    if t.numel() != b:
        raise InputShapeError(f"{t.numel()} targets for {b} images; give one target or one per image.")
    bad = (t < 0) | (t >= k)
    if bool(bad.any()):
        raise TargetOutOfRangeError(f"target class {int(t[bad][0])} is out of range; the model has {k} "
                                    f"classes, valid targets are 0..{k - 1}.")
    return t
