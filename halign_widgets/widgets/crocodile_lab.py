"""CrocodileLab: switch CROCODILE's losses, train live, edit the prior graph, look at the attention.

A thin view over :mod:`halign_widgets.crocodile` (METHODS.md §2.4): the Trainer of
:func:`~halign_widgets.crocodile.make_trainer` runs in the app's worker; a callback draws the ID and
OOD scores of every epoch side by side (and the loss terms); the prior editor sits beside the
learned causality map of the task queries and the world's true graph; for a chosen image and
finding, the causal and spurious attention maps are scored against the finding's region and the
source marker (:func:`~halign_widgets.crocodile.score_attention`).
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable
from typing import Any

import ipywidgets as W
import torch

from ..crocodile import (
    CONFIGURATIONS,
    DOMAIN_TERMS,
    LADDER,
    TERMS,
    Configuration,
    DomainSplits,
    LossConfig,
    build_model,
    check_prior,
    configuration,
    domain_splits,
    learned_causality_map,
    make_trainer,
    prior_graph,
    score_attention,
)
from ..errors import ConfigError, TrainingBusyError, unknown_name
from ..training import Callback, History, derive_seed, seeded
from ..validation import check_int, check_real
from ._app import App, guarded
from ._crocodile_plots import plot_attention, plot_curves, plot_graphs, short_names

__all__ = ["CrocodileLab"]

LR_CHOICES = (5e-4, 1e-3, 2e-3, 5e-3)


class _Live(Callback):
    """Moves the progress bar and redraws the curves from the training thread."""

    def __init__(self, lab: CrocodileLab) -> None:
        self.lab, self._last = lab, 0.0

    def on_fit_start(self, trainer: Any) -> None:
        self.lab.progress.max, self.lab.progress.value = max(1, trainer.planned_batches), 0

    def on_batch_end(self, trainer: Any, step: int, logs: dict[str, Any]) -> None:
        now = time.monotonic()
        if not self.lab.closed and now - self._last > 0.05:
            self._last = now
            self.lab.progress.value = step

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        if self.lab.closed:
            return
        self.lab.progress.value = trainer.global_step
        self.lab._draw_curves(throttle=True)
        self.lab.set_status(f"epoch {epoch}/{trainer.last_planned_epoch}: ID mAP {logs['id_map']:.3f}, "
                            f"OOD mAP {logs['ood_map']:.3f} (val parts)")


class CrocodileLab(App):
    """Train CROCODILE with loss switches, watch ID vs OOD, edit the prior, inspect the attention.

    Parameters
    ----------
    dataset:
        The *domains* world (an :class:`~halign_widgets.data.ImageDataset` with sources and an
        ``"ood"`` split) or its :class:`~halign_widgets.crocodile.DomainSplits`.
    config:
        The ladder rung the switches start from (``"full"``, ``"task_only"`` …).
    epochs, lr, batch_size, seed:
        Initial training controls.
    width, depth, dim, device:
        Model size and device (``"auto"``: CUDA, then MPS, then the CPU).
    key:
        Replace-on-rerun key.

    Examples
    --------
    >>> lab = CrocodileLab(make_world("domains", 1000, size=32), epochs=3)   # doctest: +SKIP
    >>> lab.set_prior("reversed"); lab.run(); lab.results["train-val"]        # doctest: +SKIP
    """

    def __init__(self, dataset: Any, *, config: str = "full", epochs: int = 4, lr: float = 2e-3,
                 batch_size: int = 64, seed: int = 0, width: int = 8, depth: int = 3, dim: int = 32,
                 device: str = "auto", key: str | None = None) -> None:
        for name, value, high in (("epochs", epochs, 200), ("batch_size", batch_size, 4096), ("seed", seed, 10**6)):
            check_int(name, value, 0 if name == "seed" else 1, high)
        splits = dataset if isinstance(dataset, DomainSplits) else domain_splits(dataset)
        start = configuration(config)
        if start.method != "crocodile":
            raise ConfigError(f"the lab trains CROCODILE configurations ({', '.join(LADDER)}); compare the baseline "
                              f"{config!r} with run_ladder().")
        truth = splits.dataset.info.get("graph")
        if truth is None:
            raise ConfigError("the dataset has no info['graph'] (the true causal graph the prior starts from); use "
                              "make_world('domains', …).")
        super().__init__(key=key)
        self.splits = splits
        self.size: dict[str, Any] = dict(width=width, depth=depth, dim=dim, batch_size=batch_size)
        self.device, self.findings = device, splits.findings
        k = splits.num_findings
        self.truth = check_prior(truth, k)
        self.prior = self.truth.clone()
        self.trainer: Any = None
        self.tracker: Any = None
        self.results: dict[str, dict[str, float]] = {}
        self.learned: torch.Tensor | None = None
        self.attention: dict[str, Any] | None = None
        with seeded(derive_seed(seed, "init")):
            self.model = build_model(start, splits, width, depth, dim)
        self._trained = False
        self.parts = {"ID test": splits.dataset.subset(splits.parts["test"]),
                      "OOD test": splits.dataset.subset(splits.parts["ood_test"])}
        style = {"description_width": "initial"}
        # -- losses
        self.preset = W.Dropdown(options=[(CONFIGURATIONS[n].label, n) for n in LADDER] + [("custom", "custom")],
                                 value=start.name, description="configuration", style=style)
        self.domain_branch = W.Checkbox(value=start.domain_branch, description="domain branch", indent=False)
        self.switches = {t: W.Checkbox(value=t in start.losses.on, description=t, indent=False,
                                       layout=W.Layout(width="160px")) for t in TERMS}
        self.weights = {t: W.FloatSlider(value=start.losses.weight(t), min=0.0, max=2.0, step=0.05,
                                         readout_format=".2f",
                                         continuous_update=False, layout=W.Layout(width="230px")) for t in TERMS}
        self.prior_weight = self.weights["prior"]
        # -- training
        self.epochs_box = W.BoundedIntText(value=epochs, min=1, max=200, description="epochs", style=style,
                                           layout=W.Layout(width="130px"))
        lrs = sorted(set(LR_CHOICES) | {float(lr)})
        self.lr_box = W.Dropdown(options=[(f"{v:g}", v) for v in lrs], value=float(lr), description="lr", style=style,
                                 layout=W.Layout(width="130px"))
        self.seed_box = W.BoundedIntText(value=seed, min=0, max=10**6, description="seed", style=style,
                                         layout=W.Layout(width="120px"))
        self.start_button = W.Button(description="Start", button_style="success", icon="play")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop")
        self.progress = W.IntProgress(value=0, min=0, max=1, description="batches", layout=W.Layout(width="300px"))
        self.summary = W.HTML()
        self.curves = self.figure((9.5, 2.5))
        # -- prior editor
        self.cells = [[W.BoundedFloatText(value=float(self.prior[i, j]), min=0.0, max=1.0, step=0.1,
                                          layout=W.Layout(width="62px")) for j in range(k)] for i in range(k)]
        names = short_names(self.findings)
        header = [W.HTML("<b>cause \\ effect</b>")] + [W.HTML(f"<b>{n}</b>") for n in names]
        rows = [[W.HTML(f"<b>{names[i]}</b>")] + self.cells[i] for i in range(k)]
        self.editor = W.GridBox([*header, *[w for row in rows for w in row]],
                                layout=W.Layout(grid_template_columns=f"120px repeat({k}, 66px)"))
        self.editor.add_class("halign-prior-editor")
        self.preset_buttons = {kind: W.Button(description=f"{kind} graph" if kind == "true" else kind,
                                              layout=W.Layout(width="110px")) for kind in ("true", "empty", "reversed")}
        self.graphs = self.figure((9.5, 2.7))
        self.graphs.widget.add_class("halign-crocodile-graphs")
        # -- attention
        self.part = W.ToggleButtons(options=list(self.parts), value="ID test", style={"button_width": "90px"})
        self.index = W.BoundedIntText(value=0, min=0, max=len(self.parts["ID test"]) - 1, description="image",
                                      style=style, layout=W.Layout(width="130px"))
        self.finding = W.Dropdown(options=[(f, i) for i, f in enumerate(self.findings)], value=0,
                                  description="finding", style=style, layout=W.Layout(width="200px"))
        self.attention_view = self.figure((9.0, 2.8))
        # -- wiring
        self.start_button.on_click(lambda _b: self.run(background=True))
        self.stop_button.on_click(lambda _b: self.stop())
        self.worker_buttons(self.start_button, self.stop_button)
        for kind, button in self.preset_buttons.items():
            button.on_click(lambda _b, kind=kind: self.set_prior(kind))
        self.observe(self.preset, lambda c: self._apply_preset(c["new"]))
        self.observe([self.domain_branch, *self.switches.values()], lambda _c: self._switched())
        self.observe(list(self.weights.values()), lambda _c: self._mark_custom())
        for i in range(k):
            for j in range(k):
                def on_edit(c: Any, i: int = i, j: int = j) -> None:
                    self._edited(i, j, c["new"])

                self.observe(self.cells[i][j], on_edit)
        self.observe([self.index, self.finding], lambda _c: self._draw_attention())

        def on_part(_c: Any) -> None:
            self._index_range()
            self._draw_attention()

        self.observe(self.part, on_part)
        term_rows = [W.HBox([self.switches[t], self.weights[t]]) for t in TERMS]
        losses = W.VBox([W.HBox([self.preset, self.domain_branch]),
                         W.HBox([W.VBox(term_rows[:5]), W.VBox(term_rows[5:])])])
        train_row = W.HBox([self.epochs_box, self.lr_box, self.seed_box, self.start_button, self.stop_button,
                            self.progress])
        prior_box = W.VBox([W.HTML("<b>Prior graph</b> (row causes column; edits apply to the next run)"),
                            self.editor, W.HBox(list(self.preset_buttons.values())), self.graphs.widget])
        prior_box.add_class("halign-crocodile-prior")
        self.set_body(losses, train_row, self.curves.widget, self.summary, prior_box,
                      W.HBox([self.part, self.index, self.finding]), self.attention_view.widget)
        self._switched(mark=False)
        self._draw_curves()
        self._draw_graphs()
        self._draw_attention()
        self.set_status("ready: choose the losses and press Start")

    # -- configuration ---------------------------------------------------------------------------
    def current_configuration(self) -> Configuration:
        """The configuration the switches and weights describe (raises for impossible combinations)."""
        on = {t for t, box in self.switches.items() if box.value}
        if not self.domain_branch.value:
            on -= set(DOMAIN_TERMS)
        losses = LossConfig(frozenset(on), {t: float(s.value) for t, s in self.weights.items()})
        name = self.preset.value
        label = CONFIGURATIONS[name].label if name in CONFIGURATIONS else "custom"
        return Configuration(name, label, "crocodile", bool(self.domain_branch.value), losses)

    def _apply_preset(self, name: str) -> None:
        if name == "custom":
            return
        cfg = CONFIGURATIONS[name]
        with self.holding():
            self.domain_branch.value = cfg.domain_branch
            for t in TERMS:
                self.switches[t].value = t in cfg.losses.on
                self.weights[t].value = cfg.losses.weight(t)
        self._switched(mark=False)

    def _switched(self, mark: bool = True) -> None:
        domain = self.domain_branch.value
        for t in TERMS:
            usable = domain or t not in DOMAIN_TERMS
            self.switches[t].disabled = not usable
            self.weights[t].disabled = not (usable and self.switches[t].value)
        prior_on = bool(self.switches["prior"].value)
        for row in self.cells:
            for cell in row:
                cell.disabled = not prior_on
        for button in self.preset_buttons.values():
            button.disabled = not prior_on
        if mark:
            self._mark_custom()
            self._draw_graphs()

    def _mark_custom(self) -> None:
        if self.held or self.preset.value == "custom":
            return
        cfg = self.current_configuration()
        preset = CONFIGURATIONS[self.preset.value]
        if cfg.losses.on != preset.losses.on or cfg.domain_branch != preset.domain_branch or any(
                cfg.losses.weight(t) != preset.losses.weight(t) for t in TERMS):
            with self.holding():
                self.preset.value = "custom"

    @guarded
    def select(self, config: str | None = None, on: Iterable[str] = (), off: Iterable[str] = (),
               weights: dict[str, float] | None = None, domain_branch: bool | None = None, epochs: int | None = None,
               lr: float | None = None, seed: int | None = None, part: str | None = None, index: int | None = None,
               finding: int | str | None = None) -> CrocodileLab | None:
        """Set controls from Python (a preset first, then switches and weights), then redraw."""
        on, off, weights = list(on), list(off), dict(weights or {})
        for t in (*on, *off, *weights):
            if t not in TERMS:
                raise unknown_name("loss term", t, TERMS)
        if config is not None:
            configuration(config)
            if config not in LADDER:
                raise ConfigError(f"the lab trains the ladder's configurations {LADDER}; {config!r} is a baseline.")
        branch = self.domain_branch.value if domain_branch is None else bool(domain_branch)
        if config is not None and domain_branch is None:
            branch = CONFIGURATIONS[config].domain_branch
        impossible = sorted(set(on) & set(DOMAIN_TERMS)) if not branch else []
        if impossible:
            raise ConfigError(f"loss term(s) {impossible} need the domain branch; select domain_branch=True or leave "
                              "them off.")
        if part is not None and part not in self.parts:
            raise unknown_name("image set", part, self.parts)
        if isinstance(finding, str):
            if finding not in self.findings:
                raise unknown_name("finding", finding, self.findings)
            finding = self.findings.index(finding)
        with self.holding():
            if config is not None:
                self.preset.value = config
                self._apply_preset(config)
            if domain_branch is not None:
                self.domain_branch.value = bool(domain_branch)
            for t in on:
                self.switches[t].value = True
            for t in off:
                self.switches[t].value = False
            for t, w in weights.items():
                self.weights[t].value = check_real(f"the weight of {t!r}", w, 0.0, self.weights[t].max,
                                                   hint="the range of its slider")
            for widget, value in ((self.epochs_box, epochs), (self.lr_box, lr), (self.seed_box, seed),
                                  (self.part, part), (self.finding, finding)):
                if value is not None:
                    widget.value = value
            self._index_range()
            if index is not None:
                if not 0 <= int(index) <= self.index.max:
                    raise ConfigError(f"image index {index} is out of range 0..{self.index.max}.")
                self.index.value = int(index)
        self._switched(mark=config is None or bool(on or off or weights or domain_branch is not None))
        self._draw_attention()
        return self

    # -- the prior editor ------------------------------------------------------------------------
    @guarded
    def set_prior(self, prior: Any) -> CrocodileLab | None:
        """Replace the prior: a kind (``"true"``, ``"empty"``, ``"reversed"``) or a ``K×K`` matrix.

        A run in progress keeps the prior it started with; the new one applies to the next run.
        """
        k = self.splits.num_findings
        new = prior_graph(prior, self.truth) if isinstance(prior, str) else check_prior(prior, k)
        if bool(((new < 0) | (new > 1)).any()):
            raise ConfigError("prior entries must lie in [0, 1] (0 = no edge, 1 = row causes column).")
        self.prior = new.clone()
        with self.holding():
            for i in range(k):
                for j in range(k):
                    self.cells[i][j].value = float(new[i, j])
        self._draw_graphs()
        self.set_status(f"prior set to {prior if isinstance(prior, str) else 'a matrix'} (applies to the next run)")
        return self

    @guarded
    def edit_prior(self, cause: int, effect: int, value: float) -> CrocodileLab | None:
        """Set one entry of the prior (what typing into the editor does)."""
        k = self.splits.num_findings
        if not (0 <= int(cause) < k and 0 <= int(effect) < k):
            raise ConfigError(f"prior entries are indexed 0..{k - 1}, got ({cause}, {effect}).")
        self.cells[int(cause)][int(effect)].value = float(value)   # the observer applies it
        return self

    def _edited(self, i: int, j: int, value: float) -> None:
        self.prior[i, j] = float(value)
        self._draw_graphs()
        self.set_status(f"prior edited: {self.findings[i]} → {self.findings[j]} = {value:g} (applies to the next run)")

    # -- training --------------------------------------------------------------------------------
    @guarded
    def run(self, background: bool = False) -> Any:
        """Train the current configuration from fresh weights (``background`` in the worker); the trainer."""
        if self.running:
            raise TrainingBusyError("training is already running: press Stop (or call lab.stop()) and wait for it "
                                    "to end before starting again.")
        cfg = self.current_configuration()
        trainer, tracker = make_trainer(cfg, self.splits, epochs=int(self.epochs_box.value),
                                        lr=float(self.lr_box.value),
                                        seed=int(self.seed_box.value), prior=self.prior.clone(), device=self.device,
                                        callbacks=[_Live(self)], **self.size)
        self.trainer, self.tracker, self.model = trainer, tracker, trainer.model
        self.results, self.learned, self._trained = {}, None, False
        self.summary.value = f"training <b>{html.escape(cfg.label)}</b> ({len(cfg.losses.on)} loss terms) …"
        self._draw_curves()
        self._draw_graphs()
        ds, i = self.parts[self.part.value], int(self.index.value)
        plot_attention(self.attention_view.figure, ds.images[i], None, f"{self.part.value} #{i}",
                       note="training: redrawn\nwhen the run ends")
        self.attention_view.redraw()
        self.execute(self._train, trainer, background=background, replace=False)
        return trainer

    def _train(self, _stop: Any, trainer: Any) -> None:
        trainer.fit()
        if self.closed:
            return
        self._draw_curves()
        if not trainer.history:
            self.summary.value = f"<b>{trainer.state}</b> before the first epoch ended: no scores yet."
        else:
            self.results = self.tracker.results(self.model)
            self.learned = learned_causality_map(self.model, self.splits.images("test"))
            self._trained = True
            sel, orc = self.results["train-val"], self.results["oracle"]
            self.summary.value = (
                f"<b>{trainer.state}</b> after {len(trainer.history)} epoch(s). Selected on training-source validation "
                f"(epoch {sel['epoch']}): ID test mAP <b>{sel['id_map']:.3f}</b>, OOD test mAP <b>{sel['ood_map']:.3f}"
                f"</b>, drop {sel['drop_map']:+.3f}. Oracle selection on the held-out source (upper bound, epoch "
                f"{orc['epoch']}): OOD mAP {orc['ood_map']:.3f}.")
        self._draw_graphs()
        self._draw_attention(force=True)
        self.set_status(f"{trainer.state}: {len(trainer.history)} epoch(s)")

    def _stop_requested(self) -> None:
        if self.trainer is not None and self.trainer.is_running:
            self.trainer.request_stop()

    @property
    def history(self) -> History:
        """The current (or last) run's history: every loss term, ``id_*`` and ``ood_*`` scores per epoch."""
        return self.trainer.history if self.trainer is not None else History()

    # -- drawing ---------------------------------------------------------------------------------
    def _draw_curves(self, throttle: bool = False) -> None:
        on = [t for t in TERMS if self.switches[t].value and not self.switches[t].disabled]
        plot_curves(self.curves.figure, list(self.history), on)
        self.curves.redraw(throttle=throttle)

    def _draw_graphs(self) -> None:
        plot_graphs(self.graphs.figure, self.prior, self.learned, self.truth, self.findings,
                    bool(self.switches["prior"].value))
        self.graphs.redraw()

    def _index_range(self) -> None:
        self.index.max = len(self.parts[self.part.value]) - 1

    def _draw_attention(self, force: bool = False) -> None:
        if self.running and not force:   # the worker is changing the model: never switch its mode under it
            self.set_status("training: the attention maps are redrawn when the run ends")
            return
        ds, i, k = self.parts[self.part.value], int(self.index.value), int(self.finding.value)
        self.attention = score_attention(self.model, ds, i, k)
        present = "present" if self.attention["present"] else "absent"
        state = "trained" if self._trained else "untrained"
        source = int(ds.meta["source"][i])
        plot_attention(self.attention_view.figure, ds.images[i], self.attention,
                       f"{self.part.value} #{i}, source {source}\n{self.findings[k]} {present} ({state})")
        self.attention_view.redraw()
