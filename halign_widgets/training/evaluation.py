"""Evaluation and prediction loops shared by the Trainer (eval mode, no gradients, batch-size weighted)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from ..models import eval_mode, model_input
from . import _data
from .metrics import probabilities

__all__ = ["scalar", "evaluation_totals", "evaluate_model", "predict_probabilities"]

Step = Callable[[Tensor, Tensor], tuple[Tensor, Tensor, dict[str, Any]]]


def scalar(value: Any) -> float:
    """A loss term (0-d tensor or number) as a Python float."""
    return float(value.detach()) if isinstance(value, Tensor) else float(value)


@torch.no_grad()
def evaluation_totals(model: nn.Module, step: Step, metric: Callable[[Tensor, Tensor], Tensor], dataset: Any,
                      batch_size: int, device: torch.device,
                      indices: Tensor | None = None) -> tuple[dict[str, float], int]:
    """Batch-size weighted *sums* of ``loss``, ``accuracy`` and extra terms over ``dataset`` (or its ``indices``).

    Returns the sums and the number of examples, so that shards evaluated by several ranks add
    up to the whole. The model runs in eval mode and gets its previous mode back afterwards.
    """
    totals: dict[str, float] = {"loss": 0.0, "accuracy": 0.0}
    seen = 0
    with eval_mode(model):
        for x, y in _data.iterate_batches(dataset, batch_size, order=indices):
            x, y = model_input(model, x.to(device), images=False), model_input(model, y.to(device), images=False)
            loss, logits, terms = step(x, y)
            n = int(x.shape[0])
            seen += n
            values = {"loss": scalar(loss), "accuracy": scalar(metric(logits, y))}
            values.update({k: scalar(v) for k, v in terms.items()})
            for key, value in values.items():
                totals[key] = totals.get(key, 0.0) + value * n
    return totals, seen


def evaluate_model(model: nn.Module, step: Step, metric: Callable[[Tensor, Tensor], Tensor], dataset: Any,
                   batch_size: int, device: torch.device) -> dict[str, float]:
    """Mean ``loss``, ``accuracy`` and extra terms of ``step(x, y)`` over ``dataset`` (weighted by batch size).

    The model runs in eval mode and gets its previous mode back afterwards.
    """
    totals, seen = evaluation_totals(model, step, metric, dataset, batch_size, device)
    return {k: v / seen for k, v in totals.items()}


@torch.no_grad()
def predict_probabilities(model: nn.Module, chunks: Iterable[Tensor], multilabel: bool,
                          device: torch.device) -> Tensor:
    """Concatenated class probabilities (CPU) of ``model`` for image batches ``chunks``, in eval mode."""
    with eval_mode(model):
        out = [probabilities(model(model_input(model, x.to(device), images=False)).float(), multilabel).cpu()
               for x in chunks]
    return torch.cat(out) if out else torch.empty(0)
