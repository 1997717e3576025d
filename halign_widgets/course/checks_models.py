"""Checks on a trained model: its accuracy, and the accuracy it loses under an intervention.

The lab recomputes both on the same data (:func:`~.measure.accuracy_of`, eval mode), so the checks
hold for any seed and any training run. The default tolerance is half an image's worth of accuracy
(``0.5/N``): the count of correct images must be the lab's, whatever the batch size, while float
rounding of the fraction does not matter.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from ._verdict import NotYet, Verdict
from .core import as_number, checker
from .measure import accuracy_of, images_and_labels

__all__ = ["check_accuracy", "check_ablation_drop", "check_pathway_drop"]

Intervention = Callable[[], contextlib.AbstractContextManager[Any]] | contextlib.AbstractContextManager[Any]


def _tolerance(tol: float | None, n: int) -> float:
    return (0.5 / n + 1e-9) if tol is None else float(tol)


def _fraction(answer: Any, expected: float, tol: float, signed: bool = False) -> float:
    value = as_number(answer, "an accuracy (a fraction)")
    lo = -1.0 if signed else 0.0
    if not lo - 1e-9 <= value <= 1.0 + 1e-9:
        if 1.0 < abs(value) <= 100.0 and abs(value / 100.0 - expected) <= tol:
            raise NotYet(f"{value:g} looks like a percentage", "give the fraction in [0, 1], not percent")
        raise NotYet(f"{value:g} is outside [{lo:g}, 1]; an accuracy is a fraction of the images")
    return value


def _compare_accuracy(answer: Any, model: nn.Module, data: Any, labels: Tensor | None, tol: float | None) -> Verdict:
    images, labels = images_and_labels(data, labels)
    expected = accuracy_of(model, images, labels)
    tol = _tolerance(tol, len(images))
    value = _fraction(answer, expected, tol)
    if abs(value - expected) <= tol:
        return Verdict(True, f"accuracy {value:.3f} on {len(images)} images (the lab measures {expected:.3f})")
    return Verdict(False, f"accuracy {value:.3f} is not what the lab measures on these {len(images)} images")


@checker(hint="count the images whose largest logit is the label, with the model in eval mode, and divide by "
              "their number (trainer.evaluate(data)['accuracy'] does it too)")
def check_accuracy(answer: Any, model: nn.Module, data: Any, labels: Tensor | None = None,
                   tol: float | None = None) -> Verdict:
    """Compare an accuracy with the model's accuracy on ``data`` recomputed by the lab.

    Called as ``check_accuracy(name, answer, model, data, labels=None, tol=None, hint=None)``;
    ``data`` is a dataset (``world.test``) or an image tensor with ``labels``; ``tol`` defaults to
    half an image (``0.5/N``: the same count of correct images). A percentage (e.g. ``95.0``) gets a "not yet" that says
    so.
    """
    return _compare_accuracy(answer, model, data, labels, tol)


def _enter(intervention: Intervention) -> contextlib.AbstractContextManager[Any]:
    if hasattr(intervention, "__enter__"):
        return intervention  # type: ignore[return-value]
    if callable(intervention):
        made = intervention()
        if hasattr(made, "__enter__"):
            return made
    raise TypeError("intervention must be a context manager or a function that returns one, e.g. "
                    "lambda: ablate(model, pathways='dorsal')")


def _compare_drop(answer: Any, model: nn.Module, data: Any, intervention: Intervention, labels: Tensor | None,
                  tol: float | None, what: str) -> Verdict:
    images, labels = images_and_labels(data, labels)
    intact = accuracy_of(model, images, labels)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_enter(intervention))
        changed = accuracy_of(model, images, labels)
    expected = intact - changed
    tol = _tolerance(tol, len(images))
    value = _fraction(answer, expected, tol, signed=True)
    if abs(value - expected) <= tol:
        return Verdict(True, f"{what}: accuracy drop {value:+.3f} (the lab measures {intact:.3f} → {changed:.3f}, "
                             f"a drop of {expected:+.3f})")
    if abs(value + expected) <= tol and abs(expected) > tol:
        raise NotYet(f"{value:+.3f} has the wrong sign", "the drop is intact accuracy minus the accuracy under the "
                                                         "intervention (positive = the part helped)")
    return Verdict(False, f"{what}: a drop of {value:+.3f} is not what the lab measures")


@checker(hint="measure the accuracy twice on the same images — intact, and inside the `with` block of the "
              "intervention — and subtract: intact minus changed")
def check_ablation_drop(answer: Any, model: nn.Module, data: Any, intervention: Intervention,
                        labels: Tensor | None = None, tol: float | None = None) -> Verdict:
    """Compare an accuracy drop with ``accuracy(intact) − accuracy(under the intervention)``.

    Called as ``check_ablation_drop(name, answer, model, data, intervention, labels=None, tol=None)``.
    ``intervention`` is a context manager, or a function returning one, that changes the model
    inside its block and restores it afterwards (``lambda: ablate(model, pathways="dorsal")``,
    ``lambda: temporarily(model.causality, direction="effects")``). Positive = the part helped.
    """
    return _compare_drop(answer, model, data, intervention, labels, tol, "under the intervention")


@checker(hint="with biovision.ablate(model, pathways=..., cabs=..., edges=...) as a `with` block, measure the "
              "accuracy inside it and subtract it from the intact accuracy")
def check_pathway_drop(answer: Any, model: nn.Module, data: Any, pathways: Any = None, cabs: Any = None,
                       edges: Any = None, labels: Tensor | None = None, tol: float | None = None) -> Verdict:
    """The accuracy a CoCoReco loses when ``pathways`` / ``cabs`` / ``edges`` are cut (chapter 06).

    Called as ``check_pathway_drop(name, answer, model, data, pathways=None, cabs=None, edges=None)``;
    the cut is :func:`halign_widgets.biovision.ablate`, which restores the model afterwards.
    """
    from ..biovision import ablate

    cut = ", ".join(f"{k}={v!r}" for k, v in (("pathways", pathways), ("cabs", cabs), ("edges", edges)) if v)
    return _compare_drop(answer, model, data, lambda: ablate(model, pathways=pathways, cabs=cabs, edges=edges),
                         labels, tol, f"cut {cut or 'nothing'}")
