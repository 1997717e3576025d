"""Causality maps: faithful = fast, the hidden total order, numerics, typed errors."""

from __future__ import annotations

import pytest
import torch

from halign_widgets.causality import (
    causality_map,
    channel_order,
    channel_statistic,
    direction_graph,
    is_total_order,
    lehmer_mean,
    reorder,
)
from halign_widgets.errors import ConfigError, InputShapeError, InvalidPixelError, UnknownNameError


def _features(b: int, k: int, h: int, w: int, seed: int, zeros: float = 0.3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, k, h, w, generator=g) * 3.0
    x[torch.rand(b, k, h, w, generator=g) < zeros] = 0.0      # exact zeros, as after ReLU
    x[0, 0] = 0.0                                              # one dead channel
    return x


@pytest.mark.parametrize("k,h,w", [(2, 2, 2), (5, 3, 3), (8, 4, 4), (6, 3, 5)])
@pytest.mark.parametrize("p", [-50.0, -3.0, -1.0, 0.0, 0.5, 1.0, 2.0, 7.0, 50.0])
def test_lehmer_faithful_equals_fast(k: int, h: int, w: int, p: float) -> None:
    x = _features(2, k, h, w, seed=k * 100 + int(p * 10))
    fast = causality_map(x, "lehmer", p, "fast")
    faithful = causality_map(x, "lehmer", p, "faithful")
    assert fast.shape == faithful.shape == (2, k, k)
    assert torch.isfinite(fast).all() and torch.isfinite(faithful).all()
    assert torch.allclose(fast, faithful, atol=1e-5, rtol=0)


@pytest.mark.parametrize("k,h,w", [(2, 2, 2), (5, 3, 3), (8, 4, 4), (6, 3, 5)])
def test_max_faithful_equals_fast(k: int, h: int, w: int) -> None:
    x = _features(3, k, h, w, seed=k)
    assert torch.allclose(causality_map(x, "max", mode="fast"), causality_map(x, "max", mode="faithful"),
                          atol=1e-5, rtol=0)


def test_max_map_matches_definition_by_hand() -> None:
    x = torch.zeros(1, 2, 2, 2)
    x[0, 0] = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    x[0, 1] = torch.tensor([[0.5, 0.5], [0.5, 0.0]])
    c = causality_map(x, "max", eps=1e-6)[0]
    f0 = torch.tensor([1.0, 1e-6, 1e-6, 1e-6])          # normalized by the sample max (1.0)
    f1 = torch.tensor([0.5, 0.5, 0.5, 1e-6])
    m0, m1, s0, s1 = f0.max(), f1.max(), f0.sum(), f1.sum()
    expected = torch.tensor([[m0 * m0 / s0, m0 * m1 / s1], [m1 * m0 / s0, m1 * m1 / s1]])
    assert torch.allclose(c, expected, atol=1e-6)


def test_lehmer_mean_special_cases() -> None:
    v = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)
    assert torch.isclose(lehmer_mean(v, 1.0), v.mean())
    assert torch.isclose(lehmer_mean(v, 0.0), 3 / (1 / v).sum())          # harmonic mean
    assert torch.isclose(lehmer_mean(v, 200.0), v.max(), rtol=1e-3)
    assert torch.isclose(lehmer_mean(v, -200.0), v.min(), rtol=1e-3)


def test_max_direction_is_order_by_channel_mass() -> None:
    x = _features(4, 10, 4, 4, seed=7, zeros=0.5)
    adjacency = direction_graph(causality_map(x, "max"))
    f = x / (x.flatten(1).amax(1).view(-1, 1, 1, 1) + 1e-8)
    mass = f.clamp(min=1e-6).flatten(2).sum(2)
    expected = (mass.unsqueeze(2) > mass.unsqueeze(1)).float()
    assert torch.equal(adjacency, expected)
    assert is_total_order(adjacency, channel_statistic(x, "max")).all()


@pytest.mark.parametrize("estimator,p", [("max", 1.0), ("lehmer", 1.0), ("lehmer", -2.0), ("lehmer", 5.0)])
def test_reordered_adjacency_is_strictly_upper_triangular(estimator: str, p: float) -> None:
    x = _features(2, 9, 4, 4, seed=3, zeros=0.2)
    adjacency = direction_graph(causality_map(x, estimator, p))
    stat = channel_statistic(x, estimator, p)
    for b in range(2):
        sorted_adj = reorder(adjacency[b], channel_order(stat[b]))
        distinct = stat[b].unique().numel() == stat.shape[1]
        if distinct:
            assert torch.equal(sorted_adj, torch.ones(9, 9).triu(1))
        assert torch.equal(torch.tril(sorted_adj), torch.zeros(9, 9))
    batched = reorder(adjacency, channel_order(stat))
    assert torch.equal(batched[1], reorder(adjacency[1], channel_order(stat[1])))


@pytest.mark.parametrize("p", [-50.0, 50.0, -200.0, 200.0])
def test_numerics_finite_for_large_p(p: float) -> None:
    x = _features(2, 6, 8, 8, seed=1, zeros=0.6)
    c = causality_map(x, "lehmer", p)
    assert torch.isfinite(c).all() and (c > 0).all() and (c <= 1.0 + 1e-6).all()


def test_map_is_differentiable() -> None:
    x = _features(2, 5, 4, 4, seed=2).requires_grad_()
    for est in ("max", "lehmer"):
        causality_map(x, est, 2.0).sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
        x.grad = None


def test_faithful_refuses_when_too_large() -> None:
    with pytest.raises(ConfigError, match="fast"):
        causality_map(torch.rand(1, 64, 16, 16), "lehmer", mode="faithful")


def test_typed_errors() -> None:
    with pytest.raises(InputShapeError, match="B×k×h×w"):
        causality_map(torch.rand(8, 4, 4))
    with pytest.raises(InputShapeError):
        causality_map(torch.rand(1, 2, 3, 3, 3))
    bad = torch.rand(1, 2, 3, 3)
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(InvalidPixelError):
        causality_map(bad)
    with pytest.raises(UnknownNameError, match="'lehmer'"):
        causality_map(torch.rand(1, 2, 3, 3), estimator="lehmr")
    with pytest.raises(UnknownNameError, match="'faithful'"):
        causality_map(torch.rand(1, 2, 3, 3), mode="slow")
    with pytest.raises(ConfigError):
        causality_map(torch.rand(1, 2, 3, 3), "lehmer", p=float("nan"))
    with pytest.raises(ConfigError):
        causality_map(torch.rand(1, 2, 3, 3), eps=0.0)
    with pytest.raises(UnknownNameError):
        channel_statistic(torch.rand(1, 2, 3, 3), "median")


def test_non_square_grid_is_accepted() -> None:
    assert causality_map(torch.rand(2, 3, 4, 6), "lehmer", 2.0).shape == (2, 3, 3)
