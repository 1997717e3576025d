"""Is this batch something the model can take? Checked before the work, not deep inside torch.

Two questions every method entry point asks before it starts (``explain``, SUNY, the metrics,
activation maximization, ``Trainer.predict``):

- **Is the batch empty?** A batch of 0 images has nothing to explain; without this check it fails
  later with an index error.
- **Are the images large enough?** A model that pools its input several times needs a minimum
  size: :class:`~halign_widgets.models.SmallCNN` halves the grid ``depth − 1`` times and so needs
  ``2**(depth − 1)`` pixels per side. Models that declare ``min_input_size`` (an int) are checked
  up front; for any other model :func:`size_errors` turns torch's "Output size is too small" /
  "Kernel size can't be greater than actual input size" into the same typed error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import Tensor, nn

from ..errors import InputShapeError

__all__ = ["check_logits", "check_model_input", "min_input_size", "size_errors", "TOO_SMALL_MESSAGES"]

#: Fragments of torch's error messages that mean "the input is too small for this layer".
TOO_SMALL_MESSAGES = ("Output size is too small", "Kernel size can't be greater than actual input size",
                      "smaller than kernel size")


def min_input_size(model: nn.Module) -> int | None:
    """Smallest side (pixels) the model accepts, if it declares one (``model.min_input_size``)."""
    value = getattr(model, "min_input_size", None)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check_model_input(model: nn.Module, x: Tensor, name: str = "images", *, allow_empty: bool = False) -> Tensor:
    """Refuse an empty batch and images smaller than the model's declared minimum; return ``x``.

    ``x`` is a ``B×C×H×W`` batch already validated by
    :func:`~halign_widgets.data.check_images` (dimensions, channels, finite pixels).

    Raises
    ------
    InputShapeError
        ``B = 0`` (unless ``allow_empty``), or ``H``/``W`` below ``model.min_input_size``.
    """
    if x.dim() >= 1 and x.shape[0] == 0 and not allow_empty:
        raise InputShapeError(f"{name} hold no image (shape {tuple(x.shape)}); give at least one image, "
                              "e.g. x[:1] or x[None] for a single C×H×W image.")
    low = min_input_size(model)
    if low is not None and x.dim() == 4 and min(x.shape[-2:]) < low:
        why = getattr(model, "min_input_reason", "")
        raise InputShapeError(f"{name} are {x.shape[-2]}×{x.shape[-1]} pixels but {type(model).__name__} needs at "
                              f"least {low}×{low}{why}; resize them (torch.nn.functional.interpolate) or use a "
                              "shallower model.")
    return x


@contextmanager
def size_errors(model: nn.Module, x: Tensor, name: str = "images") -> Iterator[None]:
    """Translate torch's "input too small" ``RuntimeError`` inside the block into an :class:`InputShapeError`."""
    try:
        yield
    except RuntimeError as exc:
        text = str(exc)
        if not any(fragment in text for fragment in TOO_SMALL_MESSAGES):
            raise
        raise InputShapeError(f"{name} of {x.shape[-2]}×{x.shape[-1]} pixels are too small for "
                              f"{type(model).__name__} (torch: {text[:160]}); resize them to the size the model "
                              "was built for (torch.nn.functional.interpolate).") from exc


def check_logits(logits: object, model: nn.Module, batch: int | None = None) -> Tensor:
    """``logits`` if they are a ``B×K`` tensor of class scores; else a typed error that says so.

    Methods that explain a class decision (CAMs, captum targets, SUNY, the metrics) need one score
    per class; a model that returns one number per image, a dict or a feature map cannot be
    explained that way without a wrapper that returns logits.
    """
    if not isinstance(logits, Tensor) or logits.dim() != 2 or (batch is not None and logits.shape[0] != batch):
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise InputShapeError(f"{type(model).__name__} returned {shape} for a batch of {batch if batch else 'B'} "
                              "image(s); the lab explains classifiers that return B×K class logits — wrap the "
                              "model so that forward(x) returns them (e.g. unsqueeze a single score to B×1, or "
                              "pick the logits out of a dict).")
    return logits
