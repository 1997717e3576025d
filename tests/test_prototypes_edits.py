"""Edits of a trained ProtoPNet: each one and its undo restore the logits bit for bit; saved; refused while training."""

from __future__ import annotations

import threading

import pytest
import torch

from halign_widgets.data import ImageDataset, make_world
from halign_widgets.errors import ConfigError, TrainingBusyError, UnknownNameError
from halign_widgets.prototypes import ProtoPNet, ProtoPNetLoss, PrototypeEditor, Schedule, train_protopnet
from halign_widgets.prototypes.debug_loss import PatchSimilarity
from halign_widgets.prototypes.push import dataset_tensors
from halign_widgets.training import Callback, Trainer


@pytest.fixture(scope="module")
def world() -> ImageDataset:
    return make_world("masses", 48, size=16, seed=0)


@pytest.fixture()
def trained(world):
    torch.manual_seed(0)
    model = ProtoPNet(1, 2, 2, 4, width=4, depth=2)
    return train_protopnet(model, world.train, world.val, schedule=Schedule(0, 1, 1), batch_size=16, progress=False)


def logits(model, world) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(world.test.images).clone()


def test_disable_enable_and_undo_restore_the_logits_bit_for_bit(trained, world) -> None:
    model = trained.model
    editor = PrototypeEditor(model, world.train, world.test, push=trained.push)
    before = logits(model, world)
    record = editor.disable([1], image=world.test.images[:1])
    assert model.prototype_active.tolist() == [1.0, 0.0, 1.0, 1.0]
    assert record.accuracy_before is not None and record.probabilities_after is not None
    assert "disable p1" in record.summary(world.classes) and "test accuracy" in record.summary()
    assert not torch.equal(logits(model, world), before)
    editor.enable([1])
    assert torch.equal(logits(model, world), before)
    editor.undo()                                            # undo the enable: p1 off again
    assert model.prototype_active[1] == 0
    editor.undo()                                            # undo the disable
    assert torch.equal(logits(model, world), before) and editor.records == []
    with pytest.raises(ConfigError, match="nothing to undo"):
        editor.undo()


def test_forget_fine_tunes_and_its_undo_restores_everything(trained, world) -> None:
    model = trained.model
    editor = PrototypeEditor(model, world.train, world.test, push=trained.push, val=world.val)
    before_logits, before_state = logits(model, world), {k: v.clone() for k, v in model.state_dict().items()}
    patch = trained.push[2].patch
    record = editor.forget([patch], epochs=1, last_layer_epochs=1, batch_size=16)
    assert record.applied and record.kind == "forget" and record.patches == [patch]
    assert editor.forget_set == [patch] and all(r.patch != patch for r in editor.push.records)
    assert not torch.equal(logits(model, world), before_logits)
    trunk_before = {k: v for k, v in before_state.items() if k.startswith("features")}
    assert all(torch.equal(model.state_dict()[k], v) for k, v in trunk_before.items()), "the trunk stays frozen"
    editor.undo()
    assert torch.equal(logits(model, world), before_logits)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before_state.items())
    assert editor.push is trained.push and editor.forget_set == []


def test_remember_pulls_own_class_prototypes_to_the_patch_forget_pushes_them_away_and_undo_restores(
        trained, world, tmp_path) -> None:
    model = trained.model
    editor = PrototypeEditor(model, world.train, world.test, push=trained.push, val=world.val)
    rows, cols = model.grid_size(tuple(world.train.images.shape[-2:]))
    used = {r.patch for r in trained.push.records}
    patch = next((0, r, c) for r in range(rows) for c in range(cols) if (0, r, c) not in used)
    images, labels = dataset_tensors(world.train, "training data")
    own_similarity = PatchSimilarity(images, labels, [patch], 1.0)        # Σ own-class similarity to the patch

    def similarity() -> float:
        return float(own_similarity.similarity(model, subset=False).detach())

    before_logits, before_state, before = logits(model, world), {k: v.clone() for k, v in model.state_dict().items()}, \
        similarity()
    record = editor.remember([patch], epochs=1, last_layer_epochs=1, batch_size=16, strength=1.0,
                             image=world.test.images[:1])
    assert record.applied and record.kind == "remember" and record.patches == [patch]
    assert record.probabilities_before is not None and record.probabilities_after is not None
    assert editor.remember_set == [patch] and editor.forget_set == []
    remembered = similarity()
    assert remembered > before, "remembering a patch makes its class's prototypes more like it"
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before_state.items() if k.startswith("features")), \
        "the trunk stays frozen"
    again = PrototypeEditor.load(editor.save(tmp_path / "remembered.pt"), world.train, world.test)
    assert again.remember_set == [patch] and [r.kind for r in again.records] == ["remember"]
    editor.undo()
    assert torch.equal(logits(model, world), before_logits)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before_state.items())
    assert editor.remember_set == [] and editor.push is trained.push and similarity() == before
    editor.forget([patch], epochs=1, last_layer_epochs=1, batch_size=16, strength=1.0)
    assert similarity() < before < remembered, "forgetting the same patch moves the other way"
    editor.undo()
    assert torch.equal(logits(model, world), before_logits)


def test_edits_are_saved_with_the_trained_weights_and_can_be_undone_after_loading(trained, world, tmp_path) -> None:
    model = trained.model
    editor = PrototypeEditor(model, world.train, world.test, push=trained.push)
    trained_logits = logits(model, world)
    editor.disable([0])
    editor.disable([3])
    path = editor.save(tmp_path / "edited.pt")
    again = PrototypeEditor.load(path, world.train, world.test)
    assert [r.kind for r in again.records] == ["disable", "disable"]
    assert again.model.prototype_active.tolist() == [0.0, 1.0, 1.0, 0.0]
    assert torch.equal(logits(again.model, world), logits(model, world))
    again.reset()
    assert torch.equal(logits(again.model, world), trained_logits)        # what was trained is never lost
    again.undo()
    again.undo()
    assert again.model.prototype_active.tolist() == [0.0, 1.0, 1.0, 1.0]


def test_bad_edits_are_typed_errors(trained, world) -> None:
    editor = PrototypeEditor(trained.model, world.train, push=trained.push)
    with pytest.raises(UnknownNameError, match="prototypes 0...3"):
        editor.disable([7])
    with pytest.raises(ConfigError, match="at least one prototype"):
        editor.disable([])
    with pytest.raises(UnknownNameError, match="outside the training data"):
        editor.forget([(10_000, 0, 0)])
    with pytest.raises(ConfigError, match="training data"):
        PrototypeEditor(trained.model).forget([(0, 0, 0)])
    with pytest.raises(ConfigError, match="ProtoPNet"):
        PrototypeEditor(torch.nn.Linear(2, 2))  # type: ignore[arg-type]


class Gate(Callback):
    def __init__(self) -> None:
        self.entered, self.open = threading.Event(), threading.Event()

    def on_batch_end(self, trainer, step, logs):  # noqa: ANN001
        self.entered.set()
        self.open.wait(10)


def test_editing_while_the_model_trains_is_refused(trained, world) -> None:
    model = trained.model
    gate = Gate()
    trainer = Trainer(model, world.train, epochs=1, batch_size=16, step_fn=ProtoPNetLoss(), callbacks=[gate],
                      progress=False)
    editor = PrototypeEditor(model, world.train, push=trained.push, trainer=trainer)
    trainer.start_background()
    try:
        assert gate.entered.wait(10)
        with pytest.raises(TrainingBusyError, match="while the model is training"):
            editor.disable([0])
        with pytest.raises(TrainingBusyError):
            editor.undo()
    finally:
        gate.open.set()
        trainer.wait(30)
    editor.disable([0])
    assert model.prototype_active[0] == 0
