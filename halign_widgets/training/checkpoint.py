"""Atomic, code-free checkpoints: write a temporary file beside the target, then ``os.replace``.

A checkpoint is a plain dict of tensors and Python numbers/strings, written with :func:`torch.save`
and read back with ``torch.load(..., weights_only=True)`` so loading never executes code from the
file.  Because the final rename is atomic on POSIX and Windows, a crash while saving leaves the
previous checkpoint intact and no partial file behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError, CheckpointMismatchError

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
    tmp_name: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
        tmp_name = None
    except Exception as exc:
        raise CheckpointError(f"could not write checkpoint {target}: {exc}; the previous checkpoint (if any) "
                              "is unchanged. Check free disk space and write permissions.") from exc
    finally:
        if tmp_name is not None and os.path.exists(tmp_name):
            os.remove(tmp_name)
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


def _check_compatible(data: dict[str, Any], model: nn.Module, source: str) -> None:
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


def load_checkpoint(path: str | os.PathLike[str], model: nn.Module | None = None,
                    optimizer: torch.optim.Optimizer | None = None,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint (``weights_only=True``), optionally restoring ``model`` and ``optimizer`` in place.

    Parameters
    ----------
    path:
        The checkpoint file.
    model:
        Model to restore; must have the same class, ``config`` and parameter shapes as the saved one.
    optimizer:
        Optimiser to restore (must hold the same parameter groups as when saved).
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
        optimiser's parameter groups differ.
    """
    data = read_checkpoint(path, map_location)
    if model is not None:
        _check_compatible(data, model, str(path))
        model.load_state_dict(data["model_state"])
    if optimizer is not None and data.get("optimizer_state") is not None:
        try:
            optimizer.load_state_dict(data["optimizer_state"])
        except (ValueError, KeyError, RuntimeError) as exc:
            raise CheckpointMismatchError(
                f"the optimiser state in {path} does not fit the current optimiser ({exc}); make the same "
                "parameters trainable (trainer.set_trainable) as when the checkpoint was written.") from exc
    return data
