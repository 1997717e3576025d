"""The lab's apps: thin ipywidgets views over the method objects.

Every app can be shown in a notebook (just leave it as the last expression of a cell) and driven
from Python (``app.run()``, ``app.select(...)``), which is how the tests check them.
Apps are imported lazily so that ``import halign_widgets.widgets`` stays cheap.
"""

from __future__ import annotations

from .._lazy import lazy_getattr

_LAZY = {
    # foundation
    "DatasetBrowser": "dataset_browser",
    "TrainingDashboard": "training_dashboard",
    # explainability
    "AttributionExplorer": "attribution_explorer",
    "ActivationMaximizationStudio": "actmax_studio",
    "SunyExplorer": "suny_explorer",
    "PrototypeBrowser": "prototype_browser",
    "ProtoPNetDashboard": "protopnet_dashboard",
    # causality
    "CausalityMapExplorer": "causality_explorer",
    "ScaffoldMap": "scaffold_map",
    # biological vision
    "ConnectomeExplorer": "connectome_explorer",
    # causality across domains
    "CrocodileLab": "crocodile_lab",
}

__all__ = [
    "ActivationMaximizationStudio",
    "AttributionExplorer",
    "CausalityMapExplorer",
    "ConnectomeExplorer",
    "CrocodileLab",
    "DatasetBrowser",
    "ProtoPNetDashboard",
    "PrototypeBrowser",
    "ScaffoldMap",
    "SunyExplorer",
    "TrainingDashboard",
]


__getattr__ = lazy_getattr(__name__, {name: f".{module}" for name, module in _LAZY.items()})


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
