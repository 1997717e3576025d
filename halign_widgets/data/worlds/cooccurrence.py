"""The *cooccurrence* world: object B appears only because object A is present, next to it.

Labelling ([ours]): the label is **"A present"** (a square; exactly balanced classes).  When A is
present, object B (a ring) is drawn in a neighbouring cell of the 4×4 layout with probability
``p_b``; B never appears without A.  ``n_distractors`` other shapes (crosses, bars, diamonds) are
drawn in other cells of every image.  B therefore co-occurs with the label through a real causal
disposition (A → B) but is not the cause of the label; a model may rely on it (it predicts the
label with precision 1) — which explanation and causality methods should reveal.

Ground-truth mask: the footprint of A (empty in negative images).  ``meta``: ``a_present``,
``a_pos`` (centre, ``-1`` when absent), ``b_present``, ``b_pos`` (``-1`` when absent).
"""

from __future__ import annotations

from typing import Any

import torch

from .. import _draw as D
from .. import _shapes as S
from ..dataset import ImageDataset
from ._base import World, check_fraction, check_int, check_nonneg, make_splits

__all__ = ["COOCCURRENCE"]

_DISTRACTORS = ("cross", "bar", "diamond")
_G = 4  # layout grid


def _neighbours() -> torch.Tensor:
    """``16×4`` table of 4-neighbour cells of each cell of the layout (``-1`` off the grid)."""
    table = torch.full((_G * _G, 4), -1, dtype=torch.long)
    for c in range(_G * _G):
        y, x = divmod(c, _G)
        for j, (dy, dx) in enumerate(((-1, 0), (1, 0), (0, -1), (0, 1))):
            if 0 <= y + dy < _G and 0 <= x + dx < _G:
                table[c, j] = (y + dy) * _G + x + dx
    return table


def _build(n: int, size: int, g: torch.Generator, knobs: dict[str, Any]) -> ImageDataset:
    p_b = check_fraction("cooccurrence", "p_b", knobs["p_b"])
    n_dis = check_int("cooccurrence", "n_distractors", knobs["n_distractors"], 0, 8)
    noise = check_nonneg("cooccurrence", "noise", knobs["noise"], 0.5)
    sc = size / 64.0
    labels = D.balanced_labels(n, 2, g)
    a_present = labels == 1
    b_present = a_present & (torch.rand(n, generator=g) < p_b)
    splits = make_splits(n, g)

    # cells: A uniformly, B a random neighbour of A, distractors anywhere else
    cell_a = torch.randint(0, _G * _G, (n,), generator=g)
    nb = _neighbours()[cell_a]                                          # N×4
    score = torch.rand(n, 4, generator=g).masked_fill(nb < 0, -1.0)
    cell_b = nb.gather(1, score.argmax(1, keepdim=True))[:, 0]
    free = torch.rand(n, _G * _G, generator=g)
    free.scatter_(1, cell_a[:, None], 2.0)
    free.scatter_(1, cell_b[:, None], 2.0)
    cell_d = free.argsort(1)[:, :n_dis]
    cells = torch.cat([cell_a[:, None], cell_b[:, None], cell_d], 1)
    cy, cx = D.cell_centers(cells, _G, size, D.uniform(g, (n, 2 + n_dis, 2), -0.06, 0.06), margin=3.0 * sc)
    r = D.uniform(g, (n, 2 + n_dis), 3.5, 5.0) * sc
    bright = D.uniform(g, (n, 2 + n_dis), 0.35, 0.55)

    images = 0.25 + 0.04 * D.tissue(n, size, g)
    images = images + (a_present.float() * bright[:, 0])[:, None, None] * S.draw(
        "square", cy[:, 0], cx[:, 0], r[:, 0], size)
    images = images + (b_present.float() * bright[:, 1])[:, None, None] * S.draw(
        "ring", cy[:, 1], cx[:, 1], r[:, 1], size)
    kinds = torch.randint(0, len(_DISTRACTORS), (n, max(n_dis, 1)), generator=g)
    for j in range(n_dis):
        obj = S.draw_mixed(kinds[:, j], cy[:, 2 + j], cx[:, 2 + j], r[:, 2 + j], size, _DISTRACTORS)
        images = images + bright[:, 2 + j, None, None] * obj
    images = D.add_noise(D.gaussian_blur(images, 0.5 * sc), noise, g)

    masks = (S.footprint(cy[:, 0], cx[:, 0], r[:, 0], size) & a_present[:, None, None])[:, None]
    pos_a = torch.stack([cy[:, 0], cx[:, 0]], 1)
    pos_b = torch.stack([cy[:, 1], cx[:, 1]], 1)
    meta = {"a_present": a_present, "a_pos": torch.where(a_present[:, None], pos_a, torch.full_like(pos_a, -1.0)),
            "b_present": b_present, "b_pos": torch.where(b_present[:, None], pos_b, torch.full_like(pos_b, -1.0))}
    info = {"p_b": p_b, "n_distractors": n_dis, "noise": noise, "objects": {"A": "square", "B": "ring"},
            "graph": "A -> B (B drawn next to A with probability p_b, never without A)",
            "cause": "label = A present", "mask": "footprint of A"}
    return ImageDataset(images[:, None].contiguous(), labels, ["no_A", "A"], masks, meta, info, splits)


COOCCURRENCE = World(
    name="cooccurrence",
    build=_build,
    knobs={"p_b": 0.8, "n_distractors": 2, "noise": 0.03},
    description="Label = object A (square) present; object B (ring) appears next to A with probability "
                "p_b and never without it — a causal disposition A → B. Mask = A.",
)
