"""Shapley values of generic games: hand-computed values, efficiency, Monte-Carlo convergence."""

from __future__ import annotations

import math

import pytest
import torch

from halign_widgets.errors import ConfigError
from halign_widgets.explain.suny import all_coalitions, exact_shapley, permutation_shapley


def glove(c: torch.Tensor) -> torch.Tensor:
    """Glove game: players 0 and 1 own a left glove, player 2 a right glove; a pair is worth 1."""
    return (c[:, :2].any(1) & c[:, 2]).double()


def additive_with_pair(c: torch.Tensor) -> torch.Tensor:
    """v(S) = Σ_{i∈S} a_i + 3·[0 ∈ S and 1 ∈ S] with a = (1, 2, 0, 5)."""
    a = torch.tensor([1.0, 2.0, 0.0, 5.0], dtype=torch.float64)
    return c.double() @ a + 3.0 * (c[:, 0] & c[:, 1]).double()


def table_game(k: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    table = torch.randn(2 ** k, generator=g, dtype=torch.float64)
    weights = 2 ** torch.arange(k)

    def v(c: torch.Tensor) -> torch.Tensor:
        return table[(c.long() * weights).sum(1)]

    return v, table


def test_all_coalitions_bit_order():
    c = all_coalitions(3)
    assert c.shape == (8, 3)
    assert c[5].tolist() == [True, False, True]  # 5 = 0b101
    assert c.sum().item() == 3 * 4


def test_exact_glove_game_hand_values():
    sv = exact_shapley(glove, 3)
    assert torch.allclose(sv.values[0], torch.tensor([1 / 6, 1 / 6, 2 / 3], dtype=torch.float64), atol=1e-12)
    assert sv.exact and sv.evaluations == 8
    assert torch.equal(sv.stderr, torch.zeros_like(sv.stderr))
    assert sv.coalition_values[:, 0].tolist() == [0, 0, 0, 0, 0, 1, 1, 1]


def test_exact_several_games_at_once_with_interaction_split_evenly():
    both = lambda c: torch.stack([glove(c[:, :3]), additive_with_pair(c)], 1)  # noqa: E731
    sv = exact_shapley(both, 4, batch_size=5)  # chunked calls
    assert sv.values.shape == (2, 4)
    assert torch.allclose(sv.values[1], torch.tensor([2.5, 3.5, 0.0, 5.0], dtype=torch.float64), atol=1e-12)
    assert torch.allclose(sv.values[0, :3], torch.tensor([1 / 6, 1 / 6, 2 / 3], dtype=torch.float64))
    assert abs(sv.values[0, 3].item()) < 1e-12  # null player


@pytest.mark.parametrize("k", [1, 4, 7])
def test_efficiency_exact(k):
    v, table = table_game(k, seed=k)
    sv = exact_shapley(v, k)
    assert math.isclose(sv.values.sum().item(), (table[-1] - table[0]).item(), abs_tol=1e-10)


@pytest.mark.parametrize("antithetic", [False, True])
def test_monte_carlo_converges_within_error_estimate(antithetic):
    k = 6
    v, table = table_game(k, seed=3)
    exact = exact_shapley(v, k).values[0]
    mc = permutation_shapley(v, k, samples=3000, seed=1, antithetic=antithetic)
    assert not mc.exact and mc.permutations == 3000
    err = (mc.values[0] - exact).abs()
    assert bool((err <= 4 * mc.stderr[0] + 1e-9).all()), (err, mc.stderr)
    assert bool((mc.stderr > 0).all()) and float(mc.stderr.max()) < 0.1
    # every permutation's marginal contributions telescope: efficiency holds exactly
    assert math.isclose(mc.values.sum().item(), (table[-1] - table[0]).item(), abs_tol=1e-9)


def test_monte_carlo_error_shrinks_and_is_seeded():
    v, _ = table_game(5, seed=0)
    small = permutation_shapley(v, 5, samples=50, seed=7)
    large = permutation_shapley(v, 5, samples=800, seed=7)
    assert float(large.stderr.mean()) < float(small.stderr.mean())
    again = permutation_shapley(v, 5, samples=50, seed=7)
    assert torch.equal(small.values, again.values)
    assert not torch.equal(small.values, permutation_shapley(v, 5, samples=50, seed=8).values)
    # duplicate coalitions are evaluated once
    assert large.evaluations <= 2 ** 5


def test_bad_arguments():
    with pytest.raises(ConfigError, match="at most"):
        exact_shapley(glove, 20)
    with pytest.raises(ConfigError, match="samples"):
        permutation_shapley(glove, 3, samples=0)
    with pytest.raises(ConfigError):
        exact_shapley(glove, 0)
    with pytest.raises(ConfigError, match="one value"):
        exact_shapley(lambda c: torch.zeros(1), 3)
