"""Prototype explanations: "this part of the image looks like that prototype", and each prototype's nearest patches.

After Chen et al., NeurIPS 2019 (METHODS.md §1.5). Per image and prototype: the similarity score,
the raw ``n×n`` similarity map and its upsampled version, the last-layer weight to the explained
class and the contribution ``w · s`` to its logit, sorted by contribution. The global view lists,
for every prototype, its ``k`` nearest training patches (one per image, as in Chen et al.'s
``find_nearest``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..data.dataset import check_images
from ..errors import TargetOutOfRangeError
from ..models import eval_mode, model_input
from ..validation import check_int
from .model import ProtoPNet, log_similarity
from .push import Box, dataset_tensors, high_activation_box, upsample_maps

__all__ = ["NearestPatches", "PrototypeExplanation", "explain_prototypes", "nearest_patches"]


@dataclass
class PrototypeExplanation:
    """How one image was classified, prototype by prototype.

    Attributes
    ----------
    logits, probabilities:
        ``K`` model outputs for the image.
    predicted, target:
        Predicted class and the class whose logit is explained (default: the predicted one).
    scores, min_distances:
        ``P`` similarity scores ``s_j`` and distances ``d_j`` of the closest patches.
    raw_maps:
        ``P×n×n`` similarity of every latent patch (what the model computes).
    maps:
        ``P×H×W`` the same maps upsampled to the image (what is usually shown).
    weights:
        ``P`` last-layer weights from each prototype to ``target``.
    contributions:
        ``P`` contributions ``w_j · s_j`` to the target logit (0 for a switched-off prototype);
        they sum to the target logit.
    order:
        Prototype indices sorted by contribution, largest first.
    boxes:
        High-activation box of every prototype on this image.
    cells:
        ``P`` latent cells ``(row, col)`` of the closest patch of each prototype.
    """

    logits: Tensor
    probabilities: Tensor
    predicted: int
    target: int
    scores: Tensor
    min_distances: Tensor
    raw_maps: Tensor
    maps: Tensor
    weights: Tensor
    contributions: Tensor
    order: Tensor
    boxes: list[Box]
    cells: list[tuple[int, int]]
    seconds: float = 0.0

    def top(self, k: int = 3) -> list[int]:
        """The ``k`` prototypes that add most to the explained logit."""
        return [int(j) for j in self.order[:k]]

    def table(self, prototype_class: Tensor | None = None) -> Any:
        """One row per prototype, in contribution order (a :class:`pandas.DataFrame`)."""
        import pandas as pd

        rows = []
        for j in self.order.tolist():
            rows.append({"prototype": j, **({} if prototype_class is None else {"class": int(prototype_class[j])}),
                         "similarity": float(self.scores[j]), "weight": float(self.weights[j]),
                         "contribution": float(self.contributions[j]), "box": self.boxes[j]})
        return pd.DataFrame(rows).set_index("prototype")


@torch.no_grad()
def explain_prototypes(model: ProtoPNet, x: Tensor, target: int | None = None, *, percentile: float = 95.0,
                       upsample: str = "bicubic") -> list[PrototypeExplanation]:
    """Explain each image of ``x`` (``B×C×H×W``) by its prototypes.

    Parameters
    ----------
    model:
        A ProtoPNet (evaluated in eval mode).
    x:
        Images.
    target:
        Class whose logit is explained for every image; ``None`` = each image's predicted class.
    percentile, upsample:
        High-activation boxes (see :func:`~halign_widgets.prototypes.push_prototypes`).

    Returns
    -------
    list[PrototypeExplanation]
        One per image.

    Raises
    ------
    InputShapeError, InvalidPixelError
        Bad images.
    TargetOutOfRangeError
        ``target`` outside ``[0, K)``.
    """
    check_images(x, channels=model.in_channels)
    if target is not None and not 0 <= int(target) < model.num_classes:
        raise TargetOutOfRangeError(f"target class {target} is out of range; the model has {model.num_classes} "
                                    f"classes, valid targets are 0..{model.num_classes - 1} "
                                    "(or None for the prediction).")
    start = time.perf_counter()
    with eval_mode(model):
        out = model.forward_parts(model_input(model, x))
    raw = log_similarity(out.distances, model.epsilon).cpu()
    ups = upsample_maps(raw, (x.shape[-2], x.shape[-1]), upsample)
    active = model.prototype_active.cpu()
    weight = model.last_layer.weight.detach().cpu()
    probs = torch.softmax(out.logits.float(), 1).cpu()
    result = []
    for b in range(x.shape[0]):
        predicted = int(probs[b].argmax())
        t = predicted if target is None else int(target)
        contrib = weight[t] * out.similarities[b].cpu() * active
        flat = out.distances[b].flatten(1).argmin(1).cpu()
        m = out.distances.shape[-1]
        result.append(PrototypeExplanation(
            logits=out.logits[b].cpu(), probabilities=probs[b], predicted=predicted, target=t,
            scores=out.similarities[b].cpu(), min_distances=out.min_distances[b].cpu(), raw_maps=raw[b], maps=ups[b],
            weights=weight[t].clone(), contributions=contrib,
            order=torch.argsort(contrib, descending=True, stable=True),
            boxes=[high_activation_box(ups[b, j], percentile) for j in range(ups.shape[1])],
            cells=[(int(f) // m, int(f) % m) for f in flat]))
    seconds = (time.perf_counter() - start) / max(1, x.shape[0])
    for e in result:
        e.seconds = seconds
    return result


@dataclass
class NearestPatches:
    """The ``k`` training patches closest to each prototype (at most one per image).

    ``indices``, ``distances``, ``rows``, ``cols`` and ``labels`` are ``P×k`` tensors (image index in
    the dataset, squared distance, latent cell, the image's label); ``boxes[j][t]`` is the
    high-activation box of prototype ``j`` on its ``t``-th nearest image.
    """

    indices: Tensor
    distances: Tensor
    rows: Tensor
    cols: Tensor
    labels: Tensor
    boxes: list[list[Box]] = field(default_factory=list)

    @property
    def k(self) -> int:
        """Patches per prototype."""
        return int(self.indices.shape[1])

    def patches(self, prototype: int) -> list[tuple[int, int, int]]:
        """``(image_index, row, col)`` of the prototype's nearest patches, closest first."""
        return [(int(i), int(r), int(c)) for i, r, c in
                zip(self.indices[prototype], self.rows[prototype], self.cols[prototype], strict=True)]


@torch.no_grad()
def nearest_patches(model: ProtoPNet, dataset: Any, k: int = 6, *, batch_size: int = 128, boxes: bool = True,
                    percentile: float = 95.0, upsample: str = "bicubic") -> NearestPatches:
    """Find each prototype's ``k`` nearest training patches, one per image, over every class.

    Parameters
    ----------
    model:
        The ProtoPNet.
    dataset:
        Images with labels (usually the training split).
    k:
        Patches per prototype (at most the number of images).
    boxes:
        Also compute the high-activation box of each found patch.
    """
    images, labels = dataset_tensors(dataset, "dataset")
    check_images(images, channels=model.in_channels, name="the dataset images")
    k = check_int("k", k, 1, images.shape[0], hint="patches per prototype, at most the number of images")
    mins, cells = [], []
    with eval_mode(model):
        for begin in range(0, images.shape[0], batch_size):
            d = model.distances(model_input(model, images[begin:begin + batch_size])).flatten(2)
            value, where = d.min(2)
            mins.append(value.cpu())
            cells.append(where.cpu())
    m = model.grid_size((images.shape[-2], images.shape[-1]))[1]
    dist, cell = torch.cat(mins).t(), torch.cat(cells).t()            # P×N
    best, idx = torch.topk(dist, k, dim=1, largest=False)
    flat = torch.gather(cell, 1, idx)
    found = NearestPatches(indices=idx, distances=best, rows=flat // m, cols=flat % m, labels=labels[idx])
    if boxes:
        found.boxes = _boxes(model, images, idx, percentile, upsample)
    return found


def _boxes(model: ProtoPNet, images: Tensor, idx: Tensor, percentile: float, upsample: str) -> list[list[Box]]:
    unique = sorted(set(idx.flatten().tolist()))
    with eval_mode(model):
        sims = log_similarity(model.distances(model_input(model, images[unique])), model.epsilon).cpu()
    ups = upsample_maps(sims, (images.shape[-2], images.shape[-1]), upsample)
    pos = {i: t for t, i in enumerate(unique)}
    return [[high_activation_box(ups[pos[int(i)], j], percentile) for i in idx[j]] for j in range(idx.shape[0])]
