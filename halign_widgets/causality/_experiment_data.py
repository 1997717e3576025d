"""Data for the causality experiments: the lab's worlds and scikit-learn's digits, resized and split.

Private helper of :mod:`.experiments`.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import torch
import torch.nn.functional as F_
from torch import Tensor

from ..errors import unknown_name

__all__ = ["load_experiment_world"]


def load_experiment_world(name: str, n: int, size: int, seed: int) -> Any:
    """An :class:`~halign_widgets.data.ImageDataset` for the experiments (digits resized to ``size``)."""
    from .. import data

    if name == "digits":
        loader = getattr(data, "load_digits", None)
        if loader is None:
            ds = _sklearn_digits(seed)
        else:
            ds = loader(seed=seed) if _accepts(loader, "seed") else loader()
        if n and len(ds) > n:
            ds = _subsample(ds, n, seed)
        if not {"train", "test"} <= set(ds.splits):
            ds.splits = _random_splits(len(ds), seed)
        if ds.images.shape[-1] != size:
            ds.images = F_.interpolate(ds.images, size=(size, size), mode="bilinear", align_corners=False)
        return ds
    if name not in data.list_worlds():
        raise unknown_name("experiment world", name, (*data.list_worlds(), "digits"))
    return data.make_world(name, n, size=size, seed=seed)


def _sklearn_digits(seed: int) -> Any:
    """scikit-learn's bundled 8×8 digits as an ImageDataset (used until ``data.load_digits`` exists)."""
    from sklearn.datasets import load_digits

    from ..data import ImageDataset

    raw = load_digits()
    images = torch.as_tensor(raw.images, dtype=torch.float32)[:, None] / 16.0
    return ImageDataset(images, torch.as_tensor(raw.target), [str(c) for c in range(10)],
                        splits=_random_splits(len(images), seed), info={"name": "digits"})


def _random_splits(n: int, seed: int) -> dict[str, Tensor]:
    """70 / 15 / 15 train / val / test split of ``n`` items, seeded."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    a, b = int(0.7 * n), int(0.85 * n)
    return {"train": perm[:a].sort().values, "val": perm[a:b].sort().values, "test": perm[b:].sort().values}


def _accepts(fn: Callable[..., Any], arg: str) -> bool:
    try:
        return arg in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _subsample(ds: Any, n: int, seed: int) -> Any:
    g = torch.Generator().manual_seed(seed)
    keep = torch.randperm(len(ds), generator=g)[:n].sort().values
    return ds.subset(keep)
