"""Shared plumbing of the ground-truth worlds: the world record, splits and knob checks (private)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ... import validation
from ...errors import ConfigError
from ..dataset import ImageDataset

__all__ = ["World", "make_splits", "split_of", "check_fraction", "check_nonneg", "check_int", "check_choice",
           "SPLIT_FRACTIONS"]

#: Fractions of the train / val / test splits of every world.
SPLIT_FRACTIONS = (0.70, 0.15, 0.15)

Builder = Callable[[int, int, torch.Generator, dict[str, Any]], ImageDataset]


@dataclass(frozen=True)
class World:
    """A registered world: its builder, the default value of every knob, and a description.

    ``build(n, size, generator, knobs)`` returns the dataset; the registry adds the common
    ``info`` entries (name, seed, knobs, description) afterwards.
    """

    name: str
    build: Builder
    knobs: dict[str, Any] = field(default_factory=dict)
    description: str = ""


def make_splits(n: int, g: torch.Generator, fractions: tuple[float, float, float] = SPLIT_FRACTIONS,
                names: tuple[str, str, str] = ("train", "val", "test")) -> dict[str, Tensor]:
    """Deterministic random split of ``range(n)`` into train / val / test (sorted index tensors)."""
    perm = torch.randperm(n, generator=g)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    parts = (perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:])
    return {name: part.sort().values for name, part in zip(names, parts, strict=True)}


def split_of(n: int, splits: dict[str, Tensor]) -> list[str]:
    """Name of the split each of ``n`` images belongs to (``""`` if none)."""
    names = [""] * n
    for name, idx in splits.items():
        for i in idx.tolist():
            names[i] = name
    return names


def check_fraction(world: str, knob: str, value: Any) -> float:
    """Return ``value`` as a float in [0, 1] or raise :class:`ConfigError`."""
    return validation.check_fraction(f"world {world!r}: knob {knob}", value)


def check_nonneg(world: str, knob: str, value: Any, high: float = float("inf")) -> float:
    """Return ``value`` as a float in ``[0, high]`` or raise :class:`ConfigError`."""
    return validation.check_real(f"world {world!r}: knob {knob}", value, 0.0, None if high == float("inf") else high)


def check_int(world: str, knob: str, value: Any, low: int, high: int) -> int:
    """Return ``value`` as an int in ``[low, high]`` or raise :class:`ConfigError`."""
    return validation.check_int(f"world {world!r}: knob {knob}", value, low, high)


def check_choice(world: str, knob: str, value: Any, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices`` or raise :class:`ConfigError`."""
    if value not in choices:
        raise ConfigError(f"world {world!r}: knob {knob}={value!r} must be one of "
                          f"{', '.join(repr(c) for c in choices)}.")
    return str(value)
