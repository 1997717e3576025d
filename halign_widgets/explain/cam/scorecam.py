"""Score-CAM (Wang et al., "Score-CAM: Score-weighted visual explanations for convolutional neural
networks", CVPR workshops 2020)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from ...errors import ConfigError
from ...validation import check_int
from .base import BaseCAM, upsample

__all__ = ["ScoreCAM", "Score", "SCORES", "channel_masks"]

#: What Score-CAM scores a masked image by: the target's logit, or its softmax probability.
Score = Literal["logit", "prob"]
SCORES: tuple[Score, ...] = ("logit", "prob")


def channel_masks(acts: Tensor, size: tuple[int, int]) -> Tensor:
    """Upsample every channel ``B×k×n×n`` to ``size`` and min-max normalize each one to ``[0, 1]``.

    A constant channel (max = min) becomes an all-zero mask.
    """
    up = upsample(acts, size)
    low = up.amin(dim=(2, 3), keepdim=True)
    high = up.amax(dim=(2, 3), keepdim=True)
    span = high - low
    return torch.where(span > 0, (up - low) / torch.where(span > 0, span, torch.ones_like(span)),
                       torch.zeros_like(up))


class ScoreCAM(BaseCAM):
    """Score-CAM: gradient-free; each channel, as a soft mask on the input, is scored by the model.

    For channel ``k``: ``M_k`` = upsampled, min-max-normalized ``X_k``; score ``s_k = y_c(x ⊙ M_k)``;
    weights ``w = softmax_k(s)``; map ``ReLU(Σ_k w_k X_k)``.

    All ``B·k`` masked inputs are evaluated in batched forward passes of ``batch_size`` images —
    never one forward pass per channel.

    Parameters
    ----------
    batch_size:
        Masked images per forward pass (memory vs speed).
    score:
        ``"logit"`` (default **[ours]**: sharper channel weights than probabilities, whose softmax
        over channels is nearly uniform) or ``"prob"`` (softmax probability, as in the authors' code).
    """

    name = "scorecam"
    needs_gradients = False

    def __init__(self, model: nn.Module, layer: nn.Module, batch_size: int = 128, score: Score = "logit") -> None:
        super().__init__(model, layer)
        batch_size = check_int("batch_size", batch_size, 1, hint="masked images per forward pass")
        if score not in SCORES:
            raise ConfigError(f"score must be 'logit' or 'prob', got {score!r}.")
        self.batch_size = batch_size
        self.score = score

    def _scores(self, images: Tensor, target: Tensor) -> Tensor:
        out = []
        for start in range(0, images.shape[0], self.batch_size):
            logits = self.model(images[start:start + self.batch_size])
            if self.score == "prob":
                logits = logits.softmax(1)
            out.append(logits.gather(1, target[start:start + self.batch_size, None])[:, 0])
        return torch.cat(out) if out else images.new_zeros(0)

    def channel_scores(self, x: Tensor, masks: Tensor, target: Tensor) -> Tensor:
        """Target scores ``B×k`` of the input masked by each channel, in batches.

        Channels whose mask is all zero (dead ReLU channels are common in trained nets) all mask
        the input to the same black image, so it is scored once per image — exactly equal to
        scoring each of them, and often much faster.
        """
        b, k = masks.shape[:2]
        live = masks.flatten(2).amax(2) > 0                                    # B×k
        scores = self._scores(torch.zeros_like(x), target)[:, None].repeat(1, k)  # score of x ⊙ 0
        idx_b, idx_k = live.nonzero(as_tuple=True)
        if idx_b.numel():
            masked = x[idx_b] * masks[idx_b, idx_k][:, None]
            scores[idx_b, idx_k] = self._scores(masked, target[idx_b])
        return scores

    def combine(self, x: Tensor, acts: Tensor, grads: Tensor | None, target: Tensor) -> Tensor:
        masks = channel_masks(acts, (x.shape[-2], x.shape[-1]))
        weights = self.channel_scores(x.detach(), masks, target).softmax(1)
        return torch.relu((weights[:, :, None, None] * acts).sum(1))
