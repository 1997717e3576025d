"""Grad-CAM++ (Chattopadhay et al., "Grad-CAM++: Generalized gradient-based visual explanations
for deep convolutional networks", WACV 2018)."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import BaseCAM

__all__ = ["GradCAMPlusPlus"]


class GradCAMPlusPlus(BaseCAM):
    """Grad-CAM++ with the closed-form second-order weights of the exponential score.

    With ``Y_c = exp(y_c)`` the higher derivatives are powers of the first one, ``g = ∂y_c/∂X``,
    and the pixel weights become ``α_kij = g² / (2 g² + Σ_ab X_kab g³)`` (0 where the denominator
    is 0). Channel weights ``w_k = Σ_ij α_kij ReLU(∂Y_c/∂X_kij)``; map ``ReLU(Σ_k w_k X_k)``.

    ``∂Y_c/∂X = exp(y_c) g``: the factor ``exp(y_c)`` is one positive number per image, so it
    changes only the map's scale; it is left out **[ours]** (as most implementations do) so that
    large logits cannot overflow and raw maps stay comparable to Grad-CAM's.
    """

    name = "gradcam++"

    def combine(self, x: Tensor, acts: Tensor, grads: Tensor | None, target: Tensor) -> Tensor:
        assert grads is not None
        g2 = grads.pow(2)
        g3 = grads.pow(3)
        denom = 2 * g2 + (acts.sum(dim=(2, 3), keepdim=True) * g3)
        alpha = torch.where(denom != 0, g2 / torch.where(denom != 0, denom, torch.ones_like(denom)),
                            torch.zeros_like(denom))
        weights = (alpha * torch.relu(grads)).sum(dim=(2, 3), keepdim=True)
        return torch.relu((weights * acts).sum(1))
