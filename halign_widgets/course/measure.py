"""Small measuring helpers the checks (and solutions) share: accuracy, temporary changes, timing.

Hand-written because they are three short loops over the lab's own pieces
(:func:`~halign_widgets.models.eval_mode`, :func:`~halign_widgets.models.model_input`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ConfigError, LabelMismatchError
from ..models import eval_mode, model_input

__all__ = ["accuracy_of", "images_and_labels", "temporarily", "best_time"]


def images_and_labels(data: Any, labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``(images, labels)`` from a dataset (``.images``/``.labels``) or from an image tensor and labels."""
    if labels is None:
        if not (hasattr(data, "images") and hasattr(data, "labels")):
            raise ConfigError(f"expected a dataset with .images and .labels (e.g. world.test), got "
                              f"{type(data).__name__}; or pass the images and the labels separately.")
        images, labels = data.images, data.labels
    else:
        images = data
    if not isinstance(images, Tensor) or not isinstance(labels, Tensor):
        raise ConfigError("images and labels must be tensors (world.test.images, world.test.labels).")
    if len(images) != len(labels):
        raise LabelMismatchError(f"{len(images)} images but {len(labels)} labels; give one label per image.")
    return images, labels


@torch.no_grad()
def accuracy_of(model: nn.Module, data: Any, labels: Tensor | None = None, batch_size: int = 256) -> float:
    """Fraction of images whose arg-max logit is the label, in eval mode (the model's mode is restored).

    Parameters
    ----------
    model:
        Any classifier returning ``B×classes`` logits.
    data, labels:
        A dataset (``world.test``) or an image tensor with its label tensor.
    batch_size:
        Images per forward pass (the result does not depend on it in eval mode).
    """
    images, labels = images_and_labels(data, labels)
    if len(images) == 0:
        raise ConfigError("no images to measure an accuracy on; pass a non-empty split.")
    correct = 0
    with eval_mode(model):
        for i in range(0, len(images), batch_size):
            logits = model(model_input(model, images[i:i + batch_size]))
            correct += int((logits.argmax(1).cpu() == labels[i:i + batch_size].cpu()).sum())
    return correct / len(images)


@contextlib.contextmanager
def temporarily(obj: Any, **values: Any) -> Iterator[Any]:
    """Set attributes of ``obj`` for the block and put the old values back afterwards (even on error).

    Examples
    --------
    >>> with temporarily(model.causality, direction="effects"):   # doctest: +SKIP
    ...     acc = accuracy_of(model, world.test)
    """
    missing = [k for k in values if not hasattr(obj, k)]
    if missing:
        raise ConfigError(f"{type(obj).__name__} has no attribute(s) {missing}; check the spelling.")
    old = {k: getattr(obj, k) for k in values}
    try:
        for key, value in values.items():
            setattr(obj, key, value)
        yield obj
    finally:
        for key, value in old.items():
            setattr(obj, key, value)


def best_time(fn: Callable[[], Any], repeat: int = 3, min_seconds: float = 0.02) -> float:
    """The shortest wall time (s) of one call of ``fn`` over ``repeat`` rounds.

    A round of a very fast ``fn`` calls it several times (until ``min_seconds`` pass) and divides,
    so sub-millisecond calls are not swamped by the timer. The first call is a warm-up and is not
    counted. The minimum is the usual estimate on a busy machine: other work only adds time.
    """
    if repeat < 1:
        raise ConfigError(f"repeat must be at least 1, got {repeat}.")
    fn()
    best = float("inf")
    for _ in range(repeat):
        calls, t0 = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_seconds or calls >= 1000:
                break
        best = min(best, elapsed / calls)
    return best
