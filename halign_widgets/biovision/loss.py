"""``L_mb``: pull each sample's causality map towards its class mean within the batch [ours].

After Carloni et al. (ECCV 2024 workshops), METHODS.md §3: the training loss is
``CE + Σ_area w_area · L_mb(C_area)``. The authors' loss file is not public; this reconstruction
[ours] is a within-batch class-mean alignment:

``L_mb(C, y) = 1/B · Σ_b mean_{i,j} (C_b[i, j] − C̄_{y_b}[i, j])²``, with ``C̄_c`` the mean map of the
batch's samples of class ``c``.

It is 0 exactly when all same-class maps of the batch are equal; a class with a single sample in
the batch contributes 0. Hand-written: no library provides it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import InputShapeError, LabelMismatchError

__all__ = ["alignment_loss"]


def alignment_loss(maps: Tensor, labels: Tensor) -> Tensor:
    """Mean squared distance of each map to its class mean in the batch (a 0-d tensor).

    Parameters
    ----------
    maps:
        ``B×k×k`` causality maps (any ``B×…`` tensor works: each sample is flattened).
    labels:
        ``B`` class indices.

    Examples
    --------
    >>> maps = torch.stack([torch.eye(2), torch.eye(2), torch.zeros(2, 2)])
    >>> float(alignment_loss(maps, torch.tensor([0, 0, 1])))
    0.0
    >>> round(float(alignment_loss(maps, torch.tensor([0, 1, 1]))), 4)  # class 1: eye and zeros
    0.0833
    """
    if not isinstance(maps, Tensor) or maps.dim() < 2:
        raise InputShapeError(f"maps must be a B×k×k tensor, got {getattr(maps, 'shape', type(maps).__name__)}.")
    if not isinstance(labels, Tensor) or labels.dim() != 1 or labels.shape[0] != maps.shape[0]:
        raise LabelMismatchError(f"L_mb needs one class index per map ({maps.shape[0]}), got labels of shape "
                                 f"{tuple(getattr(labels, 'shape', ()))}; multi-label targets are not supported.")
    flat = maps.flatten(1)
    _, inverse = torch.unique(labels, return_inverse=True)
    groups = int(inverse.max()) + 1
    # shift each class by one of its own maps first (the spread is shift-invariant): identical maps then
    # give exactly 0, and the subtraction loses no precision on maps far from 0
    positions = torch.arange(flat.shape[0], device=flat.device)
    first = torch.full((groups,), flat.shape[0], device=flat.device).scatter_reduce(0, inverse, positions, "amin")
    shifted = flat - flat[first][inverse]
    sums = shifted.new_zeros(groups, flat.shape[1]).index_add_(0, inverse, shifted)
    counts = torch.bincount(inverse, minlength=groups).to(flat.dtype)
    means = sums / counts[:, None]
    return ((shifted - means[inverse]) ** 2).mean()
