"""The table of attribution methods: each record holds what runs the method and checks its options.

:func:`halign_widgets.explain.explain` resolves the name, validates the input, then calls the
record's ``check`` (before any forward pass) and ``run`` — no if-chain on names or families, so
adding a method is adding one record (with its runner in the method's own module).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import Tensor, nn

from ..errors import unknown_name
from .captum_methods import CAPTUM_DEFAULTS, CAPTUM_LABELS, check_captum, run_captum_call

__all__ = ["MethodCall", "MethodInfo", "METHODS", "Family", "available_methods", "canonical", "resolve_method"]

Family = Literal["gradient", "perturbation", "cam", "causal"]


@dataclass(frozen=True)
class MethodCall:
    """Everything a method's runner gets: its name, the model, the prepared images, targets, layer, options."""

    method: str
    model: nn.Module
    x: Tensor
    target: Tensor
    layer: str | None
    module: nn.Module | None
    options: dict[str, Any]


Runner = Callable[[MethodCall], "tuple[Tensor, dict[str, Any]]"]
Checker = Callable[[MethodCall], "dict[str, Any]"]


@dataclass(frozen=True)
class MethodInfo:
    """What the lab knows about one attribution method, including how to run it.

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
    run:
        ``run(call) -> (maps B×H×W, extras)``.
    defaults:
        Accepted options and their default values; ``None`` = accept any (delegated method).
    check:
        ``check(call) -> options``: validates (and may normalize) the options before any work.
    requires:
        Module (relative to this package) that must import for the method to be offered.
    """

    name: str
    label: str
    family: Family
    uses_layer: bool
    run: Runner
    defaults: dict[str, Any] | None = field(default_factory=dict)
    check: Checker | None = None
    requires: str | None = None


def _cam(class_name: str) -> Runner:
    def run(call: MethodCall) -> tuple[Tensor, dict[str, Any]]:
        from . import cam

        cls = getattr(cam, class_name)
        return cls(call.model, call.module, **call.options)(call.x, call.target), {}

    return run


def _check_scorecam(call: MethodCall) -> dict[str, Any]:
    from .cam import ScoreCAM

    ScoreCAM(call.model, call.module, **call.options)  # type: ignore[arg-type]  # the constructor validates
    return call.options


def _run_rise(call: MethodCall) -> tuple[Tensor, dict[str, Any]]:
    from .rise import rise

    return rise(call.model, call.x, call.target, **call.options), {}


def _check_rise(call: MethodCall) -> dict[str, Any]:
    from .rise import check_rise_options

    keys = ("n_masks", "grid", "p", "seed", "batch_size")
    return dict(zip(keys, check_rise_options(*(call.options[k] for k in keys)), strict=True))


def _run_suny(call: MethodCall) -> tuple[Tensor, dict[str, Any]]:
    from .cam import upsample
    from .suny import suny  # the public module (tests may stand in for it)

    result = suny(call.model, call.x, target=call.target, layer=call.layer, **call.options)
    maps = result.combined
    if maps.dim() == 4:
        maps = maps[:, 0]
    if (maps.shape[-2], maps.shape[-1]) != (call.x.shape[-2], call.x.shape[-1]):
        maps = upsample(maps.float(), (call.x.shape[-2], call.x.shape[-1]))
    return maps, {"suny": result}


_RECORDS = [
    *(MethodInfo(name, CAPTUM_LABELS[name][0], CAPTUM_LABELS[name][1], False, run_captum_call, dict(defaults),
                 check_captum) for name, defaults in CAPTUM_DEFAULTS.items()),
    MethodInfo("gradcam", "Grad-CAM", "cam", True, _cam("GradCAM")),
    MethodInfo("gradcam++", "Grad-CAM++", "cam", True, _cam("GradCAMPlusPlus")),
    MethodInfo("scorecam", "Score-CAM", "cam", True, _cam("ScoreCAM"), {"batch_size": 128, "score": "logit"},
               _check_scorecam),
    MethodInfo("layercam", "Layer-CAM", "cam", True, _cam("LayerCAM")),
    MethodInfo("rise", "RISE", "perturbation", False, _run_rise,
               {"n_masks": 500, "grid": 8, "p": 0.5, "seed": 0, "batch_size": 100}, _check_rise),
    MethodInfo("suny", "SUNY", "causal", True, _run_suny, None, requires="._suny"),
]
METHODS: dict[str, MethodInfo] = {info.name: info for info in _RECORDS}


def canonical(name: str) -> str:
    """Key for matching names loosely: ``"Grad-CAM"``, ``"grad_cam"`` and ``"gradcam"`` are equal."""
    return re.sub(r"[\s_\-]+", "", str(name).lower().replace("×", "x")) if name else ""


def available_methods() -> list[str]:
    """Canonical names of the methods usable now (optional ones only when their module imports)."""
    names = []
    for name, info in METHODS.items():
        if info.requires is not None:
            try:
                importlib.import_module(info.requires, __package__)
            except ImportError:
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
