"""Checks on explanation maps scored against the ground-truth masks.

The scores are :mod:`halign_widgets.explain.metrics`' (relevance mass after Arras et al. 2022,
the pointing game after Zhang et al. 2016, the energy-based pointing game after Wang et al. 2020).
:func:`check_explanation_score` recomputes the maps with :func:`halign_widgets.explain.explain`
(deterministic for every method of the lab: the random ones re-seed per image), so the check holds
for any trained model. The pass line prints the chance level — the mask's share of the image,
which is what a map that looks everywhere alike scores. On data without masks (``masks=None``, a
researcher's own data often has none) it prints the course's one "skipped" line (:func:`~._skip.skip`).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import unknown_name
from ._skip import NO_MASKS, skip
from ._verdict import NotYet, Verdict
from .core import as_number, as_tensor, checker

__all__ = ["METRICS", "check_map_score", "check_explanation_score"]

METRICS = ("relevance_mass", "pointing_game", "energy_pointing", "mask_share")


def _scores(maps: Tensor, masks: Tensor, metric: str) -> Tensor:
    from ..explain import metrics as M

    if metric not in METRICS:
        raise unknown_name("map score", metric, METRICS)
    masks = masks[:, 0] if masks.dim() == 4 else masks
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # undefined images are NaN; counted below
        return getattr(M, metric)(maps.detach().cpu(), masks.cpu()).double()


def _compare_scores(answer: Any, maps: Tensor, masks: Tensor, metric: str, tol: float) -> Verdict:
    scores = _scores(maps, masks, metric)
    defined = ~torch.isnan(scores)
    chance = float(masks.float().mean())
    undefined = int((~defined).sum())
    note = f"; chance level (mask share) {chance:.3f}" + (f"; {undefined} image(s) undefined" if undefined else "")
    if isinstance(answer, (int, float)) or (isinstance(answer, Tensor) and answer.numel() == 1):
        value = as_number(answer, f"the mean {metric}")
        if not defined.any():
            raise NotYet(f"{metric} is undefined on every image here", "check the masks and the maps")
        expected = float(scores[defined].mean())
        if abs(value - expected) <= tol:
            return Verdict(True, f"mean {metric} {value:.3f} over {int(defined.sum())} image(s) (the lab measures "
                                 f"{expected:.3f}{note})")
        return Verdict(False, f"mean {metric} {value:.3f} is not within {tol:g} of what the lab measures",
                       None if 0.0 <= value <= 1.0 else f"{metric} is a share, between 0 and 1")
    got = as_tensor(answer, f"{metric} scores").flatten()
    if got.numel() != scores.numel():
        raise NotYet(f"it has {got.numel()} values for {scores.numel()} image(s)",
                     "give one score per image, or their mean (NaN-aware: torch.nanmean)")
    same_nan = torch.isnan(got) == torch.isnan(scores)
    close = torch.where(defined, (got - scores).abs() <= tol, torch.isnan(got))
    if bool(same_nan.all() and close.all()):
        return Verdict(True, f"{metric} of all {scores.numel()} image(s) agree with the lab's{note}")
    return Verdict(False, f"{int((~close).sum())} of {scores.numel()} per-image {metric} values differ from the lab's")


@checker(hint="score the maps with halign_widgets.explain.metrics (relevance_mass, pointing_game, …) against the "
              "masks, and average over the images where the score is defined (torch.nanmean)")
def check_map_score(answer: Any, maps: Tensor, masks: Tensor, metric: str = "relevance_mass",
                    tol: float = 0.01) -> Verdict:
    """Compare a localization score (one mean, or one value per image) with the lab's on given maps.

    Called as ``check_map_score(name, answer, maps, masks, metric="relevance_mass", tol=0.01)``;
    ``metric`` is one of :data:`METRICS`; ``maps`` ``B×H×W``, ``masks`` ``B×H×W`` or ``B×1×H×W``.
    """
    return _compare_scores(answer, maps, masks, metric, float(tol))


@checker(hint="explain(model, images, method, target=labels).maps gives the maps; score them against the masks "
              "with halign_widgets.explain.metrics and average (torch.nanmean)")
def _explanation_score(answer: Any, model: nn.Module, images: Tensor, masks: Tensor, method: str = "gradcam",
                       metric: str = "relevance_mass", target: Any = None, tol: float = 0.01,
                       **explain_options: Any) -> Verdict:
    from ..explain import explain

    maps = explain(model, images, method, target=target, **explain_options).maps
    verdict = _compare_scores(answer, maps, masks, metric, float(tol))
    return Verdict(verdict.passed, f"{method}: {verdict.detail}", verdict.hint)


def check_explanation_score(name: str, answer: Any, model: nn.Module, images: Tensor, masks: Tensor | None,
                            method: str = "gradcam", metric: str = "relevance_mass", target: Any = None,
                            tol: float = 0.01, hint: str | None = None, **explain_options: Any) -> bool:
    """Recompute ``method``'s maps of ``model`` on ``images`` and compare a score against ``masks``.

    Called as ``check_explanation_score(name, answer, model, images, masks, method="gradcam",
    metric="relevance_mass", target=None, tol=0.01, **explain_options)`` (options go to
    :func:`~halign_widgets.explain.explain`, e.g. ``layer=``). With ``masks=None`` (data without
    ground-truth masks) one "not yet … skipped" line says how to give masks. Never raises.
    """
    if masks is None:
        return skip(str(name), NO_MASKS, answer)
    return bool(_explanation_score(name, answer, model, images, masks, method=method, metric=metric, target=target,
                                   tol=tol, hint=hint, **explain_options))


check_explanation_score.comparison = _explanation_score.comparison  # type: ignore[attr-defined]  # as @checker's
