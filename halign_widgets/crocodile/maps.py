"""Where a finding's query looks: the causal and spurious attention maps, scored against ground truth.

For finding ``k`` the task query's attention ``A_k`` over the token grid is the **causal** map and
``1 − A_k`` the **spurious** one (the weights of ``A·V`` and ``(1 − A)·V``, :mod:`.attention`).
Both are upsampled (bilinear) to the image and scored with the energy-based pointing game
(:func:`halign_widgets.explain.metrics.energy_pointing`: share of the min-max normalized map
inside a region) against the finding's own region and against the source marker. A causal map
that sits on the finding, and not on the marker, is what the disentangling is for.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError, InputShapeError
from ..models import eval_mode, model_input
from .data import finding_masks, marker_masks

__all__ = ["attention_maps", "score_attention"]


@torch.no_grad()
def attention_maps(model: nn.Module, images: Tensor, finding: int) -> tuple[Tensor, Tensor]:
    """``(causal, spurious)`` maps of the task query ``finding``, ``B×H×W`` at image resolution (CPU).

    ``causal`` is ``A_k`` upsampled; ``spurious`` is ``1 − A_k`` upsampled.
    """
    if not hasattr(model, "task"):
        raise ConfigError("attention maps need a CrocodileNet (a model with task queries); the baselines have none.")
    if not isinstance(images, Tensor) or images.dim() != 4:
        raise InputShapeError("images must be a B×C×H×W tensor (add a batch dimension with x[None]).")
    task: Any = model.task  # a CrocodileNet's task branch (checked above)
    k = task.decoder.queries.shape[0]
    if not 0 <= int(finding) < k:
        raise ConfigError(f"finding {finding} is out of range 0..{k - 1}.")
    with eval_mode(model):
        out = task(model_input(model, images))
    h, w = out.grid
    a = out.attention[:, int(finding)].reshape(-1, 1, h, w).float().cpu()
    size = tuple(images.shape[-2:])

    def up(m: Tensor) -> Tensor:
        return F.interpolate(m, size=size, mode="bilinear", align_corners=False)[:, 0]

    return up(a), up(1.0 - a)


def score_attention(model: nn.Module, dataset: Any, index: int, finding: int) -> dict[str, Any]:
    """Causal and spurious maps of one image and finding, with their scores.

    Returns ``causal``, ``spurious`` (``H×W``), ``finding_mask``, ``marker_mask`` (``H×W`` bool),
    ``present`` (is the finding in the image) and the four energy scores
    ``causal_on_finding``, ``causal_on_marker``, ``spurious_on_finding``, ``spurious_on_marker``
    (NaN where the finding is absent).
    """
    from ..explain.metrics import energy_pointing

    if not 0 <= int(index) < len(dataset):
        raise ConfigError(f"image index {index} is out of range 0..{len(dataset) - 1}.")
    i = int(index)
    causal, spurious = attention_maps(model, dataset.images[i:i + 1], finding)
    fmask = finding_masks(dataset.subset([i]))[0, int(finding)]
    mmask = marker_masks(dataset.subset([i]))[0]
    out: dict[str, Any] = {"causal": causal[0], "spurious": spurious[0], "finding_mask": fmask,
                           "marker_mask": mmask, "present": bool(fmask.any())}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # an absent finding scores NaN, said in the app
        for name, m in (("causal", causal), ("spurious", spurious)):
            out[f"{name}_on_finding"] = float(energy_pointing(m, fmask[None])[0])
            out[f"{name}_on_marker"] = float(energy_pointing(m, mmask[None])[0])
    return out
