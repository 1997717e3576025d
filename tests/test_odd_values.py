"""Odd values are refused, not silently used, and no third-party error escapes unexplained (issue 12, items 10-11)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from halign_widgets.causality import causality_factors, direction_graph
from halign_widgets.errors import ConfigError, InvalidPixelError
from halign_widgets.explain import activation_maximization, explain, make_baseline, suny
from halign_widgets.explain.actmax import parse_unit
from halign_widgets.explain.metrics import deletion_insertion
from halign_widgets.models import SmallCNN


@pytest.fixture(scope="module")
def model() -> SmallCNN:
    torch.manual_seed(0)
    return SmallCNN(width=4, depth=2, num_classes=3).eval()


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))


class CountForwards:
    def __init__(self, model):
        self.calls = 0
        self.handle = model.register_forward_hook(self._hook)

    def _hook(self, *_):
        self.calls += 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


# -- captum options: ConfigError with the valid range, before any forward pass ---------------------
CAPTUM_BAD = [
    ("integrated_gradients", {"n_steps": 0}, r"n_steps \(integration steps\) must be an integer ≥ 1, got 0"),
    ("integrated_gradients", {"n_steps": -3}, r"n_steps .* ≥ 1, got -3"),
    ("integrated_gradients", {"n_steps": 2.5}, r"n_steps .* integer"),
    ("integrated_gradients", {"internal_batch_size": 0}, r"internal_batch_size must be an integer ≥ 1"),
    ("occlusion", {"window": 17}, r"window \(occlusion patch side; the images are 16×16\) must be an integer "
                                  r"between 1 and 16, got 17"),
    ("occlusion", {"window": 0}, r"window .* between 1 and 16, got 0"),
    ("occlusion", {"window": 4, "stride": 5},
     r"stride \(at most the window, 4 px\) must be an integer between 1 and 4"),
    ("occlusion", {"batch_size": 0}, r"batch_size .* ≥ 1"),
    ("smoothgrad", {"n_samples": 0}, r"n_samples \(noisy samples per image\) must be an integer ≥ 1, got 0"),
    ("smoothgrad", {"stdev": -0.1}, r"stdev \(std of the added Gaussian noise\) must be a finite number ≥ 0"),
    ("smoothgrad", {"stdev": math.nan}, r"stdev .* finite number ≥ 0, got nan"),
    ("smoothgrad", {"abs": "yes"}, r"abs must be True or False"),
    ("gradient_shap", {"stdevs": -1.0}, r"stdevs .* finite number ≥ 0"),
    ("gradient_shap", {"n_samples": 0}, r"n_samples .* ≥ 1"),
    ("gradient_shap", {"seed": -1}, r"seed must be an integer ≥ 0"),
    ("saliency", {"abs": 1}, r"abs must be True or False"),
    ("rise", {"p": 0.0}, r"p \(the keep probability; RISE needs 0 < p ≤ 1\) must be a finite number > 0 and ≤ 1"),
    ("rise", {"p": math.nan}, r"p .* finite"),
    ("rise", {"n_masks": 0}, r"n_masks .* ≥ 1"),
]


@pytest.mark.parametrize("method, options, message", CAPTUM_BAD)
def test_bad_method_options_raise_config_error_with_the_valid_range(model, x, method, options, message) -> None:
    with CountForwards(model) as counter, pytest.raises(ConfigError, match=message):
        explain(model, x, method, **options)
    assert counter.calls == 0


def test_the_largest_valid_occlusion_window_works(model, x) -> None:
    maps = explain(model, x, "occlusion", window=16, stride=16).maps
    assert maps.shape == (2, 16, 16) and bool(torch.isfinite(maps).all())


# -- baselines --------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, True])
def test_make_baseline_refuses_non_finite_numbers(x, bad) -> None:
    with pytest.raises(ConfigError, match="baseline must be"):
        make_baseline(x, bad)


def test_make_baseline_refuses_non_finite_tensors_and_blur_sigmas(x) -> None:
    image = torch.zeros(1, 16, 16)
    image[0, 3, 3] = math.nan
    with pytest.raises(ConfigError, match="baseline tensor contains NaN or infinite"):
        make_baseline(x, image)
    with pytest.raises(ConfigError, match="sigma"):
        make_baseline(x, "blur", sigma=math.nan)
    assert torch.equal(make_baseline(x, np.float64(0.25)), torch.full_like(x, 0.25))


@pytest.mark.parametrize("bad", [math.nan, math.inf, torch.full((1, 1, 16, 16), math.inf)])
def test_suny_refuses_a_non_finite_baseline_before_any_forward(model, x, bad) -> None:
    with CountForwards(model) as counter, pytest.raises(ConfigError, match="baseline"):
        suny(model, x, causes="patches", grid=2, baseline=bad)
    assert counter.calls == 0
    with pytest.raises(ConfigError, match="baseline"):
        explain(model, x, "integrated_gradients", baseline=bad if not isinstance(bad, torch.Tensor) else bad[0])


# -- causality maps -----------------------------------------------------------------------------------
def test_causality_factors_refuse_a_nan_map() -> None:
    cmap = torch.rand(2, 4, 4)
    cmap[1, 2, 0] = math.nan
    for fn in (direction_graph, causality_factors):
        with pytest.raises(InvalidPixelError, match=r"causality map of 1 sample\(s\) contains NaN or infinite"):
            fn(cmap)
    cmap[1, 2, 0] = math.inf
    with pytest.raises(InvalidPixelError):
        causality_factors(cmap, "mulcatbool")


# -- activation maximization ---------------------------------------------------------------------------
@pytest.mark.parametrize("option, value, message", [
    ("lr", math.nan, r"lr \(the learning rate\) must be a finite number > 0"),
    ("lr", math.inf, r"lr .* finite"),
    ("lr", 0.0, r"lr .* > 0"),
    ("steps", math.inf, r"steps must be an integer ≥ 0"),
    ("steps", 2.5, r"steps must be an integer"),
    ("steps", True, r"steps must be an integer"),
    ("l2", math.nan, r"l2 must be a finite number ≥ 0"),
    ("tv", math.inf, r"tv must be a finite number ≥ 0"),
    ("tv", -1.0, r"tv must be a finite number ≥ 0"),
    ("blur_sigma", math.nan, r"blur_sigma"),
    ("jitter", 1.5, r"jitter must be an integer"),
    ("data_range", (0.0, math.inf), r"data_range must be a finite number"),
    ("start", 2.0, r"start \(a constant intensity\) must be a finite number ≥ 0 and ≤ 1"),
])
def test_activation_maximization_refuses_odd_options(model, option, value, message) -> None:
    with CountForwards(model) as counter, pytest.raises(ConfigError, match=message):
        activation_maximization(model, "class:1", size=16, **{"steps": 2, option: value})
    assert counter.calls == 0


# -- targets ------------------------------------------------------------------------------------------------
ODD_TARGETS = [1.7, True, False, "1", [0, True], [0.5, 1], np.float64(1.5), torch.tensor([1.5, 0.0]),
               torch.tensor([True, False]), math.nan]


@pytest.mark.parametrize("target", ODD_TARGETS, ids=[repr(t)[:20] for t in ODD_TARGETS])
def test_fractional_boolean_or_string_targets_are_refused(model, x, target) -> None:
    with pytest.raises(ConfigError, match="an integer class index"):
        explain(model, x, "saliency", target=target)


def test_whole_number_targets_still_work_everywhere(model, x) -> None:
    reference = explain(model, x, "saliency", target=1).maps
    for same in (1, np.int64(1), 1.0, torch.tensor(1), torch.tensor([1.0, 1.0]), [1, 1], np.array([1, 1])):
        assert torch.equal(explain(model, x, "saliency", target=same).maps, reference)


def test_metrics_suny_and_actmax_refuse_odd_targets_too(model, x) -> None:
    with pytest.raises(ConfigError, match="an integer class index"):
        deletion_insertion(model, x, torch.rand(2, 16, 16), target=1.7, steps=2)
    with pytest.raises(ConfigError, match="an integer class index"):
        suny(model, x, target=True, causes="patches", grid=2)
    for unit in (("class", 1.7), ("class", True), "class:1.7", ("channel", "features.conv1", 2.0)):
        with pytest.raises(ConfigError, match="integer class / channel index"):
            parse_unit(unit)
    assert parse_unit("class:2") == ("class", 2) and parse_unit(("channel", "features.conv1", np.int64(3))) == (
        "channel", "features.conv1", 3)
