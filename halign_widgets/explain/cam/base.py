"""The base class of the CAM family: hooks, target scores, gradients and upsampling.

Why hand-written: captum ships only ``LayerGradCam``; Grad-CAM++, Score-CAM and Layer-CAM are
not in captum, and having the whole family on one small base class keeps them comparable (same
hook handling, same upsampling, same raw-map convention). Each method is a small subclass that
implements :meth:`BaseCAM.combine` — how to turn activations (and gradients) into a map on the
layer's grid.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...models import model_input
from .._hooks import record_activations

__all__ = ["BaseCAM", "upsample"]


def upsample(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinearly upsample ``B×n×m`` (or ``B×k×n×m``) maps to ``size`` (align_corners=False)."""
    squeeze = maps.dim() == 3
    out = F.interpolate(maps[:, None] if squeeze else maps, size=size, mode="bilinear", align_corners=False)
    return out[:, 0] if squeeze else out


class BaseCAM:
    """Class activation map on one layer of a model.

    Subclasses set :attr:`name`, :attr:`needs_gradients` and implement :meth:`combine`.

    Parameters
    ----------
    model:
        A classifier returning ``B×K`` logits (the caller puts it in eval mode).
    layer:
        The module whose output ``X`` (``B×k×n×n``) the map is built from.

    Notes
    -----
    Gradients are taken with :func:`torch.autograd.grad` on the recorded activation, so nothing is
    accumulated in the parameters' ``.grad`` and no backward hook is needed; the forward hook is
    released by :func:`~halign_widgets.explain._hooks.record_activations` even if the forward
    raises.
    """

    name: ClassVar[str] = "cam"
    needs_gradients: ClassVar[bool] = True

    def __init__(self, model: nn.Module, layer: nn.Module) -> None:
        self.model = model
        self.layer = layer

    def activations(self, x: Tensor, target: Tensor) -> tuple[Tensor, Tensor | None, Tensor]:
        """Forward ``x``; return the layer activations, ``∂y_c/∂X`` (or ``None``) and the logits."""
        with torch.set_grad_enabled(self.needs_gradients):
            x_in = model_input(self.model, x.detach()).clone().requires_grad_(self.needs_gradients)
            with record_activations(self.layer) as rec:
                logits = self.model(x_in)
            acts = rec.output
            if acts is None:
                raise RuntimeError("the chosen layer was not used in the model's forward pass; "
                                   "pick one of the model's conv layers.")
            grads = None
            if self.needs_gradients:
                score = logits.gather(1, target.to(logits.device)[:, None]).sum()
                grads = torch.autograd.grad(score, acts)[0]
        return acts.detach(), None if grads is None else grads.detach(), logits.detach()

    def combine(self, x: Tensor, acts: Tensor, grads: Tensor | None, target: Tensor) -> Tensor:
        """Turn activations ``B×k×n×n`` (and gradients) into maps ``B×n×n``."""
        raise NotImplementedError

    def __call__(self, x: Tensor, target: Tensor) -> Tensor:
        """Return raw float32 maps ``B×H×W`` at the input's resolution for classes ``target`` (``B`` long).

        ``x`` is moved to the model's device and cast to its dtype first.
        """
        x = model_input(self.model, x.detach())  # the model's device and dtype
        target = target.to(x.device)
        acts, grads, _ = self.activations(x, target)
        with torch.no_grad():
            cam = self.combine(x, acts, grads, target)
            return upsample(cam.float(), (x.shape[-2], x.shape[-1]))
