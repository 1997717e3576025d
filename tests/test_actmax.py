"""Activation maximization: ascent works, the image stays in range and in the model's channels."""

from __future__ import annotations

import threading

import pytest
import torch

from halign_widgets.errors import ConfigError, TargetOutOfRangeError, UnknownNameError
from halign_widgets.explain import activation_maximization
from halign_widgets.explain.actmax import parse_unit
from halign_widgets.models import SmallCNN


@pytest.fixture(scope="module")
def model() -> SmallCNN:
    torch.manual_seed(0)
    return SmallCNN(width=4, depth=2)


def improved(traj: list[float]) -> bool:
    return sum(traj[-3:]) / 3 > traj[0] + 1e-4


@pytest.mark.parametrize("param", ["pixel", "fourier"])
@pytest.mark.parametrize("unit", ["class:1", ("channel", "features.conv2", 3)])
def test_objective_increases_and_range_is_kept(model: SmallCNN, param: str, unit) -> None:
    # an untrained net has tiny activations: switch the regularizers off to test the ascent itself
    r = activation_maximization(model, unit, steps=25, lr=0.05, param=param, size=16, tv=0.0, l2=0.0,
                                jitter=0, data_range=(0.2, 0.8), seed=0)
    assert len(r.trajectory) == 25 and len(r.objective) == 25
    assert improved(r.trajectory), r.trajectory
    assert r.image.shape == (1, 1, 16, 16)                        # grayscale stays grayscale
    assert float(r.image.min()) >= 0.2 - 1e-6 and float(r.image.max()) <= 0.8 + 1e-6
    assert bool(torch.isfinite(r.image).all()) and not r.stopped


def test_channels_follow_the_model_and_model_mode_is_restored() -> None:
    m = SmallCNN(in_channels=3, width=4, depth=2)
    m.train()
    r = activation_maximization(m, ("class", 0), steps=3, size=16, start="mean")
    assert r.image.shape == (1, 3, 16, 16)
    assert m.training and all(p.grad is None for p in m.parameters())


def test_deterministic_for_a_seed(model: SmallCNN) -> None:
    a = activation_maximization(model, "class:0", steps=5, size=16, seed=3)
    b = activation_maximization(model, "class:0", steps=5, size=16, seed=3)
    c = activation_maximization(model, "class:0", steps=5, size=16, seed=4)
    assert torch.equal(a.image, b.image) and not torch.equal(a.image, c.image)


def test_stop_and_callback(model: SmallCNN) -> None:
    seen = []
    r = activation_maximization(model, "class:1", steps=50, size=16,
                                callback=lambda step, img, value: seen.append((step, img.shape)) or step == 3)
    assert r.stopped and len(r.trajectory) == 4 and seen[-1] == (3, (1, 1, 16, 16))
    ev = threading.Event()
    ev.set()
    r = activation_maximization(model, "class:1", steps=50, size=16, stop=ev)
    assert r.stopped and r.trajectory == []


def test_regularizers_smooth_the_image(model: SmallCNN) -> None:
    def tv(img: torch.Tensor) -> float:
        return float((img[..., 1:, :] - img[..., :-1, :]).abs().mean() + (img[..., 1:] - img[..., :-1]).abs().mean())

    rough = activation_maximization(model, "class:1", steps=20, size=16, tv=0.0, blur_every=0, jitter=0, seed=1)
    smooth = activation_maximization(model, "class:1", steps=20, size=16, tv=1.0, blur_every=2, blur_sigma=1.0, seed=1)
    assert tv(smooth.image) < tv(rough.image)


def test_bad_input_raises_typed_errors(model: SmallCNN) -> None:
    assert parse_unit("class:2") == ("class", 2)
    assert parse_unit("channel:features.conv1:4") == ("channel", "features.conv1", 4)
    with pytest.raises(ConfigError, match="class:<k>"):
        activation_maximization(model, "neuron:1", steps=1)
    with pytest.raises(TargetOutOfRangeError, match="0..1"):
        activation_maximization(model, "class:5", steps=1, size=16)
    with pytest.raises(TargetOutOfRangeError, match="channels"):
        activation_maximization(model, ("channel", "features.conv1", 99), steps=1, size=16)
    with pytest.raises(UnknownNameError, match="features.conv2"):
        activation_maximization(model, ("channel", "features.conv7", 0), steps=1, size=16)
    with pytest.raises(UnknownNameError, match="fourier"):
        activation_maximization(model, "class:1", steps=1, param="wavelet")
    with pytest.raises(ConfigError):
        activation_maximization(model, "class:1", steps=1, data_range=(1, 0))
