"""Batching and validation of the Trainer's datasets (private helpers).

Tensor-backed datasets (:class:`~halign_widgets.data.ImageDataset`, ``TensorDataset``) are batched
by slicing their tensors with a seeded permutation: one indexing operation per batch instead of
``batch_size`` ``__getitem__`` calls and a collate, which keeps the Trainer as fast as a bare loop.
Any other ``torch.utils.data.Dataset`` of ``(x, y)`` pairs goes through a ``DataLoader`` with
``num_workers=0`` and the same seeded generator.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized
from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from ..data.dataset import check_images
from ..errors import EmptyDatasetError, InputShapeError, LabelMismatchError, TargetOutOfRangeError
from ..models import check_model_input, eval_mode, in_channels, model_input

__all__ = ["tensors_of", "iterate_batches", "num_batches", "first_example", "check_dataset"]


def tensors_of(dataset: Any) -> tuple[Tensor, Tensor] | None:
    """The ``(images, labels)`` tensors of a tensor-backed dataset, else ``None``."""
    images, labels = getattr(dataset, "images", None), getattr(dataset, "labels", None)
    if isinstance(images, Tensor) and isinstance(labels, Tensor):
        return images, labels
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) == 2:
        return dataset.tensors[0], dataset.tensors[1]
    return None


def num_batches(dataset: Any, batch_size: int) -> int:
    """Batches per epoch (the last batch may be smaller)."""
    return math.ceil(len(dataset) / batch_size)


def iterate_batches(dataset: Any, batch_size: int, *, shuffle: bool = False,
                    generator: torch.Generator | None = None,
                    order: Tensor | None = None) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield ``(x, y)`` batches.

    The order is ``order`` when given (indices into the dataset, e.g. one rank's shard), else a
    permutation drawn from ``generator`` when ``shuffle`` is true, else the dataset's own order.
    """
    pair = tensors_of(dataset)
    if order is None and shuffle:
        order = torch.randperm(len(dataset), generator=generator)
    n = len(dataset) if order is None else int(order.numel())
    if pair is None:
        # the loader's own generator only feeds its (unused) worker base seed, so torch's global
        # generator — which drives dropout — is not consumed and both paths see the same batches
        loader = DataLoader(dataset, batch_size=batch_size, num_workers=0,
                            sampler=None if order is None else order.tolist(),
                            generator=torch.Generator().manual_seed(0))
        yield from loader
        return
    images, labels = pair
    if order is not None:
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            yield images[idx], labels[idx]
    else:
        for start in range(0, n, batch_size):
            yield images[start:start + batch_size], labels[start:start + batch_size]


def first_example(dataset: Any, what: str = "dataset") -> tuple[Tensor, Tensor]:
    """The first ``(x, y)`` pair as tensors; raises :class:`EmptyDatasetError` on an empty dataset."""
    if dataset is None or len(dataset) == 0:
        raise EmptyDatasetError(f"the {what} is empty; give at least one (image, label) example "
                                "(check the split sizes of your dataset).")
    x, y = dataset[0]
    return torch.as_tensor(x), torch.as_tensor(y)


def _num_outputs(model: nn.Module) -> int | None:
    value = getattr(model, "num_classes", None)
    if isinstance(value, int):
        return value
    config = getattr(model, "config", None)
    return config.get("num_classes") if isinstance(config, dict) else None


def check_dataset(dataset: Any, model: nn.Module, device: torch.device, what: str = "training data") -> bool:
    """Check that ``dataset`` fits ``model``; return whether its targets are multi-label.

    Checks: not empty; images are ``C×H×W`` with the model's ``in_channels`` (when the model
    declares it) and no NaN/inf (the whole tensor for tensor-backed datasets, the first image
    otherwise); labels within ``num_classes`` (single-label) or with ``num_classes`` columns
    (multi-label); one forward pass of the first image succeeds and returns one logit per class.

    Raises
    ------
    EmptyDatasetError, InputShapeError, InvalidPixelError, TargetOutOfRangeError, LabelMismatchError
        With a message saying what to change.
    """
    x0, y0 = first_example(dataset, what)
    channels = in_channels(model)
    pair = tensors_of(dataset)
    images = pair[0] if pair is not None else x0[None]
    check_images(images, channels=channels, name=f"the {what} images")
    check_model_input(model, x0[None], name=f"the {what} images")
    multilabel = bool(y0.is_floating_point() and y0.dim() == 1)
    if y0.dim() > 1 or (y0.dim() == 1 and not multilabel):
        raise LabelMismatchError(f"each label of the {what} must be a class index or a float 0/1 row, got a "
                                 f"{y0.dtype} tensor of shape {tuple(y0.shape)}.")
    k = _num_outputs(model)
    if k is not None and pair is not None and not multilabel:
        top = int(pair[1].max())
        if top >= k or int(pair[1].min()) < 0:
            raise TargetOutOfRangeError(f"the {what} has labels up to {top} but the model has {k} outputs; build "
                                        f"the model with num_classes={top + 1} (or fix the labels).")
    if k is not None and multilabel and y0.shape[0] != k:
        raise LabelMismatchError(f"the {what} has {y0.shape[0]} labels per image but the model has {k} outputs; "
                                 f"build the model with num_classes={y0.shape[0]}.")
    try:
        with eval_mode(model), torch.no_grad():
            logits = model(model_input(model, x0[None].to(device), images=False))
    except RuntimeError as exc:
        raise InputShapeError(f"the model cannot process one image of the {what} (shape {tuple(x0.shape)}): "
                              f"{str(exc)[:300]}. Check the image size and channels the model expects.") from exc
    if logits.dim() != 2 or (multilabel and logits.shape[1] != y0.shape[0]):
        raise InputShapeError(f"the model returns outputs of shape {tuple(logits.shape)} for one image; expected "
                              f"1×{y0.shape[0] if multilabel else 'num_classes'} logits.")
    return multilabel


def as_dataset(data: Any) -> Dataset:
    """Accept a ``(images, labels)`` tuple of tensors as a shortcut for a ``TensorDataset``."""
    if isinstance(data, tuple) and len(data) == 2 and all(isinstance(t, Tensor) for t in data):
        return TensorDataset(*data)
    return data


def size_of(data: Dataset | None) -> int:
    """``len(data)``: the lab's datasets are sized, though torch's ``Dataset`` type declares no ``__len__``."""
    return len(cast(Sized, data))
