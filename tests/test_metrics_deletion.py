"""Deletion / insertion and average drop / increase in confidence on models whose answer we know."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from halign_widgets.errors import ConfigError, InputShapeError, TargetOutOfRangeError, UnknownNameError
from halign_widgets.explain._baselines import make_baseline
from halign_widgets.explain.metrics import average_drop_increase, deletion_insertion, explanation_image

H = W = 16


def lesion_region() -> torch.Tensor:
    region = torch.zeros(H, W, dtype=torch.bool)
    region[4:9, 6:11] = True
    return region


class RegionReader(nn.Module):
    """Logit of class 1 minus class 0 = ``gain · (mean of the pixels inside the region − 0.7)``."""

    def __init__(self, region: torch.Tensor, gain: float = 20.0) -> None:
        super().__init__()
        self.features = nn.Sequential(OrderedDict(conv1=nn.Conv2d(1, 1, 1, bias=False)))
        with torch.no_grad():
            self.features.conv1.weight.fill_(1.0)
        self.register_buffer("region", region.float())
        self.gain = gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.features(x)[:, 0]
        score = self.gain * ((a * self.region).flatten(1).sum(1) / self.region.sum() - 0.7)
        return torch.stack([-score / 2, score / 2], 1)


def lesion_images(n: int = 4, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = 0.2 + 0.05 * torch.rand(n, 1, H, W, generator=g)
    x[:, :, lesion_region()] = 0.9
    return x


@pytest.fixture
def setup() -> tuple[RegionReader, torch.Tensor, torch.Tensor]:
    region = lesion_region()
    return RegionReader(region), lesion_images(), region.expand(4, H, W).float()


def probs(model: nn.Module, x: torch.Tensor, c: int = 1) -> torch.Tensor:
    with torch.no_grad():
        return torch.softmax(model(x), 1)[:, c]


@pytest.mark.parametrize("baseline", ["zero", "blur", "mean"])
def test_curve_shapes_and_endpoints(setup, baseline):
    model, x, maps = setup
    steps = 8
    res = deletion_insertion(model, x, maps, baseline=baseline, steps=steps)
    assert res.deletion_curve.shape == res.insertion_curve.shape == (4, steps + 1)
    assert torch.allclose(res.fractions, torch.linspace(0, 1, steps + 1))
    base = make_baseline(x, "zeros" if baseline == "zero" else baseline)
    p_orig, p_base = probs(model, x), probs(model, base)
    assert torch.allclose(res.deletion_curve[:, 0], p_orig, atol=1e-6)      # start = original image
    assert torch.allclose(res.deletion_curve[:, -1], p_base, atol=1e-6)     # end = baseline
    assert torch.allclose(res.insertion_curve[:, 0], p_base, atol=1e-6)     # start = baseline
    assert torch.allclose(res.insertion_curve[:, -1], p_orig, atol=1e-6)    # end = original image
    assert torch.allclose(res.overall, res.insertion_auc - res.deletion_auc)
    assert torch.equal(res.target, torch.ones(4, dtype=torch.long))          # predicted class
    frame = res.curves_frame()
    assert len(frame) == 4 * (steps + 1)
    assert frame[frame.image == 2]["deletion"].to_numpy() == pytest.approx(res.deletion_curve[2].numpy())


@pytest.mark.parametrize("baseline", ["zero", "blur", "mean"])
def test_mask_map_beats_random_map(setup, baseline):
    model, x, mask_map = setup
    random_map = torch.rand(4, H, W, generator=torch.Generator().manual_seed(1))
    good = deletion_insertion(model, x, mask_map, baseline=baseline, steps=16)
    bad = deletion_insertion(model, x, random_map, baseline=baseline, steps=16)
    assert bool((good.insertion_auc > bad.insertion_auc + 0.05).all())
    assert bool((good.deletion_auc < bad.deletion_auc - 0.05).all())
    assert bool((good.overall > bad.overall).all())


def test_batched_equals_unbatched(setup):
    model, x, _ = setup
    maps = torch.randn(4, H, W, generator=torch.Generator().manual_seed(2))
    full = deletion_insertion(model, x, maps, steps=8, batch_size=1000)
    tiny = deletion_insertion(model, x, maps, steps=8, batch_size=3)
    assert torch.allclose(full.deletion_curve, tiny.deletion_curve, atol=1e-6)
    assert torch.allclose(full.insertion_curve, tiny.insertion_curve, atol=1e-6)
    one = deletion_insertion(model, x[2:3], maps[2:3], steps=8)
    assert torch.allclose(one.deletion_curve[0], full.deletion_curve[2], atol=1e-6)
    assert torch.allclose(one.insertion_auc[0], full.insertion_auc[2], atol=1e-6)


def test_blind_model_gives_flat_curves():
    """A model that ignores its input has flat curves: both AUCs equal p, Overall 0."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(H * W, 3))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.copy_(torch.tensor([0.0, 1.0, 2.0]))
    x = lesion_images()
    res = deletion_insertion(model, x, torch.randn(4, H, W), target=0, steps=5)
    p = torch.softmax(torch.tensor([0.0, 1.0, 2.0]), 0)[0]
    assert torch.allclose(res.deletion_auc, p.expand(4), atol=1e-6)
    assert torch.allclose(res.overall, torch.zeros(4), atol=1e-6)


def test_bad_inputs_raise_typed_errors(setup):
    model, x, maps = setup
    with pytest.raises(InputShapeError):
        deletion_insertion(model, x, maps[:, :8, :8])
    with pytest.raises(InputShapeError):
        deletion_insertion(model, x, maps[:3])
    with pytest.raises(TargetOutOfRangeError):
        deletion_insertion(model, x, maps, target=5)
    with pytest.raises(ConfigError):
        deletion_insertion(model, x, maps, steps=0)
    with pytest.raises(UnknownNameError):
        deletion_insertion(model, x, maps, baseline="noise")


def test_average_drop_of_perfect_map_is_zero(setup):
    model, x, mask_map = setup
    res = average_drop_increase(model, x, mask_map)
    assert res.average_drop == pytest.approx(0.0, abs=1e-4)
    assert torch.allclose(res.original, res.explained, atol=1e-6)
    assert res.increase == 0.0                                   # O == Y is not an increase


def test_average_drop_matches_definition(setup):
    model, x, _ = setup
    outside = (~lesion_region()).float().expand(4, H, W)
    res = average_drop_increase(model, x, outside)
    y = probs(model, x)
    o = probs(model, x * outside[:, None])
    expected = float(((y - o).clamp_min(0) / y).mean() * 100)
    assert res.average_drop == pytest.approx(expected, rel=1e-5)
    assert res.average_drop > 90.0                               # the map hides the lesion


def test_increase_in_confidence_counts_images():
    """A map that hides a distractor raises the confidence: increase = share of such images."""
    region = lesion_region()
    model = RegionReader(region, gain=1.0)
    x = lesion_images()
    x[:2, :, 4, 6] = 0.2                                       # two images get a dimmer lesion pixel
    maps = region.float().expand(4, H, W).clone()
    maps[:2, 4, 6] = 2.0                                       # ... which their map rates highest
    res = average_drop_increase(model, x, maps)
    # those two images keep the dim pixel at full weight and the lesion at half: confidence drops
    assert bool((res.drop[:2] > 0).all()) and bool((res.drop[2:] == 0).all())
    assert res.increase == 0.0
    brighter = average_drop_increase(model, x, maps, target=0)  # for class 0, dimming helps
    assert brighter.increase == pytest.approx(50.0)


def test_explanation_image_background(setup):
    model, x, mask_map = setup
    full = torch.ones(4, H, W)
    for bg in ("zero", "blur", "mean"):
        assert torch.allclose(explanation_image(x, full, bg), x)               # L = 1 keeps the image
    assert torch.equal(explanation_image(x, torch.zeros(4, H, W), "zero"), torch.zeros_like(x))
    assert torch.allclose(explanation_image(x, -torch.ones(4, H, W), "mean"),  # no positive evidence
                          make_baseline(x, "mean"))
    res = average_drop_increase(model, x, mask_map, background="blur")
    assert res.average_drop == pytest.approx(0.0, abs=1e-4)                    # still perfect
