"""The *logic* world: the label is a Boolean function of two cues, with distractor objects.

Cue **A** is a cross, cue **B** a ring; each appears independently (probabilities ``p_a``,
``p_b``, 0.5 by default).  ``variant="and"``: label = A AND B; ``variant="or"``: label = A OR B.
``n_distractors`` other objects (squares, bars, diamonds, diagonal crosses) are always drawn.
Every object sits in its own cell of a 3×3 layout chosen at random, with the same size and
brightness distributions, so only the *presence of the cues* carries the label.

This is the world where necessity and sufficiency differ by construction: under AND each cue is
necessary and neither sufficient; under OR each is sufficient and neither necessary.

Ground-truth mask ([ours]): the union of the footprints of the cues that are **present**
(present cues are what the label is computed from; under OR with both cues present either one
alone suffices, and both are marked).  Negative images under AND may still hold one cue, which is
marked as well.  ``meta["cue_a"]``, ``meta["cue_b"]`` are the cue flags and ``meta["box_a"]``,
``meta["box_b"]`` the cue boxes ``(y0, y1, x0, x1)`` (``-1`` where the cue is absent).
"""

from __future__ import annotations

from typing import Any

import torch

from .. import _draw as D
from .. import _shapes as S
from ..dataset import ImageDataset
from ._base import World, check_choice, check_fraction, check_int, check_nonneg, make_splits

__all__ = ["LOGIC"]

_DISTRACTORS = ("square", "bar", "diamond", "x")


def _box(cy: torch.Tensor, cx: torch.Tensor, r: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    box = torch.stack([cy - r - 1, cy + r + 1, cx - r - 1, cx + r + 1], 1)
    return torch.where(present[:, None], box, torch.full_like(box, -1.0))


def _build(n: int, size: int, g: torch.Generator, knobs: dict[str, Any]) -> ImageDataset:
    variant = check_choice("logic", "variant", knobs["variant"], ("and", "or"))
    p_a = check_fraction("logic", "p_a", knobs["p_a"])
    p_b = check_fraction("logic", "p_b", knobs["p_b"])
    n_dis = check_int("logic", "n_distractors", knobs["n_distractors"], 0, 7)
    noise = check_nonneg("logic", "noise", knobs["noise"], 0.5)
    sc = size / 64.0
    cue_a = torch.rand(n, generator=g) < p_a
    cue_b = torch.rand(n, generator=g) < p_b
    labels = (cue_a & cue_b) if variant == "and" else (cue_a | cue_b)
    splits = make_splits(n, g)

    _, cy, cx = S.layout(n, 2 + n_dis, 3, size, g, jitter=0.1, margin=3.0 * sc)
    r = D.uniform(g, (n, 2 + n_dis), 5.0, 6.5) * sc
    bright = D.uniform(g, (n, 2 + n_dis), 0.35, 0.55)
    images = 0.25 + 0.04 * D.tissue(n, size, g)
    a = S.draw("cross", cy[:, 0], cx[:, 0], r[:, 0], size)
    b = S.draw("ring", cy[:, 1], cx[:, 1], r[:, 1], size)
    images = images + (cue_a.float() * bright[:, 0])[:, None, None] * a
    images = images + (cue_b.float() * bright[:, 1])[:, None, None] * b
    kinds = torch.randint(0, len(_DISTRACTORS), (n, max(n_dis, 1)), generator=g)
    for j in range(n_dis):
        obj = S.draw_mixed(kinds[:, j], cy[:, 2 + j], cx[:, 2 + j], r[:, 2 + j], size, _DISTRACTORS)
        images = images + bright[:, 2 + j, None, None] * obj
    images = D.add_noise(D.gaussian_blur(images, 0.5 * sc), noise, g)

    mask_a = S.footprint(cy[:, 0], cx[:, 0], r[:, 0], size) & cue_a[:, None, None]
    mask_b = S.footprint(cy[:, 1], cx[:, 1], r[:, 1], size) & cue_b[:, None, None]
    masks = (mask_a | mask_b)[:, None]
    meta = {"cue_a": cue_a, "cue_b": cue_b, "box_a": _box(cy[:, 0], cx[:, 0], r[:, 0], cue_a),
            "box_b": _box(cy[:, 1], cx[:, 1], r[:, 1], cue_b),
            "distractor_kinds": [[_DISTRACTORS[int(k)] for k in row[:n_dis]] for row in kinds]}
    info = {"variant": variant, "p_a": p_a, "p_b": p_b, "n_distractors": n_dis, "noise": noise,
            "cues": {"A": "cross", "B": "ring"}, "distractors": list(_DISTRACTORS),
            "cause": f"label = cue A {variant.upper()} cue B",
            "mask": "union of the footprints of the present cues"}
    return ImageDataset(images[:, None].contiguous(), labels.long(), ["negative", "positive"], masks, meta,
                        info, splits)


LOGIC = World(
    name="logic",
    build=_build,
    knobs={"variant": "and", "p_a": 0.5, "p_b": 0.5, "n_distractors": 2, "noise": 0.03},
    description="Two cues (A = cross, B = ring) among distractor shapes; label = A AND B "
                "(variant='and') or A OR B (variant='or'). Necessity and sufficiency differ by "
                "construction. Mask = the present cues.",
)
