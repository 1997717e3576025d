"""Default losses and metrics for single-label and multi-label classification.

Single-label targets are class indices (``N`` long) → cross-entropy and accuracy.
Multi-label targets are 0/1 rows (``N×K`` float) → binary cross-entropy on the logits
(:class:`torch.nn.BCEWithLogitsLoss`) and *mean per-label accuracy* (threshold 0.5 on the sigmoid).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..errors import ConfigError, InputShapeError

__all__ = ["is_multilabel", "default_criterion", "accuracy", "confusion_matrix", "multilabel_accuracy",
           "probabilities", "resolve_metric"]

Metric = Callable[[Tensor, Tensor], Tensor]


def is_multilabel(y: Tensor) -> bool:
    """True when ``y`` holds 0/1 label rows (a floating ``N×K`` batch or a single floating ``K`` vector)."""
    return bool(y.is_floating_point() and y.dim() >= 1)


def default_criterion(multilabel: bool) -> nn.Module:
    """Cross-entropy for single-label targets, ``BCEWithLogitsLoss`` for multi-label ones."""
    return nn.BCEWithLogitsLoss() if multilabel else nn.CrossEntropyLoss()


def accuracy(logits: Tensor, y: Tensor) -> Tensor:
    """Fraction of rows whose arg-max logit is the target class (a 0-d tensor)."""
    return (logits.argmax(1) == y).float().mean()


def confusion_matrix(y_true: Tensor, y_pred: Tensor, num_classes: int | None = None) -> Tensor:
    """``K×K`` counts: entry ``[t, p]`` = images of true class ``t`` predicted as class ``p``.

    Parameters
    ----------
    y_true, y_pred:
        ``N`` class indices (any integer dtype, any device).
    num_classes:
        ``K``; default: one more than the largest index in either tensor.

    Examples
    --------
    >>> confusion_matrix(torch.tensor([0, 0, 1]), torch.tensor([0, 1, 1])).tolist()
    [[1, 1], [0, 1]]
    """
    t, p = torch.as_tensor(y_true).long().flatten().cpu(), torch.as_tensor(y_pred).long().flatten().cpu()
    if t.shape != p.shape:
        raise InputShapeError(f"{t.numel()} true labels but {p.numel()} predictions; give one prediction per image.")
    if t.numel() and min(int(t.min()), int(p.min())) < 0:
        raise InputShapeError("class indices must be ≥ 0; pass single-label class indices, not scores.")
    k = int(num_classes) if num_classes is not None else (max(int(t.max()), int(p.max())) + 1 if t.numel() else 0)
    if t.numel() and max(int(t.max()), int(p.max())) >= k:
        raise ConfigError(f"a class index is ≥ num_classes={k}; give num_classes = the number of classes.")
    return torch.bincount(t * k + p, minlength=k * k).reshape(k, k)


def multilabel_accuracy(logits: Tensor, y: Tensor) -> Tensor:
    """Mean over labels and rows of ``(sigmoid(logit) > 0.5) == y`` (a 0-d tensor)."""
    return ((logits > 0).float() == (y > 0.5).float()).float().mean()


def probabilities(logits: Tensor, multilabel: bool) -> Tensor:
    """Softmax over classes, or an independent sigmoid per label for multi-label models."""
    return torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=1)


def resolve_metric(metrics: str | Metric, multilabel: bool) -> Metric:
    """Turn the Trainer's ``metrics`` option into a function ``(logits, y) -> fraction correct``.

    Parameters
    ----------
    metrics:
        ``"auto"`` (accuracy, or mean per-label accuracy for multi-label data), ``"accuracy"``,
        ``"multilabel_accuracy"``, or a callable returning a 0-d tensor (averaged over the
        epoch weighted by batch size and reported as ``train_acc`` / ``val_acc``).
    multilabel:
        Whether the targets are multi-label.
    """
    if callable(metrics):
        return metrics
    table: dict[str, Metric] = {"accuracy": accuracy, "multilabel_accuracy": multilabel_accuracy}
    if metrics == "auto":
        return multilabel_accuracy if multilabel else accuracy
    if metrics not in table:
        raise ConfigError(f"unknown metrics {metrics!r}; use 'auto', 'accuracy', 'multilabel_accuracy' "
                          "or a function (logits, y) -> tensor.")
    return table[metrics]
