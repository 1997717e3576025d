"""The result object of SUNY and the combination of its two maps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from ...errors import unknown_name
from .causes import CauseKind

__all__ = ["COMBINE", "SunyResult", "combine_maps"]

COMBINE: tuple[str, ...] = ("mean", "product")


@dataclass(repr=False)
class SunyResult:
    """What :func:`suny` returns (batch ``B``, pool size ``K``, ``C`` candidate causes).

    Attributes
    ----------
    necessity, sufficiency, combined:
        ``B×H×W`` maps (``combined`` in ``[0, 1]``).
    r_n, r_s:
        ``B×K`` Shapley values of the necessity / sufficiency game over ``pool_n`` / ``pool_s``.
    pool_n, pool_s:
        ``B×K`` cause indices (channels or patches) of the two candidate pools.
    error_n, error_s:
        ``B×K`` Monte-Carlo standard errors (zeros when exact).
    single_n, single_s:
        ``B×C`` single-cause necessity / sufficiency of every cause (used to pick the pools).
    cause_maps:
        ``B×C×H×W`` regions ``A_k`` of every cause.
    coalition_values:
        When exact: ``{"coalitions": 2^K×K bool, "necessity": B×2^K, "sufficiency": B×2^K}``
        (row ``b`` of ``coalitions`` = bitmask ``b`` over pool positions); else ``None``.
    p_full, target:
        ``B`` probabilities ``p_c(x)`` and target classes.
    causes, layer, exact, samples, seconds, forwards:
        Settings and cost: the cause kind, the layer (``None`` for patches), whether exact, the
        number of permutations (0 when exact), wall time in seconds, images forwarded.
    """

    necessity: Tensor
    sufficiency: Tensor
    combined: Tensor
    r_n: Tensor
    r_s: Tensor
    pool_n: Tensor
    pool_s: Tensor
    error_n: Tensor
    error_s: Tensor
    single_n: Tensor
    single_s: Tensor
    cause_maps: Tensor
    coalition_values: dict[str, Tensor] | None
    p_full: Tensor
    target: Tensor
    causes: CauseKind
    layer: str | None
    exact: bool
    samples: int
    seconds: float
    forwards: int
    options: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        b, k = self.r_n.shape
        how = "exact" if self.exact else f"{self.samples} permutations"
        where = f", layer={self.layer!r}" if self.layer else ""
        return (f"SunyResult({b} image(s), causes={self.causes!r}{where}, pool={k}, {how}, "
                f"maps {tuple(self.necessity.shape)}, {self.forwards} forwards in {self.seconds:.2f} s)")


def _normalize(m: Tensor) -> Tensor:
    peak = m.flatten(1).max(1).values.clamp_min(1e-12)
    return m / peak[:, None, None]


def combine_maps(necessity: Tensor, sufficiency: Tensor, how: str = "mean") -> Tensor:
    """Combine ``B×H×W`` N and S maps: mean (default **[ours]**) or product of the max-normalized maps."""
    if how not in COMBINE:
        raise unknown_name("combine rule", how, COMBINE)
    n, s = _normalize(necessity), _normalize(sufficiency)
    return (n + s) / 2 if how == "mean" else n * s
