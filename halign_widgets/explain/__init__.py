"""Explainability methods: attribution and CAM maps, activation maximization, SUNY, and (re-exported
lazily from their own modules) the explanation metrics and the shortcut detective.

Everything here is pure PyTorch (no widgets); the apps in :mod:`halign_widgets.widgets` are views
over these functions.

Every name in ``__all__`` is the function, class or constant it names — never a module.
``suny`` is the function :func:`halign_widgets.explain._suny.core.suny`; SUNY's other names are in
the module ``halign_widgets.explain.suny`` (``from halign_widgets.explain.suny import make_causes``;
see that module for why ``import halign_widgets.explain.suny as m`` also gives the function).
"""

from __future__ import annotations

from .._lazy import lazy_getattr
from . import suny as _suny_names  # noqa: F401 - loaded now, so the import system binds it here, once …
from ._baselines import BASELINES, gaussian_blur, make_baseline
from ._suny import SunyResult, suny  # … and the public name is then the function, for good
from .api import Explanation, explain, list_methods, shared_scale
from .cam import BaseCAM, GradCAM, GradCAMPlusPlus, LayerCAM, ScoreCAM
from .rise import rise

_LAZY = {
    "activation_maximization": ".actmax",
    "ActMaxResult": ".actmax",
    "deletion_insertion": ".metrics",
    "pointing_game": ".metrics",
    "energy_pointing": ".metrics",
    "relevance_mass": ".metrics",
    "average_drop_increase": ".metrics",
    "sanity_check": ".metrics",
    "evaluate_methods": ".metrics",
    "leaderboard_plot_data": ".metrics",
    "shortcut_detective": ".shortcut",
    "train_shortcut_pair": ".shortcut",
}

__all__ = [
    "ActMaxResult",
    "BASELINES",
    "BaseCAM",
    "Explanation",
    "GradCAM",
    "GradCAMPlusPlus",
    "LayerCAM",
    "ScoreCAM",
    "SunyResult",
    "activation_maximization",
    "average_drop_increase",
    "deletion_insertion",
    "energy_pointing",
    "evaluate_methods",
    "explain",
    "gaussian_blur",
    "leaderboard_plot_data",
    "list_methods",
    "make_baseline",
    "pointing_game",
    "relevance_mass",
    "rise",
    "sanity_check",
    "shared_scale",
    "shortcut_detective",
    "suny",
    "train_shortcut_pair",
]


__getattr__ = lazy_getattr(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
