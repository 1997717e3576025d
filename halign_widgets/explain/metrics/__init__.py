"""Measuring explanations: causal (deletion / insertion), against ground truth, confidence, sanity.

METHODS.md section 1.3. Every metric takes maps as tensors (``B×H×W`` at input resolution), so it
works with any explainer; only :func:`sanity_check` and :func:`evaluate_methods` call
:func:`halign_widgets.explain.explain` themselves.

- :func:`deletion_insertion` — RISE-style curves, AUCs and Overall (Petsiuk et al. 2018);
- :func:`pointing_game`, :func:`relevance_mass`, :func:`energy_pointing` — localization against
  ground-truth masks;
- :func:`average_drop_increase` — Grad-CAM++'s average drop % and increase in confidence;
- :func:`sanity_check` — cascading parameter randomization (Adebayo et al. 2018) with
  :func:`spearman` and :func:`ssim` similarity;
- :func:`evaluate_methods` / :func:`leaderboard_plot_data` — all of the above for several methods
  as one tidy table (a pandas DataFrame).
"""

from __future__ import annotations

from ..._lazy import lazy_getattr
from .confidence import ConfidenceChange, average_drop_increase, explanation_image
from .deletion_insertion import DeletionInsertion, deletion_insertion
from .localization import energy_pointing, mask_share, pointing_game, relevance_mass
from .sanity import cascade_layers, randomize_layers, sanity_check
from .similarity import spearman, ssim

__all__ = [
    "ConfidenceChange",
    "DeletionInsertion",
    "average_drop_increase",
    "cascade_layers",
    "deletion_insertion",
    "energy_pointing",
    "evaluate_methods",
    "explanation_image",
    "leaderboard_plot_data",
    "mask_share",
    "pointing_game",
    "randomize_layers",
    "relevance_mass",
    "sanity_check",
    "spearman",
    "ssim",
]

_LAZY = {"evaluate_methods": "leaderboard", "leaderboard_plot_data": "leaderboard"}


# evaluate_methods lives in explain/leaderboard.py, which imports the explainer; loading it
# lazily keeps `import halign_widgets.explain.metrics` free of import cycles.
__getattr__ = lazy_getattr(__name__, {name: f"halign_widgets.explain.{module}" for name, module in _LAZY.items()})


def __dir__() -> list[str]:
    return sorted(__all__)
