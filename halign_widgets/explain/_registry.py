"""The table of attribution methods that :func:`halign_widgets.explain.explain` dispatches to."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import unknown_name
from .captum_methods import CAPTUM_DEFAULTS

__all__ = ["MethodInfo", "METHODS", "available_methods", "canonical", "resolve_method"]


@dataclass(frozen=True)
class MethodInfo:
    """What the lab knows about one attribution method.

    Attributes
    ----------
    name:
        Canonical name passed to ``explain`` (``"gradcam"``, ``"integrated_gradients"`` …).
    label:
        Display name (``"Grad-CAM"``).
    family:
        ``"gradient"``, ``"perturbation"``, ``"cam"`` or ``"causal"``.
    uses_layer:
        Whether the method explains through a chosen conv layer.
    defaults:
        Accepted options and their default values; ``None`` = accept any (delegated method).
    """

    name: str
    label: str
    family: str
    uses_layer: bool
    defaults: dict[str, Any] | None = field(default_factory=dict)


_LABELS = {
    "saliency": ("Saliency", "gradient"), "input_x_gradient": ("Input×Gradient", "gradient"),
    "integrated_gradients": ("Integrated Gradients", "gradient"), "gradient_shap": ("GradientSHAP", "gradient"),
    "deeplift": ("DeepLift", "gradient"), "guided_backprop": ("Guided Backprop", "gradient"),
    "occlusion": ("Occlusion", "perturbation"), "smoothgrad": ("SmoothGrad", "gradient"),
}

METHODS: dict[str, MethodInfo] = {
    name: MethodInfo(name, _LABELS[name][0], _LABELS[name][1], False, dict(defaults))
    for name, defaults in CAPTUM_DEFAULTS.items()
}
METHODS.update({
    "gradcam": MethodInfo("gradcam", "Grad-CAM", "cam", True),
    "gradcam++": MethodInfo("gradcam++", "Grad-CAM++", "cam", True),
    "scorecam": MethodInfo("scorecam", "Score-CAM", "cam", True, {"batch_size": 128, "score": "logit"}),
    "layercam": MethodInfo("layercam", "Layer-CAM", "cam", True),
    "rise": MethodInfo("rise", "RISE", "perturbation", False,
                       {"n_masks": 500, "grid": 8, "p": 0.5, "seed": 0, "batch_size": 100}),
    "suny": MethodInfo("suny", "SUNY", "causal", True, None),
})

_OPTIONAL = {"suny": ".suny"}


def canonical(name: str) -> str:
    """Key for matching names loosely: ``"Grad-CAM"``, ``"grad_cam"`` and ``"gradcam"`` are equal."""
    return re.sub(r"[\s_\-]+", "", str(name).lower().replace("×", "x")) if name else ""


def available_methods() -> list[str]:
    """Canonical names of the methods usable now (optional ones only when their module imports)."""
    names = []
    for name in METHODS:
        if name in _OPTIONAL:
            try:
                module = importlib.import_module(_OPTIONAL[name], __package__)
            except ImportError:
                continue
            if not hasattr(module, name):  # folder exists but the method is not there yet
                continue
        names.append(name)
    return names


def resolve_method(method: str) -> MethodInfo:
    """Return the :class:`MethodInfo` for ``method`` (loose spelling); unknown → typed error."""
    names = available_methods()
    key = canonical(method) if isinstance(method, str) else ""
    for name in names:
        if canonical(name) == key or canonical(METHODS[name].label) == key:
            return METHODS[name]
    raise unknown_name("explanation method", str(method), names)
