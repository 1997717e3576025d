"""Model bookkeeping shared by every layer: the device a model lives on, and a temporary eval mode."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

__all__ = ["eval_mode", "model_device"]


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter (CPU for a parameter-free model)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


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
