"""ProtoPNet checkpoints: the lab's atomic, ``weights_only`` checkpoint plus pushes, schedule and edits.

The model weights (with the ``prototype_active`` switches of the edits), the optimiser, the history
and the seed are stored as by :func:`halign_widgets.training.save_checkpoint`; ``extra["protopnet"]``
adds the push records, the schedule and its position, and the edit log with the weights as trained
before any edit — so an edited model can always go back to what was trained.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CheckpointMismatchError
from ..training import Trainer, load_checkpoint, read_checkpoint, save_checkpoint
from .model import ProtoPNet
from .push import PushResult
from .schedule import Schedule, schedule_from_dict, schedule_to_dict

__all__ = ["LoadedProtoPNet", "load_protopnet", "save_protopnet"]


def save_protopnet(path: str | os.PathLike[str], model: ProtoPNet, *, trainer: Trainer | None = None,
                   pushes: list[PushResult] | tuple[PushResult, ...] = (), schedule: Schedule | None = None,
                   position: tuple[int, int] | None = None, optimizer_stage: int | None = None,
                   edits: dict[str, Any] | None = None) -> Path:
    """Write a ProtoPNet checkpoint atomically (see the module docstring for what it holds).

    Parameters
    ----------
    path:
        Target file.
    model:
        The ProtoPNet.
    trainer:
        Its Trainer (optimiser, history, seed and step count are saved for resuming).
    pushes, schedule, position, optimizer_stage:
        The run's push records and schedule state (:class:`~halign_widgets.prototypes.ProtoPNetRun`).
    edits:
        :meth:`PrototypeEditor.state_dict() <halign_widgets.prototypes.PrototypeEditor.state_dict>`.
    """
    extra: dict[str, Any] = {"protopnet": {
        "pushes": [p.to_dict() for p in pushes],
        "schedule": schedule_to_dict(schedule),
        "position": None if position is None else [int(position[0]), int(position[1])],
        "optimizer_stage": optimizer_stage,
        "edits": edits,
    }}
    if trainer is None:
        return save_checkpoint(path, model, extra=extra)
    extra["global_step"] = trainer.global_step
    return save_checkpoint(path, model, trainer.optimizer, epoch=trainer.completed_epochs,
                           history=list(trainer.history), seed=trainer.seed, extra=extra)


@dataclass
class LoadedProtoPNet:
    """What :func:`load_protopnet` read: the model and the ProtoPNet parts of the checkpoint."""

    model: ProtoPNet
    pushes: list[PushResult] = field(default_factory=list)
    schedule: Schedule | None = None
    position: tuple[int, int] = (0, 0)
    optimizer_stage: int | None = None
    edits: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def push(self) -> PushResult | None:
        """The most recent push record (``None`` if the run never pushed)."""
        return self.pushes[-1] if self.pushes else None


def _check_prototypes(data: dict[str, Any], model: ProtoPNet, source: str) -> None:
    saved = data.get("model_config") or {}
    if data.get("model_class") not in (None, "ProtoPNet"):
        raise CheckpointMismatchError(f"{source} holds a {data['model_class']}, not a ProtoPNet; load it with "
                                      "halign_widgets.training.load_checkpoint into that model class.")
    state = data["model_state"].get("prototype_vectors")
    count = int(state.shape[0]) if state is not None else None
    if count is not None and count != model.num_prototypes:
        m = saved.get("prototypes_per_class", "?")
        raise CheckpointMismatchError(
            f"{source} holds {count} prototypes ({m} per class) but this model has {model.num_prototypes} "
            f"({model.config['prototypes_per_class']} per class); build the model with "
            f"ProtoPNet(prototypes_per_class={m}, ...) or load_protopnet(path) without a model.")


def load_protopnet(path: str | os.PathLike[str], model: ProtoPNet | None = None, *,
                   weights: bool = True) -> LoadedProtoPNet:
    """Read a ProtoPNet checkpoint (``weights_only``); restore the weights into ``model`` or a new ProtoPNet.

    Parameters
    ----------
    path:
        The checkpoint file.
    model:
        Model to restore; default a ``ProtoPNet(**config)`` built from the saved configuration.
    weights:
        Load the weights into the model (``False``: only read and check the ProtoPNet parts).

    Raises
    ------
    CheckpointError
        Missing, corrupt or unsafe file.
    CheckpointMismatchError
        Another model class, another prototype count or another architecture.
    """
    data = read_checkpoint(path)
    source = str(path)
    if model is None:
        if data.get("model_class") != "ProtoPNet" or not isinstance(data.get("model_config"), dict):
            raise CheckpointMismatchError(f"{source} is not a ProtoPNet checkpoint (it holds a "
                                          f"{data.get('model_class')}); pass the model to load it into.")
        model = ProtoPNet(**data["model_config"])
    _check_prototypes(data, model, source)
    if weights:
        load_checkpoint(path, model)
    part = (data.get("extra") or {}).get("protopnet") or {}
    position = part.get("position") or [0, 0]
    return LoadedProtoPNet(model=model, pushes=[PushResult.from_dict(p) for p in part.get("pushes") or []],
                           schedule=schedule_from_dict(part.get("schedule")),
                           position=(int(position[0]), int(position[1])),
                           optimizer_stage=part.get("optimizer_stage"), edits=part.get("edits"),
                           history=list(data.get("history") or []), data=data)
