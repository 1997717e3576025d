"""Callbacks: hooks the Trainer calls during ``fit`` (progress bars, dashboards, custom logging).

A callback subclasses :class:`Callback` and overrides the hooks it needs.  Hooks run in the
thread that trains (the background thread for ``start_background``), so a callback that touches
a user interface must only set traits / artist data and keep its work short.
A callback can stop training with ``trainer.request_stop()`` (honoured after the current batch).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .trainer import Trainer

__all__ = ["Callback", "ProgressBar"]


class Callback:
    """Base class of training callbacks; every hook is a no-op by default.

    Hooks, in call order: ``on_fit_start(trainer)``; per epoch ``on_epoch_start(trainer, epoch)``,
    ``on_batch_end(trainer, step, logs)`` after every optimiser step (``step`` counts batches
    since the first epoch, 1-based; ``logs`` holds ``epoch``, ``batch``, ``loss``, ``acc`` and the
    step function's extra terms), ``on_epoch_end(trainer, epoch, logs)`` with the new history
    entry; ``on_exception(trainer, exc)`` if training fails; and always ``on_fit_end(trainer)``
    (read ``trainer.state``: ``"finished"``, ``"stopped"`` or ``"failed"``).
    """

    def on_fit_start(self, trainer: Trainer) -> None:
        """Called once before the first epoch of a ``fit`` call."""

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        """Called before each epoch (``epoch`` is 1-based)."""

    def on_batch_end(self, trainer: Trainer, step: int, logs: dict[str, Any]) -> None:
        """Called after each optimiser step."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        """Called after each completed epoch with its history entry."""

    def on_exception(self, trainer: Trainer, exc: BaseException) -> None:
        """Called when training raised ``exc`` (also stored in ``trainer.error``)."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """Called once when ``fit`` ends, whether it finished, was stopped or failed."""


class CallbackList(Callback):
    """Dispatch every hook to several callbacks in order (private helper of the Trainer)."""

    def __init__(self, callbacks: Iterable[Callback]) -> None:
        self.callbacks = list(callbacks)

    def on_fit_start(self, trainer: Trainer) -> None:
        for cb in self.callbacks:
            cb.on_fit_start(trainer)

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        for cb in self.callbacks:
            cb.on_epoch_start(trainer, epoch)

    def on_batch_end(self, trainer: Trainer, step: int, logs: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_batch_end(trainer, step, logs)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(trainer, epoch, logs)

    def on_exception(self, trainer: Trainer, exc: BaseException) -> None:
        for cb in self.callbacks:
            try:
                cb.on_exception(trainer, exc)
            except Exception:  # noqa: BLE001 - a failing reporter must not hide the real error
                pass

    def on_fit_end(self, trainer: Trainer) -> None:
        for cb in self.callbacks:
            cb.on_fit_end(trainer)


class ProgressBar(Callback):
    """A text ``tqdm`` progress bar over the batches of a ``fit`` call (``Trainer(progress=True)``).

    Plain ``tqdm`` (not ``tqdm.auto``) keeps method code free of widget imports; apps show their
    own ``IntProgress`` instead.
    """

    def __init__(self) -> None:
        self._bar: Any = None

    def on_fit_start(self, trainer: Trainer) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=trainer.planned_batches, unit="batch", leave=True, dynamic_ncols=True)

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        if self._bar is not None:
            self._bar.set_description(f"epoch {epoch}/{trainer.last_planned_epoch}")

    def on_batch_end(self, trainer: Trainer, step: int, logs: dict[str, Any]) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        if self._bar is not None:
            shown = {k: logs[k] for k in ("train_loss", "train_acc", "val_loss", "val_acc")
                     if logs.get(k) is not None}
            self._bar.set_postfix({k: f"{v:.3f}" for k, v in shown.items()}, refresh=False)

    def on_fit_end(self, trainer: Trainer) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
