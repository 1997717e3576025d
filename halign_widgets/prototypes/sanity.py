"""Sanity check of the patch visualisation, after Xu-Darme et al. (2023).

R. Xu-Darme, G. Quénot, Z. Chihani, M.-C. Rousset, "Sanity checks for patch visualisation in
prototype-based image classification", CVPR workshops 2023: the box ProtoPNet draws (upsample the
``n×n`` similarity map, keep the pixels above its 95th percentile) need not be where the prototype's
similarity comes from; a gradient-based map of the similarity score with respect to the input points
at the pixels that actually matter. Test it by deletion: remove the pixels of a box and measure how
much the prototype's similarity drops — the more faithful box makes it drop more.

Here, for each (image, prototype): the region the upsampled map points at (its pixels at or above
the 95th percentile), the same number of pixels ranked by SmoothGrad of ``s_j`` with respect to the
input (Smilkov et al. 2017), and as many random pixels; each region is replaced by the blurred
image (the lab's ``"blur"`` baseline) and the similarity drop is recorded. Hand-written rather than captum: the target
is a prototype's similarity, not a class
logit, and SmoothGrad of it is a few lines of autograd.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ..data.dataset import check_images
from ..errors import ConfigError
from ..explain import make_baseline
from ..models import eval_mode, model_device
from ..validation import check_int
from .explanations import explain_prototypes
from .model import ProtoPNet, log_similarity

__all__ = ["patch_visualization_check", "similarity_gradient"]


def similarity_gradient(model: ProtoPNet, x: Tensor, prototype: int, *, samples: int = 8, noise: float = 0.05,
                        seed: int = 0) -> Tensor:
    """SmoothGrad ``H×W`` map of prototype ``prototype``'s similarity score on one image ``x`` (``1×C×H×W``).

    The mean over ``samples`` noisy copies (standard deviation ``noise`` × the image's range) of
    ``|∂s_j/∂x|`` summed over channels; ``samples=1, noise=0`` is the plain gradient.
    """
    samples = check_int("samples (noisy copies of the image)", samples, 1)
    g = torch.Generator().manual_seed(int(seed))
    spread = float(x.max() - x.min()) or 1.0
    batch = x.expand(samples, *x.shape[1:]).clone()
    if noise > 0:
        batch = batch + float(noise) * spread * torch.randn(batch.shape, generator=g)
    batch = batch.to(model_device(model)).requires_grad_(True)
    with eval_mode(model), torch.enable_grad():
        d = model.distances(batch)[:, prototype].flatten(1).amin(1)
        s = log_similarity(d, model.epsilon).sum()
        (grad,) = torch.autograd.grad(s, batch)
    return grad.abs().sum(1).mean(0).detach().cpu()


def _top_pixels(heat: Tensor, k: int) -> Tensor:
    """``H×W`` bool mask of the ``k`` largest pixels of ``heat`` (ties broken by position, stable)."""
    flat = heat.flatten()
    order = torch.argsort(flat, descending=True, stable=True)[:k]
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask[order] = True
    return mask.view_as(heat)


def _score(model: ProtoPNet, x: Tensor, prototype: int) -> Tensor:
    with torch.no_grad(), eval_mode(model):
        return model.similarities(x.to(model_device(model)))[:, prototype].cpu()


def patch_visualization_check(model: ProtoPNet, x: Tensor, prototypes: Sequence[int] | None = None, *, top: int = 1,
                              percentile: float = 95.0, samples: int = 8, noise: float = 0.05, baseline: str = "blur",
                              seed: int = 0) -> Any:
    """Delete what the upsampled map points at, what the gradient points at, and random pixels; compare.

    For a fair comparison the three regions have the same number of pixels: as many as the upsampled
    map has at or above its ``percentile`` (the region whose bounding box Chen et al. draw) **[ours]**.

    Parameters
    ----------
    model:
        The ProtoPNet.
    x:
        Images ``B×C×H×W``.
    prototypes:
        Prototypes to check on every image; default each image's ``top`` prototypes by contribution.
    percentile:
        Size of the regions (see above).
    samples, noise:
        SmoothGrad settings (:func:`similarity_gradient`).
    baseline:
        What deleted pixels are replaced by (``"blur"``, ``"mean"``, ``"zeros"``).
    seed:
        Seed of SmoothGrad and of the random pixels.

    Returns
    -------
    pandas.DataFrame
        One row per (image, prototype): ``similarity``, ``drop_upsampled``, ``drop_gradient``,
        ``drop_random`` (how much ``s_j`` fell when that region was deleted), ``pixels`` (region
        size), ``box_upsampled`` / ``box_gradient`` (bounding boxes of the regions) and
        ``gradient_wins`` (``drop_gradient > drop_upsampled``: the upsampled map was the less
        faithful visualisation).
    """
    import pandas as pd

    check_images(x, channels=model.in_channels)
    if prototypes is not None:
        bad = [j for j in prototypes if not 0 <= int(j) < model.num_prototypes]
        if bad:
            raise ConfigError(f"unknown prototype index {bad[0]}; valid indices are 0..{model.num_prototypes - 1}.")
    explained = explain_prototypes(model, x, percentile=percentile)
    fill = make_baseline(x.float(), baseline)
    g = torch.Generator().manual_seed(int(seed) + 1)
    rows = []
    for b, e in enumerate(explained):
        image = x[b:b + 1].float()
        for j in (list(prototypes) if prototypes is not None else e.top(top)):
            j = int(j)
            up = e.maps[j]
            k = int((up >= torch.quantile(up.flatten(), percentile / 100.0)).sum())
            grad = similarity_gradient(model, image, j, samples=samples, noise=noise, seed=seed + b)
            regions = {"upsampled": _top_pixels(up, k), "gradient": _top_pixels(grad, k),
                       "random": _top_pixels(torch.rand(up.shape, generator=g), k)}
            deleted = [torch.where(r[None, None], fill[b:b + 1], image) for r in regions.values()]
            base = float(e.scores[j])
            after = _score(model, torch.cat(deleted), j)
            row: dict[str, Any] = {"image": b, "prototype": j, "similarity": base, "pixels": k}
            for name, value in zip(regions, after.tolist(), strict=True):
                row[f"drop_{name}"] = base - value
            for name in ("upsampled", "gradient"):
                rows_, cols_ = torch.nonzero(regions[name], as_tuple=True)
                row[f"box_{name}"] = ((int(rows_.min()), int(rows_.max()) + 1, int(cols_.min()), int(cols_.max()) + 1)
                                      if k else None)
            row["gradient_wins"] = bool(row["drop_gradient"] > row["drop_upsampled"])
            rows.append(row)
    return pd.DataFrame(rows)
