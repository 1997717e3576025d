"""The Contextual Attention Block (CAB): parameter-free gating of an area by its causality factors.

After Carloni et al., "Connectivity-Inspired Network for Context-Aware Recognition" (ECCV 2024
workshops), METHODS.md §3, built on the lab's causality maps and factors (METHODS.md §2.1–2.2;
:func:`halign_widgets.causality.causality_map`, :func:`halign_widgets.causality.causality_factors`
— no second implementation here):

1. ``C = causality_map(X, "max")`` — the ``B×k×k`` Max map of the area's features ``X``;
2. each column of ``C`` is min–max rescaled to ``[0, 1]`` (over the rows ``i``, per column ``j``);
3. factors ``w = ReLU(o − ι)`` from the direction graph of the rescaled map (``kind="mulcat"``);
4. ``w`` is min–max rescaled per sample to ``[0, 1]`` (all-equal factors give ``w = 0``);
5. residual gating ``X ← X ⊙ (1 + w)``: between the identity (``w = 0``) and doubling (``w = 1``).

The steps of the direction graph pass gradients with the causality package's straight-through
estimator. The block has no parameters and no state; :class:`~.model.CoCoReco` switches it off
during the first training epoch (see :class:`~.training.CoCoRecoStep`).
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn

from ..causality import causality_factors, causality_map
from ..errors import InputShapeError

__all__ = ["CABOutput", "ContextualAttention", "minmax"]

#: Added to the range before dividing in the min–max rescalings (as in the authors' code).
EPS = 1e-8


def minmax(values: Tensor, dim: int) -> Tensor:
    """Rescale ``values`` to ``[0, 1]`` along ``dim``: ``(v − min) / (max − min + 1e-8)``."""
    lo = values.amin(dim, keepdim=True)
    hi = values.amax(dim, keepdim=True)
    return (values - lo) / (hi - lo + EPS)


class CABOutput(NamedTuple):
    """What one CAB computed: the gated features, the rescaled causality map and the factors."""

    features: Tensor   # B×k×h×w, X ⊙ (1 + w)
    map: Tensor        # B×k×k, column-wise min–max rescaled Max map
    factors: Tensor    # B×k in [0, 1]


class ContextualAttention(nn.Module):
    """Contextual Attention Block: ``X ⊙ (1 + w)`` with ``w`` the rescaled causality factors of ``X``.

    Parameter-free; see the module docstring for the five steps.

    Examples
    --------
    >>> cab = ContextualAttention()
    >>> x = torch.rand(2, 8, 4, 4)
    >>> out = cab.attend(x)
    >>> out.features.shape, out.map.shape, out.factors.shape
    (torch.Size([2, 8, 4, 4]), torch.Size([2, 8, 8]), torch.Size([2, 8]))
    >>> bool(((out.features >= x) & (out.features <= 2 * x)).all())
    True
    """

    def attend(self, features: Tensor) -> CABOutput:
        """Gate ``features`` (``B×k×h×w``, post-ReLU) and return everything the block computed."""
        if not isinstance(features, Tensor) or features.dim() != 4:
            shape = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
            raise InputShapeError(f"a Contextual Attention Block takes area features B×k×h×w, got {shape}.")
        cmap = minmax(causality_map(features, "max"), dim=1)       # per column j: over the rows i
        factors = minmax(causality_factors(cmap, "mulcat"), dim=1)  # ReLU(o − ι), per sample
        return CABOutput(features * (1.0 + factors[:, :, None, None]), cmap, factors)

    def forward(self, features: Tensor) -> Tensor:
        """``X ⊙ (1 + w)``."""
        return self.attend(features).features

