"""Consistency and stability of prototypes, after Huang et al. (ICCV 2023).

Q. Huang, M. Xue, W. Huang, H. Zhang, J. Song, Y. Jing, M. Song, "Evaluation and Improvement of
Interpretability for Self-Explainable Part-Prototype Networks", ICCV 2023. A prototype is
*consistent* when, over the images of its class, its high-activation box covers the same object part
(they use the annotated keypoints of CUB birds: a part counts when its keypoint lies in the box) in at
least a share ``μ = 0.8`` of the images; it is *stable* when the parts it covers stay the same after a
small Gaussian perturbation of the image.

Adaptation to the lab's worlds **[ours]**: the "parts" are the regions a world annotates — the
true-cause region (keypoint: the centroid of its mask) and, in *masses* with the shortcut knob, the
marker (keypoint: the centre of ``info["marker_box"]``, only on images that carry the marker). The
region a prototype "covers" on an image is the receptive field of its closest latent patch (the
95th-percentile box of an upsampled map can span most of a 64×64 image and would cover every
keypoint). The perturbation is Gaussian noise of standard deviation ``noise`` (default 0.02 — a
third of the tissue contrast of *masses*), clipped to ``[0, 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..errors import ConfigError
from ..validation import check_real
from .explanations import explain_prototypes
from .model import ProtoPNet
from .push import Box

__all__ = ["ConsistencyResult", "consistency_stability", "part_keypoints"]


def part_keypoints(dataset: Any) -> dict[str, Tensor]:
    """``{part: N×2 (y, x)}`` keypoints of the annotated regions; NaN rows where a part is absent."""
    masks = getattr(dataset, "masks", None)
    if masks is None:
        raise ConfigError("consistency and stability need annotated parts (dataset.masks); use a world such as "
                          "make_world('masses', n).")
    m = masks[:, 0].float()
    h, w = m.shape[-2:]
    ys = torch.arange(h, dtype=torch.float32)[None, :, None]
    xs = torch.arange(w, dtype=torch.float32)[None, None, :]
    area = m.sum((1, 2))
    centre = torch.stack([(m * ys).sum((1, 2)) / area, (m * xs).sum((1, 2)) / area], 1)
    parts = {"lesion": torch.where(area[:, None] > 0, centre, torch.full_like(centre, float("nan")))}
    box = (getattr(dataset, "info", None) or {}).get("marker_box")
    marked = (getattr(dataset, "meta", None) or {}).get("marker")
    if box is not None and marked is not None:
        y0, y1, x0, x1 = box
        point = torch.tensor([(y0 + y1 - 1) / 2.0, (x0 + x1 - 1) / 2.0])
        on = torch.as_tensor(marked, dtype=torch.bool)
        parts["marker"] = torch.where(on[:, None], point.expand(len(on), 2), torch.full((len(on), 2), float("nan")))
    return parts


def _covered(boxes: list[Box], points: Tensor) -> Tensor:
    """Bools: is point ``i`` (``y, x``; NaN = absent) inside box ``i``?"""
    b = torch.tensor(boxes, dtype=torch.float32)
    y, x = points[:, 0], points[:, 1]
    return (y >= b[:, 0]) & (y < b[:, 1]) & (x >= b[:, 2]) & (x < b[:, 3])


@dataclass
class ConsistencyResult:
    """Per-prototype part frequencies and the two scores (shares of the active prototypes)."""

    table: Any
    consistency: float
    stability: float
    threshold: float
    noise: float


def consistency_stability(model: ProtoPNet, dataset: Any, *, threshold: float = 0.8, noise: float = 0.02,
                          seed: int = 0, n_images: int | None = None) -> ConsistencyResult:
    """Consistency and stability of every active prototype over the images of its class (module docstring).

    Parameters
    ----------
    model:
        The ProtoPNet.
    dataset:
        Test images with masks (``world.test``).
    threshold:
        ``μ``: a prototype is consistent when one part is covered in at least this share of images.
    noise:
        Standard deviation of the Gaussian perturbation (stability).
    seed:
        Seed of the noise.
    n_images:
        Use only the first ``n_images`` images.
    """
    import pandas as pd

    check_real("threshold", threshold, 0.0, 1.0, strict=True)
    check_real("noise", noise, 0.0)
    parts = part_keypoints(dataset)
    n = len(dataset) if n_images is None else min(int(n_images), len(dataset))
    x = dataset.images[:n].float()
    labels = dataset.labels[:n]
    g = torch.Generator().manual_seed(int(seed))
    noisy = (x + float(noise) * torch.randn(x.shape, generator=g)).clamp(0.0, 1.0)
    clean_e, noisy_e = explain_prototypes(model, x), explain_prototypes(model, noisy)
    rows = []
    for j in range(model.num_prototypes):
        if float(model.prototype_active[j]) <= 0:
            continue
        idx = (labels == int(model.prototype_class[j])).nonzero()[:, 0].tolist()
        if not idx:
            continue
        h, w = x.shape[-2], x.shape[-1]
        boxes = [model.rf.box(r, c, h, w) for r, c in (clean_e[i].cells[j] for i in idx)]
        boxes_n = [model.rf.box(r, c, h, w) for r, c in (noisy_e[i].cells[j] for i in idx)]
        freq, same = {}, torch.ones(len(idx), dtype=torch.bool)
        for name, points in parts.items():
            pts = points[idx]
            a, b = _covered(boxes, pts), _covered(boxes_n, pts)
            present = ~torch.isnan(pts[:, 0])
            freq[name] = float(a[present].float().mean()) if bool(present.any()) else float("nan")
            same &= a == b
        best = max((v for v in freq.values() if v == v), default=0.0)
        rows.append({"prototype": j, "class": int(model.prototype_class[j]),
                     **{f"covers_{k}": v for k, v in freq.items()},
                     "consistent": bool(best >= threshold), "stability": float(same.float().mean()),
                     "images": len(idx)})
    table = pd.DataFrame(rows).set_index("prototype")
    consistency = float(table["consistent"].mean()) if len(table) else float("nan")
    stability = float(table["stability"].mean()) if len(table) else float("nan")
    return ConsistencyResult(table, consistency, stability, float(threshold), float(noise))
