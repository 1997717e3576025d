"""Similarity of two batches of maps: Spearman rank correlation and SSIM.

Used by the sanity check (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018), which
compares maps of the original and of the randomized model with both measures. Hand-written in
torch (scipy and scikit-image are not dependencies; ties and constant maps need an explicit rule).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ...errors import unknown_name
from ._common import as_maps

__all__ = ["SIMILARITIES", "minmax", "rank_average", "similarity", "spearman", "ssim"]

SIMILARITIES = ("spearman", "spearman_signed", "ssim")


def rank_average(v: Tensor) -> Tensor:
    """Ranks ``1 … N`` of each row of ``v`` (``B×N``), tied values getting their average rank."""
    out = torch.empty_like(v, dtype=torch.float64)
    for i, row in enumerate(v):
        sorted_vals, order = torch.sort(row, stable=True)
        _, inverse, counts = torch.unique_consecutive(sorted_vals, return_inverse=True, return_counts=True)
        ends = torch.cumsum(counts, 0).double()
        avg = ends - (counts.double() - 1) / 2  # mean of ranks start..end of each tie group
        out[i, order] = avg[inverse]
    return out


def spearman(a: Tensor, b: Tensor, absolute: bool = True) -> Tensor:
    """Spearman rank correlation per image of two ``B×H×W`` batches of maps.

    Parameters
    ----------
    a, b:
        Maps to compare.
    absolute:
        Rank ``|a|`` and ``|b|`` (Adebayo et al.'s main variant: the sign of an attribution is often
        arbitrary after randomization). ``False`` ranks the signed values.

    Returns
    -------
    Tensor
        ``B`` correlations in ``[-1, 1]``. A constant map has no ranking: its correlation is defined
        as 0 **[ours]** (no evidence of similarity) instead of NaN.
    """
    a, b = as_maps(a, name="a"), as_maps(b, (a.shape[-2], a.shape[-1]), batch=a.shape[0], name="b")
    if absolute:
        a, b = a.abs(), b.abs()
    ra, rb = rank_average(a.flatten(1).cpu()), rank_average(b.flatten(1).cpu())
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    denom = (ra.norm(dim=1) * rb.norm(dim=1))
    rho = (ra * rb).sum(1) / denom.clamp_min(1e-300)
    return torch.where(denom > 0, rho, torch.zeros_like(rho)).float().clamp(-1.0, 1.0)


def minmax(maps: Tensor) -> Tensor:
    """Min-max normalize each map to ``[0, 1]``; a constant map becomes all zeros."""
    flat = maps.flatten(1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    span = hi - lo
    out = torch.where(span > 0, (flat - lo) / span.clamp_min(torch.finfo(flat.dtype).tiny), torch.zeros_like(flat))
    return out.view_as(maps)


def _gaussian_window(size: int, sigma: float) -> Tensor:
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    g = g / g.sum()
    return (g[:, None] * g[None, :]).float()


def ssim(a: Tensor, b: Tensor, window: int = 11, sigma: float = 1.5, absolute: bool = True) -> Tensor:
    """Structural similarity (Wang et al., IEEE TIP 2004) per image of two ``B×H×W`` batches of maps.

    Both maps are first made comparable **[ours]**: absolute value (if ``absolute``), then min-max
    normalization to ``[0, 1]`` per map (so data range ``L = 1``, ``C1 = (0.01 L)²``,
    ``C2 = (0.03 L)²``). Local statistics use a Gaussian window (``window`` × ``window`` pixels,
    std ``sigma``; shrunk to the map size for small maps) over "valid" positions only, and the
    score is the mean of the SSIM map.

    Returns
    -------
    Tensor
        ``B`` values in ``[-1, 1]``; 1 for identical maps.
    """
    a, b = as_maps(a, name="a"), as_maps(b, (a.shape[-2], a.shape[-1]), batch=a.shape[0], name="b")
    if absolute:
        a, b = a.abs(), b.abs()
    a, b = minmax(a.cpu())[:, None], minmax(b.cpu())[:, None]
    size = min(window, a.shape[-1], a.shape[-2])
    size = size if size % 2 == 1 else size - 1
    w = _gaussian_window(size, sigma)[None, None]
    mu_a, mu_b = F.conv2d(a, w), F.conv2d(b, w)
    var_a = F.conv2d(a * a, w) - mu_a ** 2
    var_b = F.conv2d(b * b, w) - mu_b ** 2
    cov = F.conv2d(a * b, w) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)
    return (num / den).flatten(1).mean(1)


def similarity(a: Tensor, b: Tensor, kind: str) -> Tensor:
    """Dispatch: ``"spearman"`` (of absolute values), ``"spearman_signed"`` or ``"ssim"``."""
    if kind == "spearman":
        return spearman(a, b, absolute=True)
    if kind == "spearman_signed":
        return spearman(a, b, absolute=False)
    if kind == "ssim":
        return ssim(a, b)
    raise unknown_name("similarity", kind, SIMILARITIES)
