"""Deletion and insertion curves (RISE-style causal metrics of an attribution map).

Reference: V. Petsiuk, A. Das, K. Saenko, "RISE: Randomized Input Sampling for Explanation of
Black-box Models", BMVC 2018. Hand-written because captum has no deletion/insertion metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from ...models import eval_mode, model_input
from ...validation import check_int
from .._baselines import make_baseline
from ._common import TargetLike, as_maps, check_batch, predict_probs, resolve_target

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DeletionInsertion", "deletion_insertion", "pixel_order"]


@dataclass
class DeletionInsertion:
    """Deletion / insertion curves of a batch of maps.

    Attributes
    ----------
    deletion_curve, insertion_curve:
        ``B×(steps+1)`` softmax probability of the target after each step. Deletion starts at the
        original image and ends at the baseline; insertion starts at the baseline and ends at the
        original image.
    fractions:
        ``steps+1`` fraction of pixels deleted / inserted at each step (0 … 1).
    deletion_auc, insertion_auc:
        ``B`` trapezoidal area under each curve over the fraction axis ``[0, 1]``.
    overall:
        ``B`` insertion AUC − deletion AUC (higher is better).
    target:
        ``B`` class whose probability was tracked.
    baseline:
        Name of the baseline (``"tensor"`` for a user-given one).
    """

    deletion_curve: Tensor
    insertion_curve: Tensor
    fractions: Tensor
    deletion_auc: Tensor
    insertion_auc: Tensor
    overall: Tensor
    target: Tensor
    baseline: str

    def curves_frame(self) -> pd.DataFrame:
        """Long-form table of the curves (``image``, ``fraction``, ``deletion``, ``insertion``) for plotting."""
        import pandas as pd

        b, s = self.deletion_curve.shape
        return pd.DataFrame({
            "image": torch.arange(b).repeat_interleave(s).numpy(),
            "fraction": self.fractions.repeat(b).numpy(),
            "deletion": self.deletion_curve.flatten().numpy(),
            "insertion": self.insertion_curve.flatten().numpy(),
        })


def pixel_order(maps: Tensor) -> Tensor:
    """Rank of every pixel by descending map value, ``B×(H·W)`` (0 = most relevant).

    Ties are broken by raster order (stable sort), so a constant map deletes top-left first.
    """
    flat = maps.flatten(1)
    order = torch.sort(flat, dim=1, descending=True, stable=True).indices
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(flat.shape[1], device=flat.device).expand_as(order).contiguous())
    return ranks


@torch.no_grad()
def _curves(model: nn.Module, x: Tensor, base: Tensor, ranks: Tensor, counts: Tensor, target: Tensor,
            batch_size: int) -> tuple[Tensor, Tensor]:
    """Evaluate every (image, step, mode) perturbation in chunks of ``batch_size`` forward passes."""
    b, c, h, w = x.shape
    s = counts.numel()
    # job j ↔ image j // (2s), mode (0 deletion, 1 insertion) (j // s) % 2, step j % s
    jobs = torch.arange(b * 2 * s)
    probs = torch.empty(b * 2 * s)
    with eval_mode(model):
        for start in range(0, jobs.numel(), batch_size):
            j = jobs[start:start + batch_size]
            img, mode, step = j // (2 * s), (j // s) % 2, j % s
            hit = (ranks[img] < counts[step, None]).view(-1, 1, h, w)  # pixels perturbed so far
            deleted = torch.where(hit, base[img], x[img])
            inserted = torch.where(hit, x[img], base[img])
            batch = torch.where((mode == 0).view(-1, 1, 1, 1), deleted, inserted)
            p = torch.softmax(model(model_input(model, batch)).float(), dim=1).cpu()
            probs[start:start + batch_size] = p.gather(1, target[img, None])[:, 0]
    probs = probs.view(b, 2, s)
    return probs[:, 0], probs[:, 1]


def deletion_insertion(model: nn.Module, x: Tensor, maps: Tensor, target: TargetLike = None,
                       baseline: str | float | Tensor = "blur", steps: int = 32, batch_size: int = 128,
                       blur_sigma: float | None = None) -> DeletionInsertion:
    """Deletion and insertion curves, their AUCs and Overall = insertion − deletion.

    Pixels are ranked by the map (descending). Deletion replaces the top ``k/steps`` share of pixels
    (all channels of a pixel together) by the baseline, insertion pastes them from the image onto
    the baseline, for ``k = 0 … steps``; after each step the softmax probability of the target is
    recorded. A good map makes the deletion curve drop fast (low AUC) and the insertion curve rise
    fast (high AUC).

    Parameters
    ----------
    model:
        Classifier returning logits; evaluated in eval mode without gradients (its training flag is
        restored afterwards).
    x:
        ``B×C×H×W`` images.
    maps:
        ``B×H×W`` (or ``B×1×H×W``) attribution maps at input resolution, raw and signed.
    target:
        Class per image (int, list or ``B`` tensor); ``None`` = predicted class.
    baseline:
        ``"blur"`` (default, as in RISE), ``"mean"``, ``"zero"`` (alias ``"zeros"``), a number or
        an image tensor — built by :func:`halign_widgets.explain._baselines.make_baseline`, shared
        with the attribution methods.
    steps:
        Number of equal steps; step ``k`` perturbs ``round(k·H·W/steps)`` pixels.
    batch_size:
        Perturbed images per forward pass; all ``2·(steps+1)`` images of one image (and of several
        images) share forward passes, so the cost is ``⌈2·B·(steps+1)/batch_size⌉`` passes.
    blur_sigma:
        Blur strength for ``baseline="blur"`` (default ``max(H, W)/8`` pixels **[ours]**).

    Returns
    -------
    DeletionInsertion

    Examples
    --------
    >>> res = deletion_insertion(model, x, explanation.maps, steps=16)   # doctest: +SKIP
    >>> res.overall.mean()                                               # doctest: +SKIP
    """
    check_batch(model, x)
    steps = check_int("steps", steps, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    x = x.detach().float().cpu()
    maps = as_maps(maps, (x.shape[-2], x.shape[-1]), batch=x.shape[0]).cpu()
    tgt = resolve_target(model, x, target, predict_probs(model, x, batch_size))
    kind = "zeros" if isinstance(baseline, str) and baseline == "zero" else baseline
    base = make_baseline(x, kind, sigma=blur_sigma)
    n_pix = x.shape[-2] * x.shape[-1]
    fractions = torch.linspace(0.0, 1.0, steps + 1)
    counts = torch.round(fractions * n_pix).long()
    deletion, insertion = _curves(model, x, base, pixel_order(maps), counts, tgt, batch_size)
    d_auc = torch.trapezoid(deletion, fractions, dim=1)
    i_auc = torch.trapezoid(insertion, fractions, dim=1)
    return DeletionInsertion(deletion_curve=deletion, insertion_curve=insertion, fractions=fractions,
                             deletion_auc=d_auc, insertion_auc=i_auc, overall=i_auc - d_auc, target=tgt,
                             baseline=str(baseline) if not isinstance(baseline, Tensor) else "tensor")
