"""Layer-CAM (Jiang et al., "LayerCAM: Exploring hierarchical class activation maps for
localization", IEEE TIP 2021)."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import BaseCAM

__all__ = ["LayerCAM"]


class LayerCAM(BaseCAM):
    """Layer-CAM: per-location weights ``ReLU(∂y_c/∂X_kij)``; map ``ReLU(Σ_k ReLU(g_k) ⊙ X_k)``.

    Unlike Grad-CAM it does not average gradients over space, so it also gives fine maps on early
    (high-resolution) layers.
    """

    name = "layercam"

    def combine(self, x: Tensor, acts: Tensor, grads: Tensor | None, target: Tensor) -> Tensor:
        assert grads is not None
        return torch.relu((torch.relu(grads) * acts).sum(1))
