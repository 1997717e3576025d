"""Pointing game, relevance mass and energy pointing against constructed masks."""

from __future__ import annotations

import pytest
import torch

from halign_widgets.errors import ConfigError, InputShapeError
from halign_widgets.explain.metrics import energy_pointing, pointing_game, relevance_mass

H = W = 12


@pytest.fixture
def masks() -> torch.Tensor:
    m = torch.zeros(3, 1, H, W, dtype=torch.bool)
    m[0, 0, 2:5, 2:5] = True
    m[1, 0, 6:10, 1:4] = True
    m[2, 0, 0:3, 8:12] = True
    return m


ALL = (pointing_game, relevance_mass, energy_pointing)


@pytest.mark.parametrize("metric", ALL)
def test_map_equal_to_mask_scores_one(metric, masks):
    scores = metric(masks.float(), masks)
    assert torch.equal(scores, torch.ones(3))


@pytest.mark.parametrize("metric", ALL)
def test_map_outside_mask_scores_zero(metric, masks):
    outside = (~masks[:, 0]).float() * torch.rand(3, H, W, generator=torch.Generator().manual_seed(0))
    assert torch.equal(metric(outside, masks), torch.zeros(3))


def test_relevance_mass_known_values(masks):
    uniform = torch.ones(3, H, W)
    area = masks.flatten(1).float().mean(1)
    assert torch.allclose(relevance_mass(uniform, masks), area)
    # negative evidence inside the mask does not count as mass
    signed = torch.where(masks[:, 0], torch.tensor(-5.0), torch.tensor(1.0))
    assert torch.equal(relevance_mass(signed, masks), torch.zeros(3))
    # two units inside, six outside → 0.25
    m = torch.zeros(1, H, W)
    m[0, 2, 2], m[0, 11, 11] = 2.0, 6.0
    assert relevance_mass(m, masks[:1]).item() == pytest.approx(0.25)


def test_energy_equals_relevance_mass_when_map_touches_zero_and_removes_floor_otherwise(masks):
    g = torch.Generator().manual_seed(3)
    signed = torch.randn(3, H, W, generator=g) + 2.0 * masks[:, 0]
    assert torch.allclose(energy_pointing(signed, masks), relevance_mass(signed, masks), atol=1e-6)
    floor = 1.0 + masks[:, 0].float()             # strictly positive: 2 inside, 1 outside
    assert torch.equal(energy_pointing(floor, masks), torch.ones(3))   # floor removed → all energy inside
    assert bool((relevance_mass(floor, masks) < 0.5).all())           # the floor dilutes relevance mass


def test_pointing_tolerance_and_ties(masks):
    m = torch.zeros(1, H, W)
    m[0, 7, 2] = 1.0                              # max 3 px below the mask [2:5, 2:5]
    assert pointing_game(m, masks[:1]).item() == 0.0
    assert pointing_game(m, masks[:1], tolerance=3).item() == 1.0
    tie = torch.zeros(1, H, W)
    tie[0, 3, 3] = tie[0, 10, 10] = 1.0           # two maxima, one inside
    assert pointing_game(tie, masks[:1]).item() == pytest.approx(0.5)
    with pytest.raises(ConfigError):
        pointing_game(m, masks[:1], tolerance=-1)


def test_undefined_cases_are_nan_with_warning(masks):
    empty = masks.clone()
    empty[1] = False
    with pytest.warns(RuntimeWarning, match="mask is empty"):
        scores = relevance_mass(masks.float(), empty)
    assert torch.isnan(scores[1]) and torch.equal(scores[[0, 2]], torch.ones(2))
    zero = torch.zeros(3, H, W)
    for metric in ALL:
        with pytest.warns(RuntimeWarning, match="3 image"):
            assert bool(torch.isnan(metric(zero, masks)).all())


def test_shape_errors(masks):
    with pytest.raises(InputShapeError):
        relevance_mass(torch.ones(3, H, W + 1), masks)
    with pytest.raises(InputShapeError):
        pointing_game(torch.ones(H, W), masks)
    with pytest.raises(InputShapeError):
        energy_pointing(torch.full((3, H, W), float("nan")), masks)
