"""Prototype explanations checked against the ground truth of a world (DESIGN.md, "Prototype explanations
that can be checked").

A prototype explanation says "this part of the image looks like that part of a training image". The
worlds of the lab know which region truly causes each label (``dataset.masks``) and, in *masses* with
the shortcut knob, where the confounding marker sits (``info["marker_box"]``). Here:

- :func:`prototype_truth` — per pushed prototype: the share of its *patch* (the receptive field of
  the latent cell it was pushed onto — what the model really matches) and of its high-activation
  *box* (what Chen et al. draw) on the true-cause mask, against the share a box gets by chance, and
  (in a world with a marker) how much its similarity rises when the marker is painted in;
- :func:`marker_sensitivity` — that counterfactual test on its own;
- :func:`explanation_truth` — per test image: the share of its top prototypes' boxes (and patches)
  on the mask;
- :func:`duplicate_prototypes` — prototypes pushed onto the same patch or with (nearly) equal vectors.

Rule **[ours]**: a patch (or box) counts as *on the mask* when the mask fills at least ``min_lift``
(2) times as large a share of it as of the whole image — the mass covers ~5 % of a masses image, so
a box placed at random holds ~5 % of mask on average and one on the lesion ≥ 10 %. The box can be
much larger than the patch: the 95th percentile of an upsampled map also keeps stray pixels far from
its peak, and the bounding box spans them all — which is why both are reported.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..errors import ConfigError
from ..validation import check_int
from .explanations import explain_prototypes
from .model import ProtoPNet
from .push import Box, PushResult

__all__ = ["MARKER_EFFECT", "box_share", "duplicate_prototypes", "explanation_truth", "marker_region",
           "marker_sensitivity", "prototype_truth"]

#: Rise of a prototype's similarity (log units) above which it counts as using the marker [ours].
MARKER_EFFECT = 1.0


def box_share(box: Box, mask: Tensor) -> float:
    """Share of the pixels of ``box`` (``y0, y1, x0, x1``) that lie on ``mask`` (``H×W``)."""
    y0, y1, x0, x1 = box
    region = mask[y0:y1, x0:x1]
    return float(region.float().mean()) if region.numel() else 0.0


def marker_region(dataset: Any) -> Tensor | None:
    """``H×W`` bool mask of ``dataset.info["marker_box"]``; ``None`` when no image of ``dataset`` carries a marker."""
    box = (getattr(dataset, "info", None) or {}).get("marker_box")
    marked = (getattr(dataset, "meta", None) or {}).get("marker")
    if box is None or marked is None or not bool(torch.as_tensor(marked).any()):
        return None
    h, w = dataset.image_size
    mask = torch.zeros(h, w, dtype=torch.bool)
    y0, y1, x0, x1 = (int(v) for v in box)
    mask[y0:y1, x0:x1] = True
    return mask


def _masks(dataset: Any) -> Tensor:
    masks = getattr(dataset, "masks", None)
    if masks is None:
        raise ConfigError("the truth checks need ground-truth masks (dataset.masks); use a world such as "
                          "make_world('masses', n) — real data without masks cannot be checked this way.")
    return masks[:, 0].bool()


def prototype_truth(model: ProtoPNet, push: PushResult, dataset: Any, *, min_lift: float = 2.0) -> Any:
    """Score every pushed prototype against the true-cause mask of its source image.

    Parameters
    ----------
    model:
        The ProtoPNet (for the prototype switches).
    push:
        Its push records (``run.push``) — made on ``dataset``.
    dataset:
        The push set with masks (``world.train``).
    min_lift:
        On-mask rule (module docstring).

    Returns
    -------
    pandas.DataFrame
        One row per prototype: ``class``, ``image_index``, ``patch_on_mask`` (share of the patch's
        receptive field on the mask), ``box_on_mask`` (share of the high-activation box on the
        mask), ``chance`` (the mask's share of the image), ``lift`` (patch share / chance),
        ``on_mask`` (``lift ≥ min_lift``), ``box_lift``, ``marker_effect``
        (:func:`marker_sensitivity`; NaN in a world without marked images) and ``uses_marker``
        (``marker_effect ≥`` :data:`MARKER_EFFECT`), ``duplicate_of`` and ``active``.
    """
    import pandas as pd

    masks = _masks(dataset)
    effect = marker_sensitivity(model, dataset) if marker_region(dataset) is not None else None
    groups = duplicate_prototypes(model, push)
    first = {j: min(g) for g in groups for j in g}
    rows = []
    for r in push.records:
        mask = masks[r.image_index]
        patch, share, chance = box_share(r.receptive_field, mask), box_share(r.box, mask), float(mask.float().mean())
        lift = patch / chance if chance > 0 else float("nan")
        row = {"prototype": r.prototype, "class": r.cls, "image_index": r.image_index,
               "patch_on_mask": patch, "box_on_mask": share, "chance": chance, "lift": lift,
               "on_mask": bool(lift >= min_lift), "box_lift": share / chance if chance > 0 else float("nan"),
               "marker_effect": float("nan") if effect is None else float(effect[r.prototype]),
               "uses_marker": bool(effect is not None and float(effect[r.prototype]) >= MARKER_EFFECT),
               "duplicate_of": first[r.prototype] if first.get(r.prototype, r.prototype) != r.prototype else None,
               "active": bool(model.prototype_active[r.prototype] > 0)}
        rows.append(row)
    return pd.DataFrame(rows).set_index("prototype")


@torch.no_grad()
def marker_sensitivity(model: ProtoPNet, dataset: Any, *, n_images: int = 64, value: float | None = None) -> Tensor:
    """Counterfactual test: paint the marker into images without it; the mean rise of each prototype's similarity.

    A prototype that "locks onto the marker" becomes much more similar to an image when only the
    marker is added (the masses world records where it goes, ``info["marker_box"]``). ``value`` is
    the marker's intensity (default: the median pixel inside the box of the images that carry it).

    Returns
    -------
    Tensor
        ``P`` mean changes ``s_j(with marker) − s_j(without)`` over up to ``n_images`` unmarked images.
    """
    from ..models import eval_mode, model_device

    region = marker_region(dataset)
    if region is None:
        raise ConfigError("the dataset has no marked image, so there is no marker to test; use "
                          "make_world('masses', n, shortcut=0.9).")
    marked = torch.as_tensor(dataset.meta["marker"], dtype=torch.bool)
    clean = dataset.images[~marked][:n_images].float()
    if clean.shape[0] == 0:
        raise ConfigError("every image carries the marker; the test needs images without it.")
    if value is None:
        value = float(dataset.images[marked][:, :, region].median())
    painted = clean.clone()
    painted[:, :, region] = float(value)
    device = model_device(model)
    with eval_mode(model):
        before = model.similarities(clean.to(device))
        after = model.similarities(painted.to(device))
    return (after - before).mean(0).cpu()


def explanation_truth(model: ProtoPNet, dataset: Any, *, top: int = 3, n_images: int | None = None,
                      min_lift: float = 2.0, batch_size: int = 64) -> Any:
    """Per image, the share of the top prototypes' high-activation boxes that lies on the true-cause mask.

    The top prototypes are those adding most to the predicted class (``explain_prototypes``).

    Returns
    -------
    pandas.DataFrame
        One row per image: ``label``, ``predicted``, ``share`` (mean share of the ``top`` boxes on
        the mask), ``patch_share`` (the same for the receptive fields of their closest patches),
        ``chance``, ``lift`` (box share / chance) and ``on_mask`` (share of the top boxes with
        ``lift ≥ min_lift``).
    """
    import pandas as pd

    top = check_int("top", top, 1, model.num_prototypes, hint="at most the model's number of prototypes")
    masks = _masks(dataset)
    n = len(dataset) if n_images is None else min(int(n_images), len(dataset))
    rows = []
    for begin in range(0, n, batch_size):
        stop = min(n, begin + batch_size)
        for offset, e in enumerate(explain_prototypes(model, dataset.images[begin:stop])):
            i = begin + offset
            mask = masks[i]
            chance = float(mask.float().mean())
            shares = [box_share(e.boxes[j], mask) for j in e.top(top)]
            patches = [box_share(model.rf.box(*e.cells[j], *mask.shape), mask) for j in e.top(top)]
            lifts = [s / chance if chance > 0 else float("nan") for s in shares]
            rows.append({"image": i, "label": int(dataset.labels[i]), "predicted": e.predicted,
                         "share": sum(shares) / len(shares), "patch_share": sum(patches) / len(patches),
                         "chance": chance,
                         "lift": sum(lifts) / len(lifts), "on_mask": sum(v >= min_lift for v in lifts) / len(lifts)})
    return pd.DataFrame(rows).set_index("image")


def duplicate_prototypes(model: ProtoPNet, push: PushResult | None = None, tol: float = 1e-6) -> list[list[int]]:
    """Groups of prototypes that are the same: pushed onto one patch, or squared distance ≤ ``tol``.

    Users of ProtoPNet report "prototype collapse" — several prototypes of a class ending on one
    patch, which wastes them and overstates how many parts the model uses. Only groups of two or
    more are returned, each sorted.
    """
    p = model.num_prototypes
    parent = list(range(p))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def join(a: int, b: int) -> None:
        parent[find(a)] = find(b)

    with torch.no_grad():
        v = model.prototype_vectors.detach().flatten(1).float()
        d = torch.cdist(v, v) ** 2
    for a in range(p):
        for b in range(a + 1, p):
            if float(d[a, b]) <= tol:
                join(a, b)
    if push is not None:
        seen: dict[tuple[int, int, int], int] = {}
        for r in push.records:
            if r.patch in seen:
                join(r.prototype, seen[r.patch])
            seen.setdefault(r.patch, r.prototype)
    groups: dict[int, list[int]] = {}
    for j in range(p):
        groups.setdefault(find(j), []).append(j)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)
