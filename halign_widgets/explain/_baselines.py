"""Reference images ("baselines") that attribution methods and metrics perturb towards.

Shared by :mod:`halign_widgets.explain` (Integrated Gradients, GradientShap, Occlusion) and the
explanation metrics (deletion / insertion), so that "delete a pixel" means the same thing
everywhere.

- ``"zeros"`` — a black image (captum's default);
- ``"mean"`` — every pixel set to the image's own per-channel mean **[ours]**: it keeps the
  overall brightness, so the model does not see an out-of-distribution dark image;
- ``"blur"`` — a strong Gaussian blur of the image (Fong & Vedaldi, ICCV 2017; Petsiuk et al.,
  RISE, BMVC 2018 use it for deletion / insertion): shape information is removed while the
  local intensity is kept.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError, unknown_name
from ..validation import check_real

__all__ = ["BASELINES", "check_baseline", "gaussian_blur", "make_baseline"]

BASELINES: tuple[str, ...] = ("zeros", "mean", "blur")


def gaussian_blur(x: Tensor, sigma: float, kernel_size: int | None = None) -> Tensor:
    """Blur every channel of ``x`` (``B×C×H×W``) with a separable Gaussian of std ``sigma`` pixels.

    Borders are padded by reflection (replication when the image is smaller than the kernel), so
    the image keeps its brightness at the edges. ``sigma <= 0`` returns ``x`` unchanged.
    Hand-written (pure torch) so that it works inside autograd graphs and on any device.
    """
    if sigma <= 0:
        return x
    if kernel_size is None:
        kernel_size = 2 * int(math.ceil(3.0 * sigma)) + 1
    half = kernel_size // 2
    grid = torch.arange(kernel_size, dtype=x.dtype, device=x.device) - half
    kernel = torch.exp(-0.5 * (grid / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    mode = "reflect" if min(x.shape[-2:]) > half else "replicate"
    out = F.pad(x, (half, half, 0, 0), mode=mode)
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    out = F.pad(out, (0, 0, half, half), mode=mode)
    out = F.conv2d(out, kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return out


def check_baseline(kind: object) -> None:
    """Refuse a baseline that is not a known name, a finite number or a finite tensor (before any work).

    Raises
    ------
    UnknownNameError
        An unknown name.
    ConfigError
        A NaN/inf number or a tensor holding NaN/inf values (they would spread into every
        perturbed image), a boolean, or any other type.
    """
    if isinstance(kind, str):
        if kind not in BASELINES:
            raise unknown_name("baseline", kind, BASELINES)
        return
    if isinstance(kind, bool) or not isinstance(kind, (numbers.Real, Tensor)):
        raise ConfigError(f"baseline must be one of {BASELINES}, a number or an image tensor, got {kind!r:.60}.")
    if isinstance(kind, Tensor):
        if not kind.is_floating_point() and kind.dtype not in (torch.uint8, torch.int8, torch.int16, torch.int32,
                                                                 torch.int64):
            raise ConfigError(f"a baseline tensor must hold numbers, got dtype {kind.dtype}.")
        if kind.is_floating_point() and not bool(torch.isfinite(kind).all()):
            raise ConfigError("the baseline tensor contains NaN or infinite values; give a finite image "
                              "(torch.nan_to_num) or a named baseline such as 'blur'.")
    else:
        check_real("baseline", kind, hint="use e.g. 0.0 or 'mean'")


def make_baseline(x: Tensor, kind: str | float | Tensor = "zeros", *, sigma: float | None = None) -> Tensor:
    """Return a baseline of the same shape as ``x`` (``B×C×H×W``).

    Parameters
    ----------
    x:
        The images to explain.
    kind:
        ``"zeros"``, ``"mean"`` (per-image, per-channel mean), ``"blur"`` (Gaussian blur), a
        number (constant image) or a tensor broadcastable to ``x``.
    sigma:
        Blur std in pixels for ``"blur"``; default ``max(H, W) / 8`` (8 px on 64×64) **[ours]**.

    Raises
    ------
    UnknownNameError
        ``kind`` is an unknown name.
    ConfigError
        ``kind`` is a tensor that does not broadcast to ``x``, or a NaN/inf number or tensor, or
        ``sigma`` is not a finite number ≥ 0.
    """
    check_baseline(kind)
    if sigma is not None:
        check_real("sigma (blur std in pixels)", sigma, 0.0)
    if isinstance(kind, Tensor):
        try:
            return torch.broadcast_to(kind.to(x), x.shape).clone()
        except RuntimeError as exc:
            raise ConfigError(f"baseline of shape {tuple(kind.shape)} does not broadcast to the images "
                              f"{tuple(x.shape)}; give a tensor of shape C×H×W or B×C×H×W.") from exc
    if isinstance(kind, numbers.Real):
        return torch.full_like(x, float(kind))
    if kind == "zeros":
        return torch.zeros_like(x)
    if kind == "mean":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x).clone()
    if kind == "blur":
        s = float(sigma) if sigma is not None else max(x.shape[-2:]) / 8.0
        return gaussian_blur(x, s)
    raise unknown_name("baseline", str(kind), BASELINES)
