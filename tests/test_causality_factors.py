"""Causality factors: formulas on a hand-made map, STE gradients, random ablation."""

from __future__ import annotations

import pytest
import torch

from halign_widgets.causality import (
    causality_factors,
    causality_map,
    degrees,
    direction_graph,
    random_factors,
    straight_through_step,
)
from halign_widgets.errors import ConfigError, InputShapeError, UnknownNameError

# 0 → 1, 0 → 2, 2 → 1 (C[2,1]=0.6 > C[1,2]=0.3): out-degrees (2, 0, 1), in-degrees (0, 2, 1).
HAND = torch.tensor([[[1.0, 0.9, 0.8],
                      [0.5, 1.0, 0.3],
                      [0.1, 0.6, 1.0]]])


def test_direction_graph_and_degrees_by_hand() -> None:
    a = direction_graph(HAND)
    assert torch.equal(a[0], torch.tensor([[0.0, 1, 1], [0, 0, 0], [0, 1, 0]]))
    o, i = degrees(a)
    assert torch.equal(o[0], torch.tensor([2.0, 0, 1])) and torch.equal(i[0], torch.tensor([0.0, 2, 1]))


@pytest.mark.parametrize("kind,direction,expected", [
    ("mulcat", "causes", [2.0, 0, 0]), ("mul", "causes", [2.0, 0, 0]),
    ("mulcat", "effects", [0.0, 2, 0]), ("mulcatbool", "causes", [1.0, 0, 0]),
    ("mulbool", "effects", [0.0, 1, 0]),
])
def test_factor_formulas_on_hand_made_map(kind: str, direction: str, expected: list[float]) -> None:
    assert torch.equal(causality_factors(HAND, kind, direction)[0], torch.tensor(expected))


def test_ste_forward_is_step_and_backward_clipped() -> None:
    x = torch.tensor([-2.0, -0.1, 0.0, 0.3, 5.0], requires_grad=True)
    y = straight_through_step(x)
    assert torch.equal(y, torch.tensor([0.0, 0, 0, 1, 1]))
    (y * torch.tensor([-7.0, -0.5, 0.2, 3.0, 0.9])).sum().backward()
    assert torch.equal(x.grad, torch.tensor([-1.0, -0.5, 0.2, 1.0, 0.9]))


@pytest.mark.parametrize("kind", ["mulcat", "mulcatbool"])
@pytest.mark.parametrize("estimator", ["max", "lehmer"])
def test_gradients_reach_features_through_ste(kind: str, estimator: str) -> None:
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(2, 6, 4, 4, generator=g) + 0.05).requires_grad_()
    w = causality_factors(causality_map(x, estimator, 2.0), kind)
    (w * torch.arange(6.0)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


def test_factor_gradient_into_map_is_clipped() -> None:
    c = HAND.clone().requires_grad_()
    (causality_factors(c, "mulcatbool") * torch.tensor([100.0, -300.0, 50.0])).sum().backward()
    assert c.grad.abs().max() <= 2.0 + 1e-6      # two clipped STE paths (C and Cᵀ) per entry at most
    assert c.grad.abs().sum() > 0


def test_random_factors_law() -> None:
    g = torch.Generator().manual_seed(0)
    r = random_factors(4000, 5, "mulcat", g)
    assert r.shape == (4000, 5) and r.min() == 0 and r.max() == 4
    assert torch.equal(r, r.round())
    # P(ReLU(U{-4..4}) = 0) = 5/9
    assert abs(float((r == 0).float().mean()) - 5 / 9) < 0.02
    b = random_factors(4000, 5, "mulcatbool", torch.Generator().manual_seed(0))
    assert set(b.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(b, (r > 0).float())          # same draws, binarized
    assert not torch.equal(random_factors(10, 5, generator=torch.Generator().manual_seed(1)),
                           random_factors(10, 5, generator=torch.Generator().manual_seed(2)))


def test_factor_typed_errors() -> None:
    with pytest.raises(UnknownNameError, match="mulcat"):
        causality_factors(HAND, "cat")
    with pytest.raises(UnknownNameError, match="effects"):
        causality_factors(HAND, direction="up")
    with pytest.raises(InputShapeError):
        causality_factors(HAND[0])
    with pytest.raises(InputShapeError):
        causality_factors(torch.rand(1, 3, 4))
    with pytest.raises(ConfigError):
        random_factors(0, 3)
