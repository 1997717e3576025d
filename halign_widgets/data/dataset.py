"""The one dataset type shared by the ground-truth worlds and the real-data loaders.

Every method and widget of the lab takes an :class:`ImageDataset`: images,
labels, optional ground-truth masks of the region that truly causes the label,
class names, per-image nuisance metadata and named splits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..errors import InputShapeError, InvalidPixelError, LabelMismatchError, unknown_name

__all__ = ["ImageDataset", "check_images", "train_and_val"]


def check_images(x: Tensor, *, channels: int | None = None, size: int | tuple[int, int] | None = None,
                 name: str = "images", allow_empty: bool = False) -> Tensor:
    """Validate a batch of images and return it unchanged.

    Parameters
    ----------
    x:
        Tensor expected to be ``B×C×H×W`` (a single ``C×H×W`` image is *not* accepted:
        add a batch dimension with ``x[None]``).
    channels:
        If given, the required number of channels.
    size:
        If given, the required spatial size (``H`` or ``(H, W)``).
    name:
        What to call the tensor in error messages.
    allow_empty:
        Accept a batch of zero images (an empty split of a dataset).

    Raises
    ------
    InputShapeError
        Wrong number of dimensions, channels or spatial size.
    InvalidPixelError
        NaN or infinite values.
    """
    if not isinstance(x, Tensor):
        raise InputShapeError(f"{name} must be a torch.Tensor of shape B×C×H×W, got {type(x).__name__}; "
                              "convert with torch.as_tensor(...).float().")
    if x.dim() != 4:
        hint = " Add a batch dimension with x[None]." if x.dim() == 3 else ""
        raise InputShapeError(f"{name} must have 4 dimensions B×C×H×W, got shape {tuple(x.shape)}.{hint}")
    if x.shape[0] == 0 and not allow_empty:
        raise InputShapeError(f"{name} hold no image (shape {tuple(x.shape)}); give at least one image "
                              "(check the split or the selection that produced them).")
    if channels is not None and x.shape[1] != channels:
        raise InputShapeError(
            f"{name} have {x.shape[1]} channel(s) but the model expects {channels}; "
            f"convert them (e.g. x.mean(1, keepdim=True) for grayscale) or build the model with "
            f"in_channels={x.shape[1]}.")
    if size is not None:
        hw = (size, size) if isinstance(size, int) else tuple(size)
        if tuple(x.shape[-2:]) != hw:
            raise InputShapeError(f"{name} are {x.shape[-2]}×{x.shape[-1]} pixels but {hw[0]}×{hw[1]} are "
                                  "expected; resize them (torch.nn.functional.interpolate).")
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).flatten(1).any(1).sum())
        raise InvalidPixelError(f"{name} contain NaN or infinite pixels in {bad} image(s); "
                                "replace them (torch.nan_to_num) or drop those images.")
    return x


@dataclass
class ImageDataset(Dataset):
    """Images with labels, optional ground-truth masks, metadata and splits.

    Attributes
    ----------
    images:
        ``N×C×H×W`` float tensor, intensities in ``[0, 1]``.
    labels:
        ``N`` long tensor of class indices, or ``N×K`` float tensor of 0/1 for multi-label worlds.
    classes:
        Class (or finding) names, ``len(classes)`` = number of classes / labels.
    masks:
        ``N×1×H×W`` bool tensor marking the region that truly causes the label, or ``None``.
    meta:
        Per-image nuisance metadata: each value is a tensor or list of length ``N``.
    info:
        World-level facts: ``name``, ``seed``, the knobs and their strengths, a causal graph, …
    splits:
        Named index tensors (``"train"``, ``"val"``, ``"test"``, and ``"ood"`` where it exists).
    """

    images: Tensor
    labels: Tensor
    classes: list[str]
    masks: Tensor | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    splits: dict[str, Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_images(self.images, allow_empty=True)
        n = self.images.shape[0]
        if self.labels.shape[0] != n:
            raise LabelMismatchError(f"{n} images but {self.labels.shape[0]} labels; "
                                     "give exactly one label (row) per image.")
        k = len(self.classes)
        if self.labels.dim() == 1 and n and (int(self.labels.min()) < 0 or int(self.labels.max()) >= k):
            raise LabelMismatchError(f"labels must lie in [0, {k - 1}] for {k} classes, found "
                                     f"{int(self.labels.min())}..{int(self.labels.max())}; "
                                     "fix the labels or the class list.")
        if self.labels.dim() == 2 and self.labels.shape[1] != k:
            raise LabelMismatchError(f"multi-label targets have {self.labels.shape[1]} columns but "
                                     f"{k} class names were given.")
        if self.masks is not None and (self.masks.shape[0] != n or self.masks.shape[-2:] != self.images.shape[-2:]):
            raise InputShapeError(f"masks of shape {tuple(self.masks.shape)} do not match images "
                                  f"{tuple(self.images.shape)}; expected N×1×H×W.")
        for key, value in self.meta.items():
            if len(value) != n:
                raise LabelMismatchError(f"metadata {key!r} has {len(value)} entries for {n} images.")

    # -- torch Dataset protocol -------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index], self.labels[index]

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for i in range(len(self)):
            yield self[i]

    # -- conveniences -------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        """Number of classes (or of labels for a multi-label world)."""
        return len(self.classes)

    @property
    def multilabel(self) -> bool:
        """True when ``labels`` is an ``N×K`` 0/1 matrix."""
        return self.labels.dim() == 2

    @property
    def channels(self) -> int:
        """Number of image channels."""
        return int(self.images.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        """Spatial size ``(H, W)``."""
        return int(self.images.shape[-2]), int(self.images.shape[-1])

    def subset(self, indices: Sequence[int] | Tensor) -> ImageDataset:
        """Return a new dataset holding only ``indices`` (splits are dropped)."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        meta = {k: (v[idx] if isinstance(v, Tensor) else [v[int(i)] for i in idx]) for k, v in self.meta.items()}
        return ImageDataset(self.images[idx], self.labels[idx], list(self.classes),
                            None if self.masks is None else self.masks[idx], meta, dict(self.info), {})

    def split(self, name: str) -> ImageDataset:
        """Return the split ``name`` (``"train"``, ``"val"``, ``"test"``, ``"ood"`` …) as a dataset."""
        if name not in self.splits:
            raise unknown_name("split", name, self.splits)
        sub = self.subset(self.splits[name])
        sub.info["split"] = name
        return sub

    @property
    def train(self) -> ImageDataset:
        """The training split."""
        return self.split("train")

    @property
    def val(self) -> ImageDataset:
        """The validation split."""
        return self.split("val")

    @property
    def test(self) -> ImageDataset:
        """The test split."""
        return self.split("test")

    def __repr__(self) -> str:
        name = self.info.get("name", "dataset")
        masks = "with masks" if self.masks is not None else "no masks"
        splits = ", ".join(f"{k}={len(v)}" for k, v in self.splits.items())
        return (f"ImageDataset({name!r}, n={len(self)}, images={tuple(self.images.shape[1:])}, "
                f"classes={self.classes}, {masks}{', splits: ' + splits if splits else ''})")


def train_and_val(dataset: Any) -> tuple[Any, Any | None]:
    """The training and validation data a training run uses.

    A ``(train, val)`` pair is returned as it is; a dataset with splits gives its ``"train"`` split
    (or all of it when there is none) and its ``"val"`` split (or ``None``). The one rule behind
    :func:`~halign_widgets.training.fit_classifier` and the TrainingDashboard.
    """
    if isinstance(dataset, tuple) and len(dataset) == 2 and not isinstance(dataset[0], Tensor):
        return dataset[0], dataset[1]
    splits = getattr(dataset, "splits", None) or {}
    train = dataset.split("train") if "train" in splits else dataset
    return train, (dataset.split("val") if "val" in splits else None)
