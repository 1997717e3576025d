"""Push (prototype projection): replace each prototype by its nearest latent patch of its own class.

After Chen et al., NeurIPS 2019: over the *un-augmented training images of the prototype's own
class*, find the latent patch closest to the prototype and copy it into the prototype, so that every
prototype *is* a patch of a real training image and can be shown as one. Each push is recorded
(image, latent cell, receptive field, the high-activation box Chen et al. draw — the bounding box of
the pixels above the 95th percentile of the upsampled similarity map — and the distance before and
after).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.dataset import check_images
from ..errors import ConfigError, LabelMismatchError, unknown_name
from ..models import eval_mode, model_device, model_input
from ..validation import check_real
from .model import ProtoPNet, l2_distances, log_similarity

__all__ = ["Box", "Patch", "PushRecord", "PushResult", "UPSAMPLE_MODES", "dataset_tensors", "high_activation_box",
           "init_prototypes_from_patches", "push_prototypes", "upsample_maps"]

Box = tuple[int, int, int, int]
"""A half-open pixel box ``(y0, y1, x0, x1)`` (the lab's convention, as ``info["marker_box"]``)."""

Patch = tuple[int, int, int]
"""A latent patch of a dataset: ``(image_index, row, col)``."""

UPSAMPLE_MODES = ("bicubic", "bilinear", "nearest")


def upsample_maps(maps: Tensor, size: tuple[int, int], mode: str = "bicubic") -> Tensor:
    """Upsample ``…×n×m`` maps to ``size`` (``bicubic`` as Chen et al.'s ``cv2.resize``; ``align_corners=False``)."""
    if mode not in UPSAMPLE_MODES:
        raise unknown_name("upsampling mode", str(mode), UPSAMPLE_MODES)
    lead = maps.shape[:-2]
    flat = maps.reshape(-1, 1, *maps.shape[-2:]).float()
    kwargs = {} if mode == "nearest" else {"align_corners": False}
    out = F.interpolate(flat, size=tuple(size), mode=mode, **kwargs)
    return out.reshape(*lead, *size)


def high_activation_box(heat: Tensor, percentile: float = 95.0) -> Box:
    """Bounding box ``(y0, y1, x0, x1)`` of the pixels of ``heat`` (``H×W``) at or above its ``percentile``."""
    check_real("percentile", percentile, 0.0, 100.0, strict_high=True)
    threshold = torch.quantile(heat.detach().float().flatten(), float(percentile) / 100.0)
    rows, cols = torch.nonzero(heat >= threshold, as_tuple=True)
    return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1


def dataset_tensors(data: Any, what: str = "dataset") -> tuple[Tensor, Tensor]:
    """``(images, labels)`` of an :class:`~halign_widgets.data.ImageDataset`, a ``TensorDataset`` or a tuple."""
    if isinstance(data, tuple) and len(data) == 2:
        images, labels = data
    else:
        images, labels = getattr(data, "images", None), getattr(data, "labels", None)
        tensors = getattr(data, "tensors", None)
        if images is None and isinstance(tensors, tuple) and len(tensors) == 2:
            images, labels = tensors
    if not isinstance(images, Tensor) or not isinstance(labels, Tensor):
        raise ConfigError(f"the {what} must be an ImageDataset, a TensorDataset or an (images, labels) tuple of "
                          f"tensors, got {type(data).__name__}.")
    if labels.dim() != 1:
        raise LabelMismatchError(f"the {what} has multi-label targets of shape {tuple(labels.shape)}; prototypes "
                                 "belong to one class each, so give class indices (one per image).")
    if labels.shape[0] != images.shape[0]:
        raise LabelMismatchError(f"the {what} has {images.shape[0]} images but {labels.shape[0]} labels.")
    return images, labels.long()


@dataclass
class PushRecord:
    """Where one prototype was pushed.

    Attributes
    ----------
    prototype, cls:
        Prototype index and its class.
    image_index:
        Index of the source image in the push set.
    row, col:
        Latent cell of the patch.
    receptive_field:
        Pixel box the latent cell sees (from the trunk's conv and pooling layers).
    box:
        High-activation box: pixels at or above the ``percentile`` of the upsampled similarity map.
    distance_before, distance_after:
        Squared distance between the prototype and that patch before and after the push
        (``after`` is 0 up to float rounding of the distance expansion when the push updated the
        prototype).
    """

    prototype: int
    cls: int
    image_index: int
    row: int
    col: int
    receptive_field: Box
    box: Box
    distance_before: float
    distance_after: float

    @property
    def patch(self) -> tuple[int, int, int]:
        """``(image_index, row, col)``: the patch's identity (equal for duplicate prototypes)."""
        return self.image_index, self.row, self.col


@dataclass
class PushResult:
    """The records of one push (one per prototype, in prototype order) and how it ran."""

    records: list[PushRecord]
    updated: bool = True
    percentile: float = 95.0
    upsample: str = "bicubic"
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, prototype: int) -> PushRecord:
        return self.records[prototype]

    def table(self) -> Any:
        """The records as a :class:`pandas.DataFrame` (one row per prototype)."""
        import pandas as pd

        return pd.DataFrame([asdict(r) for r in self.records]).set_index("prototype")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for a ``weights_only`` checkpoint)."""
        return {"records": [asdict(r) for r in self.records], "updated": self.updated,
                "percentile": self.percentile, "upsample": self.upsample, "seconds": self.seconds,
                "info": dict(self.info)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PushResult:
        """Inverse of :meth:`to_dict`."""
        records = [PushRecord(**{**r, "receptive_field": tuple(r["receptive_field"]), "box": tuple(r["box"])})
                   for r in data["records"]]
        return cls(records, bool(data.get("updated", True)), float(data.get("percentile", 95.0)),
                   str(data.get("upsample", "bicubic")), float(data.get("seconds", 0.0)), dict(data.get("info", {})))


def check_push_set(model: ProtoPNet, images: Tensor, labels: Tensor, what: str = "push set") -> None:
    """Raise a typed error unless ``images`` fit the model and every prototype class has an image."""
    check_images(images, channels=model.in_channels, name=f"the {what} images")
    present = set(labels.unique().tolist())
    for c in sorted(set(model.prototype_class.tolist()) - present):
        raise LabelMismatchError(f"the {what} has no image of class {c}, so its prototypes have no patch to be "
                                 "pushed onto; push over the training split, which holds every class "
                                 "(e.g. push_prototypes(model, world.train)).")


@torch.no_grad()
def push_prototypes(model: ProtoPNet, dataset: Any, *, batch_size: int = 128, update: bool = True,
                    percentile: float = 95.0, upsample: str = "bicubic",
                    exclude: list[Patch] | tuple[Patch, ...] = (), exclude_similar: bool = False) -> PushResult:
    """Project every prototype onto its nearest latent patch among the images of its own class.

    Parameters
    ----------
    model:
        The ProtoPNet (evaluated in eval mode; its modes are restored afterwards).
    dataset:
        The un-augmented training images with labels (an ``ImageDataset`` such as ``world.train``).
    batch_size:
        Images per forward pass.
    update:
        Copy the patches into the prototypes (``False`` only locates them — the records of an
        un-pushed model).
    percentile, upsample:
        High-activation box: pixels at or above ``percentile`` of the similarity map upsampled with
        ``upsample`` (Chen et al.: 95, bicubic).
    exclude:
        Patches ``(image_index, row, col)`` no prototype may be pushed onto (the patches a user asked
        the model to forget).
    exclude_similar:
        Also exclude every patch at least as close to one of the ``exclude`` patches as those are to
        each other (squared latent distance ≤ the median over their pairs) **[ours]**: a forgotten
        concept (a marker) appears on many training images, and pushing onto another copy of it
        would bring it back.

    Returns
    -------
    PushResult
        One :class:`PushRecord` per prototype. With ``update`` each prototype then equals the latent
        patch ``model.latent(x[i:i+1])[0, :, row, col]`` of its source image exactly.

    Raises
    ------
    LabelMismatchError
        A prototype class has no image in ``dataset`` (or the labels are multi-label).
    InputShapeError, InvalidPixelError
        The images do not fit the model.
    """
    if upsample not in UPSAMPLE_MODES:
        raise unknown_name("upsampling mode", str(upsample), UPSAMPLE_MODES)
    images, labels = dataset_tensors(dataset, "push set")
    check_push_set(model, images, labels)
    start = time.perf_counter()
    device = model_device(model)
    cls = model.prototype_class
    p = model.num_prototypes
    best = torch.full((p,), float("inf"), device=device)
    where = torch.zeros(p, 3, dtype=torch.long)
    banned: dict[int, list[tuple[int, int]]] = {}
    for i, r, c in exclude:
        banned.setdefault(int(i), []).append((int(r), int(c)))
    with eval_mode(model):
        concept, radius = _forbidden_concept(model, images, exclude) if exclude_similar else (None, 0.0)
        for begin in range(0, images.shape[0], batch_size):
            x = model_input(model, images[begin:begin + batch_size])
            y = labels[begin:begin + batch_size].to(device)
            z = model.latent(x)
            d = model.distances_from_latent(z)
            if concept is not None:
                near = l2_distances(z, concept[..., None, None]).amin(1) <= radius       # B×n×m
                d = d.masked_fill(near[:, None], float("inf"))
            for i in [i for i in banned if begin <= i < begin + x.shape[0]]:
                for r, c in banned[i]:
                    d[i - begin, :, r, c] = float("inf")
            own = (y[:, None] == cls[None, :])[..., None, None]
            d = d.masked_fill(~own, float("inf")).permute(1, 0, 2, 3)     # P×B×n×m
            n, m = d.shape[-2:]
            value, index = d.reshape(p, -1).min(1)
            better = value < best
            best = torch.where(better, value, best)
            b, rest = index // (n * m), index % (n * m)
            found = torch.stack([b + begin, rest // m, rest % m], 1).cpu()
            where[better.cpu()] = found[better.cpu()]
        records = _apply(model, images, where, update, percentile, upsample)
    return PushResult(records, bool(update), float(percentile), upsample, time.perf_counter() - start,
                      {"n_images": int(images.shape[0])})


def _forbidden_concept(model: ProtoPNet, images: Tensor, patches: Any) -> tuple[Tensor | None, float]:
    """Latent vectors of the excluded patches and the median squared distance between them."""
    patches = list(patches)
    if len(patches) < 2:
        return None, 0.0
    vectors = torch.stack([model.latent(model_input(model, images[i:i + 1]))[0, :, r, c] for i, r, c in patches])
    d = torch.cdist(vectors, vectors) ** 2
    pairs = d[torch.triu(torch.ones_like(d, dtype=torch.bool), 1)]
    return vectors, float(pairs.median())


def _apply(model: ProtoPNet, images: Tensor, where: Tensor, update: bool, percentile: float,
           upsample: str) -> list[PushRecord]:
    """Copy the chosen patches into the prototypes (each recomputed from its image alone) and record them."""
    h, w = images.shape[-2:]
    latents: dict[int, Tensor] = {}
    for i in sorted(set(where[:, 0].tolist())):
        latents[i] = model.latent(model_input(model, images[i:i + 1]))[0]
    before = []
    for j, (i, r, c) in enumerate(where.tolist()):
        patch = latents[i][:, r, c]
        before.append(float(l2_distances(patch.view(1, -1, 1, 1), model.prototype_vectors[j:j + 1])[0, 0, 0, 0]))
        if update:
            model.prototype_vectors.data[j] = patch.view(-1, 1, 1).to(model.prototype_vectors.dtype)
    records = []
    for j, (i, r, c) in enumerate(where.tolist()):
        dist = l2_distances(latents[i][None], model.prototype_vectors[j:j + 1])[0, 0]
        heat = upsample_maps(log_similarity(dist, model.epsilon), (h, w), upsample)
        records.append(PushRecord(prototype=j, cls=int(model.prototype_class[j]), image_index=int(i), row=int(r),
                                  col=int(c), receptive_field=model.rf.box(r, c, h, w),
                                  box=high_activation_box(heat, percentile), distance_before=before[j],
                                  distance_after=float(dist[r, c])))
    return records


@torch.no_grad()
def init_prototypes_from_patches(model: ProtoPNet, dataset: Any, seed: int = 0) -> list[Patch]:
    """Set each prototype to the latent patch of a random cell of a random training image of its class [ours].

    Chen et al. draw prototypes uniformly in ``[0, 1]^D``. On a small trunk trained for a few epochs
    most such prototypes start far from every patch, get almost no gradient (the similarity is
    flat far away) and stay "dead" until the push drops them onto arbitrary patches (measured on
    masses: 8 of 10). Starting from real patches keeps every prototype in play. Deterministic for
    ``seed``; returns the chosen patches.
    """
    images, labels = dataset_tensors(dataset, "initialisation set")
    check_push_set(model, images, labels, "initialisation set")
    g = torch.Generator().manual_seed(int(seed))
    chosen: list[Patch] = []
    with eval_mode(model):
        for j, c in enumerate(model.prototype_class.tolist()):
            pool = (labels == c).nonzero()[:, 0]
            i = int(pool[torch.randint(len(pool), (1,), generator=g)])
            z = model.latent(model_input(model, images[i:i + 1]))[0]
            r, col = (int(v) for v in torch.randint(z.shape[1], (2,), generator=g))
            col = min(col, z.shape[2] - 1)
            model.prototype_vectors.data[j] = z[:, r, col].view(-1, 1, 1)
            chosen.append((i, r, col))
    return chosen
