"""Causality maps from feature co-occurrence (Max and Lehmer estimators, faithful and fast).

After Carloni & Colantonio, "Exploiting causality signals in medical images: a pilot study with
empirical results" (Expert Systems with Applications, 2024) and Carloni et al., "Causality-driven
one-shot learning for prostate cancer grading from MRI" (2023). See METHODS.md §2.1.

The feature maps ``X`` (``B×k×h×w``, post-ReLU) of a conv layer are normalized per sample by their
global maximum, ``F = X / (max X + 1e-8)``, and read as the probability that feature ``i`` is present
at each grid cell. A ``k×k`` map ``C[i, j] ≈ P(F_i | F_j)`` is then estimated from co-occurrence.

Two modes compute the same numbers:

- ``"faithful"`` materializes the literal definitions, including all ``(h·w)²`` pairwise products
  ``F_i(a)·F_j(b)`` for every channel pair — ``B·k²·(h·w)²`` numbers, so only for small ``k, h, w``;
- ``"fast"`` (default) uses the closed forms, ``O(k·h·w)``: sums over an outer product factorize,
  so ``LM_p(F_i ⊗ F_j) = LM_p(F_i)·LM_p(F_j)`` and the Lehmer map is ``C[i, j] = LM_p(F_i)``; the Max
  map ``M_i·M_j/S_j`` is cheap as written.

The fast forms are derived here (they are not in the papers); the test-suite checks that both modes
agree to 1e-5.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from ..errors import ConfigError, InputShapeError, InvalidPixelError, unknown_name
from ..validation import check_real

__all__ = ["ESTIMATORS", "Estimator", "MODES", "Mode", "FAITHFUL_LIMIT", "normalize_features", "lehmer_mean",
           "causality_map"]

ESTIMATORS = ("max", "lehmer")
Estimator = Literal["max", "lehmer"]
Mode = Literal["fast", "faithful"]
MODES = ("fast", "faithful")
#: Largest number of pairwise products (``B·k²·(h·w)²``) the faithful mode agrees to materialize.
FAITHFUL_LIMIT = 20_000_000


def _check_features(features: Tensor) -> None:
    if not isinstance(features, Tensor):
        raise InputShapeError(f"features must be a torch.Tensor B×k×h×w, got {type(features).__name__}.")
    if features.dim() != 4:
        hint = " Add a batch dimension with x[None]." if features.dim() == 3 else ""
        raise InputShapeError(
            f"features must have 4 dimensions B×k×h×w (batch, channels, grid rows, grid columns) — the "
            f"output of a conv layer; got shape {tuple(features.shape)}.{hint} The grid need not be "
            "square.")
    if min(features.shape) == 0:
        raise InputShapeError(f"features must not be empty, got shape {tuple(features.shape)}.")
    if not features.is_floating_point():
        raise InputShapeError(f"features must be floating point, got dtype {features.dtype}; use .float().")
    if not bool(torch.isfinite(features).all()):
        raise InvalidPixelError("features contain NaN or infinite values; check the model's weights and input "
                                "(torch.nan_to_num can replace them).")


def normalize_features(features: Tensor, eps: float = 1e-6) -> Tensor:
    """Normalize each sample by its global maximum and clamp to at least ``eps``.

    ``F = clamp(X / (max X + 1e-8), min=eps)``, the max taken over all channels and grid cells of
    one sample. [ours] The clamp (rather than adding ``eps``) keeps the closed forms exact and the
    logarithms finite.

    Parameters
    ----------
    features:
        ``B×k×h×w`` feature maps (post-ReLU activations).
    eps:
        Lower bound of ``F``; must be positive.

    Returns
    -------
    Tensor
        ``B×k×h×w`` values in ``[eps, 1]``.
    """
    top = features.flatten(1).amax(1).view(-1, 1, 1, 1)
    return (features / (top + 1e-8)).clamp(min=eps)


def lehmer_mean(values: Tensor, p: float, dim: int = -1) -> Tensor:
    """Lehmer mean ``LM_p(v) = Σ v^p / Σ v^(p−1)`` of positive values along ``dim``, in log space.

    ``p = 1`` is the arithmetic mean, ``p = 0`` the harmonic mean, ``p → ∞`` the maximum and
    ``p → −∞`` the minimum. Computed as ``exp(logsumexp(p·log v) − logsumexp((p−1)·log v))`` so it
    stays finite for ``|p|`` in the hundreds. The authors' code calls the exponent ``α = p − 1``.
    """
    logv = values.log()
    return (torch.logsumexp(p * logv, dim) - torch.logsumexp((p - 1.0) * logv, dim)).exp()


def _max_fast(f: Tensor) -> Tensor:
    flat = f.flatten(2)
    m, s = flat.amax(2), flat.sum(2)                      # B×k each
    return m.unsqueeze(2) * (m / s).unsqueeze(1)          # C[i,j] = M_i · M_j / S_j


def _max_faithful(f: Tensor) -> Tensor:
    flat = f.flatten(2)                                   # B×k×N
    prods = flat[:, :, None, :, None] * flat[:, None, :, None, :]   # B×k×k×N×N: F_i(a)·F_j(b)
    joint = prods.flatten(3).amax(3)                      # max over all pairs
    return joint / flat.sum(2).unsqueeze(1)               # ÷ S_j


def _lehmer_fast(f: Tensor, p: float) -> Tensor:
    lm = lehmer_mean(f.flatten(2), p)                     # B×k
    return lm.unsqueeze(2).expand(-1, -1, f.shape[1])     # C[i,j] = LM_p(F_i)


def _lehmer_faithful(f: Tensor, p: float) -> Tensor:
    logf = f.flatten(2).log()                             # B×k×N
    logprod = (logf[:, :, None, :, None] + logf[:, None, :, None, :]).flatten(3)  # B×k×k×N²
    lm_joint = torch.logsumexp(p * logprod, 3) - torch.logsumexp((p - 1.0) * logprod, 3)
    lm_j = torch.logsumexp(p * logf, 2) - torch.logsumexp((p - 1.0) * logf, 2)    # B×k
    return (lm_joint - lm_j.unsqueeze(1)).exp()


def causality_map(features: Tensor, estimator: Estimator = "max", p: float = 1.0, mode: Mode = "fast",
                  eps: float = 1e-6) -> Tensor:
    """Estimate the ``B×k×k`` causality map ``C[i, j] ≈ P(F_i | F_j)`` from feature co-occurrence.

    Parameters
    ----------
    features:
        ``B×k×h×w`` post-ReLU feature maps of a conv layer (usually the last). The grid may be
        non-square.
    estimator:
        ``"max"``: ``C[i, j] = M_i·M_j / S_j`` with ``M_i = max F_i`` and ``S_j = Σ F_j``.
        ``"lehmer"``: ``C[i, j] = LM_p(F_i(a)·F_j(b) over all pairs a, b) / LM_p(F_j)``.
    p:
        Lehmer power, ``LM_p(v) = Σ v^p / Σ v^(p−1)``: 1 arithmetic, 0 harmonic, large → max.
        The authors' code uses the exponent ``α = p − 1`` (so their ``α = 0`` is our ``p = 1``).
        Ignored by the Max estimator.
    mode:
        ``"fast"`` (closed forms, ``O(k·h·w)``, default) or ``"faithful"`` (materializes all pairwise
        products; refused with :class:`ConfigError` when ``B·k²·(h·w)²`` exceeds
        :data:`FAITHFUL_LIMIT`).
    eps:
        Lower clamp of the normalized features [ours].

    Returns
    -------
    Tensor
        ``B×k×k``; row ``i`` is the candidate cause, column ``j`` the candidate effect. Differentiable.

    Notes
    -----
    Computed in float64 and in log space [ours], so ``|p|`` up to the hundreds stays finite.
    Because of the closed forms
    the direction ``C[i, j] > C[j, i]`` is a total order of channels by one statistic: the mass
    ``S_i`` (Max) or the Lehmer mean ``LM_p(F_i)`` (Lehmer) — see :mod:`.ordering`.

    Examples
    --------
    >>> x = torch.rand(2, 8, 4, 4)
    >>> causality_map(x, "lehmer", p=2.0).shape
    torch.Size([2, 8, 8])
    """
    if estimator not in ESTIMATORS:
        raise unknown_name("causality estimator", estimator, ESTIMATORS)
    if mode not in MODES:
        raise unknown_name("causality-map mode", mode, MODES)
    p = check_real("p", p, hint="the power of the Lehmer / power mean")
    check_real("eps", eps, 0.0, strict=True, hint="it keeps log F finite")
    _check_features(features)
    b, k, h, w = features.shape
    if mode == "faithful" and b * k * k * (h * w) ** 2 > FAITHFUL_LIMIT:
        raise ConfigError(
            f"the faithful mode would materialize B·k²·(h·w)² = {b * k * k * (h * w) ** 2:,} pairwise "
            f"products (limit {FAITHFUL_LIMIT:,}); use mode='fast' (same numbers, closed form) or fewer "
            "channels / a smaller grid.")
    f = normalize_features(features.double(), eps)       # float64 inside [ours]: |p|·log eps is large
    if estimator == "max":
        out = _max_fast(f) if mode == "fast" else _max_faithful(f)
    else:
        out = _lehmer_fast(f, p) if mode == "fast" else _lehmer_faithful(f, p)
    return out.to(features.dtype)
