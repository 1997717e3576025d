"""Average drop % and increase in confidence of an explanation map.

Reference: A. Chattopadhay, A. Sarkar, P. Howlader, V. N. Balasubramanian, "Grad-CAM++: Generalized
Gradient-based Visual Explanations for Deep Convolutional Networks", WACV 2018 (section 5.1), also
used by Score-CAM. Hand-written: captum has no such metric.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .._baselines import make_baseline
from ._common import TargetLike, as_maps, check_batch, predict_probs, resolve_target

__all__ = ["ConfidenceChange", "average_drop_increase", "explanation_image"]


@dataclass
class ConfidenceChange:
    """Result of :func:`average_drop_increase`.

    Attributes
    ----------
    average_drop:
        Mean over images of ``max(0, Y − O) / Y × 100`` (percent; lower is better).
    increase:
        Percentage of images with ``O > Y`` (higher is better).
    drop:
        ``B`` per-image relative drop in percent.
    increased:
        ``B`` bool, ``O > Y`` per image.
    original, explained:
        ``B`` softmax probabilities ``Y`` (full image) and ``O`` (explanation image) of the target.
    target:
        ``B`` class indices.
    """

    average_drop: float
    increase: float
    drop: Tensor
    increased: Tensor
    original: Tensor
    explained: Tensor
    target: Tensor


def explanation_image(x: Tensor, maps: Tensor, background: str | float | Tensor = "zero") -> Tensor:
    """Grad-CAM++'s explanation image ``E = I ⊙ L`` with ``L = ReLU(m) / max ReLU(m)`` in ``[0, 1]``.

    The normalization keeps only positive evidence and scales it by the maximum **[ours]** (the
    paper's CAMs are non-negative already; for signed maps the negative part is treated as "not
    explaining the class"). A map without positive values gives the background.

    ``background`` = ``"zero"`` is the paper's definition (what the map hides turns black). Any
    other baseline of :func:`halign_widgets.explain._baselines.make_baseline` (``"blur"``,
    ``"mean"``, a number or a tensor) gives ``E = L ⊙ I + (1 − L) ⊙ B`` **[ours]**: on images whose
    background is not black (our masses), a black surround is itself out of distribution and can
    dominate the score.
    """
    r = as_maps(maps, (x.shape[-2], x.shape[-1]), batch=x.shape[0]).clamp_min(0)
    peak = r.flatten(1).max(1).values.view(-1, 1, 1)
    norm = torch.where(peak > 0, r / peak.clamp_min(torch.finfo(r.dtype).tiny), torch.zeros_like(r))
    weight = norm[:, None].to(x)
    if isinstance(background, str) and background in ("zero", "zeros"):
        return x * weight
    return x * weight + (1 - weight) * make_baseline(x, background)


def average_drop_increase(model: nn.Module, x: Tensor, maps: Tensor, target: TargetLike = None,
                          batch_size: int = 128, background: str | float | Tensor = "zero") -> ConfidenceChange:
    """Average drop % and increase in confidence (relative, not absolute, as in Grad-CAM++).

    ``Y`` = softmax probability of the target on the image, ``O`` = on the explanation image
    ``I ⊙ L`` (see :func:`explanation_image`). Average drop = ``mean(max(0, Y−O)/Y) × 100``;
    increase in confidence = ``100 × mean(O > Y)``. A map that keeps exactly what the model reads
    has average drop 0.

    Parameters
    ----------
    model:
        Classifier returning logits (evaluated in eval mode, no gradients).
    x:
        ``B×C×H×W`` images.
    maps:
        ``B×H×W`` maps at input resolution.
    target:
        Class per image; ``None`` = predicted class.
    batch_size:
        Images per forward pass.
    background:
        What the map hides becomes: ``"zero"`` (the paper) or a baseline such as ``"blur"``
        **[ours]**, see :func:`explanation_image`.
    """
    check_batch(model, x)
    x = x.detach().float().cpu()
    probs = predict_probs(model, x, batch_size)
    tgt = resolve_target(model, x, target, probs)
    y = probs.gather(1, tgt[:, None])[:, 0]
    o = predict_probs(model, explanation_image(x, torch.as_tensor(maps).detach().cpu(), background),
                      batch_size).gather(1, tgt[:, None])[:, 0]
    drop = (y - o).clamp_min(0) / y.clamp_min(torch.finfo(y.dtype).tiny) * 100.0
    increased = o > y
    return ConfidenceChange(average_drop=float(drop.mean()), increase=float(increased.float().mean() * 100.0),
                            drop=drop, increased=increased, original=y, explained=o, target=tgt)
