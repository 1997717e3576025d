"""Explainability methods: attribution and CAM maps, activation maximization, and (re-exported
lazily from their own modules) the explanation metrics, the shortcut detective and SUNY.

Everything here is pure PyTorch (no widgets); the apps in :mod:`halign_widgets.widgets` are views
over these functions.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._baselines import BASELINES, gaussian_blur, make_baseline
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
    "suny": ".suny",
    "SunyResult": ".suny",
}

__all__ = sorted([
    "BASELINES", "BaseCAM", "Explanation", "GradCAM", "GradCAMPlusPlus", "LayerCAM", "ScoreCAM",
    "explain", "gaussian_blur", "list_methods", "make_baseline", "rise", "shared_scale", *_LAZY,
])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name], __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
