"""SUNY — explanations from a necessary and a sufficient perspective, with Shapley values.

After Xuan et al., "SUNY: a visual interpretation framework for CNNs from a necessary and
sufficient perspective", CVPR workshops 2024 (METHODS.md §1.4). Public API:

- :func:`suny` → :class:`SunyResult` (necessity, sufficiency and combined maps, Shapley vectors,
  pools, coalition values);
- :func:`suny_rgb`, :func:`suny_legend` — the 2-D colour rendering (blue = necessary,
  red = sufficient, magenta = both);
- :func:`exact_shapley`, :func:`permutation_shapley` — Shapley values of any batched game;
- :func:`make_causes`, :class:`CauseSet` — the hypothetical causes and their interventions;
- :func:`intervene` → :class:`Intervention` — remove one cause, or keep only it, and compare ``p``.
"""

from .causes import CAUSE_KINDS, CauseKind, CauseSet, make_causes, patch_regions
from .core import suny
from .intervene import Intervention, intervene
from .render import suny_legend, suny_rgb
from .result import SunyResult, combine_maps
from .shapley import ShapleyValues, all_coalitions, exact_shapley, permutation_shapley

__all__ = ["CAUSE_KINDS", "CauseKind", "CauseSet", "Intervention", "ShapleyValues", "SunyResult", "all_coalitions",
           "combine_maps", "exact_shapley", "intervene", "make_causes", "patch_regions", "permutation_shapley",
           "suny", "suny_legend", "suny_rgb"]
