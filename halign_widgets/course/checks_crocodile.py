"""Checks on a trained CROCODILE model (chapter 05): the domain gap, the intervention, the attention.

After Carloni et al. (2024), METHODS.md §2.4; the lab recomputes every answer with the same model
on the same images (:mod:`halign_widgets.crocodile`, eval mode, deterministic), so the checks hold
for any seed and any training run:

- :func:`check_domain_gap` — in-distribution minus out-of-distribution score (per-finding
  accuracy at a threshold, mAP or mean AUROC) on the protocol's ``test`` and ``ood_test`` parts;
- :func:`check_intervention_change` — how much mAP (or accuracy) the task prediction loses when
  every image's causal query features get another image's spurious ones added,
  ``z_ĉ = head(Q + Q̄[perm])`` with the fixed permutation ``perm = roll(arange(N), 1)``;
- :func:`check_attention_share` — the mean share of a finding query's attention (causal ``A_k``
  or spurious ``1 − A_k``) inside the finding's region, with the chance level on a pass.

Where the data cannot answer the question — no held-out source (your own data,
:func:`~halign_widgets.crocodile.in_distribution_splits`) or no masks — a check prints one line
``⏳ not yet: <name> — skipped: …`` saying why (:func:`~._skip.skip`), and returns ``False``;
like every check it never raises.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ._skip import skip
from ._verdict import NotYet, Verdict
from .core import as_number, checker

__all__ = ["GAP_METRICS", "check_attention_share", "check_domain_gap", "check_intervention_change"]

GAP_METRICS = ("accuracy", "map", "auroc")


def _skip(name: str, reason: str) -> bool:
    return skip(name, reason)       # the course's one way to say "skipped on this data"


def _lacks(condition: Callable[[], bool]) -> bool:
    """``condition()``, or ``False`` when it fails: the comparison then reports the broken argument."""
    try:
        return bool(condition())
    except Exception:  # noqa: BLE001 - a check never raises
        return False


def _score(probs: Tensor, labels: Tensor, metric: str, threshold: float) -> float:
    from ..crocodile import mean_auroc, mean_average_precision

    if metric == "accuracy":
        return float(((probs > threshold) == labels.bool()).double().mean())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return mean_average_precision(probs, labels) if metric == "map" else mean_auroc(probs, labels)


def _metric(metric: str) -> str:
    from ..errors import unknown_name

    if metric not in GAP_METRICS:
        raise unknown_name("metric", metric, GAP_METRICS)
    return metric


def _tolerance(metric: str, n: int, k: int, tol: float | None) -> float:
    if tol is not None:
        return float(tol)
    return 0.5 / max(1, n * k) if metric == "accuracy" else 1e-4     # less than one finding decision


@checker(hint="take the sigmoid of the first K logits (crocodile.finding_probabilities), score the `test` and the "
              "`ood_test` part the same way, and subtract: ID minus OOD")
def _compare_gap(answer: Any, model: nn.Module, splits: Any, metric: str = "accuracy", threshold: float = 0.5,
                 tol: float | None = None) -> Verdict:
    from ..crocodile import finding_probabilities

    metric = _metric(metric)
    value = as_number(answer, "a difference of two scores")
    scores = {}
    for part in ("test", "ood_test"):
        probs = finding_probabilities(model, splits.images(part), splits.num_findings)
        scores[part] = _score(probs, splits.labels(part), metric, threshold)
    expected = scores["test"] - scores["ood_test"]
    n = min(len(splits.parts["test"]), len(splits.parts["ood_test"]))
    bound = _tolerance(metric, n, splits.num_findings, tol)
    what = {"accuracy": f"per-finding accuracy (threshold {threshold:g})", "map": "mAP", "auroc": "mean AUROC"}[metric]
    if abs(value - expected) <= bound:
        return Verdict(True, f"ID − OOD {what} {value:+.4f} (the lab measures {scores['test']:.3f} in distribution, "
                             f"{scores['ood_test']:.3f} on the held-out source: {expected:+.4f})")
    if abs(value + expected) <= bound and abs(expected) > bound:
        raise NotYet(f"{value:+.4f} has the wrong sign", "the gap is in-distribution minus out-of-distribution")
    return Verdict(False, f"{value:+.4f} is not the {what} gap the lab measures for this model")


def check_domain_gap(name: str, answer: Any, model: nn.Module, splits: Any, metric: str = "accuracy",
                     threshold: float = 0.5, tol: float | None = None, hint: str | None = None) -> bool:
    """Compare an ID − OOD gap with the one the lab measures for ``model`` on ``splits``.

    Called as ``check_domain_gap(name, answer, model, splits, metric="accuracy", threshold=0.5)``;
    ``splits`` is a :class:`~halign_widgets.crocodile.DomainSplits`. ``metric`` is ``"accuracy"``
    (the share of correct finding decisions, probability > ``threshold``, over all images and
    findings), ``"map"`` or ``"auroc"``. The tolerance is less than one finding decision for the
    accuracy and ``1e-4`` otherwise. Without a held-out source it prints a "skipped" line.
    """
    if _lacks(lambda: not getattr(splits, "has_ood", True)):
        return _skip(str(name), "this data has no held-out acquisition source, so there is no "
                                "out-of-distribution test (it needs a world with domains)")
    return _compare_gap(name, answer, model, splits, metric=metric, threshold=threshold, tol=tol, hint=hint)


check_domain_gap.comparison = _compare_gap.comparison  # type: ignore[attr-defined]


def intervention_scores(model: nn.Module, images: Tensor, labels: Tensor, metric: str = "map",
                        threshold: float = 0.5) -> tuple[float, float]:
    """``(score of z_x, score of z_ĉ)`` of the task branch, with ``perm = roll(arange(N), 1)`` (eval mode)."""
    from ..models import eval_mode, model_device

    task = getattr(model, "task", None)
    if not isinstance(task, nn.Module):
        raise TypeError("the intervention needs a CrocodileNet (a model with a task branch); the baselines have none")
    perm = torch.roll(torch.arange(images.shape[0]), 1)
    with torch.no_grad(), eval_mode(model):
        device = model_device(model)
        out = task(images.to(device), perm=perm.to(device))
    plain, swapped = torch.sigmoid(out.z).cpu(), torch.sigmoid(out.z_intervened).cpu()
    return _score(plain, labels, metric, threshold), _score(swapped, labels, metric, threshold)


@checker(hint="run the task branch in eval mode with perm = torch.roll(torch.arange(N), 1) "
              "(model.task(images, perm=perm)), score the sigmoid of .z and of .z_intervened the same way, and "
              "subtract: plain minus intervened")
def _compare_intervention(answer: Any, model: nn.Module, splits: Any, part: str = "test", metric: str = "map",
                          threshold: float = 0.5, tol: float | None = None) -> Verdict:
    metric = _metric(metric)
    value = as_number(answer, "a difference of two scores")
    labels = splits.labels(part)
    plain, swapped = intervention_scores(model, splits.images(part), labels, metric, threshold)
    expected = plain - swapped
    bound = _tolerance(metric, len(labels), splits.num_findings, tol)
    if abs(value - expected) <= bound:
        return Verdict(True, f"{metric} {value:+.4f} lost to other images' spurious features (the lab: {plain:.3f} "
                             f"plain, {swapped:.3f} intervened on the {len(labels)} images of {part!r})")
    return Verdict(False, f"{value:+.4f} is not the change the lab measures for this model on {part!r}")


def check_intervention_change(name: str, answer: Any, model: nn.Module, splits: Any, part: str = "test",
                              metric: str = "map", threshold: float = 0.5, tol: float | None = None,
                              hint: str | None = None) -> bool:
    """Compare ``score(z_x) − score(z_ĉ)`` with the lab's, for the images of ``splits``' ``part``.

    Called as ``check_intervention_change(name, answer, model, splits, part="test", metric="map")``.
    ``z_ĉ = head(Q + Q̄[perm])`` with ``perm = roll(arange(N), 1)`` over the part's images in one
    batch (eval mode: no dropout): each image's prediction with its neighbour's spurious features
    added — the backdoor-style intervention the ``task_intervened`` loss trains against.
    """
    if _lacks(lambda: part.startswith("ood") and not getattr(splits, "has_ood", True)):
        return _skip(str(name), f"this data has no held-out source, so the part {part!r} is empty")
    return _compare_intervention(name, answer, model, splits, part=part, metric=metric, threshold=threshold, tol=tol,
                                 hint=hint)


check_intervention_change.comparison = _compare_intervention.comparison  # type: ignore[attr-defined]


def attention_share(model: nn.Module, dataset: Any, finding: int, stream: str = "causal") -> tuple[float, float, int]:
    """``(mean relevance mass of the stream's map in the finding's region, mean region share, images)``.

    Over the images of ``dataset`` that show ``finding``; relevance mass is the share of the
    (upsampled) attention map's mass inside the region (:func:`~halign_widgets.explain.metrics.relevance_mass`).
    """
    from ..crocodile import attention_maps, finding_masks
    from ..explain.metrics import relevance_mass

    if stream not in ("causal", "spurious"):
        raise ValueError(f"stream must be 'causal' or 'spurious', got {stream!r}")
    regions = finding_masks(dataset)[:, int(finding)]
    present = regions.flatten(1).any(1)
    if not bool(present.any()):
        raise NotYet(f"no image of these shows finding {finding}", "pick a finding that is present in the images")
    causal, spurious = attention_maps(model, dataset.images[present], int(finding))
    maps = causal if stream == "causal" else spurious
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        share = float(relevance_mass(maps, regions[present]).double().nanmean())
    return share, float(regions[present].double().mean()), int(present.sum())


@checker(hint="keep the images that show the finding (their region in crocodile.finding_masks is not empty), take "
              "the causal map of crocodile.attention_maps(model, images, finding) and average "
              "explain.metrics.relevance_mass(maps, regions) over them")
def _compare_share(answer: Any, model: nn.Module, dataset: Any, finding: int = 0, stream: str = "causal",
                   tol: float = 1e-4) -> Verdict:
    value = as_number(answer, "a share (a fraction)")
    if not -1e-9 <= value <= 1.0 + 1e-9:
        raise NotYet(f"{value:g} is outside [0, 1]; a share of the attention is a fraction")
    expected, chance, n = attention_share(model, dataset, finding, stream)
    if abs(value - expected) <= tol:
        return Verdict(True, f"{value:.4f} of the {stream} attention of finding {finding} lies in its region, over "
                             f"{n} images (the lab measures {expected:.4f}; chance, the region's share of the image: "
                             f"{chance:.4f})")
    return Verdict(False, f"{value:.4f} is not the share the lab measures over these images")


def check_attention_share(name: str, answer: Any, model: nn.Module, dataset: Any, finding: int = 0,
                          stream: str = "causal", tol: float = 1e-4, hint: str | None = None) -> bool:
    """Compare the mean share of a finding query's attention inside the finding's region with the lab's.

    Called as ``check_attention_share(name, answer, model, dataset, finding=0, stream="causal")``;
    ``dataset`` holds the images (e.g. the ``ood_test`` part as a dataset) and their masks. The
    pass line prints the chance level (the region's mean share of the image). Without masks it
    prints a "skipped" line.
    """
    if _lacks(lambda: getattr(dataset, "masks", 0) is None):
        return _skip(str(name), "this data has no ground-truth masks, so there is no region to score the "
                                "attention against (give DATA_OPTIONS['masks'] or <split>_masks in the .npz)")
    return _compare_share(name, answer, model, dataset, finding=finding, stream=stream, tol=tol, hint=hint)


check_attention_share.comparison = _compare_share.comparison  # type: ignore[attr-defined]
