"""Is this batch something the model can take? Checked before the work, not deep inside torch.

Two questions every method entry point asks before it starts (``explain``, SUNY, the metrics,
activation maximization, ``Trainer.predict``):

- **Is the batch empty?** A batch of 0 images has nothing to explain; without this check it fails
  later with an index error.
- **Are the images large enough?** A model that pools its input several times needs a minimum
  size: :class:`~halign_widgets.models.SmallCNN` halves the grid ``depth − 1`` times and so needs
  ``2**(depth − 1)`` pixels per side. Models that declare ``min_input_size`` (an int) are checked
  up front; for any other model :func:`size_errors` turns torch's "Output size is too small" /
  "Kernel size can't be greater than actual input size" into the same typed error, and names the
  minimum that :func:`probe_min_input_size` finds by trying the model on zero images.

Probing **[ours]**: one image of zeros, in the model's dtype and on its device, under
``torch.no_grad()`` and :func:`~halign_widgets.models.eval_mode` (no batch-norm statistic moves,
no autograd graph, the random state is restored), is run at square sides doubled from the failing
one until a forward completes, then bisected down to the smallest side that works. That assumes a
model that works at side ``s`` works at every larger side — true for stacks of convolutions and
pooling; a model built for one exact size (a ``Linear`` after ``flatten``) has no such minimum, and
when no side up to :data:`PROBE_MAX_SIDE` works, or the probes take longer than
:data:`PROBE_SECONDS`, the message says "too small" without a number, as before. The probe runs
only on this error path, never before a successful forward.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from ..errors import InputShapeError
from .modes import eval_mode, in_channels, model_device, model_dtype

__all__ = ["check_logits", "check_model_input", "min_input_size", "probe_min_input_size", "size_errors",
           "PROBE_MAX_SIDE", "PROBE_SECONDS", "TOO_SMALL_MESSAGES"]

#: Fragments of torch's error messages that mean "the input is too small for this layer".
TOO_SMALL_MESSAGES = ("Output size is too small", "Kernel size can't be greater than actual input size",
                      "smaller than kernel size")
#: The probe tries square sides up to this many pixels.
PROBE_MAX_SIDE = 1024
#: The probe gives up (no minimum named) once its forwards have taken this long in total.
PROBE_SECONDS = 3.0


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


def probe_min_input_size(model: nn.Module, channels: int, start: int = 1, *, max_side: int = PROBE_MAX_SIDE,
                         seconds: float = PROBE_SECONDS) -> int | None:
    """Smallest square side at which ``model`` runs on a ``1×channels×side×side`` image of zeros, if found.

    ``start`` is a side known (or assumed) to fail; sides are doubled from it until a forward
    completes, then bisected (see the module docstring for the assumption and the bounds). Any
    exception of a probe counts as "does not work at this side". ``None`` when no side up to
    ``max_side`` works or the probes ran out of ``seconds``.
    """
    device, dtype = model_device(model), model_dtype(model) or torch.float32
    deadline = time.perf_counter() + seconds

    def works(side: int) -> bool:
        try:
            model(torch.zeros(1, channels, side, side, device=device, dtype=dtype))
        except Exception:  # noqa: BLE001 - a probe: any failure means "not at this side"
            return False
        return True

    with torch.no_grad(), eval_mode(model), torch.random.fork_rng(devices=[]):
        bad, good = max(0, start), None
        side = max(1, bad)
        while side <= max_side:
            if time.perf_counter() > deadline:
                return None
            if works(side):
                good = side
                break
            bad, side = side, side * 2
        if good is None:
            return None
        while good - bad > 1:                       # bad fails (or is 0), good works
            if time.perf_counter() > deadline:
                return None
            mid = (bad + good) // 2
            if works(mid):
                good = mid
            else:
                bad = mid
    return good


def _known_minimum(model: nn.Module, x: Tensor) -> tuple[int, str] | None:
    """The model's minimum side and how it is known (declared or probed); ``None`` when unknown."""
    low = min_input_size(model)
    how = ""
    if low is None:
        channels = x.shape[1] if x.dim() == 4 and x.shape[1] > 0 else in_channels(model)
        if channels is None:
            return None
        side = min(x.shape[-2:]) if x.dim() == 4 else 1
        low = probe_min_input_size(model, int(channels), int(side))
        how = " (found by trying it on images of zeros)"
    if low is None or (x.dim() == 4 and min(x.shape[-2:]) >= low):
        return None                                 # the probe contradicts the error: name no number
    return low, how


@contextmanager
def size_errors(model: nn.Module, x: Tensor, name: str = "images") -> Iterator[None]:
    """Translate torch's "input too small" ``RuntimeError`` inside the block into an :class:`InputShapeError`.

    ``x`` gives the size the block ran at (a ``meta`` tensor will do); the message names the
    model's minimum side: ``model.min_input_size`` if declared, else :func:`probe_min_input_size`.
    """
    try:
        yield
    except RuntimeError as exc:
        text = str(exc)
        if not any(fragment in text for fragment in TOO_SMALL_MESSAGES):
            raise
        known = _known_minimum(model, x)
        need, fix = "", "the size the model was built for"
        if known is not None:
            need, fix = f"; it needs at least {known[0]}×{known[0]} pixels{known[1]}", f"at least {known[0]}×{known[0]}"
        raise InputShapeError(f"{name} of {x.shape[-2]}×{x.shape[-1]} pixels are too small for "
                              f"{type(model).__name__}{need} (torch: {text[:160]}); resize them to {fix} "
                              "(torch.nn.functional.interpolate).") from exc


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
