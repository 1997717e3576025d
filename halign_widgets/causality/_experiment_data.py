"""Data for the causality experiments: the lab's worlds and scikit-learn's digits, resized and split.

Private helper of :mod:`.experiments`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..errors import unknown_name

__all__ = ["load_experiment_world"]


def load_experiment_world(name: str, n: int, size: int, seed: int) -> Any:
    """An :class:`~halign_widgets.data.ImageDataset` for the experiments (digits resized to ``size``)."""
    from .. import data

    if name == "digits":
        ds = data.load_digits(size=size, seed=seed)
        if n and len(ds) > n:
            ds = _subsample(ds, n, seed)
        if not {"train", "test"} <= set(ds.splits):
            ds.splits = _random_splits(len(ds), seed)
        return ds
    if name not in data.list_worlds():
        raise unknown_name("experiment world", name, (*data.list_worlds(), "digits"))
    return data.make_world(name, n, size=size, seed=seed)


def _random_splits(n: int, seed: int) -> dict[str, Tensor]:
    """70 / 15 / 15 train / val / test split of ``n`` items, seeded."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    a, b = int(0.7 * n), int(0.85 * n)
    return {"train": perm[:a].sort().values, "val": perm[a:b].sort().values, "test": perm[b:].sort().values}


def _subsample(ds: Any, n: int, seed: int) -> Any:
    g = torch.Generator().manual_seed(seed)
    keep = torch.randperm(len(ds), generator=g)[:n].sort().values
    return ds.subset(keep)
