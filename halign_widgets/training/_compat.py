"""Does a checkpoint fit this model and optimiser? (validation run before anything is loaded)"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import CheckpointMismatchError

__all__ = ["check_model", "check_optimizer_state"]


def check_model(data: dict[str, Any], model: nn.Module, source: str) -> None:
    """Raise :class:`CheckpointMismatchError` naming what differs between checkpoint and model."""
    cls = type(model).__name__
    if data.get("model_class") not in (None, cls):
        raise CheckpointMismatchError(
            f"{source} was written by a {data['model_class']} but the model is a {cls}; build a "
            f"{data['model_class']}(**{data.get('model_config')}) to load it.")
    config = getattr(model, "config", None)
    saved = data.get("model_config")
    if isinstance(config, dict) and isinstance(saved, dict) and dict(config) != saved:
        diffs = [f"{k}: checkpoint {saved.get(k)!r} vs model {config.get(k)!r}"
                 for k in sorted(set(saved) | set(config)) if saved.get(k) != config.get(k)]
        raise CheckpointMismatchError(f"{source} was written by a {cls} with another configuration ("
                                      f"{'; '.join(diffs)}); rebuild the model as {cls}(**{saved}).")
    state = data["model_state"]
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:5]}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:5]}")
        if shapes:
            parts.append("shape mismatch " + "; ".join(shapes[:5]))
        raise CheckpointMismatchError(f"{source} does not fit this {cls}: {', '.join(parts)}. Build the model "
                                      "with the same architecture and sizes as the one that was saved.")


def check_optimizer_state(saved: Any, optimizer: torch.optim.Optimizer, source: str) -> None:
    """Raise :class:`CheckpointMismatchError` if ``saved`` (an optimiser state dict) does not fit ``optimizer``.

    Checks what ``Optimizer.load_state_dict`` checks (number of groups, parameters per group) and
    what it does not: every per-parameter state tensor that is not a scalar must have its
    parameter's shape (true of every element-wise ``torch.optim`` optimiser; LBFGS and optimisers
    from other packages skip this check) — otherwise the load "succeeds" and the next step fails.
    """
    hint = "make the same parameters trainable (trainer.set_trainable) as when the checkpoint was written"
    groups = saved.get("param_groups") if isinstance(saved, dict) else None
    if not isinstance(groups, list) or not isinstance(saved.get("state"), dict):
        raise CheckpointMismatchError(f"the optimiser state in {source} is malformed (no param_groups/state); "
                                      "save it with save_checkpoint(path, model, optimizer).")
    own = optimizer.param_groups
    if len(groups) != len(own):
        raise CheckpointMismatchError(f"the optimiser state in {source} has {len(groups)} parameter group(s), the "
                                      f"current optimiser {len(own)}; {hint}.")
    counts = [len(g.get("params", [])) for g in groups]
    if counts != [len(g["params"]) for g in own]:
        raise CheckpointMismatchError(f"the optimiser state in {source} holds {counts} parameters per group, the "
                                      f"current optimiser {[len(g['params']) for g in own]}; {hint}.")
    elementwise = type(optimizer).__module__.startswith("torch.optim") and not isinstance(optimizer, torch.optim.LBFGS)
    if not elementwise:
        return
    params = {pid: p for g_saved, g_own in zip(groups, own, strict=True)
              for pid, p in zip(g_saved["params"], g_own["params"], strict=True)}
    for pid, state in saved["state"].items():
        if pid not in params or not isinstance(state, dict):
            raise CheckpointMismatchError(f"the optimiser state in {source} refers to parameter {pid!r}, which its "
                                          f"groups do not list; the file is inconsistent — {hint}.")
        shape = tuple(params[pid].shape)
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and tuple(value.shape) != shape:
                raise CheckpointMismatchError(
                    f"the optimiser state in {source} does not fit: {key!r} of parameter {pid} has shape "
                    f"{tuple(value.shape)} but the parameter has shape {shape} (the parameters are in another "
                    f"order or another model); {hint}.")
