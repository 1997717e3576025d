"""Small symbolic objects (cross, ring, square, …) drawn in batches, for the symbolic worlds (private).

An object is given by its kind, centre and radius ``r`` (half its extent).  Its *footprint* — the
region a ground-truth mask marks for it — is the disk of radius ``r + 1`` pixels around the centre
(``[ours]``: a disk is a simple, shape-independent region for pointing-game style scores).
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import _draw as D

__all__ = ["KINDS", "draw", "draw_mixed", "footprint", "layout"]

#: Object kinds, in a fixed order (indices are used by :func:`draw_mixed`).
KINDS = ("cross", "ring", "square", "bar", "diamond", "x", "disk")


def _local(cy: Tensor, cx: Tensor, size: int) -> tuple[Tensor, Tensor]:
    yy, xx = D.grid(size)
    return yy - cy[:, None, None], xx - cx[:, None, None]


def draw(kind: str, cy: Tensor, cx: Tensor, r: Tensor | float, size: int, edge: float = 0.5) -> Tensor:
    """Soft ``N×H×W`` rendering (0…1) of one object of ``kind`` per image."""
    dy, dx = _local(cy, cx, size)
    rr = torch.as_tensor(r, dtype=torch.float32)
    rr = rr[:, None, None] if rr.dim() else rr
    w = 0.28 * rr                                                     # half thickness of strokes

    def inside(v: Tensor) -> Tensor:                                  # soft "v >= 0"
        return torch.sigmoid(v / edge)

    if kind == "cross":
        return torch.maximum(inside(w - dy.abs()) * inside(rr - dx.abs()), inside(w - dx.abs()) * inside(rr - dy.abs()))
    if kind == "x":
        u, v = (dy + dx) * 0.7071, (dy - dx) * 0.7071
        return torch.maximum(inside(w - u.abs()) * inside(rr - v.abs()), inside(w - v.abs()) * inside(rr - u.abs()))
    if kind == "ring":
        dist = torch.sqrt(dy ** 2 + dx ** 2)
        return inside(w - (dist - 0.75 * rr).abs())
    if kind == "square":
        return inside(0.8 * rr - torch.maximum(dy.abs(), dx.abs()))
    if kind == "bar":
        return inside(w - dy.abs()) * inside(rr - dx.abs())
    if kind == "diamond":
        return inside(rr - dy.abs() - dx.abs())
    if kind == "disk":
        return inside(0.8 * rr - torch.sqrt(dy ** 2 + dx ** 2))
    raise ValueError(f"unknown object kind {kind!r}")  # private: callers pass constants


def draw_mixed(kinds: Tensor, cy: Tensor, cx: Tensor, r: Tensor | float, size: int,
               choices: tuple[str, ...]) -> Tensor:
    """One object per image whose kind is ``choices[kinds[i]]`` (``kinds`` an ``N`` index tensor)."""
    out = torch.zeros(len(cy), size, size)
    for j, kind in enumerate(choices):
        sel = kinds == j
        if bool(sel.any()):
            rj = r[sel] if isinstance(r, Tensor) and r.dim() else r
            out[sel] = draw(kind, cy[sel], cx[sel], rj, size)
    return out


def footprint(cy: Tensor, cx: Tensor, r: Tensor | float, size: int) -> Tensor:
    """The mask region of objects: disks of radius ``r + 1`` (bool ``N×H×W``)."""
    dy, dx = _local(cy, cx, size)
    rr = torch.as_tensor(r, dtype=torch.float32)
    rr = rr[:, None, None] if rr.dim() else rr
    return dy ** 2 + dx ** 2 <= (rr + 1.0) ** 2


def layout(n: int, slots: int, grid_n: int, size: int, g: torch.Generator,
           jitter: float = 0.1, margin: float = 0.0) -> tuple[Tensor, Tensor, Tensor]:
    """Place ``slots`` objects per image in distinct cells of a ``grid_n×grid_n`` layout.

    Returns ``(cells, cy, cx)``, each ``N×slots``; the cells are a uniformly random ordering, so a
    slot's position carries no information about which object it holds.  ``margin`` is an image
    border (pixels) the cells leave free.
    """
    cells = torch.rand(n, grid_n * grid_n, generator=g).argsort(1)[:, :slots]
    jit = D.uniform(g, (n, slots, 2), -jitter, jitter)
    cy, cx = D.cell_centers(cells, grid_n, size, jit, margin)
    return cells, cy, cx
