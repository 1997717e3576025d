"""The Trainer: one small, seeded, resumable training loop for every model of the lab.

Hand-written rather than taken from a framework (Lightning, Ignite) to keep the dependency list
short and the loop readable in class: the whole epoch is :meth:`Trainer._train_epoch`.
The same loop trains data-parallel under ``torchrun`` (:mod:`~halign_widgets.training.distributed`):
it talks to a *team* (:mod:`~halign_widgets.training._team`) that is a no-op in one process.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..data.dataset import check_images
from ..errors import ConfigError, LabelMismatchError, TrainingBusyError
from ..models import check_model_input, in_channels, model_input, size_errors
from ..validation import check_int
from . import _data
from ._control import RunControl
from ._divergence import checkpoint_note, gradients_finite, restore_buffers, snapshot_buffers
from ._options import check_lr, check_optimizer, make_optimizer, select_parameters
from ._precision import Precision
from ._team import Solo, Team
from .callbacks import Callback, CallbackList, ProgressBar
from .checkpoint import load_checkpoint, save_checkpoint
from .device import resolve_device
from .distributed import init_distributed, rank_threads
from .evaluation import evaluate_model, evaluation_totals, predict_probabilities, scalar
from .history import History, monitor_mode
from .metrics import default_criterion, resolve_metric
from .precise_bn import recompute_bn_stats
from .seeding import derive_seed, epoch_generator, seeded
from .threads import apply_threads, sized_for, sized_threads

__all__ = ["Trainer", "StepFn"]

StepFn = Callable[[nn.Module, Tensor, Tensor], tuple[Tensor, Tensor, dict[str, Any]]]


class Trainer(RunControl):
    """Train a classifier: seeded, resumable, stoppable, with callbacks and atomic checkpoints.

    Parameters
    ----------
    model:
        Any ``nn.Module`` returning logits; moved to ``device``.
    train_data, val_data:
        An :class:`~halign_widgets.data.ImageDataset`, any torch ``Dataset`` of ``(x, y)``, or an
        ``(images, labels)`` tuple of tensors.  ``y`` is a class index, or a float 0/1 row for
        multi-label data (then the default loss is ``BCEWithLogitsLoss``).
    epochs, batch_size, lr, weight_decay:
        Hyper-parameters (``ConfigError`` when ``epochs < 1``, ``batch_size < 1`` or ``lr <= 0``).
    optimizer:
        ``"adam"``, ``"adamw"``, ``"sgd"`` (momentum 0.9) or a factory called as
        ``factory(params, lr=lr, weight_decay=weight_decay)``.
    criterion:
        ``criterion(logits, y) -> loss``; default cross-entropy / BCE-with-logits.
    step_fn:
        ``step_fn(model, x, y) -> (loss, logits, terms)`` replaces forward + criterion, for
        multi-term losses (prototype networks, causality losses); the floats in ``terms`` are
        averaged per epoch into the history as ``train_<name>`` / ``val_<name>``.  It may read
        ``trainer.epoch`` through a closure (e.g. to switch a loss term on after epoch 1).
    metrics:
        ``"auto"`` (accuracy; mean per-label accuracy for multi-label), or see
        :func:`~halign_widgets.training.metrics.resolve_metric`.
    device:
        ``"auto"`` picks CUDA, then MPS, then the CPU.
    seed:
        Each epoch derives its shuffling order and its dropout randomness from ``(seed, epoch)``,
        so two runs on the CPU give identical weights and histories (except ``seconds``), and a
        resumed run equals an uninterrupted one.  Torch's global generator is forked, not reset.
    callbacks:
        :class:`~halign_widgets.training.Callback` objects.
    early_stopping:
        Patience in epochs: stop when ``monitor`` has not improved for that many epochs.
    monitor, mode:
        History key watched by early stopping and its direction (``"auto"``: min for losses).
    checkpoint_dir:
        If given, ``<checkpoint_dir>/last.pt`` is written atomically after every epoch.
    progress:
        Show a text ``tqdm`` progress bar.
    precise_bn:
        After every epoch, re-estimate batch-norm statistics on this many evenly spaced training
        images (0 disables; ``True`` means 128, ``False`` 0) — see
        :mod:`~halign_widgets.training.precise_bn` for why [ours].
    amp:
        Mixed precision for the training steps: float16 autocast with a gradient scaler on CUDA,
        bfloat16 autocast without a scaler on the CPU (see :mod:`~halign_widgets.training._precision`).
    distributed:
        ``"auto"``: train data-parallel (``DistributedDataParallel``) when launched by ``torchrun``
        with several processes or inside an initialised process group; ``True``: insist;
        ``False``: never. Then ``batch_size`` is the *global* batch (each of the ``W`` ranks takes
        ``batch_size / W``; it must divide), every rank trains on its own device (``cuda:LOCAL_RANK``
        with NCCL, or the CPU with gloo) and its own equal shard of each epoch's seeded order, the
        metrics are summed over ranks, rank 0 alone writes checkpoints and shows the progress bar,
        callbacks run on every rank (``trainer.is_main`` tells them apart), and a stop request or a
        failure on any rank stops every rank after the same batch.
    sync_bn:
        Under ``distributed``, compute batch-norm statistics over the global batch (default), so a
        run with ``W`` processes matches the single-process run with the same ``batch_size`` up to
        float rounding (when the dataset size is a multiple of ``W``); ``False`` keeps per-rank
        statistics (plain DDP). See :mod:`~halign_widgets.training._sync_bn`.
    dist_timeout:
        Seconds a rank waits for the others in a collective before failing with
        :class:`~halign_widgets.errors.DistributedError` (for a process group started here).

    Notes
    -----
    A step whose loss or gradients are NaN/inf is refused *before* ``optimizer.step()``: the
    trainer raises :class:`~halign_widgets.errors.ConfigError` naming the epoch and batch and the
    last checkpoint, and the model (parameters and batch-norm statistics) and the optimiser stay
    as they were after the last good step.

    Examples
    --------
    >>> trainer = Trainer(model, dataset.train, dataset.val, epochs=3)  # doctest: +SKIP
    >>> history = trainer.fit()                                          # doctest: +SKIP
    >>> trainer.evaluate(dataset.test)["accuracy"]                       # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, train_data: Any, val_data: Any = None, *, epochs: int = 5,
                 batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.0,
                 optimizer: str | Callable[..., torch.optim.Optimizer] = "adam",
                 criterion: Callable[[Tensor, Tensor], Tensor] | None = None, step_fn: StepFn | None = None,
                 metrics: str | Callable[[Tensor, Tensor], Tensor] = "auto", device: str | torch.device = "auto",
                 seed: int = 0, callbacks: Iterable[Callback] = (), early_stopping: int | None = None,
                 monitor: str = "val_loss", mode: str = "auto", checkpoint_dir: str | os.PathLike[str] | None = None,
                 progress: bool = True, precise_bn: int = 128, amp: bool = False,
                 distributed: bool | str = "auto", sync_bn: bool = True, dist_timeout: float = 300.0) -> None:
        self._init_control()
        self.epochs = check_int("epochs", epochs, 1)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.lr, self.weight_decay = check_lr(lr, weight_decay)
        self.seed = check_int("seed", seed, 0)
        self.optimizer_factory = check_optimizer(optimizer)
        if early_stopping is not None:
            early_stopping = check_int("early_stopping (patience)", early_stopping, 1)
        if mode not in ("auto", "min", "max"):
            raise ConfigError(f"mode must be 'auto', 'min' or 'max', got {mode!r}.")
        if early_stopping is not None and monitor.startswith("val_") and val_data is None:
            raise ConfigError(f"early stopping watches {monitor!r} but no val_data was given; pass val_data "
                              f"or monitor='train_{monitor[4:]}'.")
        self.early_stopping, self.monitor, self.mode = early_stopping, monitor, monitor_mode(monitor, mode)
        if not isinstance(sync_bn, bool):
            raise ConfigError(f"sync_bn must be True or False, got {sync_bn!r}.")
        context = init_distributed(distributed, device, dist_timeout)
        self._team: Solo = Solo(resolve_device(device)) if context is None else Team(context, sync_bn=sync_bn)
        if self.batch_size % self._team.world_size:
            w = self._team.world_size
            raise ConfigError(f"batch_size is the global batch, shared by the {w} processes, so it must be a "
                              f"multiple of {w}; got {self.batch_size} — use {self.batch_size // w * w or w} or "
                              f"{(self.batch_size // w + 1) * w}.")
        self.device = self._team.device
        self.model = model.to(self.device)
        self._precision = Precision(amp, self.device, self.model)
        self._train_step: nn.Module | None = None
        self.rank_spread = 0.0
        #: torch threads of the last run: the process's count, lowered for a small step (``threads.sized_for``)
        self.threads: int | None = None
        self.train_data = _data.as_dataset(train_data)
        self.val_data = None if val_data is None else _data.as_dataset(val_data)
        self.multilabel = _data.check_dataset(self.train_data, self.model, self.device, "training data")
        if self.val_data is not None and _data.check_dataset(
                self.val_data, self.model, self.device, "validation data") != self.multilabel:
            raise LabelMismatchError("training and validation labels differ in kind (one multi-label, one not).")
        self.criterion = criterion if criterion is not None else default_criterion(self.multilabel)
        self.step_fn = step_fn
        self.metric = resolve_metric(metrics, self.multilabel)
        self.callbacks: list[Callback] = list(callbacks)
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.progress = bool(progress)
        # only the bools themselves map (1 == True would match a dict key): True → 128 images, False → 0
        bn_images = 128 if precise_bn is True else 0 if precise_bn is False else precise_bn
        self.precise_bn = check_int("precise_bn", bn_images, 0)
        self.optimizer = make_optimizer(self.optimizer_factory, self.model.parameters(), self.lr, self.weight_decay)
        self.history = History()
        self.global_step = 0
        self.epoch = 0
        self.stopped_early = False
        self._run_thread: threading.Thread | None = None
        self.planned_batches = 0
        self.first_planned_epoch = self.last_planned_epoch = 0

    # -- configuration between stages ------------------------------------------------------------
    @property
    def batches_per_epoch(self) -> int:
        """Optimiser steps per epoch."""
        return self._team.batches_per_epoch(_data.size_of(self.train_data), self.batch_size)

    @property
    def rank(self) -> int:
        """This process's rank in a distributed run (0 in one process)."""
        return self._team.rank

    @property
    def world_size(self) -> int:
        """Number of processes training together (1 in one process)."""
        return self._team.world_size

    @property
    def is_main(self) -> bool:
        """Whether this process writes checkpoints and progress (rank 0; always true in one process)."""
        return self._team.is_main

    @property
    def completed_epochs(self) -> int:
        """Epochs recorded in the history so far."""
        return int(self.history[-1]["epoch"]) if self.history else 0

    def set_trainable(self, *items: nn.Module | nn.Parameter | str | Sequence[Any], lr: float | None = None) -> None:
        """Train only ``items`` from now on (modules, parameters or their dotted names); freeze the rest.

        Builds a fresh optimiser (``optimizer`` option) over the trainable parameters, optionally
        with a new ``lr``; with no items every parameter becomes trainable.  This is how staged
        schedules (e.g. ProtoPNet warm-up → joint → last layer) run as consecutive ``fit`` calls.
        Frozen modules still update batch-norm running statistics in training mode.
        """
        if self.is_running:
            raise ConfigError("cannot change trainable parameters while training; stop the run first.")
        chosen = select_parameters(self.model, items)
        for p in self.model.parameters():
            p.requires_grad_(not items or id(p) in chosen)
        if lr is not None:
            self.lr, _ = check_lr(lr, self.weight_decay)
        self.optimizer = make_optimizer(self.optimizer_factory, self.model.parameters(), self.lr, self.weight_decay)

    # -- running -----------------------------------------------------------------------------------
    def fit(self, epochs: int | None = None, *, resume_from: str | os.PathLike[str] | None = None) -> History:
        """Train and return the history.

        Parameters
        ----------
        epochs:
            Epochs to run in this call (numbering continues the history).  Default: ``self.epochs``,
            or, when resuming, the epochs still missing to reach ``self.epochs``.
        resume_from:
            A checkpoint to restore first (model, optimiser, history, seed); the run then
            continues exactly as the uninterrupted one would have.

        Raises
        ------
        TrainingBusyError
            Another run of this trainer is in progress.
        """
        self.prepare(epochs, resume_from=resume_from)
        return self.run_prepared()

    def prepare(self, epochs: int | None = None, *, resume_from: str | os.PathLike[str] | None = None) -> None:
        """The synchronous first half of :meth:`fit`: claim the trainer and plan the run (may raise).

        Afterwards ``state == "running"``; :meth:`run_prepared` (in any thread) trains. An app
        that trains in its own worker calls this first, so a bad checkpoint or a busy trainer is
        reported at once and the run counts as started when the Start button returns.
        """
        self._begin(epochs=epochs, resume_from=resume_from)

    def run_prepared(self) -> History:
        """Train the run planned by :meth:`prepare` and return the history (errors are re-raised)."""
        self._run(reraise=True)
        return self.history

    def _begin(self, epochs: int | None, resume_from: Any) -> None:
        self._claim()
        context = self._team.context  # torch's threads: the process's choice, or this rank's share
        apply_threads(rank_threads(context) if context is not None else None)
        try:
            if epochs is not None:
                epochs = check_int("epochs", epochs, 1)
            if resume_from is not None:
                self.load(resume_from)
                epochs = epochs if epochs is not None else max(0, self.epochs - self.completed_epochs)
            n = self.epochs if epochs is None else epochs
            self.first_planned_epoch = self.completed_epochs + 1
            self.last_planned_epoch = self.completed_epochs + n
            self.planned_batches = n * self.batches_per_epoch
            self.stopped_early = False
        except BaseException:
            self._finish("idle")
            raise

    @classmethod
    def resume(cls, path: str | os.PathLike[str], model: nn.Module, train_data: Any, val_data: Any = None,
               **kwargs: Any) -> Trainer:
        """Build a trainer, restore the run saved in ``path`` and train the epochs still missing.

        ``Trainer.resume(path, model, train, val, epochs=10)`` equals
        ``Trainer(model, train, val, epochs=10).fit(resume_from=path)`` and returns the trainer.
        """
        trainer = cls(model, train_data, val_data, **kwargs)
        trainer.fit(resume_from=path)
        return trainer

    def _check_idle(self, action: str) -> None:
        """Refuse ``action`` from another thread while a run trains the model (callbacks may call it)."""
        if self.is_running and threading.current_thread() is not self._run_thread:
            raise TrainingBusyError(f"cannot {action} while training runs (the model is changing); wait with "
                                    "trainer.wait() or stop it with trainer.request_stop().")

    def _run(self, reraise: bool) -> None:
        self._run_thread = threading.current_thread()
        team = self._team
        team.reset()
        cbs = CallbackList(([ProgressBar()] if self.progress and team.is_main else []) + self.callbacks)
        final = "finished"
        try:
            self._train_step = team.wrap(_StepModule(self))   # DistributedDataParallel under torchrun
            with self._sized() as self.threads:   # a small step runs on fewer threads
                team.local(lambda: cbs.on_fit_start(self))
                for epoch in range(self.first_planned_epoch, self.last_planned_epoch + 1):
                    if team.stop_agreed(self):
                        break
                    self.epoch = epoch
                    team.local(partial(cbs.on_epoch_start, self, epoch))
                    start = time.perf_counter()
                    with seeded(derive_seed(self.seed, epoch, "model", *team.seed_parts()), self.device):
                        entry = self._train_epoch(epoch, cbs)
                    if entry is None:
                        break
                    self._end_epoch(epoch, entry, start, cbs)
                    if self._early_stop_due():
                        self.stopped_early = True
                        break
            final = "stopped" if self.stop_requested else "finished"
            if team.context is not None:
                self.rank_spread = team.parameter_spread(self.model)
        except BaseException as exc:  # noqa: BLE001 - stored, reported, re-raised in the foreground
            final = "stopped" if isinstance(exc, KeyboardInterrupt) else "failed"
            self.error = exc
            cbs.on_exception(self, exc)
        finally:
            self._train_step = None
            self._finish(final)
            cbs.on_fit_end(self)
        if reraise and self.error is not None:
            raise self.error

    def _sized(self) -> contextlib.AbstractContextManager[int]:
        """Torch threads for this run's steps, sized from this rank's first batch (unsized without data)."""
        if _data.size_of(self.train_data) == 0:
            return sized_threads(None)
        first = next(_data.iterate_batches(self.train_data, self._team.rank_batch(self.batch_size)))
        return sized_for(self.model, self._load(first)[0])

    def _end_epoch(self, epoch: int, entry: dict[str, Any], start: float, cbs: Callback) -> None:
        """Precise BN, validation, history, checkpoint and callbacks after a completed epoch."""
        team = self._team
        if self.precise_bn:
            if team.is_main:  # rank 0 computes, every rank receives the same statistics
                team.local(lambda: recompute_bn_stats(self.model, self.train_data, self.precise_bn,
                                                      self.batch_size, self.device))
            team.broadcast_buffers(self.model)
        if self.val_data is not None:
            keys, sums = team.together(lambda: self._validation_totals(), f"the validation of epoch {epoch}",
                                       self.stop_requested)
            entry.update({f"val_{'acc' if k == 'accuracy' else k}": v / sums[0]
                          for k, v in zip(keys, sums[1:], strict=True)})
        else:
            entry.update(val_loss=None, val_acc=None)
        entry["seconds"] = time.perf_counter() - start
        entry["lr"] = float(self.optimizer.param_groups[0]["lr"])
        self.history.append(entry)
        if self.checkpoint_dir is not None and team.is_main:
            team.local(lambda: self.save(self.checkpoint_dir / "last.pt"))  # type: ignore[operator]
        team.local(lambda: cbs.on_epoch_end(self, epoch, entry))
        team.together(lambda: (None, ()), f"the end of epoch {epoch}", self.stop_requested)

    def _validation_totals(self) -> tuple[list[str], list[float]]:
        indices = self._team.eval_indices(_data.size_of(self.val_data))
        totals, seen = evaluation_totals(self.model, self._step, self.metric, self.val_data, self.batch_size,
                                         self.device, indices)
        return list(totals), [seen, *totals.values()]

    def _step(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, dict[str, Any]]:
        if self.step_fn is None:
            logits = self.model(x)
            return self.criterion(logits, y), logits, {}
        out = self.step_fn(self.model, x, y)
        if not (isinstance(out, tuple) and len(out) == 3 and isinstance(out[2], dict)):
            raise ConfigError("step_fn must return (loss, logits, terms_dict), e.g. (loss, logits, {'ce': ce}).")
        return out

    def _train_epoch(self, epoch: int, cbs: Callback) -> dict[str, Any] | None:
        """One pass over the training data (this rank's shard); ``None`` if a stop request interrupted it."""
        team = self._team
        self.model.train()
        order = team.order(_data.size_of(self.train_data), epoch_generator(self.seed, epoch))
        batches = _data.iterate_batches(self.train_data, team.rank_batch(self.batch_size), order=order)
        totals: dict[str, float] = {}
        seen = 0.0
        with team.synchronized_bn(self.model):  # batch statistics over the global batch under DDP
            for batch in range(1, self.batches_per_epoch + 1):  # the same count on every rank
                where = f"epoch {epoch}, batch {batch}"
                # loading is agreed on before the forward pass, whose batch norm may wait for the other ranks
                (x, y), _ = team.together(lambda: (self._load(next(batches)), ()), f"loading {where}")
                buffers = snapshot_buffers(self.model)  # BN statistics of the last good step
                (loss, keys), sums = team.together(partial(self._forward, x, y), where, self.stop_requested)
                n, means = sums[0], {k: v / sums[0] for k, v in zip(keys, sums[1:], strict=True)}
                if not math.isfinite(means["loss"]):
                    restore_buffers(self.model, buffers)
                    raise self._diverged(f"the loss is {means['loss']}", epoch, batch)
                self.optimizer.zero_grad(set_to_none=True)
                with team.translate(where):  # DDP all-reduces the gradients here
                    self._precision.backward(loss, self.optimizer)
                if not self._precision.scaling and not gradients_finite(self.optimizer):
                    self.optimizer.zero_grad(set_to_none=True)
                    restore_buffers(self.model, buffers)
                    raise self._diverged(f"the loss is {means['loss']:g} but its gradients hold NaN or inf",
                                         epoch, batch)
                self._precision.step(self.optimizer)  # a loss scaler skips steps whose gradients overflowed
                seen += n
                for key, total in zip(keys, sums[1:], strict=True):
                    totals[key] = totals.get(key, 0.0) + total
                self.global_step += 1
                logs = {"epoch": epoch, "batch": batch, **means}
                team.local(partial(cbs.on_batch_end, self, self.global_step, logs))
                if team.stop_agreed(self):
                    return None
        return {"epoch": epoch, **{f"train_{k}": v / seen for k, v in totals.items()}}

    def _load(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        """A batch on the model's device, images in its dtype (labels too when they are float 0/1 rows)."""
        x, y = batch
        return (model_input(self.model, x.to(self.device, non_blocking=True), images=False),
                model_input(self.model, y.to(self.device, non_blocking=True), images=False))

    def _forward(self, x: Tensor, y: Tensor) -> tuple[tuple[Tensor, list[str]], list[float]]:
        """Forward pass and loss of one batch: ``((loss, names), [n, n·loss, n·acc, n·term …])``."""
        with self._precision.autocast():
            loss, logits, terms = self._train_step(x, y)  # type: ignore[misc]
        with torch.no_grad():
            named = {"loss": float(loss.detach()), "acc": float(self.metric(logits.detach(), y))}
        named.update({k: scalar(v) for k, v in terms.items()})
        n = int(x.shape[0])
        return (loss, list(named)), [n, *(v * n for v in named.values())]

    def _diverged(self, what: str, epoch: int, batch: int) -> ConfigError:
        """The error of a refused step: the model and optimiser are those after the previous step."""
        done = f"epoch {epoch}, batch {batch - 1}" if batch > 1 else (
            f"the end of epoch {epoch - 1}" if epoch > 1 else "their initial values")
        return ConfigError(f"training diverged at epoch {epoch}, batch {batch}: {what}. The step was not taken: "
                           f"the model and optimiser are left as they were after {done}; "
                           f"{checkpoint_note(self.checkpoint_dir)}. Lower the learning rate (now {self.lr:g}) "
                           "or check the data and the loss.")

    def _early_stop_due(self) -> bool:
        if self.early_stopping is None:
            return False
        if self.history[-1].get(self.monitor) is None:
            raise ConfigError(f"early stopping watches {self.monitor!r}, which is not in the history; use one of "
                              f"{sorted(k for k, v in self.history[-1].items() if isinstance(v, float))}.")
        return self.history.epochs_since_best(self.monitor, self.mode) >= self.early_stopping

    # -- evaluation and prediction ------------------------------------------------------------------
    def evaluate(self, dataset: Any) -> dict[str, float]:
        """Loss and accuracy (plus any ``step_fn`` terms) of the model on ``dataset``, in eval mode."""
        self._check_idle("evaluate")
        dataset = _data.as_dataset(dataset)
        _data.first_example(dataset, "evaluation data")
        return self._evaluate(dataset)

    def _evaluate(self, dataset: Any) -> dict[str, float]:
        return evaluate_model(self.model, self._step, self.metric, dataset, self.batch_size, self.device)

    def predict(self, data: Any) -> Tensor:
        """Class probabilities (softmax; sigmoid per label for multi-label) for images or a dataset, on the CPU."""
        self._check_idle("predict")
        if isinstance(data, Tensor):
            check_images(data, channels=in_channels(self.model))
            check_model_input(self.model, data)  # at least one image, large enough for the model
            chunks = [data[i:i + self.batch_size] for i in range(0, data.shape[0], self.batch_size)]
        else:
            dataset = _data.as_dataset(data)
            _data.first_example(dataset, "data to predict")
            chunks = [x for x, _ in _data.iterate_batches(dataset, self.batch_size, shuffle=False)]
        with size_errors(self.model, chunks[0] if chunks else torch.empty(0, 0, 0, 0)):
            return predict_probabilities(self.model, chunks, self.multilabel, self.device)

    # -- checkpoints --------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write an atomic checkpoint of the model, optimiser, history and seed."""
        extra: dict[str, Any] = {"global_step": self.global_step, "world_size": self.world_size}
        scaler = self._precision.state_dict()
        if scaler is not None:
            extra["grad_scaler"] = scaler
        return save_checkpoint(path, self.model, self.optimizer, epoch=self.completed_epochs,
                               history=list(self.history), seed=self.seed, extra=extra)

    def load(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        """Restore model, optimiser, history, seed and step count from a checkpoint (``weights_only``)."""
        data = load_checkpoint(path, self.model, self.optimizer)
        self.history = History(data.get("history") or [])
        saved_seed = data.get("seed")
        if saved_seed is not None and saved_seed != self.seed:
            warnings.warn(f"the checkpoint was trained with seed {saved_seed}, not {self.seed}; using "
                          f"{saved_seed} so the resumed run matches the original.", stacklevel=3)
            self.seed = int(saved_seed)
        self.global_step = int(data.get("extra", {}).get("global_step", 0))
        self._precision.load_state_dict(data.get("extra", {}).get("grad_scaler"))
        return data


class _StepModule(nn.Module):
    """The model and the Trainer's step as one module: what ``DistributedDataParallel`` wraps.

    Wrapping the *step* rather than the bare model lets a ``step_fn`` use any part of the model
    (``model.forward_features``, ``model.head`` …): the whole step runs inside DDP's forward, so
    every parameter it touches takes part in the gradient all-reduce.
    """

    def __init__(self, trainer: Trainer) -> None:
        super().__init__()
        self.model = trainer.model
        self._step = trainer._step

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, dict[str, Any]]:
        return self._step(x, y)
