"""Validation of the Trainer's hyper-parameters and the optimiser factory (private helpers)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, unknown_name
from ..validation import check_real

__all__ = ["check_lr", "make_optimizer", "select_parameters", "OPTIMIZERS"]

OptimizerFactory = Callable[..., torch.optim.Optimizer]

OPTIMIZERS: dict[str, OptimizerFactory] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": lambda params, lr, weight_decay: torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay),
}


def check_lr(lr: Any, weight_decay: Any) -> tuple[float, float]:
    """Validate the learning rate (> 0, finite) and weight decay (≥ 0)."""
    return (check_real("lr (learning rate)", lr, 0.0, strict=True, hint="a positive number such as 1e-3"),
            check_real("weight_decay", weight_decay, 0.0))


def check_optimizer(optimizer: str | OptimizerFactory) -> str | OptimizerFactory:
    """Accept an optimiser name (``"adam"``, ``"adamw"``, ``"sgd"``) or a factory callable."""
    if callable(optimizer):
        return optimizer
    if optimizer not in OPTIMIZERS:
        raise unknown_name("optimizer", str(optimizer), OPTIMIZERS)
    return optimizer


def make_optimizer(optimizer: str | OptimizerFactory, params: Iterable[nn.Parameter], lr: float,
                   weight_decay: float) -> torch.optim.Optimizer:
    """Build the optimiser over ``params``.

    A factory is called as ``factory(params, lr=lr, weight_decay=weight_decay)``, so a torch
    optimiser class or ``functools.partial(torch.optim.SGD, momentum=0.9)`` work directly.
    ``"sgd"`` uses momentum 0.9 [ours].
    """
    trainable = [p for p in params if p.requires_grad]
    if not trainable:
        raise ConfigError("no trainable parameters: every parameter has requires_grad=False; "
                          "choose some with trainer.set_trainable(modules_or_parameters).")
    factory = OPTIMIZERS[optimizer] if isinstance(optimizer, str) else optimizer
    result = factory(trainable, lr=lr, weight_decay=weight_decay)
    if not isinstance(result, torch.optim.Optimizer):
        raise ConfigError(f"the optimizer factory returned {type(result).__name__}, not a torch.optim.Optimizer.")
    return result


def select_parameters(model: nn.Module, items: Iterable[Any]) -> set[int]:
    """Ids of the parameters named by ``items``: modules, parameters, dotted names, or nested lists of them."""
    chosen: set[int] = set()
    modules = dict(model.named_modules())
    params = dict(model.named_parameters())
    stack = list(items)
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if item in params:
                item = params[item]
            elif item in modules and item:
                item = modules[item]
            else:
                raise unknown_name("module or parameter", item, [n for n in modules if n])
        if isinstance(item, nn.Parameter):
            chosen.add(id(item))
        elif isinstance(item, nn.Module):
            chosen.update(id(p) for p in item.parameters())
        elif hasattr(item, "__iter__"):
            stack.extend(item)
        else:
            raise ConfigError(f"set_trainable takes modules, parameters or names, got {type(item).__name__}.")
    return chosen
