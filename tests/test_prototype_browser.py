"""The PrototypeBrowser and the ProtoPNetDashboard without a browser (ipywidgets 8, no kernel)."""

from __future__ import annotations

import threading

import pytest
import torch

from halign_widgets.data import ImageDataset, make_world
from halign_widgets.errors import ConfigError, TrainingBusyError, UnknownNameError
from halign_widgets.prototypes import ProtoPNet, Schedule, train_protopnet
from halign_widgets.training import Callback, History
from halign_widgets.widgets import ProtoPNetDashboard, PrototypeBrowser
from halign_widgets.widgets.training_dashboard import TrainingDashboard


@pytest.fixture(scope="module")
def world() -> ImageDataset:
    return make_world("masses", 48, size=16, seed=0, shortcut=0.9)


@pytest.fixture()
def run(world):
    torch.manual_seed(0)
    model = ProtoPNet(1, 2, 2, 4, width=4, depth=2)
    return train_protopnet(model, world.train, world.val, schedule=Schedule(0, 1, 1), batch_size=16, progress=False)


def test_picking_an_image_and_a_prototype_updates_the_panels(run, world) -> None:
    app = PrototypeBrowser(run.model, world, push=run.push, key="pb-pick", k=3)
    try:
        assert app.last_error is None and app.explanation is not None
        assert "pick a prototype" in app.truth_html.value
        assert app.disable_button.disabled and app.forget_button.disabled and app.undo_button.disabled
        image_png, panel_png = app.image_view.image.value, app.proto_view.image.value
        app.index.value = 3
        assert app.image_view.image.value != image_png and app.explanation.predicted in (0, 1)
        app.prototype.value = 2
        assert app.proto_view.image.value != panel_png
        assert "<b>p2</b>" in app.truth_html.value and "patch on the true cause" in app.truth_html.value
        assert "marker" in app.truth_html.value                    # the world has the shortcut marker
        assert not app.disable_button.disabled and app.enable_button.disabled
        upsampled = app.image_view.image.value
        app.select(mode="raw")
        assert app.image_view.image.value != upsampled and app.mode.value == "raw"
        labels = [label for label, _ in app.prototype.options]
        assert labels[0] == "pick a prototype" and labels[1].startswith("p0 · benign")
    finally:
        app.close()


def test_disable_and_undo_from_the_buttons_show_the_effect_and_restore_the_prediction(run, world) -> None:
    app = PrototypeBrowser(run.model, world, push=run.push, key="pb-edit", k=3)
    try:
        app.select(index=1, prototype=0)
        before = app.explanation.logits.clone()
        app.disable_button.click()
        assert app.last_error is None and run.model.prototype_active[0] == 0
        assert "disable p0" in app.edit_html.value and "test accuracy" in app.edit_html.value
        assert app.disable_button.disabled and not app.enable_button.disabled and not app.undo_button.disabled
        assert "switched off" in app.truth_html.value and "off" in app.prototype.options[1][0]
        app.undo_button.click()
        assert torch.equal(app.explanation.logits, before) and run.model.prototype_active[0] == 1
        assert "undid" in app.edit_html.value and app.undo_button.disabled
    finally:
        app.close()


def test_bad_choices_are_shown_inline_and_the_app_stays_usable(run, world) -> None:
    app = PrototypeBrowser(run.model, world, push=run.push, key="pb-bad", k=3)
    try:
        app.select(prototype=42)
        assert isinstance(app.last_error, UnknownNameError) and "prototypes 0..3" in app.error_box.value
        app.disable()                                   # nothing picked
        assert isinstance(app.last_error, ConfigError) and "pick a prototype first" in app.error_box.value
        app.select(index=2, prototype=1)
        assert app.last_error is None and app.error_box.layout.display == "none"
    finally:
        app.close()
    with pytest.raises(ConfigError, match="train' and 'test'"):
        PrototypeBrowser(run.model, ImageDataset(world.images, world.labels, world.classes), key="pb-bad2")


class Hold(Callback):
    def __init__(self) -> None:
        self.entered, self.open = threading.Event(), threading.Event()

    def on_batch_end(self, trainer, step, logs):  # noqa: ANN001
        self.entered.set()
        self.open.wait(10)


def test_forget_runs_in_the_worker_edits_are_refused_meanwhile_and_stop_restores(run, world, monkeypatch) -> None:
    app = PrototypeBrowser(run.model, world, push=run.push, key="pb-forget", k=3)
    hold = Hold()
    original = app.editor.fine_tune

    def held(*args, **kwargs):  # noqa: ANN002, ANN003
        kwargs["callbacks"] = [*kwargs.get("callbacks", ()), hold]
        return original(*args, epochs=1, last_layer_epochs=1, batch_size=16,
                        **{k: v for k, v in kwargs.items() if k not in ("epochs",)})

    monkeypatch.setattr(app.editor, "fine_tune", held)
    try:
        app.select(prototype=3)
        before = {k: v.clone() for k, v in run.model.state_dict().items()}
        app.forget_button.click()
        assert hold.entered.wait(20) and app.running
        assert app.forget_button.disabled and not app.stop_button.disabled
        app.disable()
        assert isinstance(app.last_error, TrainingBusyError)
        stopper = threading.Timer(0.2, hold.open.set)
        stopper.start()
        app.stop()                                       # Stop during the fine-tune: nothing changes
        assert app.wait(30) and not app.running
        assert all(torch.equal(run.model.state_dict()[k], v) for k, v in before.items())
        assert "stopped" in app.status.value or "stopped" in app.edit_html.value
        assert not app.forget_button.disabled
        hold.open.set()
        app.forget()                                     # synchronous, to the end
        assert app.last_error is None and "forget" in app.edit_html.value and app.editor.records[-1].kind == "forget"
    finally:
        hold.open.set()
        app.close()


def test_the_protopnet_dashboard_marks_the_stages_live(world) -> None:
    factory = lambda: ProtoPNet(1, 2, 2, 4, width=4, depth=2)  # noqa: E731
    dash = ProtoPNetDashboard(factory, world, schedule=Schedule(1, 1, 1), batch_size=16, key="pd-stages")
    try:
        assert dash.epochs_box.description == "joint epochs" and "push 1" in dash.plan.value
        dash.run()
        assert dash.last_error is None and dash.state == "finished"
        assert [h["stage"] for h in dash.history] == ["warm-up", "joint", "last layer · push 1"]
        assert dash.stage_marks == [(0.5, "warm-up"), (1.5, "joint"), (2.5, "last layer · push 1")]
        assert dash.push is not None and len(dash.push) == 4
        log = "".join(o["text"] for o in dash.log.outputs)
        assert "push 1: 4 prototypes projected" in log and "— joint: 1 epoch(s)" in log
    finally:
        dash.close()
    with pytest.raises(ConfigError, match="ProtoPNet"):
        ProtoPNetDashboard(None, world, key="pd-bad")


def test_the_training_dashboard_draws_a_marker_where_the_stage_changes(world) -> None:
    dash = TrainingDashboard(None, world, epochs=1, key="td-stages")
    try:
        history = History([{"epoch": 1, "train_loss": 1.0, "stage": "a"}, {"epoch": 2, "train_loss": 0.9, "stage": "a"},
                           {"epoch": 3, "train_loss": 0.8, "stage": "b"}, {"epoch": 4, "train_loss": 0.7}])
        dash._plot(history)
        assert dash.stage_marks == [(0.5, "a"), (2.5, "b")]
        lines = [ln for ln in dash.ax_loss.get_lines() if ln.get_linestyle() == ":"]
        assert len(lines) == 2 and [t.get_text() for t in dash.ax_acc.texts] == ["a", "b"]
        dash._plot(History([{"epoch": 1, "train_loss": 1.0}]))     # no stages: the markers go away
        assert dash.stage_marks == [] and not dash.ax_acc.texts
    finally:
        dash.close()
