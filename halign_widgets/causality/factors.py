"""Causality factors: per-channel weights from the direction graph of a causality map.

After Carloni & Colantonio, "Exploiting causality signals in medical images: a pilot study with
empirical results" (Expert Systems with Applications, 2024). See METHODS.md §2.2.

``A[i, j] = 1[C[i, j] > C[j, i]]`` says that channel ``i`` "causes" channel ``j``. Counting, for each
channel, how often it is a cause (out-degree ``o_i``) and an effect (in-degree ``ι_i``) gives the
factors: ``mulcat``/``mul`` ``w_i = ReLU(o_i − ι_i)``, ``mulcatbool``/``mulbool``
``w_i = 1[o_i > ι_i]``; ``direction="effects"`` swaps ``o`` and ``ι``. The steps are made
differentiable with a straight-through estimator (forward: the step; backward: the incoming
gradient clipped to ``[−1, 1]``), hand-written because no library op does this.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import ConfigError, InputShapeError, InvalidPixelError, unknown_name

__all__ = ["FACTOR_KINDS", "DIRECTIONS", "straight_through_step", "direction_graph", "degrees",
           "causality_factors", "random_factors"]

FACTOR_KINDS = ("mulcat", "mulcatbool", "mul", "mulbool")
DIRECTIONS = ("causes", "effects")


class _StepSTE(torch.autograd.Function):
    """Heaviside step ``1[x > 0]`` forward; gradient passed straight through, clipped to [−1, 1]."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad.clamp(-1.0, 1.0)


def straight_through_step(x: Tensor) -> Tensor:
    """``1[x > 0]`` whose backward pass is the straight-through estimator (gradient clipped to [−1, 1])."""
    return _StepSTE.apply(x)


def _check_map(cmap: Tensor) -> None:
    if not isinstance(cmap, Tensor) or cmap.dim() != 3 or cmap.shape[1] != cmap.shape[2]:
        shape = tuple(cmap.shape) if isinstance(cmap, Tensor) else type(cmap).__name__
        raise InputShapeError(f"a causality map must be a B×k×k tensor (see causality_map), got {shape}; "
                              "add a batch dimension with cmap[None] for a single k×k map.")
    if not bool(torch.isfinite(cmap).all()):
        bad = int((~torch.isfinite(cmap)).flatten(1).any(1).sum())
        raise InvalidPixelError(f"the causality map of {bad} sample(s) contains NaN or infinite values (every "
                                "comparison with NaN is False, so those channels would silently lose all their "
                                "edges); check the features it was computed from, or torch.nan_to_num it.")


def _check_kind(kind: str) -> None:
    if kind not in FACTOR_KINDS:
        raise unknown_name("causality-factor kind", kind, FACTOR_KINDS)


def direction_graph(cmap: Tensor) -> Tensor:
    """Adjacency ``A[i, j] = 1[C[i, j] > C[j, i]]`` (``i`` causes ``j``), ``B×k×k``, via the STE."""
    _check_map(cmap)
    return straight_through_step(cmap - cmap.transpose(1, 2))


def degrees(adjacency: Tensor) -> tuple[Tensor, Tensor]:
    """Out-degree ``o_i = Σ_j A[i, j]`` and in-degree ``ι_i = Σ_j A[j, i]`` of a ``B×k×k`` graph."""
    return adjacency.sum(2), adjacency.sum(1)


def causality_factors(cmap: Tensor, kind: str = "mulcat", direction: str = "causes") -> Tensor:
    """Per-channel causality factors ``w`` (``B×k``) from a causality map.

    Parameters
    ----------
    cmap:
        ``B×k×k`` causality map from :func:`~halign_widgets.causality.causality_map`.
    kind:
        ``"mulcat"`` or ``"mul"``: ``w_i = ReLU(o_i − ι_i)`` (integers in ``[0, k−1]``);
        ``"mulcatbool"`` or ``"mulbool"``: ``w_i = 1[o_i > ι_i]`` (0/1, straight-through).
        ``mul*`` and ``mulcat*`` give the same weights; they differ in how the module uses them.
    direction:
        ``"causes"`` favours channels that cause many others; ``"effects"`` swaps ``o`` and ``ι`` and
        favours channels that are mostly effects.

    Returns
    -------
    Tensor
        ``B×k`` non-negative factors; gradients reach ``cmap`` through the straight-through steps.

    Examples
    --------
    >>> c = torch.tensor([[[1.0, 0.9, 0.8], [0.5, 1.0, 0.7], [0.1, 0.2, 1.0]]])
    >>> causality_factors(c, "mulcat")
    tensor([[2., 0., 0.]])
    """
    _check_kind(kind)
    if direction not in DIRECTIONS:
        raise unknown_name("causality direction", direction, DIRECTIONS)
    out_deg, in_deg = degrees(direction_graph(cmap))
    diff = out_deg - in_deg if direction == "causes" else in_deg - out_deg
    if kind.endswith("bool"):
        return straight_through_step(diff)
    return torch.relu(diff)


def random_factors(batch: int, k: int, kind: str = "mulcat", generator: torch.Generator | None = None,
                   device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """Random factors of the same law as :func:`causality_factors` — the papers' ablation control.

    Integers drawn uniformly from ``[−(k−1), k−1]`` pass through ReLU (``mulcat``/``mul``) or are
    binarized as ``1[r > 0]`` (``mulcatbool``/``mulbool``).

    Parameters
    ----------
    batch, k:
        Output shape ``batch×k``.
    kind:
        Factor kind, as in :func:`causality_factors`.
    generator:
        Optional :class:`torch.Generator` for reproducible draws.
    """
    _check_kind(kind)
    if batch < 1 or k < 1:
        raise ConfigError(f"batch and k must be ≥ 1, got batch={batch}, k={k}.")
    r = torch.randint(-(k - 1), k, (batch, k), generator=generator).to(device=device, dtype=dtype)
    return (r > 0).to(dtype) if kind.endswith("bool") else torch.relu(r)
