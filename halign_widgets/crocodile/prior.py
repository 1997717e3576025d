"""Prior graphs for the prior-knowledge loss, and the causality map a trained model learned.

The prior is a ``K×K`` matrix over the findings, row = cause, column = effect — in the *domains*
world by default its true causal DAG ``info["graph"]`` (Carloni et al. 2024 use clinical
knowledge of how chest X-ray findings relate). The prior experiment compares it with wrong ones:
an empty graph (no relation) and the reversed graph (every edge turned around).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ConfigError, InputShapeError, unknown_name
from ..models import eval_mode, model_input
from .losses import task_causality_map

__all__ = ["PRIOR_KINDS", "prior_graph", "check_prior", "learned_causality_map"]

PRIOR_KINDS = ("true", "empty", "reversed")


def check_prior(prior: Any, k: int) -> Tensor:
    """Return ``prior`` as a float ``K×K`` tensor, or raise a typed error saying how to fix it.

    Raises
    ------
    InputShapeError
        Not a ``k×k`` matrix.
    ConfigError
        NaN or infinite entries.
    """
    try:
        t = torch.as_tensor(prior, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        raise InputShapeError(f"the prior graph must be a {k}×{k} matrix of numbers, got {type(prior).__name__}."
                              ) from None
    if tuple(t.shape) != (k, k):
        raise InputShapeError(f"the prior graph must be {k}×{k} (one row and one column per finding; row = "
                              f"cause, column = effect), got shape {tuple(t.shape)}.")
    if not bool(torch.isfinite(t).all()):
        raise ConfigError("the prior graph contains NaN or infinite entries; use 0 for 'no edge' and 1 for "
                          "'row causes column' (torch.nan_to_num can replace them).")
    return t


def prior_graph(kind: str, true_graph: Any) -> Tensor:
    """The prior of ``kind``: ``"true"`` (the graph itself), ``"empty"`` (zeros) or ``"reversed"`` (its transpose).

    Examples
    --------
    >>> g = torch.tensor([[0., 1.], [0., 0.]])
    >>> prior_graph("reversed", g).tolist()
    [[0.0, 0.0], [1.0, 0.0]]
    """
    if kind not in PRIOR_KINDS:
        raise unknown_name("prior kind", kind, PRIOR_KINDS)
    g = torch.as_tensor(true_graph, dtype=torch.float32)
    if g.dim() != 2:
        raise InputShapeError(f"the true graph must be a K×K matrix, got shape {tuple(g.shape)}.")
    g = check_prior(g, g.shape[0])
    return {"true": g.clone(), "empty": torch.zeros_like(g), "reversed": g.t().clone()}[kind]


@torch.no_grad()
def learned_causality_map(model: nn.Module, images: Tensor, batch_size: int = 128) -> Tensor:
    """Mean ``K×K`` Max-estimator causality map of the task queries over ``images`` (CPU, eval mode).

    ``model`` is a :class:`~halign_widgets.crocodile.CrocodileNet`; the map is the one the prior
    loss compares with the prior graph.
    """
    if not hasattr(model, "task"):
        raise ConfigError("learned_causality_map needs a CrocodileNet (a model with a task branch); the "
                          "baselines have no task queries.")
    task: Any = model.task  # a CrocodileNet's task branch (checked above)
    total, n = None, 0
    with eval_mode(model):
        for chunk in images.split(batch_size):
            cmap = task_causality_map(task(model_input(model, chunk)).causal).sum(0).cpu()
            total = cmap if total is None else total + cmap
            n += chunk.shape[0]
    if total is None:
        raise InputShapeError("learned_causality_map needs at least one image.")
    return total / n
