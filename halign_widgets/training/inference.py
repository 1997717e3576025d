"""Predict and evaluate with any trained model, wherever it lives: the helpers notebooks call.

``model(test.images)`` works only while the model is on the CPU in float32: on a CUDA machine
(``device="auto"``) the trained model has moved and the CPU images fail, and a float64 model
refuses float32 images. :func:`predict` and :func:`evaluate` move each batch to the model's
device and dtype (:func:`~halign_widgets.models.model_input`), run in eval mode without
gradients, in batches (so a large test set does not need one huge forward pass), and return
results on the CPU — the same call on every machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from ..data.dataset import check_images
from ..errors import unknown_name
from ..models import check_model_input, eval_mode, in_channels, model_device, model_input, size_errors
from ..validation import check_int
from . import _data
from .evaluation import evaluate_model
from .metrics import default_criterion, probabilities, resolve_metric

__all__ = ["predict", "evaluate", "OUTPUTS"]

#: What :func:`predict` can return.
OUTPUTS = ("probabilities", "logits", "labels")


def _batches(model: nn.Module, data: Any, batch_size: int) -> tuple[Iterator[Tensor], Tensor]:
    if isinstance(data, Tensor):
        check_images(data, channels=in_channels(model))
        check_model_input(model, data)
        return (data[i:i + batch_size] for i in range(0, data.shape[0], batch_size)), data[:1]
    dataset = _data.as_dataset(data)
    first, _ = _data.first_example(dataset, "data to predict")
    return (x for x, _ in _data.iterate_batches(dataset, batch_size)), first[None]


@torch.no_grad()
def predict(model: nn.Module, data: Any, *, batch_size: int = 256, output: str = "probabilities",
            multilabel: bool = False) -> Tensor:
    """Outputs of ``model`` for images or a dataset, on the model's device and dtype, returned on the CPU.

    Parameters
    ----------
    model:
        Any classifier returning logits (left in the train/eval mode it had).
    data:
        An ``N×C×H×W`` image tensor (any device), an :class:`~halign_widgets.data.ImageDataset`, a
        ``Dataset`` of ``(x, y)`` or an ``(images, labels)`` tuple.
    batch_size:
        Images per forward pass.
    output:
        ``"probabilities"`` (softmax; sigmoid per label with ``multilabel``), ``"logits"`` or
        ``"labels"`` (the arg-max class, ``int64``).
    multilabel:
        Whether the outputs are independent labels (sigmoid) rather than classes (softmax).

    Returns
    -------
    Tensor
        ``N×K`` float32 (``N`` int64 for ``"labels"``), on the CPU.

    Examples
    --------
    >>> predict(model, world.test, output="labels")        # doctest: +SKIP
    """
    if output not in OUTPUTS:
        raise unknown_name("output", str(output), OUTPUTS)
    batch_size = check_int("batch_size", batch_size, 1)
    chunks, probe = _batches(model, data, batch_size)
    outs = []
    with size_errors(model, probe), eval_mode(model):
        for x in chunks:
            logits = model(model_input(model, x, images=False)).float()
            outs.append(probabilities(logits, multilabel) if output == "probabilities" else logits)
    result = torch.cat([o.cpu() for o in outs])
    return result.argmax(1) if output == "labels" else result


def evaluate(model: nn.Module, data: Any, *, batch_size: int = 256,
             criterion: Callable[[Tensor, Tensor], Tensor] | None = None,
             metric: str | Callable[[Tensor, Tensor], Tensor] = "auto") -> dict[str, float]:
    """Mean ``loss`` and ``accuracy`` of ``model`` on a labelled dataset, on the model's device and dtype.

    The data is checked first (channels, sizes, labels within the model's classes), then every
    batch is moved to the model; the model runs in eval mode and keeps its own mode afterwards.

    Parameters
    ----------
    model:
        Any classifier returning logits.
    data:
        An :class:`~halign_widgets.data.ImageDataset`, a ``Dataset`` of ``(x, y)`` or an
        ``(images, labels)`` tuple.
    batch_size:
        Images per forward pass.
    criterion, metric:
        As in :class:`~halign_widgets.training.Trainer` (default cross-entropy / accuracy, or
        BCE / mean per-label accuracy for multi-label data).

    Examples
    --------
    >>> evaluate(model, world.test)["accuracy"]             # doctest: +SKIP
    """
    batch_size = check_int("batch_size", batch_size, 1)
    dataset = _data.as_dataset(data)
    device = model_device(model)
    multilabel = _data.check_dataset(dataset, model, device, "evaluation data")
    loss_fn = criterion if criterion is not None else default_criterion(multilabel)
    score = resolve_metric(metric, multilabel)

    def step(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, dict[str, Any]]:
        logits = model(x)
        return loss_fn(logits, y), logits, {}

    return evaluate_model(model, step, score, dataset, batch_size, device)
