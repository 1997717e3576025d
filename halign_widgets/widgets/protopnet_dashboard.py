"""ProtoPNetDashboard: the TrainingDashboard running ProtoPNet's staged schedule, stages and pushes marked live.

Everything of :class:`~halign_widgets.widgets.TrainingDashboard` (controls, Start / Stop, progress, live
curves, log); Start runs :func:`halign_widgets.prototypes.train_protopnet` on the dashboard's Trainer
instead of a single ``fit``, so the curves show every loss term's stage and a marker at each push.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import ipywidgets as W
from torch import nn

from ..errors import ConfigError
from ..prototypes import ProtoPNetLoss, ProtoPNetRun, PushResult, Schedule, Stage, train_protopnet
from .training_dashboard import TrainingDashboard

__all__ = ["ProtoPNetDashboard"]


class ProtoPNetDashboard(TrainingDashboard):
    """Train a ProtoPNet with warm-up → joint → push → last layer, live, with stage markers on the curves.

    Parameters
    ----------
    model_or_factory:
        A :class:`~halign_widgets.prototypes.ProtoPNet` or a function returning a fresh one (called
        under the seed at every Start).
    dataset:
        As for the TrainingDashboard (``train`` / ``val`` splits).
    schedule:
        The stages (:class:`~halign_widgets.prototypes.Schedule`); the ``joint epochs`` and
        ``learning rate`` controls set its joint epochs and its warm-up / joint learning rate.
    loss:
        The :class:`~halign_widgets.prototypes.ProtoPNetLoss` (default λ's of Chen et al.).
    key, trainer_kwargs:
        As for the TrainingDashboard.

    Attributes
    ----------
    result:
        The :class:`~halign_widgets.prototypes.ProtoPNetRun` of the last Start (``result.push`` …).
    """

    def __init__(self, model_or_factory: nn.Module | Callable[[], nn.Module], dataset: Any, *,
                 schedule: Schedule | None = None, loss: ProtoPNetLoss | None = None, batch_size: int = 32,
                 key: str | None = None, **trainer_kwargs: Any) -> None:
        if model_or_factory is None:
            raise ConfigError("the ProtoPNetDashboard trains a ProtoPNet: pass one, or a function returning one "
                              "(e.g. lambda: ProtoPNet(backbone=trained_cnn)).")
        schedule = schedule if schedule is not None else Schedule()
        if not isinstance(schedule, Schedule):
            raise ConfigError(f"schedule must be a Schedule(...), got {type(schedule).__name__}.")
        if loss is not None and not isinstance(loss, ProtoPNetLoss):
            raise ConfigError(f"loss must be a ProtoPNetLoss, got {type(loss).__name__}.")
        self.schedule = schedule
        self.loss = loss if loss is not None else ProtoPNetLoss()
        self.result: ProtoPNetRun | None = None
        super().__init__(model_or_factory, dataset, epochs=max(1, schedule.joint_epochs), lr=schedule.joint_lr,
                         batch_size=batch_size, key=key, step_fn=self.loss, **trainer_kwargs)
        self.epochs_box.description = "joint epochs"
        self.plan = W.HTML(self._plan_text(schedule))
        self.set_body(self.plan, *self.ui.children[:-2])

    @staticmethod
    def _plan_text(schedule: Schedule) -> str:
        steps = " → ".join(f"{s.label} ({s.epochs})" if s.kind != "push" else s.label for s in schedule.stages())
        return f"<small>schedule: {steps}</small>"

    def current_schedule(self) -> Schedule:
        """The schedule with the joint epochs and learning rate of the controls."""
        lr = float(self.lr_box.value)
        return dataclasses.replace(self.schedule, joint_epochs=int(self.epochs_box.value), joint_lr=lr, warmup_lr=lr)

    def _begin_run(self, trainer: Any) -> None:
        """Nothing to claim up front: :func:`train_protopnet` runs one ``fit`` per stage in the worker."""

    def _train(self, _stop: Any, trainer: Any) -> None:  # the TrainingDashboard's run step, staged
        schedule = self.current_schedule()
        self.plan.value = self._plan_text(schedule)
        self.result = None
        self.result = train_protopnet(trainer=trainer, schedule=schedule, on_stage=self._on_stage)

    def _on_stage(self, stage: Stage, push: PushResult | None) -> None:
        if self.closed:
            return
        if push is None:
            self.log.append_stdout(f"— {stage.label}: {stage.epochs} epoch(s), lr {stage.lr:g}\n")
            return
        moved = sum(r.distance_before for r in push.records) / max(1, len(push))
        self.log.append_stdout(f"— {stage.label}: {len(push)} prototypes projected onto training patches "
                               f"(mean distance {moved:.3g} → 0) in {push.seconds:.1f} s\n")

    @property
    def push(self) -> PushResult | None:
        """The last push of the last run."""
        return None if self.result is None else self.result.push
