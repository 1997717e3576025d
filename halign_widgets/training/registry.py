"""The lab's model families by name, and :func:`load_trained`: a trained model back in one call.

A checkpoint stores its model's class name (``model_class``) and constructor arguments
(``model_config``: every lab model keeps them in ``model.config``). :func:`load_trained` looks the
class up here, rebuilds it with those arguments and loads the weights, so a run trained by the
command line (``python -m halign_widgets.train``) or by a notebook opens anywhere without
knowing how it was built.

:class:`~halign_widgets.models.SmallCNN` is registered here; a method package registers its own
families when it is imported (``halign_widgets.causality`` registers
:class:`~halign_widgets.causality.CausalCNN`, ``halign_widgets.biovision`` CoCoReco and ScratchCNN,
``halign_widgets.crocodile`` CrocodileNet and BaselineNet) — the registry never imports upward. Register your
own class with :func:`register_model`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from ..errors import CheckpointMismatchError, ConfigError, unknown_name
from ..models import SmallCNN
from .checkpoint import load_checkpoint, read_checkpoint
from .device import resolve_device
from .history import History

__all__ = ["register_model", "model_families", "build_model", "load_trained", "HOMES"]

M = TypeVar("M", bound=type)
_FAMILIES: dict[str, type[nn.Module]] = {}
#: Where the lab's families that are not registered by this package live (for error messages only).
HOMES = {"CausalCNN": "halign_widgets.causality", "CoCoReco": "halign_widgets.biovision",
         "ScratchCNN": "halign_widgets.biovision", "CrocodileNet": "halign_widgets.crocodile",
         "BaselineNet": "halign_widgets.crocodile"}


def register_model(cls: M) -> M:
    """Register a model class under its class name (usable as a decorator); returns the class.

    The class must accept its ``model.config`` dict as keyword arguments.

    Raises
    ------
    ConfigError
        ``cls`` is not an ``nn.Module`` subclass, or another class already has its name.
    """
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ConfigError(f"register_model takes an nn.Module subclass, got {cls!r}.")
    known = _FAMILIES.get(cls.__name__)
    if known is not None and known is not cls:
        raise ConfigError(f"another model class is already registered as {cls.__name__!r} "
                          f"({known.__module__}); rename one of them.")
    _FAMILIES[cls.__name__] = cls
    return cls


def model_families() -> dict[str, type[nn.Module]]:
    """The registered model classes by name (a copy)."""
    return dict(_FAMILIES)


def _missing(name: str, source: str) -> CheckpointMismatchError:
    home = HOMES.get(name)
    how = (f"`import {home}` registers it" if home else
           f"register its class first with halign_widgets.training.register_model({name}) (it must accept the "
           "checkpoint's model_config as keyword arguments), or build the model yourself and call "
           "load_checkpoint(path, model)")
    return CheckpointMismatchError(f"{source} holds a {name}, which is not a registered model family "
                                   f"({', '.join(sorted(_FAMILIES)) or 'none'}); {how}.")


def build_model(name: str, config: dict[str, Any] | None = None, *, source: str | None = None) -> nn.Module:
    """A fresh model of the registered family ``name`` built with ``config``.

    Raises
    ------
    UnknownNameError
        ``name`` is not registered (without ``source``).
    CheckpointMismatchError
        ``name`` is not registered, or ``config`` does not fit it (with ``source``, the checkpoint).
    """
    if name not in _FAMILIES:
        if source is not None:
            raise _missing(str(name), source)
        raise unknown_name("model family", str(name), _FAMILIES)
    try:
        return _FAMILIES[name](**(config or {}))
    except (TypeError, ValueError) as exc:
        what = source or "the configuration"
        raise CheckpointMismatchError(f"{what} cannot rebuild a {name} from {config!r} ({exc}); it was written by "
                                      "another version of the class — build the model yourself and call "
                                      "load_checkpoint(path, model).") from exc


def load_trained(path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> tuple[nn.Module, History]:
    """The trained model (in eval mode, on ``device``) and its history, from a checkpoint or a run folder.

    Parameters
    ----------
    path:
        A checkpoint file, or a run folder holding ``last.pt`` (what ``python -m
        halign_widgets.train --out DIR`` and ``Trainer(checkpoint_dir=DIR)`` write).
    device:
        Where to put the model (``"auto"`` picks CUDA, then MPS, then the CPU).

    Raises
    ------
    CheckpointError
        No checkpoint at ``path``, or a corrupt one.
    CheckpointMismatchError
        The checkpoint's class is not a registered family (the message says how to register it)
        or its configuration does not rebuild it.
    """
    source = Path(path)
    if source.is_dir():
        source = source / "last.pt"
    data = read_checkpoint(source)
    name = data.get("model_class")
    if not isinstance(name, str):
        raise CheckpointMismatchError(f"{source} does not name its model class; build the model yourself and call "
                                      "load_checkpoint(path, model).")
    model = build_model(name, data.get("model_config"), source=str(source))
    load_checkpoint(source, model)
    model.to(resolve_device(device)).eval()
    return model, History(data.get("history") or [])


register_model(SmallCNN)
