"""Browser-less tests of the TrainingDashboard app (ipywidgets 8 without a kernel)."""

from __future__ import annotations

import threading

import pytest
import torch

from halign_widgets.data.dataset import ImageDataset
from halign_widgets.errors import ConfigError, InputShapeError, TrainingBusyError
from halign_widgets.models import SmallCNN
from halign_widgets.training import Callback
from halign_widgets.widgets.training_dashboard import TrainingDashboard


def tiny_world(n: int = 96, size: int = 16, channels: int = 1) -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.rand(n, channels, size, size, generator=g) * 0.5
    x[y == 1, :, 4:12, 4:12] += 0.5
    cut = 3 * n // 4
    return ImageDataset(x, y, ["off", "on"], splits={"train": torch.arange(cut), "val": torch.arange(cut, n)})


def factory() -> SmallCNN:
    return SmallCNN(in_channels=1, num_classes=2, width=4, depth=2)


class Gate(Callback):
    """Holds every batch until released, so tests can act while training is surely running."""

    def __init__(self) -> None:
        self.open = threading.Event()

    def on_batch_end(self, trainer, step, logs):
        self.open.wait(10)


@pytest.fixture
def world() -> ImageDataset:
    return tiny_world()


def test_start_trains_in_background_and_updates_curves_progress_and_log(world):
    dash = TrainingDashboard(factory, world, epochs=3, batch_size=16, key="t-start")
    try:
        renders0 = dash.view.renders
        assert list(dash.lines["train_loss"].get_xdata()) == []
        dash.start_button.click()
        assert dash.wait(30) and dash.last_error is None
        assert dash.state == "finished" and len(dash.history) == 3
        assert list(dash.lines["train_loss"].get_xdata()) == [1, 2, 3]
        assert list(dash.lines["val_acc"].get_ydata()) == dash.history.column("val_acc")
        assert dash.view.renders > renders0
        assert dash.progress.value == dash.progress.max == 3 * dash.trainer.batches_per_epoch
        logged = "".join(o["text"] for o in dash.log.outputs)
        assert "epoch 3:" in logged and "finished" in logged
        assert "finished" in dash.status.value and dash.stop_button.disabled
        assert dash.model is dash.trainer.model
    finally:
        dash.close()


def test_stop_ends_training_before_all_epochs(world):
    gate = Gate()
    dash = TrainingDashboard(factory, world, epochs=20, batch_size=8, callbacks=[gate], key="t-stop")
    try:
        dash.start()
        assert dash.state == "running" and not dash.stop_button.disabled
        dash.stop_button.click()
        gate.open.set()
        assert dash.wait(30)
        assert dash.state == "stopped" and len(dash.history) < 20
        assert dash.trainer.global_step == 1
    finally:
        dash.close()


def test_second_start_is_refused_while_running_with_a_visible_message(world):
    gate = Gate()
    dash = TrainingDashboard(factory, world, epochs=5, batch_size=8, callbacks=[gate], key="t-busy")
    try:
        dash.start()
        first = dash.trainer
        dash.start_button.click()
        assert isinstance(dash.last_error, TrainingBusyError)
        assert "already running" in dash.error_box.value and dash.error_box.layout.display == "block"
        assert dash.trainer is first  # never two trainings at once
        dash.stop()
        gate.open.set()
        assert dash.wait(30)
    finally:
        dash.close()


def test_bad_values_show_inline_errors_and_the_app_stays_usable(world):
    dash = TrainingDashboard(factory, world, epochs=2, batch_size=16, key="t-bad")
    try:
        dash.epochs_box.value = 0
        dash.start_button.click()
        assert isinstance(dash.last_error, ConfigError) and "epochs" in dash.error_box.value
        assert dash.trainer is None
        dash.epochs_box.value = 2
        dash.batch_box.value = -4
        dash.start_button.click()
        assert isinstance(dash.last_error, ConfigError) and "batch_size" in dash.error_box.value
        dash.batch_box.value = 16
        dash.start_button.click()
        assert dash.wait(30) and dash.last_error is None and dash.error_box.layout.display == "none"
        assert len(dash.history) == 2
    finally:
        dash.close()


def test_dataset_model_mismatch_is_shown_inline():
    rgb = tiny_world(channels=3)
    dash = TrainingDashboard(factory, rgb, epochs=1, key="t-mismatch")
    try:
        dash.start()
        assert isinstance(dash.last_error, InputShapeError) and "in_channels=3" in dash.error_box.value
    finally:
        dash.close()


def test_recreating_with_the_same_key_closes_the_old_app_and_stops_its_training(world):
    gate = Gate()
    old = TrainingDashboard(factory, world, epochs=20, batch_size=8, callbacks=[gate], key="t-rerun")
    old.start()
    old_trainer = old.trainer
    releaser = threading.Timer(0.2, gate.open.set)  # close() waits for the current batch to end
    releaser.start()
    new = TrainingDashboard(factory, world, epochs=1, key="t-rerun")
    try:
        assert old.closed and not old_trainer.is_running and old_trainer.state == "stopped"
        assert not new.closed and new.state == "idle"
    finally:
        releaser.cancel()
        new.close()


def test_restart_uses_fresh_weights_and_model_instance_is_kept(world):
    model = factory()
    initial = model.classifier.weight.detach().clone()
    dash = TrainingDashboard(model, world, epochs=1, batch_size=16, key="t-restart")
    try:
        dash.start()
        assert dash.wait(30)
        first = dash.model.classifier.weight.detach().clone()
        assert not torch.equal(first, initial)
        dash.start()
        assert dash.wait(30) and dash.model is model
        assert torch.equal(dash.model.classifier.weight, first)  # restarted from the same initial weights
    finally:
        dash.close()


def test_builtin_model_has_a_width_control(world):
    dash = TrainingDashboard(None, world, epochs=1, batch_size=16, width=8, key="t-width")
    try:
        dash.width_box.value = 4
        dash.start()
        assert dash.wait(30) and dash.model.config["width"] == 4 and dash.model.config["in_channels"] == 1
    finally:
        dash.close()
    with pytest.raises(ConfigError):
        TrainingDashboard(42, world, key="t-bad-model")
