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
        self.open, self.held = threading.Event(), threading.Event()

    def on_batch_end(self, trainer, step, logs):
        self.held.set()
        self.open.wait(10)

    def open_soon(self, seconds: float = 0.2) -> threading.Timer:
        """Once the first batch is held, open the gate in ``seconds`` (a Stop click waits for that batch)."""
        assert self.held.wait(20), "the run never reached its first batch"
        timer = threading.Timer(seconds, self.open.set)
        timer.start()
        return timer


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
        gate.open_soon()
        dash.stop_button.click()
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
        gate.open_soon()
        dash.stop()
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


# -- issue 13 items 1–2: no error outlives the next success; Start is disabled while training -------------
class ButtonStates(Callback):
    """Records (Start disabled, Stop disabled) at every batch: what the page shows while training runs."""

    def __init__(self, dash_box: list[TrainingDashboard]) -> None:
        self.dash_box, self.seen = dash_box, []

    def on_batch_end(self, trainer, step, logs):
        dash = self.dash_box[0]
        self.seen.append((dash.start_button.disabled, dash.stop_button.disabled))


def test_start_is_disabled_while_training_and_enabled_after(world):
    box: list[TrainingDashboard] = []
    gate, states = Gate(), ButtonStates(box)
    dash = TrainingDashboard(factory, world, epochs=5, batch_size=8, callbacks=[states, gate], key="t-buttons")
    box.append(dash)
    try:
        assert not dash.start_button.disabled and dash.stop_button.disabled   # ready
        dash.start_button.click()
        assert dash.running and dash.start_button.disabled and not dash.stop_button.disabled
        gate.open_soon()
        dash.stop_button.click()
        assert dash.wait(30) and dash.state == "stopped"
        assert states.seen and all(s == (True, False) for s in states.seen), states.seen
        assert not dash.start_button.disabled and dash.stop_button.disabled   # usable again
        # a synchronous run (a script, `dash.run()` in a cell) disables Start too: a click would queue a second run
        states.seen.clear()
        dash.epochs_box.value = 1
        assert dash.run() is not None and dash.state == "finished"
        assert states.seen and all(start for start, _stop in states.seen), states.seen
        assert not dash.start_button.disabled and dash.stop_button.disabled
    finally:
        dash.close()


def test_an_error_clears_on_the_next_start_and_on_stop(world):
    gate = Gate()
    dash = TrainingDashboard(factory, world, epochs=1, batch_size=16, callbacks=[gate], key="t-clear")
    try:
        # an error, then a successful Start: the box is cleared as the run starts and stays clear
        dash.epochs_box.value = 0
        dash.start_button.click()
        assert isinstance(dash.last_error, ConfigError) and dash.error_box.layout.display == "block"
        dash.epochs_box.value = 1
        dash.start_button.click()
        assert dash.running and dash.last_error is None
        assert dash.error_box.value == "" and dash.error_box.layout.display == "none"
        gate.open.set()
        assert dash.wait(30) and dash.state == "finished" and dash.last_error is None
        # an error shown while a run trains (a refused second Start), then Stop: the error goes with it
        gate.open.clear()
        dash.epochs_box.value = 20
        dash.start_button.click()
        dash.start()                                   # refused: the run above is still training
        assert isinstance(dash.last_error, TrainingBusyError) and "already running" in dash.error_box.value
        gate.open_soon()
        dash.stop_button.click()
        assert dash.last_error is None and dash.error_box.layout.display == "none"
        assert dash.wait(30) and dash.state == "stopped" and dash.last_error is None
        assert "stopped" in dash.status.value and not dash.start_button.disabled
    finally:
        dash.close()


# -- issue 12 item 2: a diverging run keeps the dashboard's model --------------------------------------
class NaNOnTrainingCall:
    """Cross-entropy that is NaN on its ``bad``-th training call (validation, without gradients, is not counted)."""

    def __init__(self, bad: int) -> None:
        self.bad, self.calls = bad, 0

    def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = torch.nn.functional.cross_entropy(logits, y)
        if not torch.is_grad_enabled():
            return loss
        self.calls += 1
        return loss * float("nan") if self.calls == self.bad else loss


class LastGoodState(Callback):
    """The dashboard model's full state after every step that was taken."""

    def __init__(self) -> None:
        self.state: dict[str, torch.Tensor] = {}
        self.steps = 0

    def on_batch_end(self, trainer, step, logs):
        self.state = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
        self.steps += 1


def _finite(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in model.state_dict().values() if t.is_floating_point())


def test_a_diverging_run_keeps_the_dashboards_model_and_the_dashboard_usable(world):
    # 72 training images, batch 16: 5 batches per epoch, so training call 7 is epoch 2, batch 2
    good = LastGoodState()
    loss = NaNOnTrainingCall(7)
    dash = TrainingDashboard(factory, world, epochs=3, batch_size=16, criterion=loss, callbacks=[good],
                             key="t-diverge")
    try:
        assert dash.trainer is None
        dash.start_button.click()
        assert dash.wait(30) and dash.state == "failed"
        assert isinstance(dash.last_error, ConfigError) and dash.error_box.layout.display == "block"
        message = str(dash.last_error)
        assert "diverged at epoch 2, batch 2" in message and "after epoch 2, batch 1" in message
        assert "no checkpoint was written" in message and "epoch 2, batch 2" in dash.error_box.value
        assert good.steps == 6 and _finite(dash.model)
        for key, value in dash.model.state_dict().items():       # exactly the state after the last good step
            assert torch.equal(value, good.state[key]), key
        assert bool(torch.isfinite(dash.model(world.images[:4])).all())
        assert "failed" in dash.status.value and len(dash.history) == 1     # epoch 1's curves stay on screen
        assert not dash.start_button.disabled and dash.stop_button.disabled
        # the dashboard stays usable: the next Start trains (the loss is NaN only once) and clears the error
        dash.start_button.click()
        assert dash.wait(30) and dash.state == "finished" and len(dash.history) == 3
        assert dash.last_error is None and dash.error_box.layout.display == "none" and _finite(dash.model)
    finally:
        dash.close()


def test_a_huge_learning_rate_is_refused_before_the_step_and_names_the_batch(world):
    # no doctored loss: lr 1e30 (Adam) makes the second batch's loss NaN; that step is never taken
    dash = TrainingDashboard(factory, world, epochs=2, batch_size=16, lr=1e30, key="t-huge-lr")
    try:
        assert dash.run() is None                    # guarded: the error is shown inline, not raised
        assert dash.state == "failed" and isinstance(dash.last_error, ConfigError)
        message = str(dash.last_error)
        assert "epoch 1, batch 2" in message and "Lower the learning rate (now 1e+30)" in message
        assert _finite(dash.model) and not dash.start_button.disabled
    finally:
        dash.close()
