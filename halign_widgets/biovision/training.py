"""Training CoCoReco with the lab's Trainer: the CAB schedule and the ``L_mb`` terms in one step.

After Carloni et al. (ECCV 2024 workshops), METHODS.md §3: the CABs are off during the first
epoch, the loss is ``CE + Σ_area w_area · L_mb(C_area)``. :class:`CoCoRecoStep` is both the
Trainer's ``step_fn`` and a :class:`~halign_widgets.training.Callback`: as a callback it learns
which trainer runs it (``on_fit_start``), as a step it reads ``trainer.epoch`` to switch the CABs
on after the warm-up and returns the ``ce`` and ``lmb_<area>`` terms, which the Trainer averages
into the history (``train_lmb_it`` …). Pass the same object twice::

    step = CoCoRecoStep()
    Trainer(model, train, val, step_fn=step, callbacks=[step])
    TrainingDashboard(factory, world, step_fn=step, callbacks=[step])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import LabelMismatchError
from ..training import Callback
from ..validation import check_int, check_real
from .loss import alignment_loss

if TYPE_CHECKING:  # pragma: no cover
    from ..training import Trainer

__all__ = ["CoCoRecoStep", "DEFAULT_LMB_WEIGHT"]

#: Weight of each area's ``L_mb`` term [ours: the paper does not publish its weights].
DEFAULT_LMB_WEIGHT = 0.1


class CoCoRecoStep(Callback):
    """Trainer step for CoCoReco (and any classifier): CE, the CAB warm-up, the ``L_mb`` terms.

    Parameters
    ----------
    lmb_weights:
        ``w_area`` of each CAB area's ``L_mb`` term: one float for all, or a ``{area: weight}``
        mapping (areas left out get 0). ``0`` trains with cross-entropy only.
    cab_warmup:
        Epochs during which the CABs stay off (default 1: the paper's "disabled in the first
        epoch"). Epochs are the Trainer's, 1-based.

    Notes
    -----
    A model without ``forward_details`` (e.g. :class:`~.scratch.ScratchCNN`) is trained with plain
    cross-entropy, so one step serves every variant of the comparison. While the CABs are off the
    ``lmb_<area>`` terms are recorded as 0 (no map was computed), so every epoch of the history
    has the same keys. Called outside a Trainer run (no trainer bound), the step leaves the CABs
    as the model has them.
    """

    def __init__(self, lmb_weights: float | Mapping[str, float] = DEFAULT_LMB_WEIGHT, cab_warmup: int = 1) -> None:
        cab_warmup = check_int("cab_warmup", cab_warmup, 0, hint="epochs without CAB")
        weights = lmb_weights if isinstance(lmb_weights, Mapping) else None
        values = list(weights.values()) if weights is not None else [lmb_weights]
        for value in values:
            check_real("an L_mb weight", value, 0.0, hint="w_area of the CAB's map-matching loss")
        self.lmb_weights = lmb_weights
        self.cab_warmup = cab_warmup
        self.trainer: Trainer | None = None

    def weight(self, area: str) -> float:
        """``w_area`` of ``area``."""
        if isinstance(self.lmb_weights, Mapping):
            return float(self.lmb_weights.get(area, 0.0))
        return float(self.lmb_weights)

    def on_fit_start(self, trainer: Trainer) -> None:
        self.trainer = trainer

    def cab_on_in(self, epoch: int) -> bool:
        """Whether the CABs run in (1-based) ``epoch``."""
        return epoch > self.cab_warmup

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, dict[str, Any]]:
        if y.dim() != 1:
            raise LabelMismatchError("CoCoReco trains on one class index per image; multi-label targets are "
                                     "not supported.")
        details = getattr(model, "forward_details", None)
        if details is None:
            logits = model(x)
            ce = F.cross_entropy(logits, y)
            return ce, logits, {"ce": ce.detach()}
        if self.trainer is not None and hasattr(model, "cab_active"):
            cast(Any, model).cab_active = self.cab_on_in(max(1, int(self.trainer.epoch)))
        out = details(x)
        ce = F.cross_entropy(out.logits, y)
        loss, terms = ce, {"ce": ce.detach()}
        for area in getattr(model, "cab_areas", ()):
            cmap = out.maps.get(area)
            lmb = alignment_loss(cmap, y) if cmap is not None else torch.zeros((), device=ce.device)
            w = self.weight(area)
            if w and cmap is not None:
                loss = loss + w * lmb
            terms[f"lmb_{area}"] = lmb.detach()
        return loss, out.logits, terms
