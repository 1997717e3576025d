"""One-line training for notebooks: build a SmallCNN that fits a dataset and train it."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..data.dataset import ImageDataset, train_and_val
from ..errors import ConfigError
from ..models import SmallCNN
from .seeding import derive_seed, seeded
from .trainer import Trainer

__all__ = ["build_classifier", "fit_classifier"]


def build_classifier(dataset: ImageDataset, *, width: int = 16, depth: int = 4, dropout: float = 0.0,
                     seed: int = 0) -> SmallCNN:
    """A :class:`~halign_widgets.models.SmallCNN` with the dataset's channels and classes, initialised from ``seed``.

    ``depth`` is reduced when the images are too small for it (each block after the first halves
    the grid; the last grid keeps at least 2×2 pixels) [ours].
    """
    if not isinstance(dataset, ImageDataset):
        raise ConfigError(f"build_classifier needs an ImageDataset (to read channels and classes), got "
                          f"{type(dataset).__name__}; pass model=... instead.")
    side = min(dataset.image_size)
    while depth > 1 and side // 2 ** (depth - 1) < 2:
        depth -= 1
    with seeded(derive_seed(seed, "init")):
        return SmallCNN(in_channels=dataset.channels, num_classes=dataset.num_classes, width=width,
                        depth=depth, dropout=dropout)


def fit_classifier(dataset: ImageDataset, model: nn.Module | None = None, *, epochs: int = 5,
                   seed: int = 0, width: int = 16, **trainer_kwargs: Any) -> tuple[nn.Module, Trainer]:
    """Train a classifier on ``dataset.train`` (validating on ``dataset.val``) in one call.

    Parameters
    ----------
    dataset:
        An :class:`~halign_widgets.data.ImageDataset`; its ``"train"`` split is used for training
        and ``"val"`` for validation when present (otherwise the whole dataset, without validation).
    model:
        The model to train; default :func:`build_classifier` ``(dataset, width=width, seed=seed)``.
    epochs, seed:
        Passed to :class:`~halign_widgets.training.Trainer`.
    trainer_kwargs:
        Any other Trainer option (``lr``, ``batch_size``, ``callbacks``, ``progress`` …).

    Returns
    -------
    (model, trainer)
        The trained model (in eval mode) and its trainer (``trainer.history`` …).

    Examples
    --------
    >>> world = make_world("masses", 600, seed=0)          # doctest: +SKIP
    >>> model, trainer = fit_classifier(world, epochs=5)    # doctest: +SKIP
    """
    model = model if model is not None else build_classifier(dataset, width=width, seed=seed)
    train, val = train_and_val(dataset)
    trainer = Trainer(model, train, val, epochs=epochs, seed=seed, **trainer_kwargs)
    trainer.fit()
    model.eval()
    return model, trainer
