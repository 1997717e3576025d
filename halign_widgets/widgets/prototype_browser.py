"""PrototypeBrowser: "this part of the image looks like that part of a training image" — browse, check, edit.

A thin view over :mod:`halign_widgets.prototypes`: :func:`explain_prototypes` for the picked test image,
:func:`nearest_patches` and :func:`prototype_truth` for the picked prototype, and a
:class:`PrototypeEditor` for the edit buttons (forget / remember fine-tune in the app's worker).
"""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as W
import torch
from torch import nn

from ..errors import ConfigError, UnknownNameError
from ..prototypes import (
    NearestPatches,
    ProtoPNet,
    PrototypeEditor,
    PrototypeExplanation,
    PushResult,
    duplicate_prototypes,
    explain_prototypes,
    nearest_patches,
    prototype_truth,
    push_prototypes,
)
from ..training import Callback
from ..validation import check_choice, check_int
from ._app import App, guarded
from ._prototype_plots import plot_explanation, plot_placeholder, plot_prototype

__all__ = ["PrototypeBrowser"]

MODES = ("upsampled", "raw")


class _StopOnRequest(Callback):
    """Forwards the app's Stop to the fine-tune's Trainer."""

    def __init__(self, app: PrototypeBrowser, stop: Any) -> None:
        self.app, self.stop = app, stop

    def on_batch_end(self, trainer: Any, step: int, logs: dict[str, Any]) -> None:
        if self.stop.is_set():
            trainer.request_stop()
        elif step % 5 == 0:
            self.app.set_status(f"fine-tuning: epoch {logs['epoch']}, batch {logs['batch']}, loss {logs['loss']:.3f} …")


class PrototypeBrowser(App):
    """Pick a test image → its top prototypes; pick a prototype → its nearest patches and truth check; edit.

    Parameters
    ----------
    model:
        A trained :class:`~halign_widgets.prototypes.ProtoPNet`.
    dataset:
        An :class:`~halign_widgets.data.ImageDataset` with ``train`` and ``test`` splits (test images
        are browsed; training images are the prototypes' sources). Masks, when present, are drawn and
        used for the truth checks.
    push:
        The model's push records (``run.push``); default: located now without changing the model.
    editor:
        A :class:`~halign_widgets.prototypes.PrototypeEditor` to share (default: a new one).
    trainer:
        A Trainer of the model: edits are refused while it trains.
    top, k:
        Prototypes shown per image (at most the model's); nearest patches shown per prototype.
    forget_k:
        Forget / remember act on the prototype's ``forget_k`` nearest training patches of its class
        (a concept such as a marker needs many examples to be forgotten).
    key:
        Replace-on-rerun key.

    Examples
    --------
    >>> app = PrototypeBrowser(run.model, world, push=run.push)     # doctest: +SKIP
    >>> app.select(index=3, prototype=7)                           # doctest: +SKIP
    >>> app.disable(); app.undo()                                  # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, dataset: Any, push: PushResult | None = None, *,
                 editor: PrototypeEditor | None = None, trainer: Any = None, top: int = 3, k: int = 5,
                 forget_k: int = 60, key: str | None = None) -> None:
        if not isinstance(model, ProtoPNet):
            raise ConfigError(f"the PrototypeBrowser shows a ProtoPNet, got a {type(model).__name__}; train one with "
                              "halign_widgets.prototypes.train_protopnet.")
        splits = getattr(dataset, "splits", None) or {}
        if "train" not in splits or "test" not in splits:
            raise ConfigError("the dataset needs 'train' and 'test' splits (the prototypes' sources and the images "
                              "to browse), as every world of make_world(...) has.")
        for name, value, high in (("top", top, 50), ("k", k, 20)):
            check_int(name, value, 1, high)
        top = min(top, model.num_prototypes)   # shown: as many as there are
        train, test = dataset.split("train"), dataset.split("test")
        if push is not None and len(push) != model.num_prototypes:
            raise ConfigError(f"the push records hold {len(push)} prototypes but the model has {model.num_prototypes}; "
                              "pass the records of this model's run (run.push).")
        super().__init__(key=key)
        self.model, self.dataset, self.train, self.test = model, dataset, train, test
        self.top, self.k, self.forget_k = top, k, max(1, int(forget_k))
        self.classes = list(dataset.classes)
        self.editor = editor if editor is not None else PrototypeEditor(
            model, train, test, push=push if push is not None else push_prototypes(model, train, update=False),
            trainer=trainer)
        self.explanation: PrototypeExplanation | None = None
        self.nearest: NearestPatches | None = None
        self.truth: Any = None

        style = {"description_width": "initial"}
        self.index = W.BoundedIntText(value=0, min=0, max=len(test) - 1, description="test image", style=style,
                                      layout=W.Layout(width="160px"))
        self.mode = W.ToggleButtons(options=list(MODES), value="upsampled", description="map", style=style)
        self.prototype = W.Dropdown(options=[("pick a prototype", -1)], value=-1, description="prototype",
                                    style=style, layout=W.Layout(width="330px"))
        self.strength = W.BoundedFloatText(value=0.3, min=0.0, max=10.0, step=0.05, description="forget λ",
                                           style=style, layout=W.Layout(width="150px"))
        self.epochs = W.BoundedIntText(value=3, min=1, max=20, description="fine-tune epochs", style=style,
                                       layout=W.Layout(width="170px"))
        self.disable_button = W.Button(description="Disable", icon="eye-slash")
        self.enable_button = W.Button(description="Enable", icon="eye")
        self.forget_button = W.Button(description="Forget", icon="eraser", button_style="warning",
                                      tooltip="fine-tune so this prototype's class forgets its nearest patches")
        self.remember_button = W.Button(description="Remember", icon="bookmark",
                                        tooltip="fine-tune so this prototype's class keeps its nearest patches")
        self.undo_button = W.Button(description="Undo", icon="undo")
        self.stop_button = W.Button(description="Stop", icon="stop", button_style="danger", disabled=True)
        self.truth_html = W.HTML()
        self.edit_html = W.HTML()
        self.image_view = self.figure((9.0, 4.6))
        self.proto_view = self.figure((9.0, 1.9))
        self.observe([self.index, self.mode], self._on_image_change)
        self.observe(self.prototype, self._on_prototype_change)
        self.disable_button.on_click(lambda _b: self.disable())
        self.enable_button.on_click(lambda _b: self.enable())
        self.forget_button.on_click(lambda _b: self.forget(background=True))
        self.remember_button.on_click(lambda _b: self.remember(background=True))
        self.undo_button.on_click(lambda _b: self.undo())
        self.stop_button.on_click(lambda _b: self.stop())
        self.worker_buttons(None, self.stop_button)
        edits = W.HBox([self.disable_button, self.enable_button, self.forget_button, self.remember_button,
                        self.undo_button, self.stop_button])
        self.set_body(W.HBox([self.index, self.mode]), self.image_view.widget,
                      W.HBox([self.prototype, self.strength, self.epochs]), edits, self.edit_html,
                      self.proto_view.widget, self.truth_html)
        for widget, name in ((self.image_view.widget, "image"), (self.proto_view.widget, "prototype-panel"),
                             (self.prototype, "prototype-pick"), (self.truth_html, "truth")):
            widget.add_class(f"halign-prototypes-{name}")
        self._refresh_prototypes()
        self.run()

    # -- facts shown in the app --------------------------------------------------------------------
    @property
    def push(self) -> PushResult:
        """The current push records (they change with forget / remember / undo)."""
        return self.editor.push  # type: ignore[return-value]

    def _class_name(self, c: int) -> str:
        return self.classes[c] if c < len(self.classes) else str(c)

    def _flags(self, j: int) -> list[str]:
        flags = []
        if float(self.model.prototype_active[j]) <= 0:
            flags.append("off")
        if self.truth is not None:
            row = self.truth.loc[j]
            if not row["on_mask"]:
                flags.append("off-mask")
            if row["uses_marker"]:
                flags.append("uses the marker")
            if row["duplicate_of"] is not None and row["duplicate_of"] == row["duplicate_of"]:
                flags.append(f"duplicate of p{int(row['duplicate_of'])}")
        else:
            for group in duplicate_prototypes(self.model, self.push):
                if j in group and j != group[0]:
                    flags.append(f"duplicate of p{group[0]}")
        return flags

    def _refresh_prototypes(self) -> None:
        """Recompute what depends on the prototypes (nearest patches, truth checks, labels)."""
        self.nearest = nearest_patches(self.model, self.train, self.k)
        self.truth = prototype_truth(self.model, self.push, self.train) if self.train.masks is not None else None
        options = [("pick a prototype", -1)]
        for j in range(self.model.num_prototypes):
            flags = self._flags(j)
            label = f"p{j} · {self._class_name(int(self.model.prototype_class[j]))}"
            options.append((label + (f"  ⚠ {', '.join(flags)}" if flags else ""), j))
        with self.holding():
            current = self.prototype.value
            self.prototype.options = options
            self.prototype.value = current
        self._update_buttons()

    def _update_buttons(self) -> None:
        j = self.prototype.value
        busy = self.running and threading.current_thread() is not self._thread  # the worker itself is finishing
        picked = j is not None and j >= 0
        active = picked and float(self.model.prototype_active[j]) > 0
        self.disable_button.disabled = busy or not active
        self.enable_button.disabled = busy or not picked or active
        self.forget_button.disabled = self.remember_button.disabled = busy or not picked
        self.undo_button.disabled = busy or not self.editor.records

    # -- driving from Python -------------------------------------------------------------------------
    @guarded
    def select(self, index: int | None = None, prototype: int | None = None,
               mode: str | None = None) -> PrototypeBrowser | None:
        """Set the test image, the prototype (``-1`` = none) and the map mode at once, then redraw."""
        if index is not None and not 0 <= int(index) < len(self.test):
            raise UnknownNameError(f"test image {index} does not exist; pick 0..{len(self.test) - 1}.")
        if prototype is not None and not -1 <= int(prototype) < self.model.num_prototypes:
            raise UnknownNameError(f"unknown prototype index {prototype}; this ProtoPNet has prototypes "
                                   f"0..{self.model.num_prototypes - 1} (or -1 for none).")
        if mode is not None:
            check_choice("map mode", mode, MODES)
        with self.holding():
            if index is not None:
                self.index.value = int(index)
            if mode is not None:
                self.mode.value = mode
            if prototype is not None:
                self.prototype.value = int(prototype)
        self.run()
        return self

    @guarded
    def run(self) -> PrototypeExplanation | None:
        """Explain the current test image and redraw both panels."""
        x = self.test.images[self.index.value][None]
        self.explanation = explain_prototypes(self.model, x)[0]
        self.draw_image()
        self.draw_prototype()
        self._update_buttons()
        e = self.explanation
        self.set_status(f"image {self.index.value}: predicted {self._class_name(e.predicted)} "
                        f"({float(e.probabilities[e.predicted]):.2f}) in {e.seconds * 1000:.0f} ms")
        return e

    def draw_image(self) -> None:
        """The test image and, per top prototype, its source patch and its similarity map on this image."""
        e = self.explanation
        if e is None:
            return
        i = self.index.value
        raw = self.mode.value == "raw"
        rows = []
        for j in e.top(self.top):
            rec = self.push[j]
            rows.append({"source": self.train.images[rec.image_index], "source_box": rec.box,
                         "note": f"p{j} ({self._class_name(rec.cls)}) · train #{rec.image_index}",
                         "map": e.raw_maps[j] if raw else e.maps[j], "box": e.boxes[j],
                         "label": f"p{j}: s {float(e.scores[j]):.2f} × w {float(e.weights[j]):.2f} = "
                                  f"{float(e.contributions[j]):.2f}"})
        mask = None if self.test.masks is None else self.test.masks[i, 0]
        truth = self._class_name(int(self.test.labels[i]))
        title = (f"test #{i}: {truth}\npredicted {self._class_name(e.predicted)} "
                 f"({float(e.probabilities[e.predicted]):.2f})")
        plot_explanation(self.image_view.figure, self.test.images[i], mask, title, rows, raw)
        self.image_view.redraw()

    def draw_prototype(self) -> None:
        """The picked prototype's source, its nearest training patches and its truth check (or a placeholder)."""
        j = self.prototype.value
        if j is None or j < 0:
            plot_placeholder(self.proto_view.figure, "pick a prototype to see its source and nearest training patches")
            self.proto_view.redraw()
            self.truth_html.value = "<i>pick a prototype to see its truth check</i>"
            return
        rec = self.push[j]
        near = self.nearest
        neighbours = []
        if near is not None:
            for t in range(near.k):
                i = int(near.indices[j, t])
                neighbours.append({"image": self.train.images[i], "box": near.boxes[j][t],
                                   "label": f"{self._class_name(int(near.labels[j, t]))} "
                                            f"d {float(near.distances[j, t]):.3f}"})
        mask = None if self.train.masks is None else self.train.masks[rec.image_index, 0]
        title = f"p{j} source: train #{rec.image_index}"
        plot_prototype(self.proto_view.figure, self.train.images[rec.image_index], mask, rec, title, neighbours)
        self.proto_view.redraw()
        self.truth_html.value = self._truth_text(j)

    def _truth_text(self, j: int) -> str:
        own = 0
        if self.nearest is not None:
            own = int((self.nearest.labels[j] == self.model.prototype_class[j]).sum())
        lines = [f"<b>p{j}</b> · class {html.escape(self._class_name(int(self.model.prototype_class[j])))} · "
                 f"{'active' if float(self.model.prototype_active[j]) > 0 else '<b>switched off</b>'}",
                 f"nearest patches of its class: {own} of {self.nearest.k if self.nearest else 0}"]
        if self.truth is not None:
            row = self.truth.loc[j]
            lines.append(f"patch on the true cause: {row['patch_on_mask']:.0%} (the mask covers {row['chance']:.0%} "
                         f"of the image) → <b>{'on' if row['on_mask'] else 'off'} the mask</b>")
            lines.append(f"box on the true cause: {row['box_on_mask']:.0%}")
            if row["marker_effect"] == row["marker_effect"]:
                lines.append(f"painting the marker in raises its similarity by {row['marker_effect']:+.2f} → "
                             f"<b>{'uses' if row['uses_marker'] else 'ignores'} the marker</b>")
        else:
            lines.append("<i>no ground-truth masks: the truth check needs a world with masks</i>")
        flags = [f for f in self._flags(j) if f != "off"]
        if flags:
            lines.append("⚠ " + html.escape(", ".join(flags)))
        return "<div style='font-size:12px;line-height:1.5'>" + "<br>".join(lines) + "</div>"

    # -- edits ----------------------------------------------------------------------------------------
    def _picked(self, prototype: int | None) -> int:
        j = self.prototype.value if prototype is None else int(prototype)
        if j is None or j < 0:
            raise ConfigError("pick a prototype first (the 'prototype' menu, or app.select(prototype=...)).")
        return self.editor.check_prototypes([j])[0]

    def _image(self) -> torch.Tensor:
        return self.test.images[self.index.value][None]

    def _after_edit(self, record: Any, refresh: bool) -> Any:
        if refresh:
            self._refresh_prototypes()
        self.edit_html.value = f"<span style='color:#333'>{html.escape(record.summary(self.classes))}</span>"
        self.run()
        return record

    @guarded
    def disable(self, prototype: int | None = None) -> Any:
        """Switch the picked (or given) prototype off; shows the change of this image's prediction and test accuracy."""
        self.require_idle("edit prototypes")
        return self._after_edit(self.editor.disable([self._picked(prototype)], image=self._image()), False)

    @guarded
    def enable(self, prototype: int | None = None) -> Any:
        """Switch the picked (or given) prototype back on."""
        self.require_idle("edit prototypes")
        return self._after_edit(self.editor.enable([self._picked(prototype)], image=self._image()), False)

    @guarded
    def undo(self) -> Any:
        """Undo the last edit exactly."""
        self.require_idle("undo an edit")
        record = self.editor.undo()
        self._refresh_prototypes()
        self.edit_html.value = f"<span style='color:#333'>undid: {html.escape(record.summary(self.classes))}</span>"
        self.run()
        return record

    def patches_of(self, prototype: int) -> list[tuple[int, int, int]]:
        """The patches an edit of ``prototype`` acts on: its ``forget_k`` nearest training patches of its class."""
        near = nearest_patches(self.model, self.train, min(self.forget_k, len(self.train)), boxes=False)
        own = int(self.model.prototype_class[prototype])
        chosen = [p for p, label in zip(near.patches(prototype), near.labels[prototype].tolist(), strict=True)
                  if label == own]
        return chosen or [self.push[prototype].patch]

    @guarded
    def forget(self, prototype: int | None = None, background: bool = False) -> Any:
        """Fine-tune so the picked prototype's class no longer resembles its patches (ProtoPDebug)."""
        return self._fine_tune("forget", prototype, background)

    @guarded
    def remember(self, prototype: int | None = None, background: bool = False) -> Any:
        """Fine-tune so the picked prototype's class keeps resembling its patches (ProtoPDebug)."""
        return self._fine_tune("remember", prototype, background)

    def _fine_tune(self, kind: str, prototype: int | None, background: bool) -> Any:
        self.require_idle("edit prototypes")
        j = self._picked(prototype)
        patches = self.patches_of(j)
        self.set_status(f"{kind}: fine-tuning on {len(patches)} patch(es) of p{j} …")
        result = self.execute(self._fine_tune_work, kind, patches, background=background, replace=False)
        self._update_buttons()
        return result

    def _fine_tune_work(self, stop: Any, kind: str, patches: list[tuple[int, int, int]]) -> Any:
        action = self.editor.forget if kind == "forget" else self.editor.remember
        self._set_edit_buttons(disabled=True)
        try:
            record = action(patches, image=self._image(), epochs=self.epochs.value, strength=float(self.strength.value),
                            callbacks=[_StopOnRequest(self, stop)])
            if not record.applied:
                self.set_status(f"{kind} stopped: the model was put back as it was")
                self.edit_html.value = f"<span style='color:#a60'>{html.escape(record.summary(self.classes))}</span>"
                return record
            return self._after_edit(record, True)
        finally:
            self._set_edit_buttons(disabled=False)

    def _set_edit_buttons(self, disabled: bool) -> None:
        if self.closed:
            return
        for b in (self.disable_button, self.enable_button, self.forget_button, self.remember_button, self.undo_button):
            b.disabled = disabled
        if not disabled:
            self._update_buttons()

    @guarded
    def refresh(self) -> PrototypeExplanation | None:
        """Recompute everything after the model was edited or trained outside the app, and redraw."""
        self.require_idle("refresh")
        self._refresh_prototypes()
        return self.run()

    def save(self, path: Any) -> Any:
        """Save the edited model with its pushes and the edit log (:meth:`PrototypeEditor.save`)."""
        self.require_idle("save")
        return self.editor.save(path)

    # -- callbacks ------------------------------------------------------------------------------------
    def _on_image_change(self, _change: dict[str, Any]) -> None:
        self.run()

    def _on_prototype_change(self, _change: dict[str, Any]) -> None:
        self.draw_prototype()
        self._update_buttons()
