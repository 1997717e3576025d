"""Model bookkeeping shared by every layer: the device and dtype a model lives in, and a temporary eval mode.

Every method of the lab follows the model: inputs are moved to :func:`model_device` and cast to
:func:`model_dtype` with :func:`model_input`, so a float64 or half-precision model works as well
as a float32 one (the results the methods return stay float32 unless their API says otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["eval_mode", "in_channels", "model_device", "model_dtype", "model_input"]


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter (CPU for a parameter-free model)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype | None:
    """Dtype of the model's first floating-point parameter (else buffer); ``None`` if it has neither."""
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return None


def model_input(model: nn.Module, x: torch.Tensor, *, images: bool = True) -> torch.Tensor:
    """``x`` on the model's device, in the model's floating dtype.

    The dtype is :func:`model_dtype`, falling back to the input's own floating dtype (or float32)
    for a model without floating parameters. With ``images=False`` (generic model inputs, e.g.
    token indices for an embedding), a non-floating ``x`` is only moved, never cast.
    """
    dtype = model_dtype(model)
    if dtype is None:
        dtype = x.dtype if x.is_floating_point() else torch.float32
    if not images and not x.is_floating_point():
        return x.to(model_device(model))
    return x.to(device=model_device(model), dtype=dtype)


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every sub-module of ``model`` in eval mode for the block, then give each its own mode back.

    Restoring per sub-module (not ``model.train(was_training)``) keeps deliberate mixes intact,
    such as a frozen batch-norm layer in eval mode inside a model that trains.
    """
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training


def in_channels(model: nn.Module) -> int | None:
    """Input channels of ``model``: its ``in_channels`` attribute, else its first ``Conv2d``'s; ``None`` if neither."""
    channels = getattr(model, "in_channels", None)
    if isinstance(channels, int) and not isinstance(channels, bool):
        return channels
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return first.in_channels if first is not None else None
