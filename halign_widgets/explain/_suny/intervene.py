"""One intervention on one SUNY cause: remove it, or keep only it, and see what the model says.

SUNY's games (Xuan et al., CVPR workshops 2024; METHODS.md §1.4) average over every coalition of
causes; a student learns what one cause does by intervening on it alone. :func:`intervene`
rebuilds the :class:`~halign_widgets.explain._suny.causes.CauseSet` of the explained image with the
options the result was computed with and evaluates ``do(remove k)`` or ``do(keep k)``, exactly as
the games do: keeping a filter keeps it *within the union of both candidate pools* (the other pool
channels are zeroed), as in the sufficiency game.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from ...errors import ConfigError, unknown_name
from ...models import model_input
from ...validation import check_int
from .causes import make_causes
from .result import SunyResult

__all__ = ["Intervention", "intervene", "MODES"]

MODES = ("remove", "keep")
InterventionMode = Literal["remove", "keep"]


@dataclass
class Intervention:
    """What one intervention did.

    Attributes
    ----------
    cause, mode:
        The cause's index among the image's causes, and ``"remove"`` or ``"keep"``.
    target:
        The explained class.
    before, after:
        ``p_target`` on the image and after the intervention.
    image:
        The intervened image ``C×H×W`` (CPU) for input-space causes, ``None`` for filters.
    region:
        The cause's region ``A_k`` (``H×W``, CPU).
    """

    cause: int
    mode: InterventionMode
    target: int
    before: float
    after: float
    image: Tensor | None
    region: Tensor


def intervene(model: nn.Module, x: Tensor, result: SunyResult, cause: int,
              mode: InterventionMode = "remove") -> Intervention:
    """Remove cause ``cause`` of the image ``x`` (``1×C×H×W``), or keep only it; ``p`` before and after.

    Parameters
    ----------
    model:
        The model ``result`` explains.
    x:
        The explained image (batch of one), as given to :func:`~halign_widgets.explain.suny`.
    result:
        The SUNY result of that image (its cause kind, layer, grid, baseline and pools are reused).
    cause:
        Index of the cause (a channel for features / filters, a patch for patches).
    mode:
        ``"remove"`` — ``do(remove k)``; ``"keep"`` — ``do(keep k)``.

    Raises
    ------
    UnknownNameError
        ``mode`` is not ``"remove"`` or ``"keep"``.
    ConfigError
        ``cause`` is not an integer index of one of the image's causes, or ``x`` is not one image.
    """
    if mode not in MODES:
        raise unknown_name("intervention", str(mode), MODES)
    if x.dim() != 4 or x.shape[0] != 1:
        raise ConfigError(f"intervene explains one image: give x of shape 1×C×H×W, got {tuple(x.shape)}.")
    cs = make_causes(model, model_input(model, x), int(result.target[0]), result.causes, layer=result.layer,
                     grid=int(result.options["grid"]), baseline=result.options["baseline"])
    cause = check_int("cause", cause, 0, cs.n_causes - 1,
                      hint=f"the index of one of this image's {cs.n_causes} causes")
    coalition = torch.zeros(1, cs.n_causes, dtype=torch.bool)
    coalition[0, cause] = True
    scope = torch.zeros(cs.n_causes, dtype=torch.bool)
    scope[result.pool_n[0]] = True
    scope[result.pool_s[0]] = True
    after = float(cs.probs([(mode, coalition, scope)])[0][0])
    image = cs.images(mode, coalition)[0].detach().float().cpu() if result.causes != "filters" else None
    return Intervention(cause=cause, mode=mode, target=int(cs.target), before=float(cs.p_full), after=after,
                        image=image, region=cs.regions[cause].detach().float().cpu())
