"""Shapley values of a generic, batched set function (cooperative game).

A *game* on ``K`` players is given as a batched value function: it receives an ``M×K`` boolean
tensor of coalitions (row ``m`` has ``True`` for the players in coalition ``m``) and returns their
values, ``M`` numbers or ``M×G`` numbers for ``G`` games evaluated on the same coalitions at once
(SUNY plays the necessity and the sufficiency game side by side).

Two estimators:

- :func:`exact_shapley` enumerates all ``2^K`` coalitions (bit ``i`` of the row index = player
  ``i``) and applies Shapley's formula
  ``φ_i = Σ_{S ∌ i} |S|! (K−|S|−1)! / K! · (v(S ∪ {i}) − v(S))`` (Shapley, 1953);
- :func:`permutation_shapley` averages marginal contributions along random player orders
  (Castro, Gómez & Tejada, 2009), seeded, optionally with antithetic pairs (an order and its
  reverse), with a standard-error estimate. Duplicate coalitions are evaluated once.

Hand-written rather than taken from captum: captum's ``ShapleyValueSampling`` is tied to input
features of one forward function, while SUNY needs Shapley values of arbitrary games (channels
ablated inside the network, soft image regions) whose coalitions are evaluated in large batches.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ...errors import ConfigError
from ...validation import check_int

__all__ = ["ShapleyValues", "ValueFunction", "all_coalitions", "exact_shapley", "permutation_shapley",
           "MAX_EXACT_PLAYERS"]

ValueFunction = Callable[[Tensor], Tensor]
MAX_EXACT_PLAYERS = 16


@dataclass
class ShapleyValues:
    """Shapley values of one or several games on the same players.

    Attributes
    ----------
    values:
        ``G×K`` Shapley values (float64), one row per game.
    stderr:
        ``G×K`` Monte-Carlo standard errors (zeros when exact).
    coalitions:
        ``2^K×K`` boolean coalitions when exact (row ``b`` holds the players of bitmask ``b``), else ``None``.
    coalition_values:
        ``2^K×G`` values of every coalition when exact, else ``None``.
    evaluations:
        Number of distinct coalitions evaluated.
    exact:
        Whether the values are exact.
    permutations:
        Number of sampled permutations (0 when exact).
    """

    values: Tensor
    stderr: Tensor
    coalitions: Tensor | None
    coalition_values: Tensor | None
    evaluations: int
    exact: bool
    permutations: int = 0


def all_coalitions(n_players: int) -> Tensor:
    """All ``2^K`` coalitions as a ``2^K×K`` bool tensor; row ``b`` holds player ``i`` iff bit ``i`` of ``b`` is set."""
    idx = torch.arange(2 ** n_players, dtype=torch.long)
    return ((idx[:, None] >> torch.arange(n_players)) & 1).bool()


def _check_players(n_players: int) -> None:
    check_int("the number of players", n_players, 1)


def _evaluate(value_fn: ValueFunction, coalitions: Tensor, batch_size: int | None) -> Tensor:
    """Call ``value_fn`` on chunks of coalitions; return an ``M×G`` float64 tensor."""
    step = coalitions.shape[0] if not batch_size else int(batch_size)
    parts = []
    for start in range(0, coalitions.shape[0], max(step, 1)):
        out = torch.as_tensor(value_fn(coalitions[start:start + step])).detach().to("cpu", torch.float64)
        parts.append(out[:, None] if out.dim() == 1 else out)
    values = torch.cat(parts)
    if values.shape[0] != coalitions.shape[0]:
        raise ConfigError(f"the value function returned {values.shape[0]} values for {coalitions.shape[0]} "
                          "coalitions; it must return one value (or one row) per coalition.")
    return values


def exact_shapley(value_fn: ValueFunction, n_players: int, *, batch_size: int | None = None) -> ShapleyValues:
    """Exact Shapley values by enumerating all ``2^K`` coalitions.

    Parameters
    ----------
    value_fn:
        Batched value function (``M×K`` bool → ``M`` or ``M×G`` values).
    n_players:
        ``K``, at most :data:`MAX_EXACT_PLAYERS`.
    batch_size:
        Coalitions per call of ``value_fn`` (``None``: all at once).

    Examples
    --------
    >>> glove = lambda c: (c[:, :2].any(1) & c[:, 2]).double()  # left gloves 0, 1; right glove 2
    >>> exact_shapley(glove, 3).values  # tensor([[1/6, 1/6, 2/3]])
    """
    _check_players(n_players)
    if n_players > MAX_EXACT_PLAYERS:
        raise ConfigError(f"exact Shapley values enumerate 2^K coalitions; K={n_players} is too many "
                          f"(at most {MAX_EXACT_PLAYERS}); use permutation_shapley with a sample budget.")
    k = n_players
    coalitions = all_coalitions(k)
    v = _evaluate(value_fn, coalitions, batch_size)
    sizes = coalitions.sum(1)
    weight = torch.tensor([math.factorial(s) * math.factorial(k - s - 1) / math.factorial(k) for s in range(k)],
                          dtype=torch.float64)
    idx = torch.arange(2 ** k)
    phi = torch.zeros(v.shape[1], k, dtype=torch.float64)
    for i in range(k):
        without = idx[(idx >> i) & 1 == 0]
        diff = v[without | (1 << i)] - v[without]
        phi[:, i] = (weight[sizes[without]][:, None] * diff).sum(0)
    return ShapleyValues(phi, torch.zeros_like(phi), coalitions, v, int(coalitions.shape[0]), True)


def permutation_shapley(value_fn: ValueFunction, n_players: int, *, samples: int, seed: int = 0,
                        antithetic: bool = False, batch_size: int | None = None) -> ShapleyValues:
    """Monte-Carlo Shapley values from random player orders (Castro et al., 2009).

    Each permutation contributes, for every player, the marginal value it adds when it joins the
    players before it; the estimate is the mean over permutations, the error estimate the standard
    error of that mean. Every permutation's contributions sum to ``v(all) − v(none)``, so
    efficiency holds exactly for the estimate too.

    Parameters
    ----------
    value_fn:
        Batched value function (``M×K`` bool → ``M`` or ``M×G`` values).
    n_players:
        ``K``.
    samples:
        Number of permutations (≥ 1). With ``antithetic`` they come in pairs (an order and its
        reverse), so an odd budget is rounded up to the next even number.
    seed:
        Seed of the permutation generator (the result is deterministic for a seed).
    antithetic:
        Pair each order with its reverse; the standard error is then computed over pair means.
    batch_size:
        Coalitions per call of ``value_fn`` (``None``: all distinct coalitions at once).
    """
    _check_players(n_players)
    samples = check_int("samples (the number of permutations)", samples, 1)
    k = n_players
    gen = torch.Generator().manual_seed(int(seed))
    units = (samples + 1) // 2 if antithetic else samples
    perms = torch.stack([torch.randperm(k, generator=gen) for _ in range(units)])
    if antithetic:
        perms = torch.stack([perms, perms.flip(1)], 1).reshape(-1, k)
    n_perm = perms.shape[0]
    position = torch.empty_like(perms)
    position.scatter_(1, perms, torch.arange(k).expand(n_perm, k).contiguous())
    # prefix coalitions: coalition j of permutation r holds the players at positions < j
    prefixes = position[:, None, :] < torch.arange(k + 1)[None, :, None]
    unique, inverse = torch.unique(prefixes.reshape(-1, k), dim=0, return_inverse=True)
    v = _evaluate(value_fn, unique, batch_size)[inverse].view(n_perm, k + 1, -1)
    marginal = v[:, 1:] - v[:, :-1]  # contribution of the player at position j
    contrib = torch.zeros_like(marginal)
    contrib.scatter_(1, perms[:, :, None].expand_as(marginal), marginal)
    if antithetic:
        contrib = contrib.view(units, 2, k, -1).mean(1)
    values = contrib.mean(0).T.contiguous()
    if contrib.shape[0] > 1:
        stderr = (contrib.std(0, unbiased=True) / math.sqrt(contrib.shape[0])).T.contiguous()
    else:
        stderr = torch.full_like(values, float("inf"))  # one sample: error unknown
    return ShapleyValues(values, stderr, None, None, int(unique.shape[0]), False, n_perm)
