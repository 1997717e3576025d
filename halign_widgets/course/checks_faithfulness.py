"""Checks on how faithful an attribution map is: deletion / insertion, the sanity check, localization.

Chapter 01 measures explanations three ways, and each check recomputes the student's number with
the lab's own metrics (:mod:`halign_widgets.explain.metrics`) on the same model and images — the
maps come from :func:`halign_widgets.explain.explain`, deterministic for every method of the lab
(the random ones re-seed per image), so the checks hold for any seed and any training run:

- :func:`check_deletion_insertion` — deletion AUC, insertion AUC or Overall = insertion − deletion
  (Petsiuk et al. 2018, RISE);
- :func:`check_sanity_similarity` — the similarity of a method's map to the map of a model whose
  layers were re-initialized (Adebayo et al. 2018, cascading randomization);
- :func:`check_localization` — a score against the ground-truth masks: the same check as
  :func:`~.checks_maps.check_explanation_score`, which on data without masks says "not yet"
  in a line starting ``skipped:`` instead (a researcher's own data often has none).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import unknown_name
from ._verdict import NotYet, Verdict
from .checks_maps import check_explanation_score
from .core import as_number, as_tensor, checker

__all__ = ["check_deletion_insertion", "check_localization", "check_sanity_similarity"]

SCORES = {"deletion": "deletion_auc", "insertion": "insertion_auc", "overall": "overall"}


def _compare_mean(answer: Any, values: Tensor, what: str, tol: float, lo: float, hi: float) -> tuple[bool, float]:
    """``(passed, expected mean)``: a mean or one value per image against the lab's ``values``."""
    expected = float(values.double().mean())
    if isinstance(answer, (int, float)) or (isinstance(answer, Tensor) and answer.numel() == 1):
        value = as_number(answer, f"the mean {what}")
        if not lo - 1e-9 <= value <= hi + 1e-9:
            raise NotYet(f"{value:g} is outside [{lo:g}, {hi:g}], the range of {what}")
        return abs(value - expected) <= tol, expected
    got = as_tensor(answer, f"{what} values").flatten()
    if got.numel() != values.numel():
        raise NotYet(f"it has {got.numel()} values for {values.numel()} image(s)",
                     "give one value per image, or their mean")
    return bool(((got - values.double().flatten()).abs() <= tol).all()), expected


@checker(hint="explain(model, images, method) gives the maps; deletion_insertion(model, images, maps, steps=16) "
              "(halign_widgets.explain.metrics) gives .deletion_auc, .insertion_auc and .overall per image — "
              "average them")
def check_deletion_insertion(answer: Any, model: nn.Module, images: Tensor, method: str = "gradcam",
                             score: str = "overall", target: Any = None, steps: int = 16, baseline: str = "blur",
                             tol: float = 0.01, **explain_options: Any) -> Verdict:
    """Compare a deletion AUC, insertion AUC or Overall (a mean, or one per image) with the lab's.

    Called as ``check_deletion_insertion(name, answer, model, images, method="gradcam",
    score="overall", target=None, steps=16, baseline="blur", tol=0.01, **explain_options)``.
    ``score`` is ``"deletion"``, ``"insertion"`` or ``"overall"``; ``target=None`` explains (and
    tracks the probability of) the predicted class, as :func:`~halign_widgets.explain.explain` and
    :func:`~halign_widgets.explain.metrics.deletion_insertion` do.
    """
    from ..explain import explain
    from ..explain.metrics import deletion_insertion

    if score not in SCORES:
        raise unknown_name("score", score, tuple(SCORES))
    e = explain(model, images, method, target=target, **explain_options)
    result = deletion_insertion(model, images, e.maps, e.target, baseline=baseline, steps=int(steps))
    values = {name: getattr(result, attr).double() for name, attr in SCORES.items()}
    lo = -1.0 if score == "overall" else 0.0
    ok, expected = _compare_mean(answer, values[score], f"the {score} score", float(tol), lo, 1.0)
    parts = (f"insertion {float(values['insertion'].mean()):.3f} − deletion {float(values['deletion'].mean()):.3f}")
    if ok:
        return Verdict(True, f"{method}: {score} {expected:.3f} over {len(images)} image(s) agrees with the lab's "
                             f"({parts} = overall {float(values['overall'].mean()):.3f}; {steps} steps, "
                             f"{baseline} baseline)")
    for other in SCORES:
        if other != score and _compare_mean(answer, values[other], other, float(tol), -1.0, 1.0)[0]:
            raise NotYet(f"that is the {other} score, not the {score} score",
                         f"the exercise asks for the {score} score")
    if score == "overall" and _compare_mean(answer, -values[score], score, float(tol), -1.0, 1.0)[0] \
            and abs(expected) > tol:
        raise NotYet("it has the wrong sign", "Overall is insertion AUC minus deletion AUC")
    return Verdict(False, f"{method}: this {score} score is not what the lab measures on these {len(images)} image(s)",
                   None if steps == 16 else f"use steps={steps} and the {baseline!r} baseline, as the exercise says")


@checker(hint="randomize every layer (randomize_layers(model, cascade_layers(model), seed=0), from "
              "halign_widgets.explain.metrics), explain the SAME target on both models (target=trained.target), "
              "and average spearman(trained.maps, randomized.maps)")
def check_sanity_similarity(answer: Any, model: nn.Module, images: Tensor, method: str = "gradcam",
                            similarity: str = "spearman", target: Any = None, layers: Sequence[str] | None = None,
                            seed: int = 0, tol: float = 0.02, **explain_options: Any) -> Verdict:
    """Compare the similarity of ``method``'s maps on ``model`` and on a randomized copy with the lab's.

    Called as ``check_sanity_similarity(name, answer, model, images, method="gradcam",
    similarity="spearman", target=None, layers=None, seed=0, tol=0.02, **explain_options)``.
    ``layers`` are the layers re-initialized (default: all of
    :func:`~halign_widgets.explain.metrics.cascade_layers`, the leaderboard's full randomization);
    both maps explain the trained model's target (``None``: its predicted class). Low similarity
    = the map depends on what the model learned (the sanity check is passed).
    """
    from ..explain import explain
    from ..explain.metrics import cascade_layers, randomize_layers
    from ..explain.metrics.similarity import SIMILARITIES
    from ..explain.metrics.similarity import similarity as map_similarity

    if similarity not in SIMILARITIES:
        raise unknown_name("similarity", similarity, SIMILARITIES)
    names = list(layers) if layers is not None else cascade_layers(model)
    trained = explain(model, images, method, target=target, **explain_options)
    randomized_model = randomize_layers(model, names, seed)
    randomized = explain(randomized_model, images, method, target=trained.target, **explain_options)
    values = map_similarity(trained.maps, randomized.maps, similarity).double()
    lo = 0.0 if similarity == "ssim" else -1.0
    ok, expected = _compare_mean(answer, values, f"a {similarity} similarity", float(tol), lo, 1.0)
    if ok:
        return Verdict(True, f"{method}: {similarity} {expected:.3f} between the trained and the randomized model's "
                             f"maps ({len(names)} layer(s) re-initialized, {len(images)} image(s); the lower, the "
                             "more the map depends on what the model learned)")
    own = explain(randomized_model, images, method, **explain_options)       # a frequent slip: its own prediction
    if not torch.equal(own.target, trained.target) and _compare_mean(
            answer, map_similarity(trained.maps, own.maps, similarity).double(), similarity, float(tol), lo, 1.0)[0]:
        raise NotYet("the randomized model's maps explain ITS predicted class",
                     "explain the trained model's class on both models: target=trained.target")
    return Verdict(False, f"{method}: this {similarity} similarity is not what the lab measures")


def check_localization(name: str, answer: Any, model: nn.Module, images: Tensor, masks: Tensor | None,
                       method: str = "gradcam", metric: str = "relevance_mass", target: Any = None,
                       tol: float = 0.01, hint: str | None = None, **explain_options: Any) -> bool:
    """Chapter 01's localization check: :func:`~.checks_maps.check_explanation_score` under its exercise's name.

    On data without ground-truth masks (``masks=None``) it prints one "not yet" line starting
    ``skipped:`` that says how to give masks, and returns ``False``. Never raises.
    """
    return check_explanation_score(name, answer, model, images, masks, method=method, metric=metric, target=target,
                                   tol=tol, hint=hint, **explain_options)


check_localization.comparison = check_explanation_score.comparison  # type: ignore[attr-defined]
