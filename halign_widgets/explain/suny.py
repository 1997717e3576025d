"""SUNY's public names, importable as ``from halign_widgets.explain.suny import make_causes``.

The implementation lives in the private subpackage :mod:`halign_widgets.explain._suny` (after
Xuan et al., "SUNY: a visual interpretation framework for CNNs from a necessary and sufficient
perspective", CVPR workshops 2024; METHODS.md §1.4); this module only re-exports it.

A note on the name: ``halign_widgets.explain.suny`` *the attribute* is the function
:func:`~halign_widgets.explain._suny.core.suny`, as ``halign_widgets.explain.__all__`` says
(``halign_widgets.explain`` imports this module eagerly and then binds the function over it, so
the import system never re-binds the module later). Therefore:

- ``from halign_widgets.explain import suny`` and ``halign_widgets.explain.suny`` → the function;
- ``from halign_widgets.explain.suny import make_causes, suny_rgb`` → names of this module;
- ``import halign_widgets.explain.suny as m`` → also the function (Python resolves
  ``import a.b.c as m`` by reading the attribute ``c`` of ``a.b``); for a module object use
  ``import halign_widgets.explain._suny as pkg`` or
  ``importlib.import_module("halign_widgets.explain.suny")``.
"""

from ._suny import (
    CAUSE_KINDS,
    CauseKind,
    CauseSet,
    Intervention,
    ShapleyValues,
    SunyResult,
    all_coalitions,
    combine_maps,
    exact_shapley,
    intervene,
    make_causes,
    patch_regions,
    permutation_shapley,
    suny,
    suny_legend,
    suny_rgb,
)

__all__ = ["CAUSE_KINDS", "CauseKind", "CauseSet", "Intervention", "ShapleyValues", "SunyResult", "all_coalitions",
           "combine_maps", "exact_shapley", "intervene", "make_causes", "patch_regions", "permutation_shapley",
           "suny", "suny_legend", "suny_rgb"]
