"""The *masses* world: mammography-like patches where only the margin of the mass gives the class.

Each image shows soft multi-scale tissue texture and one mass.  A **benign** mass is round or oval
with a smooth margin (low-frequency boundary wobble); a **malignant** mass has an irregular margin
with thin spicules radiating out of it.  Both classes draw centre, area, aspect ratio, orientation
and contrast from the same distributions, and the spiculated boundary is rescaled so that its area
equals the drawn target area exactly — so size, position and intensity carry no information and
only the margin tells the classes apart.  The ground-truth mask is the mass including its
spicules.

Knob ``shortcut`` ([ours], a classic "Clever Hans" set-up): a bright square marker in the top-left
corner (``info["marker_box"]``) is drawn on a ``shortcut`` fraction of the *malignant training*
images and on no benign training image; in val / test it appears with the same overall rate
(``shortcut / 2``) independently of the label, so a model that learned the marker fails there.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ...errors import ConfigError
from .. import _draw as D
from ..dataset import ImageDataset
from ._base import World, check_fraction, check_nonneg, make_splits

__all__ = ["MASSES"]

_T = 256  # angular samples of the boundary radius function


def _boundary(n: int, malignant: torch.Tensor, spicules: float,
              g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Boundary radius per angle (unit equivalent radius, ``N×T``) and the spicule count per image."""
    theta = torch.linspace(-math.pi, math.pi, _T + 1)[:-1][None]               # 1×T
    aspect = D.uniform(g, (n, 1), 0.65, 1.0)
    phi = D.uniform(g, (n, 1), 0.0, math.pi)
    c, s = torch.cos(theta - phi), torch.sin(theta - phi)
    ellipse = 1.0 / torch.sqrt(c ** 2 + (s / aspect) ** 2)                     # a=1, b=aspect
    # smooth low-frequency wobble (both classes)
    wobble = torch.zeros(n, _T)
    for k in (2, 3):
        amp = D.uniform(g, (n, 1), 0.0, 0.06)
        wobble += amp * torch.cos(k * theta + D.uniform(g, (n, 1), 0.0, 2 * math.pi))
    # irregular, higher-frequency margin (malignant only)
    rough = torch.zeros(n, _T)
    for k in (5, 7, 9, 11):
        amp = D.uniform(g, (n, 1), 0.02, 0.07)
        rough += amp * torch.cos(k * theta + D.uniform(g, (n, 1), 0.0, 2 * math.pi))
    m = malignant.float()[:, None]
    radius = ellipse * (1.0 + wobble + m * rough)
    # spicules: narrow angular bumps, i.e. thin tapering rays
    max_sp = 10
    count = torch.randint(max(1, int(round(spicules)) - 2), int(round(spicules)) + 3, (n,), generator=g)
    count = count.clamp(1, max_sp) * malignant.long()
    angles = D.uniform(g, (n, max_sp, 1), -math.pi, math.pi)
    length = D.uniform(g, (n, max_sp, 1), 0.6, 1.3)
    width = D.uniform(g, (n, max_sp, 1), 0.035, 0.06)
    d = torch.remainder(theta[:, None] - angles + math.pi, 2 * math.pi) - math.pi   # N×S×T
    active = (torch.arange(max_sp)[None] < count[:, None]).float()[..., None]
    bumps = (active * length * torch.exp(-0.5 * (d / width) ** 2)).amax(1)
    radius = radius + bumps
    return radius, count


def _build(n: int, size: int, g: torch.Generator, knobs: dict[str, Any]) -> ImageDataset:
    shortcut = check_fraction("masses", "shortcut", knobs["shortcut"])
    noise = check_nonneg("masses", "noise", knobs["noise"], 0.5)
    spicules = check_nonneg("masses", "spicules", knobs["spicules"], 8)
    if spicules < 1:
        raise ConfigError(f"world 'masses': knob spicules={spicules!r} must be at least 1.")
    sc = size / 64.0
    labels = D.balanced_labels(n, 2, g)
    malignant = labels == 1
    splits = make_splits(n, g)

    background = 0.38 + 0.07 * D.tissue(n, size, g)
    cy = D.uniform(g, n, 22.0, 42.0) * sc
    cx = D.uniform(g, n, 22.0, 42.0) * sc
    eq_radius = D.uniform(g, n, 6.5, 9.5) * sc
    contrast = D.uniform(g, n, 0.20, 0.32)
    radius, count = _boundary(n, malignant, spicules, g)
    area_now = 0.5 * (radius ** 2).mean(1) * 2 * math.pi                      # area of the unit shape
    radius = radius * (eq_radius / torch.sqrt(area_now / math.pi))[:, None]   # exact target area
    shape, rel = D.radial_shape(cy, cx, radius, size, edge=0.45)
    shade = 0.8 + 0.2 * (1.0 - rel).clamp(0.0, 1.0)                           # brighter core
    images = background + contrast[:, None, None] * shape * shade
    images = D.gaussian_blur(images, 0.6 * sc)

    # shortcut marker: correlated with malignant in train only
    is_train = torch.zeros(n, dtype=torch.bool)
    is_train[splits["train"]] = True
    u = torch.rand(n, generator=g)
    marker = torch.where(is_train, malignant & (u < shortcut), u < shortcut / 2)
    m = max(2, int(round(6 * sc)))
    y0 = x0 = max(1, int(round(2 * sc)))
    box = (y0, y0 + m, x0, x0 + m)
    images[marker, box[0]:box[1], box[2]:box[3]] = 0.95
    images = D.add_noise(images, noise, g)

    masks = (shape > 0.5)[:, None]
    meta = {"center": torch.stack([cy, cx], 1), "area": masks.flatten(1).sum(1).float(),
            "contrast": contrast, "n_spicules": count, "marker": marker}
    info = {"marker_box": box, "shortcut": shortcut, "noise": noise,
            "cause": "margin of the mass (smooth = benign, spiculated = malignant)",
            "nuisances": {"center": "independent", "area": "independent", "contrast": "independent",
                          "marker": f"present in {shortcut:.0%} of malignant train images, none of the benign "
                                    f"train images; rate {shortcut / 2:.0%} independent of the label in val/test"}}
    return ImageDataset(images[:, None].contiguous(), labels, ["benign", "malignant"], masks, meta, info, splits)


MASSES = World(
    name="masses",
    build=_build,
    knobs={"shortcut": 0.0, "noise": 0.03, "spicules": 5},
    description="Mammography-like patches with one mass: benign = smooth round/oval margin, malignant = "
                "irregular spiculated margin; size, position and intensity are shared, only the margin "
                "differs. Knob 'shortcut' adds a corner marker correlated with malignant in train only.",
)
