"""Private helpers shared by the explanation metrics: validation, targets, batched probabilities."""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

from ...data.dataset import check_images
from ...errors import InputShapeError
from ...models import check_model_input, model_device, size_errors
from ...training.evaluation import predict_probabilities
from ...validation import check_int
from .._resolve import resolve_target as _resolve_target

__all__ = ["as_maps", "as_masks", "check_batch", "predict_probs", "resolve_target", "warn_undefined"]

TargetLike = int | Tensor | list[int] | None


def as_maps(maps: Tensor, size: tuple[int, int] | None = None, *, batch: int | None = None,
            name: str = "maps") -> Tensor:
    """Return ``maps`` as a float ``B×H×W`` tensor (``B×1×H×W`` is squeezed) after checking its shape."""
    maps = torch.as_tensor(maps).detach()
    if maps.dim() == 4 and maps.shape[1] == 1:
        maps = maps[:, 0]
    if maps.dim() == 2:
        raise InputShapeError(f"{name} must be B×H×W, got shape {tuple(maps.shape)}; add a batch "
                              "dimension with maps[None].")
    if maps.dim() != 3:
        raise InputShapeError(f"{name} must be B×H×W (or B×1×H×W), got shape {tuple(maps.shape)}.")
    if batch is not None and maps.shape[0] != batch:
        raise InputShapeError(f"{name} hold {maps.shape[0]} map(s) for {batch} image(s); give one map per image.")
    if size is not None and tuple(maps.shape[-2:]) != tuple(size):
        raise InputShapeError(f"{name} are {maps.shape[-2]}×{maps.shape[-1]} but the images are "
                              f"{size[0]}×{size[1]}; upsample them to the input resolution "
                              "(torch.nn.functional.interpolate) first.")
    maps = maps.float()
    if not bool(torch.isfinite(maps).all()):
        raise InputShapeError(f"{name} contain NaN or infinite values; replace them (torch.nan_to_num).")
    return maps


def as_masks(masks: Tensor, maps: Tensor, name: str = "masks") -> Tensor:
    """Return ``masks`` as a bool ``B×H×W`` tensor matching ``maps`` (non-zero = inside)."""
    masks = torch.as_tensor(masks)
    if masks.dim() == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]
    if masks.dim() == 2:
        masks = masks.expand(maps.shape[0], *masks.shape)
    if tuple(masks.shape) != tuple(maps.shape):
        raise InputShapeError(f"{name} of shape {tuple(masks.shape)} do not match maps of shape "
                              f"{tuple(maps.shape)}; give one H×W mask per map (B×H×W or B×1×H×W).")
    return masks.to(maps.device) != 0


def warn_undefined(metric: str, count: int, reason: str) -> None:
    """Emit one ``RuntimeWarning`` saying how many images got NaN and why."""
    if count:
        warnings.warn(f"{metric}: {count} image(s) scored NaN because {reason}.", RuntimeWarning, stacklevel=3)


def check_batch(model: nn.Module, x: Tensor) -> Tensor:
    """Validate the images of a metric: ``check_images``, at least one image, large enough for the model."""
    check_images(x)
    return check_model_input(model, x)


def predict_probs(model: nn.Module, x: Tensor, batch_size: int = 128) -> Tensor:
    """Softmax probabilities of ``model`` on ``x`` (eval mode, no grad, on CPU), in chunks of ``batch_size``."""
    batch_size = check_int("batch_size", batch_size, 1)
    chunks = (x[i:i + batch_size] for i in range(0, x.shape[0], batch_size))
    with size_errors(model, x):
        return predict_probabilities(model, chunks, multilabel=False, device=model_device(model))


def resolve_target(model: nn.Module, x: Tensor, target: TargetLike, probs: Tensor | None = None) -> Tensor:
    """Return a ``B`` long tensor of target classes; ``None`` means the predicted class.

    Raises
    ------
    TargetOutOfRangeError
        A target is outside ``[0, num_classes)``.
    """
    check_batch(model, x)
    if probs is None:
        probs = predict_probs(model, x)
    return _resolve_target(target, probs).cpu()
