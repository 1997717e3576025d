"""Helpers shared by the real-data loaders (private): argument checks, resizing images and masks, splits."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError
from ..validation import check_int
from .worlds._base import make_splits

__all__ = ["check_size_channels", "resize", "resize_masks", "default_splits"]


def check_size_channels(size: int | None, channels: int | None) -> None:
    """Raise :class:`ConfigError` unless ``size`` is in 4–1024 (or None) and ``channels`` is 1 or 3 (or None)."""
    if size is not None:
        check_int("size", size, 4, 1024, hint="pixels per side, e.g. size=64")
    if channels is not None and channels not in (1, 3):
        raise ConfigError(f"channels={channels!r} must be 1 (grayscale) or 3 (RGB).")


def resize(x: Tensor, size: int | None) -> Tensor:
    """Resize ``N×C×H×W`` images to ``size×size`` (anti-aliased bilinear); ``None`` keeps them."""
    if size is None or tuple(x.shape[-2:]) == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)


def default_splits(n: int, seed: int) -> dict[str, Tensor]:
    """The deterministic 70 / 15 / 15 train / val / test split of ``n`` images for ``seed``."""
    return make_splits(n, torch.Generator().manual_seed(seed))


def resize_masks(m: Tensor, size: int | None) -> Tensor:
    """Resize ``N×1×H×W`` bool masks to ``size×size`` by nearest neighbour (kept bool); ``None`` keeps them."""
    if size is None or tuple(m.shape[-2:]) == (size, size):
        return m
    return F.interpolate(m.float(), size=(size, size), mode="nearest-exact") > 0.5
