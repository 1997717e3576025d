"""Sanity check by cascading model parameter randomization.

Reference: J. Adebayo, J. Gilmer, M. Muelly, I. Goodfellow, M. Hardt, B. Kim, "Sanity Checks for
Saliency Maps", NeurIPS 2018. Starting from the classifier, layers are re-initialized one after the
other towards the input; a method whose map stays the same while the model it explains is
destroyed does not explain the model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn

from ...errors import ConfigError, unknown_name
from ...models import conv_layers
from ._common import TargetLike, check_batch, predict_probs, resolve_target
from .similarity import SIMILARITIES
from .similarity import similarity as map_similarity

__all__ = ["MapFn", "cascade_layers", "compute_maps", "randomize_layers", "sanity_check"]

MapFn = Callable[[nn.Module, Tensor, Tensor], Tensor]
"""A custom explainer: ``fn(model, x, target) -> B×H×W maps``."""


def cascade_layers(model: nn.Module) -> list[str]:
    """Names of the layers to randomize, from the top (classifier) down to the first conv layer.

    The layers are the conv layers of :func:`halign_widgets.models.conv_layers` (the conv blocks of
    a :class:`SmallCNN`) plus every ``nn.Linear`` outside them, in reverse forward (registration)
    order **[ours]**: one "layer" of the cascade is one conv block (conv + batch norm) or one
    linear layer.
    """
    blocks = conv_layers(model)
    inside = {id(m) for b in blocks.values() for m in b.modules()}
    names = []
    for name, module in model.named_modules():
        if name in blocks or (isinstance(module, nn.Linear) and id(module) not in inside):
            names.append(name)
    return names[::-1]


def randomize_layers(model: nn.Module, names: Sequence[str], seed: int = 0) -> nn.Module:
    """Deep copy of ``model`` with the parameters of the named layers re-initialized.

    Every sub-module with a ``reset_parameters`` method is reset to its default PyTorch
    initialization (random for conv / linear weights; batch norm back to identity with fresh
    running statistics), with ``torch.manual_seed(seed + i)`` for the ``i``-th layer so that a
    cascade is reproducible and the layers re-initialized at depth ``d`` are the same at ``d + 1``.
    The new values are drawn on a float32 CPU copy of each layer and then cast into the model
    **[ours]**, so the cascade is the same whatever the model's dtype (float64, bfloat16) and device
    (CUDA draws other random numbers than the CPU). The original model is untouched.
    """
    modules = dict(model.named_modules())
    clone = copy.deepcopy(model)
    clone_modules = dict(clone.named_modules())
    state = torch.random.get_rng_state()
    try:
        for i, name in enumerate(names):
            if name not in modules:
                raise unknown_name("layer", name, cascade_layers(model))
            torch.manual_seed(seed + i)
            layer = copy.deepcopy(clone_modules[name]).to(device="cpu", dtype=torch.float32)
            for sub in layer.modules():
                reset = getattr(sub, "reset_parameters", None)
                if callable(reset):
                    reset()
                if isinstance(sub, nn.modules.batchnorm._BatchNorm):
                    sub.reset_running_stats()
            clone_modules[name].load_state_dict(layer.state_dict())  # cast back to the model's dtype/device
    finally:
        torch.random.set_rng_state(state)
    return clone


def compute_maps(model: nn.Module, x: Tensor, method: str | MapFn, target: Tensor, layer: str | None,
                 **options: Any) -> Tensor:
    """Maps of ``method`` for ``target`` (a name for :func:`halign_widgets.explain.explain`, or a callable)."""
    if callable(method):
        return torch.as_tensor(method(model, x, target)).detach().float().cpu()
    from ..api import explain  # lazy: the entry point lives above the metrics

    if layer is not None:
        options["layer"] = layer
    return explain(model, x, method, target=target, **options).maps.detach().float().cpu()


def sanity_check(model: nn.Module, x: Tensor, method: str | MapFn, target: TargetLike = None,
                 layer: str | None = None, similarity: str | Sequence[str] = ("spearman", "ssim"),
                 seed: int = 0, layers: Sequence[str] | None = None, return_maps: bool = False,
                 **options: Any) -> pd.DataFrame | tuple[pd.DataFrame, Tensor]:
    """Cascading model parameter randomization: how similar does the map stay as the model is destroyed?

    For depth ``d = 1 … D`` the top ``d`` layers of :func:`cascade_layers` are re-initialized on a
    deep copy of the model, the map is recomputed for the SAME target as on the original model,
    and compared with the original map per image. Depth 0 is the original (similarity 1).

    Parameters
    ----------
    model:
        The trained classifier (left untouched).
    x:
        ``B×C×H×W`` images.
    method:
        A method name of :func:`halign_widgets.explain.list_methods` or a callable
        ``fn(model, x, target) -> B×H×W``.
    target:
        Class per image; ``None`` = the original model's predicted class (kept for all depths).
    layer:
        Layer for CAM methods (default: the explainer's default, the last conv layer).
    similarity:
        Any of ``"spearman"`` (rank correlation of absolute values), ``"spearman_signed"``,
        ``"ssim"`` (on min-max normalized absolute maps); see :mod:`.similarity`.
    seed:
        Seed of the re-initialization.
    layers:
        Explicit cascade order (top first); default :func:`cascade_layers`.
    return_maps:
        Also return the maps, ``(D+1)×B×H×W`` (depth 0 = original).
    **options:
        Passed to the explainer.

    Returns
    -------
    pandas.DataFrame
        One row per depth: ``depth``, ``layer`` (the layer randomized at that depth), one column per
        similarity (mean over images) and ``<similarity>_std``, ``n_images``.
    """
    check_batch(model, x)
    measures = (similarity,) if isinstance(similarity, str) else tuple(similarity)
    for m in measures:
        if m not in SIMILARITIES:
            raise unknown_name("similarity", m, SIMILARITIES)
    order = list(layers) if layers is not None else cascade_layers(model)
    if not order:
        raise ConfigError("the model has no conv or linear layer to randomize; pass layers=[...] explicitly.")
    x = x.detach()
    tgt = resolve_target(model, x, target, predict_probs(model, x.cpu()))
    original = compute_maps(model, x, method, tgt, layer, **options)
    rows, all_maps = [], [original]
    for depth in range(len(order) + 1):
        if depth == 0:
            maps = original
        else:
            maps = compute_maps(randomize_layers(model, order[:depth], seed), x, method, tgt, layer, **options)
            all_maps.append(maps)
        row: dict[str, Any] = {"depth": depth, "layer": "none (original)" if depth == 0 else order[depth - 1]}
        for m in measures:
            values = map_similarity(original, maps, m)
            row[m] = float(values.mean())
            row[f"{m}_std"] = float(values.std(unbiased=False))
        row["n_images"] = int(x.shape[0])
        rows.append(row)
    table = pd.DataFrame(rows)
    return (table, torch.stack(all_maps)) if return_maps else table
