"""Atomic, code-free, all-or-nothing checkpoints.

A checkpoint is a plain dict of tensors and Python numbers/strings, written with :func:`torch.save`
and read back with ``torch.load(..., weights_only=True)`` so loading never executes code from the
file.

- **Saving** goes through :func:`~halign_widgets.training._atomic.atomic_write`: a temporary file
  beside the target, then ``os.replace``; a crash while saving leaves the previous checkpoint
  intact, a process killed mid-save leaves a hidden temporary that the next save of the same
  target removes, and the file gets the user's usual permissions (``0666 & ~umask``).
- **Loading** is all or nothing: the model (class, config, keys, shapes) *and* the optimiser
  (parameter groups, parameters per group, per-parameter state shapes) are checked before
  anything is written, and if writing still fails both are rolled back to what they held.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError, CheckpointMismatchError
from ._atomic import atomic_write
from ._compat import check_model, check_optimizer_state

__all__ = ["save_checkpoint", "load_checkpoint", "read_checkpoint", "FORMAT"]

FORMAT = "halign_widgets.checkpoint/1"


def save_checkpoint(path: str | os.PathLike[str], model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    *, epoch: int = 0, history: list[dict[str, Any]] | None = None, seed: int | None = None,
                    extra: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint atomically.

    Parameters
    ----------
    path:
        Target file (its folder is created).
    model:
        The model; its class name and ``model.config`` (when present) are stored so that loading
        into another architecture fails with a clear message.
    optimizer:
        Optional optimiser whose state is stored for exact resumption.
    epoch, history, seed:
        Training progress: completed epochs, the per-epoch history, the run's seed.
    extra:
        Any further plain data (numbers, strings, tensors, lists, dicts).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    CheckpointError
        The file could not be written (the previous checkpoint, if any, is left untouched).
    """
    target = Path(path)
    config = getattr(model, "config", None)
    payload = {
        "format": FORMAT,
        "model_class": type(model).__name__,
        "model_config": dict(config) if isinstance(config, dict) else None,
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer_state": optimizer.state_dict() if optimizer is not None else None,
        "epoch": int(epoch),
        "history": [dict(e) for e in (history or [])],
        "seed": None if seed is None else int(seed),
        "extra": dict(extra or {}),
    }
    try:
        with atomic_write(target) as handle:
            torch.save(payload, handle)
    except Exception as exc:
        raise CheckpointError(f"could not write checkpoint {target}: {exc}; the previous checkpoint (if any) "
                              "is unchanged. Check free disk space and write permissions.") from exc
    return target


def read_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint dict with ``weights_only=True`` (no code execution) and check its format.

    Raises
    ------
    CheckpointError
        The file is missing, truncated/corrupt, unsafe to unpickle, or not a halign_widgets checkpoint.
    """
    source = Path(path)
    if not source.is_file():
        raise CheckpointError(f"no checkpoint file at {source}; check the path (Trainer(checkpoint_dir=...) "
                              "writes 'last.pt' there after every epoch).")
    try:
        data = torch.load(source, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"cannot read checkpoint {source}: it is corrupt, truncated or contains objects "
                              f"that cannot be loaded safely ({type(exc).__name__}: {str(exc)[:200]}). "
                              "Delete it and train again, or resume from an older checkpoint.") from exc
    if not isinstance(data, dict) or "model_state" not in data:
        raise CheckpointError(f"{source} is not a halign_widgets checkpoint (no 'model_state'); "
                              "write checkpoints with save_checkpoint or Trainer(checkpoint_dir=...).")
    return data


def load_checkpoint(path: str | os.PathLike[str], model: nn.Module | None = None,
                    optimizer: torch.optim.Optimizer | None = None,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint (``weights_only=True``), optionally restoring ``model`` and ``optimizer`` in place.

    All or nothing: everything is validated before anything is written, and if writing still
    fails, ``model`` and ``optimizer`` are rolled back, so a refused checkpoint never leaves a
    half-loaded model behind.

    Parameters
    ----------
    path:
        The checkpoint file.
    model:
        Model to restore; must have the same class, ``config`` and parameter shapes as the saved one.
    optimizer:
        Optimiser to restore (must hold the same parameter groups, parameter counts and state
        shapes as when saved).
    map_location:
        Where to load tensors (``"cpu"`` by default; the model's own device is kept).

    Returns
    -------
    dict
        The checkpoint: ``model_state``, ``optimizer_state``, ``epoch``, ``history``, ``seed``,
        ``model_class``, ``model_config``, ``extra``.

    Raises
    ------
    CheckpointError
        Missing or corrupt file.
    CheckpointMismatchError
        The checkpoint belongs to another model class, configuration or parameter layout, or the
        optimiser's parameter groups or state differ. ``model`` and ``optimizer`` are unchanged.
    """
    data = read_checkpoint(path, map_location)
    opt_state = data.get("optimizer_state") if optimizer is not None else None
    if model is not None:
        check_model(data, model, str(path))
    if opt_state is not None:
        check_optimizer_state(opt_state, optimizer, str(path))  # type: ignore[arg-type]
    model_backup = {k: v.detach().clone() for k, v in model.state_dict().items()} if model is not None else None
    opt_backup = copy.deepcopy(optimizer.state_dict()) if opt_state is not None else None  # type: ignore[union-attr]
    try:
        if model is not None:
            model.load_state_dict(data["model_state"])
        if opt_state is not None:
            optimizer.load_state_dict(opt_state)  # type: ignore[union-attr]
    except (ValueError, KeyError, RuntimeError, TypeError) as exc:
        if model is not None:
            model.load_state_dict(model_backup)  # type: ignore[arg-type]
        if opt_backup is not None:
            optimizer.load_state_dict(opt_backup)  # type: ignore[union-attr]
        raise CheckpointMismatchError(
            f"{path} could not be loaded ({type(exc).__name__}: {str(exc)[:200]}); the model and optimiser are "
            "unchanged. Make the same parameters trainable (trainer.set_trainable) and build the same model as "
            "when the checkpoint was written.") from exc
    return data
