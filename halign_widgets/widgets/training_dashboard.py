"""TrainingDashboard: train a model from a notebook with live curves, a progress bar and a Stop button.

A thin view over :class:`~halign_widgets.training.Trainer`: the trainer runs in its background
thread; a callback moves the progress bar (≤ 20 updates/s), updates the curves' line data in place
after each epoch and re-renders the figure at most twice a second and within a 2 % share of the
training time (see :attr:`TrainingDashboard.render_interval`), and appends one log line per epoch.
History entries may carry a ``"stage"`` string (staged schedules such as ProtoPNet's): where it
changes, both plots get a dotted vertical line labelled with the new stage.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import ipywidgets as W
import torch
from matplotlib.ticker import MaxNLocator
from torch import nn

from ..data import train_and_val
from ..errors import ConfigError, TrainingBusyError
from ..training import Callback, History, Trainer, build_classifier, derive_seed, seeded
from ._app import App, guarded

__all__ = ["TrainingDashboard"]

LR_CHOICES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
WIDTH_CHOICES = (4, 8, 16, 32)
CURVES = (("train_loss", 0, "train", "C0"), ("val_loss", 0, "val", "C1"),
          ("train_acc", 1, "train", "C0"), ("val_acc", 1, "val", "C1"))


class _LiveView(Callback):
    """Trainer callback that drives the dashboard's widgets from the training thread."""

    def __init__(self, dash: TrainingDashboard, status_interval: float = 0.25) -> None:
        self.dash = dash
        self.status_interval = status_interval
        self._first_step = 0
        self._t0 = 0.0
        self._last_status = self._last_progress = 0.0
        self._stale = False
        self._last_render = 0.0

    def on_fit_start(self, trainer: Trainer) -> None:
        self._first_step = trainer.global_step
        self._t0 = self._last_status = self._last_render = time.monotonic()
        self.dash.progress.max = max(1, trainer.planned_batches)
        self.dash.progress.value = 0

    def on_batch_end(self, trainer: Trainer, step: int, logs: dict[str, Any]) -> None:
        if self.dash.closed:
            return
        now = time.monotonic()
        if now - self._last_progress >= 0.05:  # ≤ 20 progress messages per second
            self._last_progress = now
            self.dash.progress.value = step - self._first_step
        if now - self._last_status >= self.status_interval:
            self._last_status = now
            self.dash.set_status(f"epoch {logs['epoch']}/{trainer.last_planned_epoch} · batch {logs['batch']}/"
                                 f"{trainer.batches_per_epoch} · loss {logs['loss']:.3f} · acc {logs['acc']:.2f}"
                                 f" · {now - self._t0:.0f} s")

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        if self.dash.closed:
            return
        self.dash.progress.value = trainer.global_step - self._first_step
        now = time.monotonic()
        self._stale = now - self._last_render < self.dash.render_interval
        if not self._stale:
            self.dash._plot(trainer.history)
            self._last_render = time.monotonic()
        val = ("" if logs.get("val_loss") is None
               else f", val loss {logs['val_loss']:.4f}, val acc {logs['val_acc']:.3f}")
        self.dash.log.append_stdout(f"epoch {epoch}: train loss {logs['train_loss']:.4f}, train acc "
                                    f"{logs['train_acc']:.3f}{val} ({logs['seconds']:.1f} s)\n")

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.dash.closed:
            return
        self.dash.progress.value = trainer.global_step - self._first_step
        if self._stale:  # the last epoch's render was throttled away: show the final curves
            self.dash._plot(trainer.history)
        last = trainer.history.last
        score = "" if last is None else (f" · val acc {last['val_acc']:.3f}" if last.get("val_acc") is not None
                                         else f" · train acc {last['train_acc']:.3f}")
        early = " (early stopping)" if trainer.stopped_early else ""
        self.dash.set_status(f"{trainer.state}{early}: {len(trainer.history)} epoch(s){score} · "
                             f"{time.monotonic() - self._t0:.1f} s")
        self.dash.log.append_stdout(f"{trainer.state}{early} after {len(trainer.history)} epoch(s)\n")


class TrainingDashboard(App):
    """Train a classifier with hyper-parameter controls, Start/Stop, progress bar and live curves.

    Parameters
    ----------
    model_or_factory:
        ``None`` (a :class:`~halign_widgets.models.SmallCNN` matching the dataset, with a width
        control), a callable returning a fresh model, or a model instance.
    dataset:
        An :class:`~halign_widgets.data.ImageDataset` (its ``train`` / ``val`` splits are used when
        present, else the whole dataset without validation), or a ``(train, val)`` tuple.
    epochs, lr, batch_size, seed, width:
        Initial values of the controls (``width`` only when the dashboard builds the model).
    key:
        Replace-on-rerun identity (default: the class name).  Re-creating a dashboard with the
        same key closes the old one and stops its training.
    trainer_kwargs:
        Any other :class:`~halign_widgets.training.Trainer` option (``weight_decay``,
        ``step_fn``, ``early_stopping``, ``callbacks``, ``device`` …).

    Notes
    -----
    **Start always restarts** from fresh weights: a factory (or the built-in SmallCNN) is called
    again under the chosen seed; a model instance gets back the weights it had when the dashboard
    was created (so ``dash.model`` stays the same object).  The previous curves stay visible until
    the new run starts.  Starting while a run is in progress is refused with a visible message.

    Examples
    --------
    >>> dash = TrainingDashboard(None, make_world("masses", 600), epochs=5)  # doctest: +SKIP
    >>> dash.start(); dash.wait(); dash.history[-1]["val_acc"]                 # doctest: +SKIP
    """

    RENDER_SHARE = 0.02

    def __init__(self, model_or_factory: nn.Module | Callable[[], nn.Module] | None, dataset: Any, *,
                 epochs: int = 5, lr: float = 1e-3, batch_size: int = 64, seed: int = 0, width: int = 16,
                 key: str | None = None, **trainer_kwargs: Any) -> None:
        if not (model_or_factory is None or isinstance(model_or_factory, nn.Module) or callable(model_or_factory)):
            raise ConfigError(f"model_or_factory must be a model, a function returning a model, or None; got "
                              f"{type(model_or_factory).__name__}.")
        train_data, val_data = train_and_val(dataset)  # validate before replacing an app with the same key
        super().__init__(key=key)
        self.trainer: Trainer | None = None
        self.dataset = dataset
        self.train_data, self.val_data = train_data, val_data
        self._factory: Callable[[], nn.Module] | None = None
        self._initial_state: dict[str, torch.Tensor] | None = None
        self.model: nn.Module | None = None
        if isinstance(model_or_factory, nn.Module):
            self.model = model_or_factory
            self._initial_state = {k: v.detach().clone() for k, v in model_or_factory.state_dict().items()}
        else:
            self._factory = model_or_factory
        self._trainer_kwargs = {"progress": False, **trainer_kwargs}
        self._extra_callbacks = list(self._trainer_kwargs.pop("callbacks", ()))

        style, narrow = {"description_width": "initial"}, W.Layout(width="150px")
        self.epochs_box = W.IntText(value=epochs, description="epochs", style=style, layout=narrow)
        lr_options = sorted(set(LR_CHOICES) | {float(lr)})
        self.lr_box = W.Dropdown(options=[(f"{v:g}", v) for v in lr_options], value=float(lr),
                                 description="learning rate", style=style, layout=W.Layout(width="190px"))
        self.batch_box = W.IntText(value=batch_size, description="batch size", style=style, layout=narrow)
        self.seed_box = W.IntText(value=seed, description="seed", style=style, layout=narrow)
        controls: list[W.Widget] = [self.epochs_box, self.lr_box, self.batch_box, self.seed_box]
        self.width_box: W.Dropdown | None = None
        if model_or_factory is None:
            widths = sorted(set(WIDTH_CHOICES) | {int(width)})
            self.width_box = W.Dropdown(options=widths, value=int(width), description="width", style=style,
                                        layout=W.Layout(width="140px"))
            controls.append(self.width_box)
        self.start_button = W.Button(description="Start", button_style="success", icon="play")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.progress = W.IntProgress(value=0, min=0, max=1, description="batches",
                                      layout=W.Layout(width="320px"))
        self.log = W.Output(layout=W.Layout(max_height="140px", overflow="auto", border="1px solid #ddd"))
        self.view = self.figure((7.5, 2.6), min_interval=0.5)
        self._build_axes()
        self.start_button.on_click(lambda _b: self.start())
        self.stop_button.on_click(lambda _b: self.stop())
        self.worker_buttons(self.start_button, self.stop_button)
        rows = (W.HBox(controls), W.HBox([self.start_button, self.stop_button, self.progress]))
        self.track(*controls, self.start_button, self.stop_button, self.progress, self.log, *rows)
        self.set_body(*rows, self.view.widget, self.log)
        self.set_status("ready: choose hyper-parameters and press Start")
        self._render_seconds: float | None = None  # warm render time (the first render is a warm-up)
        self._plot(History())

    # -- building -------------------------------------------------------------------------------
    def _build_axes(self) -> None:
        fig = self.view.figure
        self.ax_loss, self.ax_acc = fig.subplots(1, 2)
        self.lines = {}
        for key, index, label, color in CURVES:
            ax = (self.ax_loss, self.ax_acc)[index]
            (self.lines[key],) = ax.plot([], [], marker="o", markersize=3, color=color, label=label)
        self.ax_loss.set_title("loss per epoch", fontsize=10)
        self.ax_acc.set_title("accuracy per epoch", fontsize=10)
        self.ax_acc.set_ylim(0.0, 1.02)
        self.ax_acc.set_yticks([0.0, 0.25, 0.5, 0.75, 1.0])
        for ax in (self.ax_loss, self.ax_acc):
            ax.tick_params(labelsize=8)
            ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))
        self.ax_loss.yaxis.set_major_locator(MaxNLocator(4))
        self.ax_loss.legend(fontsize=8, loc="upper right")
        self._stage_artists: list[Any] = []
        self.stage_marks: list[tuple[float, str]] = []
        fig.tight_layout()

    def _mark_stages(self, history: list[dict[str, Any]]) -> None:
        """A dotted line and a label where the history's ``stage`` changes (``stage_marks``: (x, stage))."""
        for artist in self._stage_artists:
            artist.remove()
        self._stage_artists, self.stage_marks, previous = [], [], None
        for entry in history:
            stage = entry.get("stage")
            if stage is not None and stage != previous:
                self.stage_marks.append((entry["epoch"] - 0.5, str(stage)))
            previous = stage
        for x, stage in self.stage_marks:
            for ax in (self.ax_loss, self.ax_acc):
                self._stage_artists.append(ax.axvline(x, color="0.5", ls=":", lw=1))
            self._stage_artists.append(self.ax_acc.text(x + 0.08, 0.03, stage, rotation=90, fontsize=8, color="0.3",
                                                        va="bottom", ha="left"))

    @property
    def render_interval(self) -> float:
        """Minimum seconds between two renders while training.

        Rendering the figure to PNG costs ~0.05–0.1 s of CPU, taken from training.  To keep the
        dashboard within its overhead budget (≤ 5 % vs a bare loop), renders are spaced so that they
        use at most :attr:`RENDER_SHARE` (2 %) of the wall time — at least 0.5 s apart (≤ 2 renders
        per second), at most 10 s apart (the curves stay live) [ours].  With short epochs the curves
        thus update every few epochs; the final curves are always rendered when the run ends.
        """
        cost = self._render_seconds if self._render_seconds is not None else 0.1
        return min(max(self.view.min_interval, cost / self.RENDER_SHARE), 10.0)

    def _plot(self, history: list[dict[str, Any]]) -> None:
        """Put ``history`` into the four lines (in place, ``set_data``) and render the figure."""
        for key, line in self.lines.items():
            points = [(e["epoch"], e[key]) for e in history if e.get(key) is not None]
            line.set_data([p[0] for p in points], [p[1] for p in points])
        self._mark_stages(history)
        self.ax_loss.relim()
        self.ax_loss.autoscale_view()
        last = max((e["epoch"] for e in history), default=1)
        for ax in (self.ax_loss, self.ax_acc):
            ax.set_xlim(0.5, last + 0.5)
        start = time.perf_counter()
        self.view.redraw()
        seconds = time.perf_counter() - start
        if self.view.renders > 1:
            previous = self._render_seconds if self._render_seconds is not None else seconds
            self._render_seconds = min(previous, seconds)  # robust to one slow render on a busy machine

    def _fresh_model(self, seed: int) -> nn.Module:
        if self._factory is not None:
            with seeded(derive_seed(seed, "init")):
                model = self._factory()
            if not isinstance(model, nn.Module):
                raise ConfigError(f"the model factory returned {type(model).__name__}, not a torch nn.Module.")
            return model
        if self.model is not None and self._initial_state is not None:
            return self.model
        width = int(self.width_box.value) if self.width_box is not None else 16
        return build_classifier(self.train_data, width=width, seed=seed)

    # -- actions ----------------------------------------------------------------------------------
    @guarded
    def run(self, background: bool = False) -> Trainer | None:
        """Train from fresh weights with the current control values; return the trainer.

        ``background=True`` (the Start button, :meth:`start`) trains in the app's worker while the
        curves update live; otherwise the call returns when training has ended. Refused with an
        inline :class:`~halign_widgets.errors.TrainingBusyError` message while a run is in
        progress; invalid values show a :class:`~halign_widgets.errors.ConfigError` inline.
        """
        if self.running:
            raise TrainingBusyError("training is already running: press Stop (or call dash.stop()) and wait "
                                    "for it to end before starting again.")
        trainer = self._prepare()
        self._begin_run(trainer)
        self.execute(self._train, trainer, background=background, replace=False)
        return trainer

    def _begin_run(self, trainer: Trainer) -> None:
        """Claim the run before the worker starts: a second Start is refused at once, Stop works."""
        trainer.prepare()

    def start(self) -> Trainer | None:
        """Start training in the background (what the Start button does): ``run(background=True)``."""
        return self.run(background=True)

    def _prepare(self) -> Trainer:
        seed = self.seed_box.value
        model = self._fresh_model(seed if isinstance(seed, int) and seed >= 0 else 0)
        trainer = Trainer(model, self.train_data, self.val_data, epochs=self.epochs_box.value,
                          lr=float(self.lr_box.value), batch_size=self.batch_box.value, seed=seed,
                          callbacks=[_LiveView(self), *self._extra_callbacks], **self._trainer_kwargs)
        if self._initial_state is not None:
            model.load_state_dict(self._initial_state)
        self.model, self.trainer = model, trainer
        self.log.outputs = ()  # (clear_output() would print ANSI codes outside a kernel)
        self.log.append_stdout(f"training {type(model).__name__} for {trainer.epochs} epoch(s), lr {trainer.lr:g}, "
                               f"batch size {trainer.batch_size}, seed {trainer.seed} on {trainer.device}\n")
        if any(len(line.get_xdata()) for line in self.lines.values()):
            self._plot(History())  # clear the previous run's curves
        return trainer

    def _train(self, _stop: Any, trainer: Trainer) -> None:
        trainer.run_prepared()

    def _stop_requested(self) -> None:
        if self.trainer is not None and self.trainer.is_running:
            self.trainer.request_stop()
            self.set_status("stopping after the current batch …")

    @property
    def history(self) -> History:
        """Per-epoch history of the current (or last) run."""
        return self.trainer.history if self.trainer is not None else History()

    @property
    def state(self) -> str:
        """The trainer's state (``"idle"`` before the first Start)."""
        return self.trainer.state if self.trainer is not None else "idle"
