"""Localization of attribution maps against ground-truth masks.

- Pointing game: J. Zhang et al., "Top-down Neural Attention by Excitation Backprop", ECCV 2016.
- Relevance mass accuracy: L. Arras, A. Osman, W. Samek, "CLEVR-XAI: A benchmark dataset for the
  ground truth evaluation of neural network explanations", Information Fusion 2022.
- Energy-based pointing game: H. Wang et al., "Score-CAM: Score-Weighted Visual Explanations for
  Convolutional Neural Networks", CVPR workshops 2020.

Undefined cases, one rule for all three metrics **[ours]**: an image whose mask is empty, or whose
map gives the metric nothing to measure (a constant map has no maximum; a map without positive
values has no mass), scores ``NaN`` and a single ``RuntimeWarning`` says how many images did.
Aggregate with ``nanmean`` and report the count — never silently as 0 or 1.

Hand-written: captum has no ground-truth localization metrics.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ...validation import check_int
from ._common import as_maps, as_masks, warn_undefined

__all__ = ["energy_pointing", "mask_share", "pointing_game", "relevance_mass"]


def _dilate(masks: Tensor, radius: int) -> Tensor:
    """Grow bool ``B×H×W`` masks by a Euclidean disk of ``radius`` pixels."""
    if radius <= 0:
        return masks
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    disk = ((t[:, None] ** 2 + t[None, :] ** 2) <= radius ** 2).float()
    grown = F.conv2d(masks[:, None].float(), disk[None, None], padding=radius)
    return grown[:, 0] > 0


def _share(weights: Tensor, masks: Tensor) -> Tensor:
    """``Σ_inside w / Σ w`` per image; NaN where the total is 0."""
    total = weights.flatten(1).sum(1)
    inside = (weights * masks).flatten(1).sum(1)
    out = inside / total.clamp_min(torch.finfo(weights.dtype).tiny)
    return torch.where(total > 0, out, torch.full_like(out, float("nan")))


def _empty_to_nan(scores: Tensor, masks: Tensor, metric: str) -> Tensor:
    empty = ~masks.flatten(1).any(1)
    warn_undefined(metric, int(empty.sum()), "their ground-truth mask is empty")
    return torch.where(empty, torch.full_like(scores, float("nan")), scores)


def pointing_game(maps: Tensor, masks: Tensor, tolerance: int = 0) -> Tensor:
    """Pointing game: does the map's maximum fall inside the mask?

    Parameters
    ----------
    maps:
        ``B×H×W`` (or ``B×1×H×W``) maps, raw and signed (the maximum is the most positive pixel).
    masks:
        ``B×H×W`` (or ``B×1×H×W``, or one ``H×W`` for all) ground-truth masks; non-zero = inside.
    tolerance:
        Radius in pixels by which the mask is grown before testing (Zhang et al. use 15 px on
        ImageNet; the default 0 is exact, suited to pixel-accurate synthetic masks).

    Returns
    -------
    Tensor
        ``B`` floats: 1.0 hit, 0.0 miss. When several pixels share the maximum the score is the
        fraction of them inside the mask **[ours]** (a map equal to the mask scores 1, ties are not
        decided by raster order). NaN for an empty mask or a constant map (see module docstring).
    """
    tolerance = check_int("tolerance", tolerance, 0, hint="pixels")
    maps = as_maps(maps)
    masks = _dilate(as_masks(masks, maps).cpu(), tolerance)
    maps = maps.cpu()
    flat = maps.flatten(1)
    top = flat == flat.max(1, keepdim=True).values
    scores = (top & masks.flatten(1)).sum(1).float() / top.sum(1).float()
    constant = flat.max(1).values == flat.min(1).values
    warn_undefined("pointing_game", int(constant.sum()), "their map is constant (no maximum to point with)")
    scores = torch.where(constant, torch.full_like(scores, float("nan")), scores)
    return _empty_to_nan(scores, masks, "pointing_game")


def mask_share(maps: Tensor, masks: Tensor, metric: str = "mask_share") -> Tensor:
    """Share of the positive part of each map that lies inside the mask (any region: lesion, marker …).

    Returns ``B`` floats in ``[0, 1]``; NaN where the mask is empty or the map has no positive value.
    """
    maps = as_maps(maps)
    masks = as_masks(masks, maps)
    positive = maps.clamp_min(0)
    scores = _share(positive, masks)
    warn_undefined(metric, int((positive.flatten(1).sum(1) == 0).sum()), "their map has no positive values")
    return _empty_to_nan(scores, masks, metric).cpu()


def relevance_mass(maps: Tensor, masks: Tensor) -> Tensor:
    """Relevance mass accuracy: share of the map's POSITIVE mass inside the mask (Arras et al. 2022).

    ``RM = Σ_{p∈mask} max(m_p, 0) / Σ_p max(m_p, 0)``; negative evidence is ignored, the scale of the
    map does not matter. 1.0 = all positive relevance on the ground truth.

    Returns ``B`` floats in ``[0, 1]``; NaN where the mask is empty or the map has no positive value.
    """
    return mask_share(maps, masks, "relevance_mass")


def energy_pointing(maps: Tensor, masks: Tensor) -> Tensor:
    """Energy-based pointing game (Score-CAM, Wang et al. 2020): share of map energy inside the mask.

    The positive part of the map (ReLU, as for a CAM) is min-max normalized per image, as Score-CAM
    does before scoring, ``L = (r − min r) / (max r − min r)`` with ``r = ReLU(m)``, and the score is
    ``Σ_{p∈mask} L_p / Σ_p L_p``.

    How it differs from :func:`relevance_mass`: ReLU and "positive part" are the same thing, so the
    two coincide whenever ``r`` reaches 0 somewhere (any map with a zero or negative pixel — every
    CAM with a ReLU'd background). They differ for strictly positive maps (absolute gradients,
    Score-CAM's softmax-weighted sums): the energy score removes the constant floor ``min r``
    before measuring, relevance mass counts the floor everywhere and so drifts towards the mask's
    area share.

    Returns ``B`` floats in ``[0, 1]``; NaN where the mask is empty or ``r`` is constant.
    """
    maps = as_maps(maps)
    masks = as_masks(masks, maps)
    r = maps.clamp_min(0).flatten(1)
    lo, hi = r.min(1, keepdim=True).values, r.max(1, keepdim=True).values
    flat = hi[:, 0] == lo[:, 0]
    norm = (r - lo) / (hi - lo).clamp_min(torch.finfo(r.dtype).tiny)
    scores = _share(norm.view_as(maps), masks)
    warn_undefined("energy_pointing", int(flat.sum()), "the ReLU of their map is constant (no energy)")
    scores = torch.where(flat, torch.full_like(scores, float("nan")), scores)
    return _empty_to_nan(scores, masks, "energy_pointing").cpu()
