"""The 2-D colour rendering of SUNY (pure torch; plotting is left to the widgets).

Necessity goes to the blue channel and sufficiency to the red channel, green stays 0: a region
that is only necessary is blue, only sufficient is red, both is magenta, neither is black
(Xuan et al., CVPR workshops 2024, Fig. 1 colour scheme).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ...errors import InputShapeError
from ...validation import check_int

__all__ = ["suny_rgb", "suny_legend"]


def _as_batch(m: Tensor, name: str) -> Tensor:
    if not isinstance(m, Tensor) or m.dim() not in (2, 3):
        shape = tuple(m.shape) if isinstance(m, Tensor) else type(m).__name__
        raise InputShapeError(f"{name} must be an H×W or B×H×W tensor, got {shape}.")
    return (m[None] if m.dim() == 2 else m).float()


def _normalize(m: Tensor) -> Tensor:
    m = m.clamp_min(0)
    peak = m.flatten(1).max(1).values.clamp_min(1e-12)
    return m / peak[:, None, None]


def suny_rgb(necessity: Tensor, sufficiency: Tensor) -> Tensor:
    """RGB image ``B×3×H×W`` in ``[0, 1]``: R = sufficiency, G = 0, B = necessity.

    Each map is clipped at 0 and divided by its own maximum (per image), so the colours show where
    each property is strongest, not their absolute sizes. ``H×W`` inputs give ``1×3×H×W``.
    """
    n, s = _as_batch(necessity, "necessity"), _as_batch(sufficiency, "sufficiency")
    if n.shape != s.shape:
        raise InputShapeError(f"necessity {tuple(n.shape)} and sufficiency {tuple(s.shape)} must have the same shape.")
    n, s = _normalize(n), _normalize(s)
    return torch.stack([s, torch.zeros_like(n), n], 1)


def suny_legend(size: int = 64) -> Tensor:
    """The legend square ``3×size×size``: x axis = sufficiency (0 left → 1 right), y axis = necessity.

    Row 0 is the top of the square as ``imshow`` displays it, where necessity is 1; the bottom-left
    corner is black (neither), bottom-right red, top-left blue, top-right magenta.
    """
    size = check_int("size", size, 2, hint="pixels per side of the legend")
    ramp = torch.linspace(0.0, 1.0, size)
    suff = ramp[None, :].expand(size, size)
    nec = ramp.flip(0)[:, None].expand(size, size)
    return torch.stack([suff, torch.zeros(size, size), nec]).contiguous()
