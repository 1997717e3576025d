"""models.eval_mode / model_device: the one place every layer puts a model in eval mode and finds its device."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from halign_widgets.explain import explain
from halign_widgets.models import SmallCNN, eval_mode, layer_shapes, model_device
from halign_widgets.training import recalibrate_batchnorm


def _mixed_model() -> SmallCNN:
    torch.manual_seed(0)
    model = SmallCNN(in_channels=1, num_classes=2, width=4, depth=2).train()
    model.features.conv1.bn.eval()  # a frozen batch-norm layer inside a model that trains
    return model


def _modes(model: nn.Module) -> dict[str, bool]:
    return {name: m.training for name, m in model.named_modules()}


def test_eval_mode_restores_every_submodule_even_after_an_error() -> None:
    model = _mixed_model()
    before = _modes(model)
    with eval_mode(model):
        assert not any(_modes(model).values())
    assert _modes(model) == before
    with pytest.raises(RuntimeError):
        with eval_mode(model):
            raise RuntimeError("boom")
    assert _modes(model) == before


@pytest.mark.parametrize("use", ["explain", "layer_shapes", "recalibrate"])
def test_callers_keep_a_frozen_layer_frozen(use: str) -> None:
    model = _mixed_model()
    before = _modes(model)
    x = torch.rand(4, 1, 32, 32)
    if use == "explain":
        explain(model, x[:1], "gradcam", target=0)
    elif use == "layer_shapes":
        layer_shapes(model, (1, 32, 32))
    else:
        recalibrate_batchnorm(model, x, batch_size=2)
    assert _modes(model) == before


def test_model_device() -> None:
    assert model_device(SmallCNN(width=4, depth=2)) == torch.device("cpu")
    assert model_device(nn.ReLU()) == torch.device("cpu")  # no parameters
