"""Staged ProtoPNet training through the lab's Trainer: warm-up → (joint → push → last layer) × cycles.

After Chen et al., NeurIPS 2019: **warm-up** trains the add-on layers and prototypes with the trunk
frozen; **joint** trains trunk, add-on and prototypes (the last layer fixed); **push** projects each
prototype onto its nearest training patch of its own class; **last layer** trains only the last
layer (``CE + λ_L1·L1``) with the features fixed. Each training stage is one
:meth:`Trainer.fit <halign_widgets.training.Trainer.fit>` call after
:meth:`~halign_widgets.training.Trainer.set_trainable` — no second training loop — so epochs,
seeds, callbacks, stopping and live dashboards work as for any model. Every history entry carries
``stage`` (its label, e.g. ``"joint"`` or ``"last layer · push 1"``), ``stage_index`` and ``cycle``.

Choices **[ours]**: one learning rate per stage (Adam; Chen et al. use separate rates for trunk,
add-on and prototypes), short stages sized for a CPU, prototypes initialised on random training
patches of their class (``init="patches"``; ``"uniform"`` keeps Chen et al.'s uniform draw, see
:func:`~halign_widgets.prototypes.push.init_prototypes_from_patches`), and the layers a stage does
not train stay in eval mode with no batch-norm re-estimation (the trunk in warm-up, trunk and
add-on layers in the last-layer stage), so the latent patches the prototypes were pushed onto stay
exactly the same. Like Chen et al. (ImageNet
trunks), start from a trained trunk (``ProtoPNet(backbone=trained_cnn)``): from a random trunk the
cluster cost collapses every latent patch onto the prototypes before the trunk has learned
anything (measured on masses: chance accuracy).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import ConfigError, unknown_name
from ..training import Callback, History, Trainer, derive_seed
from ..validation import check_int, check_real
from .loss import ProtoPNetLoss
from .model import ProtoPNet
from .push import Patch, PushResult, check_push_set, dataset_tensors, init_prototypes_from_patches, push_prototypes

__all__ = ["INITS", "ProtoPNetRun", "Schedule", "Stage", "stage_parameters", "train_protopnet"]

INITS = ("patches", "uniform")

StageHook = Callable[["Stage", "PushResult | None"], None]


@dataclass(frozen=True)
class Stage:
    """One step of a schedule: ``kind`` is ``"warm-up"``, ``"joint"``, ``"push"`` or ``"last layer"``."""

    kind: str
    epochs: int = 0
    lr: float | None = None
    cycle: int = 1

    @property
    def label(self) -> str:
        """What the history and the dashboard call the stage (``"last layer · push 2"`` …)."""
        if self.kind == "push":
            return f"push {self.cycle}"
        return f"last layer · push {self.cycle}" if self.kind == "last layer" else self.kind


@dataclass(frozen=True)
class Schedule:
    """Epochs and learning rates of a ProtoPNet run.

    Parameters
    ----------
    warmup_epochs, joint_epochs, last_layer_epochs:
        Epochs of each stage (warm-up once; joint and last layer in every cycle).
    cycles:
        Repetitions of joint → push → last layer (≥ 1).
    warmup_lr, joint_lr, last_layer_lr:
        Adam learning rates of the stages.
    init:
        ``"patches"`` (prototypes start on random own-class training patches) or ``"uniform"``
        (the model's own uniform draw, Chen et al.).

    Examples
    --------
    >>> [s.label for s in Schedule(warmup_epochs=1, joint_epochs=2, last_layer_epochs=1).stages()]
    ['warm-up', 'joint', 'push 1', 'last layer · push 1']
    """

    warmup_epochs: int = 1
    joint_epochs: int = 4
    last_layer_epochs: int = 2
    cycles: int = 1
    warmup_lr: float = 3e-3
    joint_lr: float = 3e-3
    last_layer_lr: float = 1e-2
    init: str = "patches"

    def __post_init__(self) -> None:
        if self.init not in INITS:
            raise unknown_name("prototype initialisation", str(self.init), INITS)
        check_int("warmup_epochs", self.warmup_epochs, 0)
        check_int("joint_epochs", self.joint_epochs, 0)
        check_int("last_layer_epochs", self.last_layer_epochs, 0)
        check_int("cycles", self.cycles, 1)
        for name in ("warmup_lr", "joint_lr", "last_layer_lr"):
            check_real(name, getattr(self, name), 0.0, strict=True, hint="a positive learning rate such as 1e-3")

    def stages(self) -> list[Stage]:
        """The stages in order (training stages with 0 epochs are left out)."""
        out = [Stage("warm-up", self.warmup_epochs, self.warmup_lr)] if self.warmup_epochs else []
        for c in range(1, self.cycles + 1):
            if self.joint_epochs:
                out.append(Stage("joint", self.joint_epochs, self.joint_lr, c))
            out.append(Stage("push", 0, None, c))
            if self.last_layer_epochs:
                out.append(Stage("last layer", self.last_layer_epochs, self.last_layer_lr, c))
        return out

    @property
    def total_epochs(self) -> int:
        """Training epochs over all stages."""
        return sum(s.epochs for s in self.stages())


def stage_parameters(model: ProtoPNet, kind: str) -> list[nn.Module | nn.Parameter]:
    """What a stage trains: warm-up add-on + prototypes; joint trunk + add-on + prototypes; last layer alone."""
    if kind == "warm-up":
        return [model.add_on, model.prototype_vectors]
    if kind == "joint":
        return [model.features, model.add_on, model.prototype_vectors]
    if kind == "last layer":
        return [model.last_layer]
    raise ConfigError(f"stage {kind!r} trains nothing; use 'warm-up', 'joint' or 'last layer'.")


class _StageTag(Callback):
    """Writes the stage into each new history entry (before any other callback sees it) and checkpoints."""

    def __init__(self, run: ProtoPNetRun) -> None:
        self.run = run

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        run = self.run
        index, done = run.position
        stage = run.stages[index]
        logs.update(stage=stage.label, stage_index=index, cycle=stage.cycle)
        run.position = (index + 1, 0) if done + 1 >= stage.epochs else (index, done + 1)
        run.save_if_requested()


@dataclass
class ProtoPNetRun:
    """A (possibly unfinished) staged run: the model, its Trainer, the pushes and where the schedule stands.

    Attributes
    ----------
    position:
        ``(index of the next stage, epochs of it already done)``.
    state:
        ``"finished"``, ``"stopped"`` (a stop request ended a stage early; resume from the
        checkpoint) or ``"running"``.
    """

    model: ProtoPNet
    trainer: Trainer
    schedule: Schedule
    loss: ProtoPNetLoss
    push_data: Any
    pushes: list[PushResult] = field(default_factory=list)
    position: tuple[int, int] = (0, 0)
    optimizer_stage: int | None = None
    checkpoint: Path | None = None
    state: str = "running"
    push_exclude: list[Patch] = field(default_factory=list)
    push_exclude_similar: bool = False

    @property
    def stages(self) -> list[Stage]:
        """The schedule's stages."""
        return self.schedule.stages()

    @property
    def push(self) -> PushResult | None:
        """The most recent push (``None`` before the first)."""
        return self.pushes[-1] if self.pushes else None

    @property
    def history(self) -> History:
        """The Trainer's per-epoch history (with ``stage`` in every entry)."""
        return self.trainer.history

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write an atomic checkpoint of the run (model, optimiser, history, pushes, schedule position)."""
        from .checkpoint import save_protopnet

        return save_protopnet(path, self.model, trainer=self.trainer, pushes=self.pushes, schedule=self.schedule,
                              position=self.position, optimizer_stage=self.optimizer_stage)

    def save_if_requested(self) -> None:
        if self.checkpoint is not None:
            self.save(self.checkpoint)

    def _resume(self, path: str | os.PathLike[str]) -> None:
        from .checkpoint import load_protopnet

        saved = load_protopnet(path, self.model, weights=False)
        if saved.schedule is not None and saved.schedule != self.schedule:
            raise ConfigError(f"the checkpoint {path} was written by a run with schedule {saved.schedule}, not "
                              f"{self.schedule}; resume with the same schedule (schedule=Schedule(**...)).")
        self.pushes, self.position, self.optimizer_stage = saved.pushes, saved.position, saved.optimizer_stage
        if self.optimizer_stage is not None:  # the saved optimiser state belongs to that stage's parameters
            self._set_stage_trainable(self.optimizer_stage)
        self.trainer.load(path)

    def _set_stage_trainable(self, index: int) -> None:
        stage = self.stages[index]
        self.trainer.set_trainable(*stage_parameters(self.model, stage.kind), lr=stage.lr)
        self.optimizer_stage = index

    def run(self, on_stage: StageHook | None = None) -> ProtoPNetRun:
        """Run the stages from :attr:`position` to the end (or until a stop request)."""
        trainer, model, loss = self.trainer, self.model, self.loss
        tag = _StageTag(self)
        trainer.callbacks.insert(0, tag)
        precise_bn = trainer.precise_bn
        self.state = "running"
        if self.position == (0, 0) and self.schedule.init == "patches" and not self.pushes:
            init_prototypes_from_patches(model, self.push_data, derive_seed(trainer.seed, "prototypes"))
        try:
            while self.position[0] < len(self.stages):
                index, done = self.position
                stage = self.stages[index]
                if stage.kind == "push":
                    self.pushes.append(push_prototypes(model, self.push_data, exclude=self.push_exclude,
                                                       exclude_similar=self.push_exclude_similar))
                    self.position = (index + 1, 0)
                    self.save_if_requested()
                    if on_stage is not None:
                        on_stage(stage, self.pushes[-1])
                    continue
                if done == 0 or self.optimizer_stage != index:
                    self._set_stage_trainable(index)
                loss.stage = stage.kind
                model.freeze_features(trunk=stage.kind != "joint", add_on=stage.kind == "last layer")
                trainer.precise_bn = precise_bn if stage.kind == "joint" else 0
                if on_stage is not None:
                    on_stage(stage, None)
                trainer.fit(epochs=stage.epochs - done)
                if trainer.state == "stopped":
                    self.state = "stopped"
                    return self
            self.state = "finished"
            return self
        finally:
            trainer.callbacks.remove(tag)
            trainer.precise_bn = precise_bn
            model.freeze_features(False, False)
            loss.stage = "joint"


def train_protopnet(model: ProtoPNet | None = None, train_data: Any = None, val_data: Any = None, *,
                    schedule: Schedule | None = None, trainer: Trainer | None = None,
                    loss: ProtoPNetLoss | None = None, push_data: Any = None,
                    checkpoint: str | os.PathLike[str] | None = None,
                    resume_from: str | os.PathLike[str] | None = None, on_stage: StageHook | None = None,
                    push_exclude: list[Patch] | tuple[Patch, ...] = (), push_exclude_similar: bool = False,
                    **trainer_kwargs: Any) -> ProtoPNetRun:
    """Train a ProtoPNet with the staged schedule, through a :class:`~halign_widgets.training.Trainer`.

    Parameters
    ----------
    model, train_data, val_data:
        The ProtoPNet and its data (as for the Trainer); not needed when ``trainer`` is given.
    schedule:
        Epochs and learning rates (default :class:`Schedule`).
    trainer:
        An existing Trainer of the model (e.g. the one a dashboard built); its ``step_fn`` must be a
        :class:`~halign_widgets.prototypes.ProtoPNetLoss` (one is installed if it has none).
    loss:
        The loss (default ``ProtoPNetLoss()``) when the Trainer is built here.
    push_data:
        The un-augmented training images pushed onto (default the Trainer's training data).
    checkpoint:
        Write the run to this file after every epoch and every push (atomically).
    resume_from:
        A checkpoint of an earlier, stopped run with the same schedule: continue where it stopped
        (a resumed run ends with the same weights as an uninterrupted one).
    on_stage:
        ``on_stage(stage, push)`` before each training stage (``push=None``) and after each push.
    push_exclude, push_exclude_similar:
        Patches ``(image_index, row, col)`` of the push set no prototype may be pushed onto (and, with
        ``push_exclude_similar``, patches as close to them as they are to each other).
    **trainer_kwargs:
        Trainer options (``batch_size``, ``seed``, ``callbacks``, ``progress``, ``device`` …).

    Returns
    -------
    ProtoPNetRun
        ``run.model``, ``run.history`` (with the stage of every epoch), ``run.pushes``, ``run.state``.

    Examples
    --------
    >>> model = ProtoPNet(in_channels=1, num_classes=2)                              # doctest: +SKIP
    >>> run = train_protopnet(model, world.train, world.val, schedule=Schedule())   # doctest: +SKIP
    >>> run.push.table()                                                             # doctest: +SKIP
    """
    schedule = schedule if schedule is not None else Schedule()
    if not isinstance(schedule, Schedule):
        raise ConfigError(f"schedule must be a Schedule(...), got {type(schedule).__name__}.")
    if trainer is None:
        if not isinstance(model, ProtoPNet) or train_data is None:
            raise ConfigError("train_protopnet needs a ProtoPNet and its training data, or trainer=Trainer(...).")
        loss = loss if loss is not None else ProtoPNetLoss()
        trainer = Trainer(model, train_data, val_data, step_fn=loss, **trainer_kwargs)
    else:
        if model is not None and model is not trainer.model:
            raise ConfigError("the trainer trains another model; pass either model=... or trainer=..., not both.")
        model = trainer.model  # type: ignore[assignment]
        if trainer.step_fn is None:
            trainer.step_fn = loss if loss is not None else ProtoPNetLoss()
        if not isinstance(trainer.step_fn, ProtoPNetLoss):
            raise ConfigError("the trainer's step_fn is not a ProtoPNetLoss; build it with "
                              "Trainer(model, ..., step_fn=ProtoPNetLoss()).")
        loss = trainer.step_fn
    if not isinstance(model, ProtoPNet):
        raise ConfigError(f"train_protopnet trains a ProtoPNet, got a {type(model).__name__}.")
    push_data = push_data if push_data is not None else trainer.train_data
    images, labels = dataset_tensors(push_data, "push set")
    check_push_set(model, images, labels)
    run = ProtoPNetRun(model, trainer, schedule, loss, push_data,
                       checkpoint=None if checkpoint is None else Path(checkpoint),
                       push_exclude=[tuple(int(v) for v in p) for p in push_exclude],  # type: ignore[misc]
                       push_exclude_similar=bool(push_exclude_similar))
    if resume_from is not None:
        run._resume(resume_from)
    return run.run(on_stage)


def schedule_from_dict(data: dict[str, Any] | None) -> Schedule | None:
    """Inverse of ``dataclasses.asdict(schedule)`` (``None`` stays ``None``)."""
    return None if data is None else Schedule(**data)


def schedule_to_dict(schedule: Schedule | None) -> dict[str, Any] | None:
    """Plain data of a schedule for a checkpoint."""
    return None if schedule is None else asdict(schedule)
