"""Batched drawing primitives of the ground-truth worlds (private).

Every function draws a whole batch at once on ``N×H×W`` tensors with coordinate grids and
broadcasting — there is no per-pixel (or per-image) Python loop — so a world of thousands of
64×64 images is generated in about a second on one CPU core.  Hand-written because no
dependency of the package offers batched, seedable shape rasterisation in torch.

All randomness comes from an explicit :class:`torch.Generator` so that worlds are reproducible.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "grid", "uniform", "tissue", "gaussian_blur", "soft_disk", "radial_shape", "segment_distance",
    "ring", "cell_centers", "add_noise", "balanced_labels",
]


_CHUNK = 128  # images per chunk in the per-pixel rasterisers (bounds their temporaries)


def uniform(g: torch.Generator, shape: tuple[int, ...] | int, low: float, high: float) -> Tensor:
    """Uniform samples in ``[low, high)`` of ``shape`` drawn from ``g``."""
    shape = (shape,) if isinstance(shape, int) else shape
    return low + (high - low) * torch.rand(shape, generator=g)


def grid(size: int) -> tuple[Tensor, Tensor]:
    """Pixel-centre coordinates ``(yy, xx)``, each ``1×H×W`` (row index, column index)."""
    ax = torch.arange(size, dtype=torch.float32)
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    return yy[None], xx[None]


def balanced_labels(n: int, k: int, g: torch.Generator) -> Tensor:
    """``n`` class indices in ``[0, k)``, as balanced as possible, in random order."""
    return (torch.arange(n) % k)[torch.randperm(n, generator=g)]


def tissue(n: int, size: int, g: torch.Generator, octaves: tuple[int, ...] = (3, 6, 12, 24),
           weights: tuple[float, ...] = (1.0, 0.7, 0.45, 0.25)) -> Tensor:
    """Smooth multi-scale noise, zero mean and unit std per image, ``N×H×W``.

    Each octave is Gaussian noise on a coarse ``s×s`` lattice upsampled bicubically to the finest
    lattice; the sum is upsampled once to the image size, so the texture looks like soft
    fibro-glandular tissue at every image size and costs one full-size interpolation.
    """
    mid = max(octaves)
    acc = torch.zeros(n, 1, mid, mid)
    for s, w in zip(octaves, weights, strict=False):            # sum the octaves on a coarse lattice first …
        coarse = torch.randn(n, 1, s, s, generator=g)
        acc += w * (coarse if s == mid else F.interpolate(coarse, size=(mid, mid), mode="bicubic",
                                                           align_corners=False))
    out = F.interpolate(acc, size=(size, size), mode="bilinear", align_corners=False)  # … then upsample once
    out = out[:, 0]
    out = out - out.mean(dim=(1, 2), keepdim=True)
    return out / out.std(dim=(1, 2), keepdim=True).clamp_min(1e-6)


def gaussian_blur(x: Tensor, sigma: float | Tensor) -> Tensor:
    """Blur ``N×H×W`` images with a Gaussian of std ``sigma`` pixels (scalar, or one per image).

    Separable convolution with reflect padding; a per-image ``sigma`` (``N``) uses grouped
    convolution so the batch stays one call.
    """
    n = x.shape[0]
    sig = torch.as_tensor(sigma, dtype=torch.float32).reshape(-1).expand(n)
    if float(sig.max()) <= 0.05:
        return x
    radius = max(1, int(math.ceil(3 * float(sig.max()))))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t[None] / sig.clamp_min(0.05)[:, None]) ** 2)
    k = k / k.sum(1, keepdim=True)                                    # N×K
    h = x[None]                                                       # 1×N×H×W (images as groups)
    h = F.pad(h, (radius, radius, 0, 0), mode="reflect")
    h = F.conv2d(h, k[:, None, None, :], groups=n)
    h = F.pad(h, (0, 0, radius, radius), mode="reflect")
    h = F.conv2d(h, k[:, None, :, None], groups=n)
    return h[0]


def soft_disk(cy: Tensor, cx: Tensor, radius: Tensor | float, size: int, edge: float = 0.6) -> Tensor:
    """Anti-aliased disks (1 inside, 0 outside), ``N×H×W``; ``cy, cx`` are ``N`` centres."""
    yy, xx = grid(size)
    r = torch.sqrt((yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2)
    rad = torch.as_tensor(radius, dtype=torch.float32)
    rad = rad[:, None, None] if rad.dim() else rad
    return torch.sigmoid((rad - r) / edge)


def ring(cy: Tensor, cx: Tensor, radius: Tensor | float, width: float, size: int, edge: float = 0.5) -> Tensor:
    """Anti-aliased rings of mean ``radius`` and thickness ``width``, ``N×H×W``."""
    yy, xx = grid(size)
    r = torch.sqrt((yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2)
    rad = torch.as_tensor(radius, dtype=torch.float32)
    rad = rad[:, None, None] if rad.dim() else rad
    return torch.sigmoid((width / 2 - (r - rad).abs()) / edge)


def radial_shape(cy: Tensor, cx: Tensor, radius_fn: Tensor, size: int, edge: float = 0.5) -> tuple[Tensor, Tensor]:
    """Rasterise star-shaped regions given by a radius per angle.

    Parameters
    ----------
    cy, cx:
        ``N`` centres in pixels.
    radius_fn:
        ``N×T`` boundary radius sampled at ``T`` equally spaced angles over ``[-π, π)``; pixels are
        looked up with linear interpolation between the two nearest angles.
    size:
        Image size.
    edge:
        Softness of the boundary in pixels.

    Returns
    -------
    (shape, rel)
        ``shape`` the soft region ``N×H×W`` in [0, 1]; ``rel`` the pixel radius divided by the
        boundary radius (``< 1`` inside), useful for interior shading.

    The per-pixel work runs on chunks of :data:`_CHUNK` images: a dozen full-size temporaries
    for 1,200 images at once cost ~290 MB of peak memory, the chunks ~30 MB, with the same values.
    """
    n, t = radius_fn.shape
    flat = radius_fn.reshape(n, t)
    shape, rel = torch.empty(n, size, size), torch.empty(n, size, size)
    for s in range(0, n, _CHUNK):  # per-pixel work on a chunk of images: same values, bounded temporaries
        e = min(n, s + _CHUNK)
        shape[s:e], rel[s:e] = _radial_chunk(cy[s:e], cx[s:e], flat[s:e], size, edge)
    return shape, rel


def _radial_chunk(cy: Tensor, cx: Tensor, flat: Tensor, size: int, edge: float) -> tuple[Tensor, Tensor]:
    n, t = flat.shape
    yy, xx = grid(size)
    dy, dx = yy - cy[:, None, None], xx - cx[:, None, None]
    r = torch.sqrt(dy ** 2 + dx ** 2)
    pos = (torch.atan2(dy, dx) + math.pi) / (2 * math.pi) * t          # in [0, T]
    i0 = pos.floor().long() % t
    frac = pos - pos.floor()
    i1 = (i0 + 1) % t
    b0 = torch.gather(flat, 1, i0.reshape(n, -1)).reshape(r.shape)
    b1 = torch.gather(flat, 1, i1.reshape(n, -1)).reshape(r.shape)
    bound = b0 + frac * (b1 - b0)
    return torch.sigmoid((bound - r) / edge), r / bound.clamp_min(1e-3)


def segment_distance(y0: Tensor, x0: Tensor, y1: Tensor, x1: Tensor, size: int) -> Tensor:
    """Distance of every pixel to the segments ``(y0, x0)–(y1, x1)`` (one per image), ``N×H×W``."""
    yy, xx = grid(size)
    vy, vx = (y1 - y0)[:, None, None], (x1 - x0)[:, None, None]
    py, px = yy - y0[:, None, None], xx - x0[:, None, None]
    t = ((py * vy + px * vx) / (vy ** 2 + vx ** 2).clamp_min(1e-6)).clamp(0, 1)
    return torch.sqrt((py - t * vy) ** 2 + (px - t * vx) ** 2)


def cell_centers(cells: Tensor, grid_n: int, size: int, jitter: Tensor, margin: float = 0.0) -> tuple[Tensor, Tensor]:
    """Centres (y, x) of cells of a ``grid_n×grid_n`` layout plus a jitter in cell units.

    ``cells`` holds flat cell indices (any shape); ``jitter`` has the same shape plus a trailing
    dimension 2 with values in ``[-0.5, 0.5]`` (fraction of a cell).  The layout covers the image
    minus a border of ``margin`` pixels.
    """
    step = (size - 2 * margin) / grid_n
    cy = margin + ((cells // grid_n).float() + 0.5 + jitter[..., 0]) * step
    cx = margin + ((cells % grid_n).float() + 0.5 + jitter[..., 1]) * step
    return cy, cx


def add_noise(x: Tensor, sigma: float | Tensor, g: torch.Generator) -> Tensor:
    """Add Gaussian pixel noise of std ``sigma`` (scalar, or one per image) and clamp to [0, 1]."""
    sig = torch.as_tensor(sigma, dtype=torch.float32)
    sig = sig[:, None, None] if sig.dim() else sig
    return (x + sig * torch.randn(x.shape, generator=g)).clamp(0.0, 1.0)
