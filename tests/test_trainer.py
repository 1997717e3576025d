"""Tests of halign_widgets.training.Trainer on tiny synthetic datasets (seconds, CPU)."""

from __future__ import annotations

import shutil
import threading

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from halign_widgets.data.dataset import ImageDataset
from halign_widgets.errors import (
    ConfigError,
    EmptyDatasetError,
    InputShapeError,
    InvalidPixelError,
    TargetOutOfRangeError,
    TrainingBusyError,
    UnknownNameError,
)
from halign_widgets.models import SmallCNN
from halign_widgets.training import Callback, Trainer, build_classifier, fit_classifier, resolve_device


def tiny_world(n: int = 96, size: int = 16, channels: int = 1, seed: int = 0) -> ImageDataset:
    """Class 1 has a bright square in the middle; 3/4 train, 1/4 val."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.rand(n, channels, size, size, generator=g) * 0.5
    x[y == 1, :, size // 4:3 * size // 4, size // 4:3 * size // 4] += 0.5
    cut = 3 * n // 4
    return ImageDataset(x, y, ["off", "on"], splits={"train": torch.arange(cut), "val": torch.arange(cut, n)})


def tiny_model(seed: int = 0, dropout: float = 0.0, **kw) -> SmallCNN:
    torch.manual_seed(seed)
    return SmallCNN(in_channels=kw.pop("in_channels", 1), num_classes=kw.pop("num_classes", 2), width=4,
                    depth=2, dropout=dropout, **kw)


def without_seconds(history):
    return [{k: v for k, v in e.items() if k != "seconds"} for e in history]


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


KW = dict(batch_size=16, progress=False, device="cpu")


def test_same_seed_gives_identical_weights_and_history():
    world = tiny_world()
    runs = []
    for _ in range(2):
        model = tiny_model(dropout=0.5)
        trainer = Trainer(model, world.train, world.val, epochs=2, seed=3, **KW)
        trainer.fit()
        runs.append((model, trainer.history))
    assert_same_weights(runs[0][0], runs[1][0])
    assert without_seconds(runs[0][1]) == without_seconds(runs[1][1])
    other = tiny_model(dropout=0.5)
    Trainer(other, world.train, world.val, epochs=2, seed=4, **KW).fit()
    assert not torch.equal(other.classifier.weight, runs[0][0].classifier.weight)


def test_history_fields_and_global_rng_untouched():
    world = tiny_world()
    model = tiny_model()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    trainer = Trainer(model, world.train, world.val, epochs=2, lr=2e-3, **KW)
    history = trainer.fit()
    assert torch.equal(torch.rand(3), expected)  # the trainer forks torch's generator
    assert [e["epoch"] for e in history] == [1, 2]
    for entry in history:
        assert {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds", "lr"} <= entry.keys()
        assert 0.0 <= entry["train_acc"] <= 1.0 and entry["lr"] == 2e-3 and entry["seconds"] > 0
    assert trainer.state == "finished" and trainer.global_step == 2 * trainer.batches_per_epoch


def test_resume_equals_uninterrupted_run_with_dropout(tmp_path):
    world = tiny_world()
    full = tiny_model(dropout=0.5)
    t_full = Trainer(full, world.train, world.val, epochs=4, checkpoint_dir=tmp_path / "a", **KW)
    t_full.fit()

    first = tiny_model(dropout=0.5)
    Trainer(first, world.train, world.val, epochs=4, checkpoint_dir=tmp_path / "b", **KW).fit(epochs=2)
    shutil.copy(tmp_path / "b" / "last.pt", tmp_path / "after2.pt")
    resumed = tiny_model(seed=99, dropout=0.5)  # different initial weights: all must come from the checkpoint
    t_res = Trainer(resumed, world.train, world.val, epochs=4, checkpoint_dir=tmp_path / "b", **KW)
    t_res.fit(resume_from=tmp_path / "b" / "last.pt")

    assert [e["epoch"] for e in t_res.history] == [1, 2, 3, 4]
    assert_same_weights(full, resumed)
    assert without_seconds(t_full.history) == without_seconds(t_res.history)
    assert t_res.global_step == t_full.global_step

    again = Trainer.resume(tmp_path / "after2.pt", tiny_model(seed=5, dropout=0.5), world.train, world.val,
                           epochs=4, **KW)
    assert_same_weights(full, again.model)


class StopAt(Callback):
    def __init__(self, step: int) -> None:
        self.step = step
        self.batches = 0
        self.events: list[str] = []

    def on_fit_start(self, trainer):
        self.events.append("fit_start")

    def on_batch_end(self, trainer, step, logs):
        self.batches += 1
        if step == self.step:
            trainer.request_stop()

    def on_fit_end(self, trainer):
        self.events.append(f"fit_end:{trainer.state}")


def test_stop_request_is_honoured_at_the_next_batch():
    world = tiny_world()
    stopper = StopAt(3)
    trainer = Trainer(tiny_model(), world.train, world.val, epochs=5, batch_size=8, callbacks=[stopper],
                      progress=False)
    trainer.fit()
    assert stopper.batches == 3 and trainer.global_step == 3
    assert trainer.state == "stopped" and len(trainer.history) == 0
    assert stopper.events == ["fit_start", "fit_end:stopped"]


def test_early_stopping_on_a_worsening_validation_loss():
    world = tiny_world()
    train = world.train
    flipped = world.val
    flipped.labels = 1 - flipped.labels  # validation disagrees with training: val_loss grows
    trainer = Trainer(tiny_model(), train, flipped, epochs=12, lr=1e-2, early_stopping=2, **KW)
    history = trainer.fit()
    best = history.best("val_loss")["epoch"]
    assert trainer.stopped_early and trainer.state == "finished"
    assert len(history) == best + 2 < 12


def test_step_fn_terms_are_averaged_into_the_history():
    world = tiny_world()
    seen_epochs: list[int] = []

    def step_fn(model, x, y):
        logits = model(x)
        ce = nn.functional.cross_entropy(logits, y)
        l2 = sum((p ** 2).sum() for p in model.classifier.parameters())
        seen_epochs.append(trainer.epoch)
        return ce + 0.1 * l2, logits, {"ce": ce, "l2": l2}

    trainer = Trainer(tiny_model(), world.train, world.val, epochs=2, step_fn=step_fn, **KW)
    history = trainer.fit()
    for entry in history:
        assert {"train_ce", "train_l2", "val_ce", "val_l2"} <= entry.keys()
        assert entry["train_loss"] == pytest.approx(entry["train_ce"] + 0.1 * entry["train_l2"], rel=1e-5)
        assert entry["val_loss"] == pytest.approx(entry["val_ce"] + 0.1 * entry["val_l2"], rel=1e-5)
    assert set(seen_epochs) == {1, 2}


def test_multilabel_targets_use_bce_and_mean_per_label_accuracy():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(64, 1, 16, 16, generator=g) * 0.3
    labels = torch.randint(0, 2, (64, 3), generator=g).float()
    for k, (r, c) in enumerate([(0, 0), (0, 8), (8, 0)]):
        x[labels[:, k] == 1, :, r:r + 8, c:c + 8] += 0.6
    world = ImageDataset(x, labels, ["a", "b", "c"])
    trainer = Trainer(tiny_model(num_classes=3), world, world, epochs=2, **KW)
    trainer.fit()
    assert trainer.multilabel and isinstance(trainer.criterion, nn.BCEWithLogitsLoss)
    probs = trainer.predict(world)
    assert probs.shape == (64, 3) and not torch.allclose(probs.sum(1), torch.ones(64))
    manual = ((probs > 0.5).float() == labels).float().mean()
    assert trainer.evaluate(world)["accuracy"] == pytest.approx(float(manual), abs=1e-6)


def test_evaluate_and_predict_agree_for_single_label():
    world = tiny_world()
    trainer = Trainer(tiny_model(), world.train, world.val, epochs=1, **KW)
    trainer.fit()
    probs = trainer.predict(world.val.images)
    assert torch.allclose(probs.sum(1), torch.ones(len(world.val)), atol=1e-6)
    manual = (probs.argmax(1) == world.val.labels).float().mean()
    assert trainer.evaluate(world.val)["accuracy"] == pytest.approx(float(manual), abs=1e-6)
    assert torch.allclose(trainer.predict(world.val), probs)


class Boom(Callback):
    def __init__(self) -> None:
        self.reported: list[BaseException] = []

    def on_epoch_start(self, trainer, epoch):
        if epoch == 2:
            raise RuntimeError("boom in epoch 2")

    def on_exception(self, trainer, exc):
        self.reported.append(exc)


def test_background_run_refuses_a_second_start_and_captures_errors():
    world = tiny_world()
    gate, holding = threading.Event(), threading.Event()

    class Hold(Callback):
        def on_batch_end(self, trainer, step, logs):
            holding.set()
            gate.wait(10)

    trainer = Trainer(tiny_model(), world.train, world.val, epochs=50, callbacks=[Hold()], **KW)
    thread = trainer.start_background()
    assert thread.daemon and trainer.is_running
    assert holding.wait(20)             # the first batch is done and held: the stop below comes during it
    with pytest.raises(TrainingBusyError, match="already in progress"):
        trainer.start_background()
    with pytest.raises(TrainingBusyError):
        trainer.fit()
    with pytest.raises(TrainingBusyError, match="predict"):
        trainer.predict(world.val.images)
    trainer.request_stop()
    assert trainer.state == "stopping"
    gate.set()
    assert trainer.wait(20)
    assert trainer.state == "stopped" and trainer.global_step == 1

    boom = Boom()
    failing = Trainer(tiny_model(), world.train, world.val, epochs=3, callbacks=[boom], **KW)
    failing.start_background()
    assert failing.wait(20)
    assert failing.state == "failed" and "boom" in str(failing.error)
    assert boom.reported == [failing.error] and len(failing.history) == 1
    with pytest.raises(RuntimeError, match="boom"):  # the foreground fit re-raises
        Trainer(tiny_model(), world.train, world.val, epochs=3, callbacks=[Boom()], **KW).fit()


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(lr=0.0), dict(lr=-1e-3), dict(lr=float("nan")),
                                 dict(batch_size=0), dict(weight_decay=-1.0), dict(early_stopping=0),
                                 dict(epochs=2.5)])
def test_bad_hyper_parameters_raise_config_error(bad):
    world = tiny_world(n=16)
    with pytest.raises(ConfigError):
        Trainer(tiny_model(), world.train, world.val, **{**KW, **bad})


def test_unknown_optimizer_and_early_stopping_without_validation():
    world = tiny_world(n=16)
    with pytest.raises(UnknownNameError, match="adam"):
        Trainer(tiny_model(), world.train, optimizer="adamm", **KW)
    with pytest.raises(ConfigError, match="val_data"):
        Trainer(tiny_model(), world.train, early_stopping=2, **KW)
    trainer = Trainer(tiny_model(), world.train, epochs=2, **KW)
    with pytest.raises(ConfigError):
        trainer.fit(epochs=0)
    assert trainer.state == "idle"


def test_dataset_model_mismatches_give_clear_errors():
    rgb = tiny_world(n=16, channels=3)
    with pytest.raises(InputShapeError, match=r"3 channel\(s\).*in_channels=3"):
        Trainer(tiny_model(), rgb.train, **KW)
    x = torch.rand(8, 1, 16, 16)
    x[2, 0, 0, 0] = float("nan")
    with pytest.raises(InvalidPixelError, match="NaN"):
        Trainer(tiny_model(), TensorDataset(x, torch.zeros(8, dtype=torch.long)), **KW)
    with pytest.raises(TargetOutOfRangeError, match="num_classes=5"):
        Trainer(tiny_model(), (torch.rand(8, 1, 16, 16), torch.arange(8) % 5), **KW)
    with pytest.raises(EmptyDatasetError):
        Trainer(tiny_model(), (torch.rand(0, 1, 16, 16), torch.zeros(0, dtype=torch.long)), **KW)
    with pytest.raises(InputShapeError):
        Trainer(tiny_model(), tiny_world(n=16).train, **KW).predict(torch.rand(2, 3, 16, 16))


def test_set_trainable_freezes_everything_else_between_stages():
    world = tiny_world()
    model = tiny_model()
    trainer = Trainer(model, world.train, world.val, epochs=1, **KW)
    trainer.set_trainable(model.classifier, lr=5e-3)
    conv_before = model.features.conv1.conv.weight.detach().clone()
    head_before = model.classifier.weight.detach().clone()
    trainer.fit()
    assert torch.equal(model.features.conv1.conv.weight, conv_before)
    assert not torch.equal(model.classifier.weight, head_before)
    assert trainer.history[-1]["lr"] == 5e-3
    trainer.set_trainable()  # every parameter again, fresh optimiser; epochs continue the history
    trainer.fit(epochs=1)
    assert not torch.equal(model.features.conv1.conv.weight, conv_before)
    assert [e["epoch"] for e in trainer.history] == [1, 2]
    with pytest.raises(UnknownNameError):
        trainer.set_trainable("features.nope")


def test_fit_classifier_builds_a_matching_model_and_learns():
    world = tiny_world(n=128, channels=3)
    model, trainer = fit_classifier(world, epochs=4, width=4, batch_size=16, progress=False, lr=3e-3)
    assert model.in_channels == 3 and model.num_classes == 2 and not model.training
    losses = trainer.history.column("train_loss")
    assert len(losses) == 4 and losses[-1] < losses[0]
    again = build_classifier(world, width=4)
    assert torch.equal(again.classifier.weight, build_classifier(world, width=4).classifier.weight)


def test_progress_bar_and_auto_device(capsys):
    world = tiny_world(n=32)
    trainer = Trainer(tiny_model(), world.train, world.val, epochs=1, batch_size=8, progress=True)
    assert trainer.device == resolve_device("auto")
    trainer.fit()
    assert "batch" in capsys.readouterr().err


def low_contrast_world(n: int = 128) -> ImageDataset:
    """Pixel std ≈ 0.015 plus a faint square: BN's running variance (initialised to 1) lags far behind."""
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (n,), generator=g)
    x = 0.4 + 0.05 * torch.rand(n, 1, 16, 16, generator=g)
    x[y == 1, :, 4:12, 4:12] += 0.1
    cut = 3 * n // 4
    return ImageDataset(x, y, ["off", "on"], splits={"train": torch.arange(cut), "val": torch.arange(cut, n)})


def test_recompute_bn_stats_equals_the_subset_statistics():
    from halign_widgets.training import recompute_bn_stats

    world = low_contrast_world(64)
    model = tiny_model(dropout=0.5)
    bn = model.features.conv1.bn
    momentum = bn.momentum
    model.train()
    assert recompute_bn_stats(model, world, num_images=64, batch_size=64) == 2
    with torch.no_grad():
        pre = model.features.conv1.conv(world.images)
    assert torch.allclose(bn.running_mean, pre.mean((0, 2, 3)), atol=1e-6)
    assert torch.allclose(bn.running_var, pre.var((0, 2, 3), unbiased=True), rtol=1e-4, atol=1e-8)
    assert bn.momentum == momentum and model.training
    assert recompute_bn_stats(nn.Sequential(nn.Flatten(), nn.Linear(256, 2)), world) == 0


def test_precise_bn_fixes_eval_mode_collapse_on_low_contrast_images():
    world = low_contrast_world()
    results = {}
    for precise in (0, 128):
        trainer = Trainer(tiny_model(), world.train, world.val, epochs=2, lr=1e-2, precise_bn=precise, **KW)
        trainer.fit()
        assert trainer.history[-1]["train_acc"] >= 0.9  # the model learns in both cases …
        results[precise] = trainer.history[-1]["val_acc"]
    assert results[128] >= 0.9 and results[128] > results[0]  # … but only precise BN evaluates right


class PlainDataset(torch.utils.data.Dataset):
    """A dataset that is not tensor-backed: the Trainer goes through a DataLoader (num_workers=0)."""

    def __init__(self, world: ImageDataset) -> None:
        self.world = world

    def __len__(self) -> int:
        return len(self.world)

    def __getitem__(self, i: int):
        return self.world.images[i], self.world.labels[i]


def test_any_torch_dataset_trains_like_the_tensor_fast_path():
    world = tiny_world()
    fast, slow = tiny_model(), tiny_model()
    h_fast = Trainer(fast, world.train, world.val, epochs=2, **KW).fit()
    h_slow = Trainer(slow, PlainDataset(world.train), PlainDataset(world.val), epochs=2, **KW).fit()
    assert without_seconds(h_fast) == without_seconds(h_slow)  # same seeded order, same batches
    assert_same_weights(fast, slow)
