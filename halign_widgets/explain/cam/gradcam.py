"""Grad-CAM (Selvaraju et al., "Grad-CAM: Visual explanations from deep networks via
gradient-based localization", ICCV 2017)."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import BaseCAM

__all__ = ["GradCAM"]


class GradCAM(BaseCAM):
    """Grad-CAM: channel weight ``w_k = mean_ij ∂y_c/∂X_kij``; map ``ReLU(Σ_k w_k X_k)``.

    ``y_c`` is the pre-softmax logit of the target class.
    """

    name = "gradcam"

    def combine(self, x: Tensor, acts: Tensor, grads: Tensor | None, target: Tensor) -> Tensor:
        assert grads is not None
        weights = grads.mean(dim=(2, 3), keepdim=True)
        return torch.relu((weights * acts).sum(1))
