"""Precise batch-norm statistics: re-estimate BN running mean/variance with the current weights.

Why the Trainer does this [ours, after Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021]:
BN layers keep an exponential moving average (momentum 0.1) of batch statistics that starts at
mean 0 / variance 1.  On low-contrast images (the ground-truth worlds have pixel std ≈ 0.1) the
true variances are ~1e-3, so after a few dozen steps the initial variance of 1 still dominates the
average (0.9⁴⁴ ≈ 0.01 ≫ 1e-3): in eval mode every image is then mis-normalised and a model with
95 % training accuracy predicts a single class on validation.  Recomputing the statistics with the
weights frozen, as a plain average over a fixed subset of training images, removes that lag at the
cost of one forward pass over the subset per epoch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..models import eval_mode, model_device, model_input
from . import _data

__all__ = ["recompute_bn_stats", "recalibrate_batchnorm", "bn_layers"]


def bn_layers(model: nn.Module) -> list[_BatchNorm]:
    """Batch-norm layers of ``model`` that track running statistics."""
    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recompute_bn_stats(model: nn.Module, dataset: Any, num_images: int = 128, batch_size: int = 64,
                       device: torch.device | str = "cpu") -> int:
    """Replace every BN layer's running statistics by their average over ``num_images`` training images.

    The images are evenly spaced over the dataset (no randomness, robust to class-sorted data), so
    the result is deterministic and a resumed run recomputes exactly the same statistics.  Only
    the BN layers run in training mode; dropout stays off.

    Parameters
    ----------
    model:
        The model (left in the train/eval mode it had).
    dataset:
        Training data (tensor-backed or any ``Dataset`` of ``(x, y)``).
    num_images:
        Subset size (all images if the dataset is smaller).
    batch_size:
        Forward batch size.
    device:
        Device of the model.

    Returns
    -------
    int
        Number of BN layers updated (0 when the model has none).
    """
    n = len(dataset)
    if not bn_layers(model) or n == 0 or num_images <= 0:
        return 0
    k = min(int(num_images), n)
    idx = torch.linspace(0, n - 1, k).round().long()
    pair = _data.tensors_of(dataset)
    images = pair[0][idx] if pair is not None else torch.stack([torch.as_tensor(dataset[int(i)][0]) for i in idx])
    recalibrate_batchnorm(model, images, batch_size=batch_size, device=device)
    return len(bn_layers(model))


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, images: torch.Tensor, batch_size: int = 64,
                          device: torch.device | str | None = None) -> nn.Module:
    """Set every BN layer's running statistics to their average over ``images`` (weights untouched).

    One pass with cumulative averaging (``momentum=None``): with equal-sized batches the result is
    the exact mean of the per-batch statistics.  Only the BN layers run in training mode (dropout
    stays off); the model keeps the train/eval mode it had and is returned for chaining.
    Used by the Trainer after each epoch (:func:`recompute_bn_stats`) and by method code that
    trains outside it (the shortcut pair, the causality experiments).

    Parameters
    ----------
    model:
        The model.
    images:
        ``N×C×H×W`` images (the training images, or a fixed subset of them).
    batch_size:
        Forward batch size.
    device:
        Where to run; defaults to the device of the model's first parameter.
    """
    layers = bn_layers(model)
    if not layers or images.shape[0] == 0:
        return model
    if device is None:
        device = model_device(model)
    saved = [(m.momentum, m.num_batches_tracked.clone() if m.num_batches_tracked is not None else None)
             for m in layers]
    try:
        with eval_mode(model):  # every other layer (dropout …) in eval mode, each mode restored after
            for m in layers:
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the batches below
                m.train()
            for start in range(0, images.shape[0], batch_size):
                model(model_input(model, images[start:start + batch_size].to(device), images=False))
    finally:
        for m, (momentum, count) in zip(layers, saved, strict=True):
            m.momentum = momentum
            if count is not None and m.num_batches_tracked is not None:  # saved from this very buffer above
                m.num_batches_tracked.copy_(count)
    return model
