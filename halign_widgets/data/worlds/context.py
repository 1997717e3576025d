"""The *context* world: a small object whose class is given by the scene around it.

Every image is split by a straight (horizontal or vertical, random) boundary into two scene
regions: one of **stripes** texture and one of **dots** texture, so both scene types are always
present and the global scene statistics say nothing about the label.  One small bright blob —
identical in both classes — sits inside one of the regions; the label is the scene type *around
the object* (0 = ``"object_in_stripes"``, 1 = ``"object_in_dots"``).  Knob ``decoy``: with that
probability a decoy (a small ring, not the object) is drawn in the *other* region.

Ground-truth mask ([ours]): the object plus the disambiguating context, i.e. the disk of radius
``context_radius`` (default 8 px at 64×64) around the object's centre; the object is placed at
least that far from the boundary, so the disk lies inside its own scene region.
``meta``: ``scene`` (scene type at the object), ``center``, ``vertical`` (boundary orientation),
``decoy``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .. import _draw as D
from .. import _shapes as S
from ..dataset import ImageDataset
from ._base import World, check_fraction, check_nonneg, make_splits

__all__ = ["CONTEXT"]


def _textures(n: int, size: int, sc: float, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Stripes and dots textures (``N×H×W`` each, roughly in [-1, 1]) with random phase and period."""
    yy, xx = D.grid(size)
    period = D.uniform(g, (n, 1, 1), 5.0, 7.0) * sc
    tilt = D.uniform(g, (n, 1, 1), -0.35, 0.35)
    phase = D.uniform(g, (n, 1, 1), 0.0, 2 * math.pi)
    stripes = torch.sin(2 * math.pi * (yy * torch.cos(tilt) + xx * torch.sin(tilt)) / period + phase)
    p2 = D.uniform(g, (n, 1, 1), 5.0, 7.0) * sc
    ph = D.uniform(g, (n, 2, 1, 1), 0.0, 2 * math.pi)
    dots = torch.sin(2 * math.pi * yy / p2 + ph[:, 0]) * torch.sin(2 * math.pi * xx / p2 + ph[:, 1])
    return stripes, dots


def _build(n: int, size: int, g: torch.Generator, knobs: dict[str, Any]) -> ImageDataset:
    decoy_p = check_fraction("context", "decoy", knobs["decoy"])
    ctx = check_nonneg("context", "context_radius", knobs["context_radius"], 14.0)
    noise = check_nonneg("context", "noise", knobs["noise"], 0.5)
    sc = size / 64.0
    ctx_px = max(ctx * sc, 3.0 * sc)
    labels = D.balanced_labels(n, 2, g)                       # scene type at the object
    splits = make_splits(n, g)
    vertical = torch.rand(n, generator=g) < 0.5               # boundary orientation
    boundary = D.uniform(g, n, 27.0, 37.0) * sc
    dots_first = torch.rand(n, generator=g) < 0.5             # which side holds the dots

    yy, xx = D.grid(size)
    along = torch.where(vertical[:, None, None], xx, yy)      # coordinate across the boundary
    first = along < boundary[:, None, None]                   # N×H×W: first side
    stripes, dots = _textures(n, size, sc, g)
    is_dots = first == dots_first[:, None, None]
    scene = torch.where(is_dots, dots, stripes)
    images = 0.32 + 0.07 * scene + 0.025 * D.tissue(n, size, g)

    # the object: in the side whose scene type is the label, at ≥ ctx_px from the boundary
    obj_first = (labels == 1) == dots_first                   # object on the first side?
    lo = ctx_px + 1.0
    dist = lo + torch.rand(n, generator=g) * (max(14.0 * sc, lo + 1.0) - lo)
    across = torch.where(obj_first, boundary - dist, boundary + dist).clamp(6 * sc, size - 1 - 6 * sc)
    parallel = D.uniform(g, n, 12.0, 52.0) * sc
    cy = torch.where(vertical, parallel, across)
    cx = torch.where(vertical, across, parallel)
    r_obj = D.uniform(g, n, 3.0, 4.0) * sc
    bright = D.uniform(g, n, 0.35, 0.5)
    images = images + bright[:, None, None] * S.draw("disk", cy, cx, r_obj, size)
    # decoy in the other region
    decoy = torch.rand(n, generator=g) < decoy_p
    d_across = torch.where(obj_first, boundary + dist, boundary - dist).clamp(6 * sc, size - 1 - 6 * sc)
    d_par = D.uniform(g, n, 12.0, 52.0) * sc
    dy = torch.where(vertical, d_par, d_across)
    dx = torch.where(vertical, d_across, d_par)
    images = images + (decoy.float() * bright)[:, None, None] * S.draw("ring", dy, dx, r_obj * 1.2, size)
    images = D.add_noise(D.gaussian_blur(images, 0.5 * sc), noise, g)

    ry, rx = yy - cy[:, None, None], xx - cx[:, None, None]
    masks = (ry ** 2 + rx ** 2 <= ctx_px ** 2)[:, None]
    meta = {"scene": labels.clone(), "center": torch.stack([cy, cx], 1), "vertical": vertical, "decoy": decoy}
    info = {"decoy": decoy_p, "context_radius": ctx, "noise": noise, "scene_types": ["stripes", "dots"],
            "cause": "scene type around the (class-ambiguous) object",
            "mask": f"disk of radius {ctx_px:.1f} px around the object (object + its context)"}
    return ImageDataset(images[:, None].contiguous(), labels, ["object_in_stripes", "object_in_dots"], masks,
                        meta, info, splits)


CONTEXT = World(
    name="context",
    build=_build,
    knobs={"decoy": 0.5, "context_radius": 8.0, "noise": 0.03},
    description="A small blob, identical in both classes, lies in a stripes or a dots region of a "
                "two-region scene; its class is the scene type around it. Mask = object + context disk.",
)
