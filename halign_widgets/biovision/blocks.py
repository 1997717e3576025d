"""Building blocks of CoCoReco: an area (conv stage) and a projection between areas.

After Carloni et al. (ECCV 2024 workshops), METHODS.md §3. Choices marked [ours] are this lab's.
"""

from __future__ import annotations

from collections import OrderedDict

import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import unknown_name
from ..models import ConvBlock

__all__ = ["NORMS", "AreaBlock", "Projection", "resize"]

NORMS = ("batch", "none")


def resize(h: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize ``B×k×H×W`` to the grid ``size`` [ours: always the destination's own grid].

    Adaptive average pooling when the grid shrinks (a forward projection onto a coarser area),
    bilinear interpolation (``align_corners=False``) when it grows (feedback onto a finer area);
    unchanged when it already has that size.
    """
    have = tuple(h.shape[-2:])
    if have == tuple(size):
        return h
    if size[0] <= have[0] and size[1] <= have[1]:
        return F.adaptive_avg_pool2d(h, size)
    return F.interpolate(h, size=size, mode="bilinear", align_corners=False)


class AreaBlock(nn.Module):
    """One area: 3×3 conv → (batch norm) → ReLU → 2×2 max-pool.

    Parameters
    ----------
    in_channels, out_channels:
        Channels in and out.
    norm:
        ``"batch"`` (default [ours]: the lab's :class:`~halign_widgets.models.ConvBlock`, so seven
        stacked areas train in a few CPU epochs on the low-contrast worlds) or ``"none"`` (the
        paper's conv → ReLU, with a conv bias).
    min_grid:
        [ours] The 2×2 pooling is skipped when the grid is smaller than ``2·min_grid``, so no area
        falls below ``min_grid × min_grid`` cells. The authors pool in every area, which needs
        ≥ 256 px inputs to keep IT and the parietal areas non-empty; this rule makes 32–256 px work.
    """

    def __init__(self, in_channels: int, out_channels: int, norm: str = "batch", min_grid: int = 4) -> None:
        super().__init__()
        if norm not in NORMS:
            raise unknown_name("normalization", norm, NORMS)
        if norm == "batch":
            self.block: nn.Module = ConvBlock(in_channels, out_channels)
        else:
            self.block = nn.Sequential(OrderedDict(
                conv=nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
                relu=nn.ReLU(inplace=False)))
        self.pool = nn.MaxPool2d(2)
        self.min_grid = int(min_grid)

    def forward(self, x: Tensor) -> Tensor:
        h = self.block(x)
        if min(h.shape[-2:]) >= 2 * self.min_grid:
            h = self.pool(h)
        return h


class Projection(nn.Module):
    """``resize(1×1 conv(h))`` onto a destination grid; the edge's fixed gain ``α`` is applied by the model.

    The 1×1 conv and the resize are both linear and commute exactly (the resize acts on each channel
    alone), so the conv runs on the smaller of the two grids — the same numbers, less work.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)

    def forward(self, h: Tensor, size: tuple[int, int]) -> Tensor:
        if h.shape[-2] * h.shape[-1] > size[0] * size[1]:
            return self.conv(resize(h, size))
        return resize(self.conv(h), size)
