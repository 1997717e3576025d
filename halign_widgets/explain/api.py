"""One entry point for every attribution method: :func:`explain` → :class:`Explanation`.

Conventions (METHODS.md 1.1): maps are ``B×H×W`` at the input's resolution, raw and signed —
normalization for display is a view option (:meth:`Explanation.normalized`,
:func:`shared_scale`), never the stored result. The model is put in eval mode for the
explanation and every module's mode is restored afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..data.dataset import check_images
from ..errors import ConfigError, unknown_name
from ..models import check_logits, check_model_input, eval_mode, in_channels, model_input, size_errors
from ._registry import METHODS, MethodCall, MethodInfo, available_methods, resolve_method
from ._resolve import resolve_layer, resolve_target

__all__ = ["Explanation", "explain", "list_methods", "shared_scale"]

NORMALIZE_MODES = ("per-map", "shared", "abs")


@dataclass
class Explanation:
    """The result of :func:`explain`.

    Attributes
    ----------
    maps:
        ``B×H×W`` float tensor at input resolution, raw and signed.
    method:
        Canonical method name.
    target:
        ``B`` long tensor of explained classes.
    layer:
        Name of the layer the method used, or ``None`` for input-level methods.
    options:
        Every option the method ran with (defaults filled in).
    seconds:
        Wall-clock time of the attribution itself.
    extras:
        Method-specific results (e.g. ``extras["suny"]`` holds the full SUNY result).
    """

    maps: Tensor
    method: str
    target: Tensor
    layer: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Display name of the method (``"Grad-CAM"``)."""
        info = METHODS.get(self.method)
        return info.label if info else self.method

    def __len__(self) -> int:
        return int(self.maps.shape[0])

    def normalized(self, mode: str = "per-map", scale: float | None = None) -> Tensor:
        """Maps rescaled for display (a copy; :attr:`maps` is untouched).

        Parameters
        ----------
        mode:
            ``"per-map"`` — each map divided by its own max |value| (signed, in ``[-1, 1]``);
            ``"abs"`` — |map| divided by its own max (in ``[0, 1]``);
            ``"shared"`` — every map divided by one ``scale`` (default: max |value| over this
            explanation's maps; pass :func:`shared_scale` of several explanations to put
            different methods on one colour scale).
        """
        maps = self.maps.detach().float()
        if mode == "per-map":
            return maps / maps.abs().flatten(1).amax(1).clamp_min(1e-12)[:, None, None]
        if mode == "abs":
            a = maps.abs()
            return a / a.flatten(1).amax(1).clamp_min(1e-12)[:, None, None]
        if mode == "shared":
            s = float(scale) if scale is not None else shared_scale([self])
            return maps / max(s, 1e-12)
        raise unknown_name("normalization mode", mode, NORMALIZE_MODES)


def shared_scale(explanations: Iterable[Explanation | Tensor], quantile: float = 1.0) -> float:
    """One scale (max, or a quantile, of |value| over all maps) for a shared colour scale.

    Parameters
    ----------
    explanations:
        Explanations (or raw map tensors) to put on one scale.
    quantile:
        ``1.0`` = the maximum; e.g. ``0.99`` ignores a few extreme pixels.
    """
    values = [(e.maps if isinstance(e, Explanation) else e).detach().float().abs().flatten() for e in explanations]
    if not values:
        raise ConfigError("shared_scale needs at least one explanation.")
    allv = torch.cat([v.cpu() for v in values])
    return float(allv.max() if quantile >= 1 else torch.quantile(allv, float(quantile)))


def list_methods(family: str | None = None) -> list[str]:
    """Canonical names of the available methods (``family``: gradient, perturbation, cam, causal)."""
    return [m for m in available_methods() if family is None or METHODS[m].family == family]


def _merge_options(info: MethodInfo, options: dict[str, Any]) -> dict[str, Any]:
    if info.defaults is None:
        return dict(options)
    for key in options:
        if key not in info.defaults:
            raise unknown_name(f"option for {info.label}", key, info.defaults or ["(none)"], knob=True)
    return {**info.defaults, **options}


def explain(model: nn.Module, x: Tensor, method: str, target: int | Sequence[int] | Tensor | None = None,
            layer: str | nn.Module | None = None, **options: Any) -> Explanation:
    """Explain ``model``'s decision on images ``x`` with one attribution method.

    Parameters
    ----------
    model:
        A classifier returning ``B×K`` logits.
    x:
        Images ``B×C×H×W`` (validated with :func:`~halign_widgets.data.check_images`).
    method:
        One of :func:`list_methods` (loose spelling: ``"Grad-CAM"`` = ``"gradcam"``).
    target:
        Class(es) to explain: an int, one per image, or ``None`` for the predicted class.
    layer:
        Conv layer for CAM-family methods; default ``model.last_conv_layer`` or the last conv layer.
    **options:
        Method options (e.g. ``n_steps`` and ``baseline`` for Integrated Gradients, ``batch_size``
        for Score-CAM, ``n_masks`` for RISE); unknown options raise a typed error listing the valid ones,
        bad values a :class:`~halign_widgets.errors.ConfigError` with the valid range, before any work.
        Every captum-backed method takes ``max_pass``: images per forward-backward pass (inputs ×
        steps / samples / occluded copies); ``None`` (default) adapts it to the free memory
        (:mod:`halign_widgets.explain._memory`); the maps do not depend on it. Saliency and
        SmoothGrad take ``channels="max"`` (Simonyan et al.'s channel maximum, default) or ``"sum"``
        (see :mod:`halign_widgets.explain.captum_methods` for every method's channel reduction).

    Returns
    -------
    Explanation

    Raises
    ------
    UnknownNameError
        Unknown method, layer or option (the message lists the valid choices).
    TargetOutOfRangeError
        A target outside ``[0, K)``.
    InputShapeError, InvalidPixelError
        Bad images: wrong shape or channels, NaN/inf pixels, an empty batch, or images smaller than
        the model can take (the message says the minimum size).

    Examples
    --------
    >>> e = explain(model, images[:4], "gradcam")
    >>> e.maps.shape          # 4×64×64
    >>> e.normalized("abs")   # for display
    """
    info = resolve_method(method)
    check_images(x, channels=in_channels(model))
    check_model_input(model, x)  # at least one image, large enough for the model
    opts = _merge_options(info, options)
    x = model_input(model, x)  # the model's device and dtype (float64, bfloat16 … work too)
    layer_name, module = resolve_layer(model, layer) if info.uses_layer else (None, None)
    if info.check is not None:  # before any forward pass
        opts = info.check(MethodCall(info.name, model, x, torch.empty(0, dtype=torch.long), layer_name, module,
                                      opts))
    with eval_mode(model), torch.enable_grad():
        with torch.no_grad(), size_errors(model, x):
            logits = check_logits(model(x), model, x.shape[0])
        tgt = resolve_target(target, logits)
        start = time.perf_counter()
        maps, extras = info.run(MethodCall(info.name, model, x, tgt, layer_name, module, opts))
        seconds = time.perf_counter() - start
    return Explanation(maps=maps.detach().float(), method=info.name, target=tgt, layer=layer_name,
                       options=opts, seconds=seconds, extras=extras)
