"""Checks on a trained ProtoPNet (chapter 03): what its prototypes look at, and what each is worth.

ProtoPNet after Chen et al., "This Looks Like That", NeurIPS 2019 (METHODS.md §1.5). Each check
recomputes the student's measurement with :mod:`halign_widgets.prototypes` on the same model and
data (deterministic, eval mode):

- :func:`check_top_prototype_on_mask` — the share of test images whose top prototype's box lies on
  the true cause (:func:`~halign_widgets.prototypes.explanation_truth`);
- :func:`check_off_mask_drop` — the accuracy lost when every prototype pushed onto a patch *off*
  the lesion is switched off (:func:`~halign_widgets.prototypes.prototype_truth`);
- :func:`check_largest_prototype_drop` — the largest accuracy drop one prototype causes when it
  alone is switched off;
- :func:`check_distinct_prototypes` — how many different prototypes there are once collapsed
  ones (pushed onto one patch, equal vectors) count once
  (:func:`~halign_widgets.prototypes.duplicate_prototypes`).

On data without masks the two mask checks print a "not yet" line saying they are skipped.
:func:`prototypes_off` switches prototypes off for a ``with`` block (their similarity no longer
reaches the logits).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ._skip import NO_MASKS, skip
from ._verdict import NotYet, Verdict
from .checks_models import _compare_drop, _fraction, _tolerance
from .core import as_integer, checker
from .measure import accuracy_of, images_and_labels

if TYPE_CHECKING:
    from ..prototypes import ProtoPNet

__all__ = ["check_distinct_prototypes", "check_largest_prototype_drop", "check_off_mask_drop",
           "check_top_prototype_on_mask", "prototypes_off"]


def _protopnet(model: Any) -> ProtoPNet:
    if not (isinstance(model, nn.Module) and hasattr(model, "prototype_active") and hasattr(model, "num_prototypes")):
        raise ConfigError(f"expected a ProtoPNet (halign_widgets.prototypes.ProtoPNet), got {type(model).__name__}.")
    return cast("ProtoPNet", model)


@contextlib.contextmanager
def prototypes_off(model: nn.Module, prototypes: Iterable[int]) -> Iterator[list[int]]:
    """Switch ``prototypes`` of a ProtoPNet off inside the block; the switches are put back afterwards.

    Examples
    --------
    >>> with prototypes_off(model, [0, 3]):                         # doctest: +SKIP
    ...     acc = accuracy_of(model, world.test)
    """
    net = _protopnet(model)
    chosen = sorted({int(j) for j in prototypes})
    bad = [j for j in chosen if not 0 <= j < net.num_prototypes]
    if bad:
        raise ConfigError(f"prototype(s) {bad} do not exist; the model has {net.num_prototypes} (0 to "
                          f"{net.num_prototypes - 1}).")
    active = cast(Tensor, net.prototype_active)
    old = active.detach().clone()
    try:
        with torch.no_grad():
            active[chosen] = 0.0
        yield chosen
    finally:
        with torch.no_grad():
            active.copy_(old)


def _no_masks(data: Any) -> bool:
    return getattr(data, "masks", None) is None


# -- what the top prototype looks at ------------------------------------------------------------------
def _compare_top_on_mask(answer: Any, model: nn.Module, data: Any, top: int = 1) -> Verdict:
    from ..prototypes import explanation_truth

    table = explanation_truth(_protopnet(model), data, top=top)
    expected = float(table["on_mask"].mean())
    chance = float(table["chance"].mean())
    tol = _tolerance(None, len(table)) if top == 1 else 1e-6
    value = _fraction(answer, expected, tol)
    if abs(value - expected) <= tol:
        return Verdict(True, f"{value:.3f} of {len(table)} images: the top-{top} box lies on the lesion "
                             f"(the lab measures {expected:.3f}; the mask covers {chance:.3f} of an image on average)")
    return Verdict(False, f"{value:.3f} is not the share the lab measures on these {len(table)} images")


_top_check = checker(_compare_top_on_mask, hint="explanation_truth(model, data, top=1) has one row per image; its "
                                                 "'on_mask' column says whether the top box lies on the lesion — "
                                                 "average it")


def check_top_prototype_on_mask(name: str, answer: Any, model: nn.Module, data: Any, top: int = 1,
                                hint: str | None = None) -> bool:
    """The share of ``data``'s images whose top prototype's box is on the true-cause mask.

    Called as ``check_top_prototype_on_mask(name, answer, model, data, top=1)``; with ``top > 1``
    the mean over images of the share of their ``top`` boxes on the mask. Data without masks: one
    "not yet" line saying it is skipped. Never raises.
    """
    if _no_masks(data):
        return skip(str(name), NO_MASKS, answer)
    return _top_check(name, answer, model, data, top, hint=hint)


check_top_prototype_on_mask.comparison = _compare_top_on_mask  # type: ignore[attr-defined]  # as @checker's checks


# -- what the off-lesion prototypes are worth ---------------------------------------------------------
def _off_mask(model: nn.Module, push: Any, train: Any) -> list[int]:
    from ..prototypes import prototype_truth

    truth = prototype_truth(_protopnet(model), push, train)
    return [int(j) for j in truth.index[~truth["on_mask"] & truth["active"]]]


def _compare_off_mask_drop(answer: Any, model: nn.Module, push: Any, train: Any, test: Any) -> Verdict:
    off = _off_mask(model, push, train)
    verdict = _compare_drop(answer, model, test, lambda: prototypes_off(model, off), None, None,
                            f"{len(off)} off-lesion prototype(s) off")
    return verdict


_off_check = checker(_compare_off_mask_drop, hint="prototype_truth(model, run.push, world.train) marks each prototype "
                                                   "'on_mask'; switch the others off (editor.disable(...), then "
                                                   "editor.undo()), measure the test accuracy, subtract from the "
                                                   "intact one")


def check_off_mask_drop(name: str, answer: Any, model: nn.Module, push: Any, train: Any, test: Any,
                        hint: str | None = None) -> bool:
    """The test accuracy lost when every active prototype pushed off the lesion is switched off.

    Called as ``check_off_mask_drop(name, answer, model, push, train, test)``: ``push`` the push
    records (``run.push``), ``train`` the push set with masks, ``test`` the data to measure on.
    Positive = the off-lesion prototypes helped. Without masks: one "not yet" line saying it is
    skipped. Never raises.
    """
    if _no_masks(train):
        return skip(str(name), NO_MASKS, answer)
    return _off_check(name, answer, model, push, train, test, hint=hint)


check_off_mask_drop.comparison = _compare_off_mask_drop  # type: ignore[attr-defined]  # as @checker's checks


# -- the most valuable prototype ------------------------------------------------------------------------
def _prototype_drops(model: nn.Module, data: Any) -> tuple[float, dict[int, float]]:
    """The intact accuracy on ``data`` and, per active prototype, the accuracy lost with it alone switched off."""
    net = _protopnet(model)
    images, labels = images_and_labels(data)
    intact = accuracy_of(net, images, labels)
    drops: dict[int, float] = {}
    for j in (cast(Tensor, net.prototype_active) > 0).nonzero()[:, 0].tolist():
        with prototypes_off(net, [j]):
            drops[int(j)] = intact - accuracy_of(net, images, labels)
    return intact, drops


def _compare_largest_drop(answer: Any, model: nn.Module, data: Any) -> Verdict:
    intact, drops = _prototype_drops(model, data)
    if not drops:
        raise NotYet("the model has no active prototype", "switch its prototypes back on (editor.undo())")
    n = len(images_and_labels(data)[0])
    tol = _tolerance(None, n)
    expected = max(drops.values())
    value = _fraction(answer, expected, tol, signed=True)
    best = [j for j, d in drops.items() if abs(d - expected) <= tol]
    if abs(value - expected) <= tol:
        return Verdict(True, f"the largest drop {value:+.3f} (the lab measures {expected:+.3f}, intact {intact:.3f}; "
                             f"prototype(s) {best}; mean drop over the {len(drops)} prototypes "
                             f"{sum(drops.values()) / len(drops):+.3f})")
    if any(abs(value - d) <= tol for d in drops.values()):
        raise NotYet(f"{value:+.3f} is the drop of one prototype, but not the largest",
                     "switch off every prototype in turn and keep the maximum of the drops")
    if any(abs(value + d) <= tol for d in drops.values() if abs(d) > tol):
        raise NotYet(f"{value:+.3f} has the wrong sign", "a drop is the intact accuracy minus the accuracy with the "
                                                          "prototype switched off")
    return Verdict(False, f"a largest drop of {value:+.3f} is not what the lab measures")


@checker(hint="for each prototype j: editor.disable([j]), measure the test accuracy, editor.undo(); the largest "
              "intact-minus-disabled difference is the answer")
def check_largest_prototype_drop(answer: Any, model: nn.Module, data: Any) -> Verdict:
    """The largest test-accuracy drop caused by switching one (active) prototype off, alone.

    Called as ``check_largest_prototype_drop(name, answer, model, data)``; tolerance half an image.
    """
    return _compare_largest_drop(answer, model, data)


# -- prototype collapse ---------------------------------------------------------------------------------
def _compare_distinct(answer: Any, model: nn.Module, push: Any) -> Verdict:
    from ..prototypes import duplicate_prototypes

    net = _protopnet(model)
    groups = duplicate_prototypes(net, push)
    expected = net.num_prototypes - sum(len(g) - 1 for g in groups)
    value = as_integer(answer, "a number of prototypes")
    if value == expected:
        return Verdict(True, f"{value} distinct of {net.num_prototypes} prototypes (the lab finds {expected}; "
                             f"collapsed groups: {groups or 'none'})")
    if value == len(groups) and groups:
        raise NotYet(f"{value} is the number of collapsed groups", "count the prototypes that remain when each group "
                                                                   "counts once")
    if value > net.num_prototypes or value < 1:
        raise NotYet(f"{value} is not between 1 and the model's {net.num_prototypes} prototypes")
    return Verdict(False, f"{value} distinct prototypes is not what the lab finds")


@checker(hint="duplicate_prototypes(model, run.push) lists the groups of prototypes that are the same; each group "
              "counts once")
def check_distinct_prototypes(answer: Any, model: nn.Module, push: Any = None) -> Verdict:
    """How many different prototypes the model has, a group of collapsed ones counting once.

    Called as ``check_distinct_prototypes(name, answer, model, push=None)``; prototypes are the same
    when pushed onto one patch (``push`` records) or when their vectors (nearly) coincide.
    """
    return _compare_distinct(answer, model, push)
