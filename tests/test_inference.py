"""``predict`` and ``evaluate``: the device- and dtype-following helpers chapters call instead of ``model(x)``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from halign_widgets.errors import EmptyDatasetError, InputShapeError, TargetOutOfRangeError, UnknownNameError
from halign_widgets.training import Trainer, evaluate, predict

_spec = importlib.util.spec_from_file_location("_ddp_worker", Path(__file__).with_name("_ddp_worker.py"))
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)  # type: ignore[union-attr]


def test_predict_and_evaluate_agree_with_the_trainer_and_keep_the_mode() -> None:
    world = worker.tiny_world()
    model = worker.tiny_model()
    trainer = Trainer(model, world.train, world.val, epochs=1, **worker.KW)
    trainer.fit()
    model.train()
    assert torch.allclose(predict(model, world.val, batch_size=3), trainer.predict(world.val), atol=1e-6)
    assert evaluate(model, world.val, batch_size=5) == pytest.approx(trainer.evaluate(world.val), rel=1e-6)
    assert model.training                                        # its own mode back
    labels = predict(model, world.val.images, output="labels")
    assert labels.dtype == torch.int64 and torch.equal(labels, trainer.predict(world.val).argmax(1))
    multi = predict(model, world.val.images, multilabel=True)
    assert torch.allclose(multi, torch.sigmoid(predict(model, world.val.images, output="logits")))


def test_bad_input_is_refused_before_any_forward() -> None:
    model = worker.tiny_model()
    with pytest.raises(UnknownNameError, match="unknown output 'probs'"):
        predict(model, torch.rand(2, 1, 16, 16), output="probs")
    with pytest.raises(InputShapeError, match="hold no image"):
        predict(model, torch.rand(0, 1, 16, 16))
    with pytest.raises(InputShapeError):
        predict(model, torch.rand(2, 3, 16, 16))                  # 3 channels for a 1-channel model
    with pytest.raises(EmptyDatasetError):
        evaluate(model, (torch.rand(0, 1, 16, 16), torch.zeros(0, dtype=torch.long)))
    with pytest.raises(TargetOutOfRangeError, match="num_classes=6"):
        evaluate(model, (torch.rand(4, 1, 16, 16), torch.tensor([0, 1, 5, 2])))
