"""Checks on SUNY's necessity and sufficiency explanations (chapter 02).

SUNY (Xuan et al., "SUNY: a visual interpretation framework for CNNs from a necessary and
sufficient perspective", CVPR workshops 2024; METHODS.md §1.4) scores candidate causes of one
decision by two games, "remove S" (necessity) and "keep only S" (sufficiency). Each check here
recomputes the student's measurement with :func:`halign_widgets.explain.suny` — exact Shapley
values, so deterministic — on the same model and images:

- :func:`check_necessary_cause_drop` — how much ``p_target`` falls when the cause with the largest
  necessity Shapley value ``R_N`` is removed (:func:`~halign_widgets.explain.suny.intervene`);
- :func:`check_smallest_sufficient_set` — the fewest patches of a ``grid × grid`` split that, kept
  alone (the rest blurred), still give at least ``threshold`` of ``p_target``;
- :func:`check_suny_map_score` — a localization score of SUNY's necessity / sufficiency / combined
  map against the ground-truth masks (on data without masks it prints a "not yet" line saying it is skipped).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from ..errors import ConfigError, unknown_name
from ._skip import NO_MASKS, skip
from ._verdict import NotYet, Verdict
from .checks_maps import METRICS, _compare_scores, _scores
from .core import as_integer, as_number, checker

if TYPE_CHECKING:
    from ..explain.suny import CauseKind

__all__ = ["SUNY_MAPS", "check_necessary_cause_drop", "check_smallest_sufficient_set", "check_suny_map_score"]

#: The maps of a :class:`~halign_widgets.explain.suny.SunyResult` a localization check can score.
SUNY_MAPS = ("necessity", "sufficiency", "combined")


def _one_image(x: Any) -> Tensor:
    if not isinstance(x, Tensor) or x.dim() not in (3, 4):
        raise ConfigError("give the explained image as a 1×C×H×W tensor, e.g. test.images[i:i + 1].")
    x = x[None] if x.dim() == 3 else x
    if x.shape[0] != 1:
        raise ConfigError(f"this check explains one image; got a batch of {x.shape[0]} (use x[i:i + 1]).")
    return x


def _target(target: Any) -> int | None:
    if target is None:
        return None
    return int(target.flatten()[0]) if isinstance(target, Tensor) else int(target)


def _compare_necessary_drop(answer: Any, model: nn.Module, x: Tensor, target: Any, causes: CauseKind,
                            pool: int | None, tol: float, options: dict[str, Any]) -> Verdict:
    from ..explain.suny import intervene, suny

    x = _one_image(x)
    res = suny(model, x, target=_target(target), causes=causes, pool=pool, **options)
    position = int(res.r_n[0].argmax())
    cause = int(res.pool_n[0, position])
    done = intervene(model, x, res, cause, "remove")
    expected = done.before - done.after
    value = as_number(answer, "a drop in probability")
    if abs(value - expected) <= tol:
        return Verdict(True, f"removing cause {cause} (largest R_N) takes p from {done.before:.3f} to "
                             f"{done.after:.3f}: a drop of {value:+.4f} (the lab measures {expected:+.4f})")
    if done.before > 0 and abs(value - expected / done.before) <= tol and abs(expected) > tol:
        raise NotYet(f"{value:+.4f} looks like the relative drop E_N = drop / p",
                     "give the drop of the probability itself: p before minus p after the removal")
    if abs(value + expected) <= tol and abs(expected) > tol:
        raise NotYet(f"{value:+.4f} has the wrong sign", "the drop is p before minus p after the removal")
    others = [int(k) for k in res.pool_n[0].tolist() if int(k) != cause]
    for k in others:
        other = intervene(model, x, res, k, "remove")
        if abs(value - (other.before - other.after)) <= tol:
            raise NotYet(f"{value:+.4f} is the drop of another cause of the pool",
                         "take the cause with the largest Shapley value R_N: res.pool_n[0][res.r_n[0].argmax()]")
    return Verdict(False, f"a drop of {value:+.4f} is not what the lab measures for the most necessary cause")


@checker(hint="find the cause with the largest R_N (res.pool_n[0][res.r_n[0].argmax()]), remove it with "
              "intervene(model, x, res, cause, 'remove') and subtract: .before − .after")
def check_necessary_cause_drop(answer: Any, model: nn.Module, x: Tensor, target: Any = None,
                               causes: CauseKind = "features", pool: int | None = 8, tol: float = 1e-4,
                               **suny_options: Any) -> Verdict:
    """The fall of ``p_target`` when SUNY's most necessary cause (largest ``R_N``) is removed.

    Called as ``check_necessary_cause_drop(name, answer, model, x, target=None, causes="features",
    pool=8, tol=1e-4, **suny_options)``; ``x`` is one image ``1×C×H×W``; ``suny_options`` (``grid=``,
    ``baseline=`` …) go to :func:`~halign_widgets.explain.suny`. The lab runs
    :func:`~halign_widgets.explain.suny` with these options, takes ``pool_n[argmax R_N]`` and
    :func:`~halign_widgets.explain.suny.intervene` s on it; the answer is ``before − after``
    (absolute probability, positive = the cause was needed).
    """
    return _compare_necessary_drop(answer, model, x, target, causes, pool, float(tol), suny_options)


def _smallest_sufficient_sizes(model: nn.Module, x: Tensor, target: Any = None, grid: int = 3,
                               threshold: float = 0.9, baseline: Any = "blur",
                               slack: float = 1e-5) -> tuple[set[int], int, Tensor]:
    """The sizes the lab accepts, the size itself, and the best ``E_S`` of each coalition size ``0..grid²``.

    Coalitions are those of :func:`~halign_widgets.explain.suny` with ``causes="patches"`` and
    ``pool=None`` (every patch, exact). A size whose best ``E_S`` lies within ``slack`` of
    ``threshold`` is accepted too (float rounding must not decide).
    """
    from ..explain.suny import suny

    res = suny(model, _one_image(x), target=_target(target), causes="patches", grid=grid, pool=None,
               baseline=baseline)
    if res.coalition_values is None:
        raise ConfigError("the sufficiency game was not computed exactly; use a grid of at most 3 (9 patches).")
    sizes = res.coalition_values["coalitions"].sum(1)
    values = res.coalition_values["sufficiency"][0].double()
    best = torch.stack([values[sizes == k].max() for k in range(int(sizes.max()) + 1)])

    def reach(t: float) -> int:
        return int((best >= t).nonzero()[0]) if bool((best >= t).any()) else int(sizes.max())

    exact = reach(threshold)
    return {reach(threshold - slack), exact, reach(threshold + slack)}, exact, best


def _compare_sufficient(answer: Any, model: nn.Module, x: Tensor, target: Any, grid: int, threshold: float,
                        baseline: Any) -> Verdict:
    accepted, _, best = _smallest_sufficient_sizes(model, x, target, grid, threshold, baseline)
    n = as_integer(answer, "a number of patches")
    total = grid * grid
    if not 0 <= n <= total:
        raise NotYet(f"{n} is not a number of patches of a {grid}×{grid} grid (0 to {total})")
    if n in accepted:
        return Verdict(True, f"{n} of {total} patches, kept alone, keep at least {threshold:.0%} of p (best E_S with "
                             f"{n}: {float(best[n]):.3f}; with {n - 1}: {float(best[n - 1]):.3f})" if n > 0 else
                             f"no patch at all: the blurred image already keeps {threshold:.0%} of p")
    if float(best[n]) < threshold:
        raise NotYet(f"no set of {n} patches keeps {threshold:.0%} of p", "look at larger coalitions")
    raise NotYet(f"{n} patches are enough, but a smaller set is too",
                 "take the minimum coalition size over every coalition whose E_S reaches the threshold")


@checker(hint="read res.coalition_values: 'coalitions' (which patches each coalition keeps) and 'sufficiency' "
              "(E_S of each); among the coalitions with E_S ≥ the threshold, take the smallest size")
def check_smallest_sufficient_set(answer: Any, model: nn.Module, x: Tensor, target: Any = None, grid: int = 3,
                                  threshold: float = 0.9, baseline: Any = "blur") -> Verdict:
    """The fewest patches that, kept alone, give ``E_S(S) = p(do(keep S))/p ≥ threshold``.

    Called as ``check_smallest_sufficient_set(name, answer, model, x, target=None, grid=3,
    threshold=0.9, baseline="blur")``; ``x`` is one image. The lab plays SUNY's sufficiency game exactly over every
    coalition of the ``grid × grid`` patches (``causes="patches", pool=None``). The whole grid
    keeps the image as it is (``E_S = 1``), so an answer always exists for ``threshold ≤ 1``.
    """
    return _compare_sufficient(answer, model, x, target, int(grid), float(threshold), baseline)


def _compare_map_score(answer: Any, model: nn.Module, images: Tensor, masks: Tensor, target: Any = None,
                       map: str = "necessity", metric: str = "relevance_mass", tol: float = 0.01,
                       **suny_options: Any) -> Verdict:
    from ..explain.suny import suny

    which = map
    if which not in SUNY_MAPS:
        raise unknown_name("SUNY map", which, SUNY_MAPS)
    if metric not in METRICS:
        raise unknown_name("map score", metric, METRICS)
    res = suny(model, images, target=target, **suny_options)
    maps = getattr(res, which)
    if isinstance(answer, float) and math.isnan(answer):
        scores = _scores(maps, masks, metric)
        if bool(torch.isnan(scores).all()):
            return Verdict(True, f"SUNY {which} map: {metric} is undefined (NaN) on every image — every map is "
                                 "empty — as the lab finds; try the combined map or more images")
    verdict = _compare_scores(answer, maps, masks, metric, float(tol))
    return Verdict(verdict.passed, f"SUNY {which} map: {verdict.detail}", verdict.hint)


_score_check = checker(_compare_map_score, hint="suny(model, images, target=labels, causes=..., pool=...) gives the "
                                                 "maps (.necessity, .sufficiency, .combined); score one against the "
                                                 "masks with halign_widgets.explain.metrics and average "
                                                 "(torch.nanmean)")


def check_suny_map_score(name: str, answer: Any, model: nn.Module, images: Tensor, masks: Tensor | None,
                         target: Any = None, map: str = "necessity", metric: str = "relevance_mass",
                         tol: float = 0.01, hint: str | None = None, **suny_options: Any) -> bool:
    """A localization score of one SUNY map (one mean, or one value per image) against the masks.

    Called as ``check_suny_map_score(name, answer, model, images, masks, target=None,
    map="necessity", metric="relevance_mass", tol=0.01, **suny_options)``; ``map`` is one of
    :data:`SUNY_MAPS`, ``metric`` one of :data:`~halign_widgets.course.METRICS`, ``suny_options``
    go to :func:`~halign_widgets.explain.suny` (``causes=``, ``pool=`` …). With ``masks=None`` (own
    data without masks) it prints a "not yet" line saying it is skipped, and why. Never raises.
    """
    if masks is None:
        return skip(str(name), NO_MASKS, answer)
    return _score_check(name, answer, model, images, masks, target, map, metric, tol, hint=hint, **suny_options)


check_suny_map_score.comparison = _compare_map_score  # type: ignore[attr-defined]  # as @checker's checks
