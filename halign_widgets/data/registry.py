"""Build a ground-truth world by name: :func:`make_world`, :func:`list_worlds`, :func:`world_knobs`."""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from ..errors import unknown_name
from ..validation import check_int
from ._memory import check_memory
from .dataset import ImageDataset
from .worlds import WORLDS, World

__all__ = ["make_world", "list_worlds", "world_knobs", "describe_world", "world_memory", "BYTES_PER_WORLD_PIXEL",
           "WORLD_FIXED_BYTES"]

#: Peak bytes per generated pixel, a rough upper bound for every world: the float32 images and bool
#: masks (5 bytes) plus the generators' float32 temporaries (texture octaves, distance maps, blur
#: buffers) [ours]. Peaks measured (VmHWM) over the five worlds at sizes 64–512 were 40–94 bytes per
#: pixel, the highest for a handful of 512-pixel images, where the fixed part below dominates.
BYTES_PER_WORLD_PIXEL = 96
#: Bytes every request may use whatever its n (temporaries sized by ``size`` alone, allocator slack).
WORLD_FIXED_BYTES = 128 * 2**20


def list_worlds() -> list[str]:
    """Names of the available worlds."""
    return list(WORLDS)


def _world(name: str) -> World:
    if not isinstance(name, str) or name not in WORLDS:
        raise unknown_name("world", str(name), WORLDS)
    return WORLDS[name]


def world_knobs(name: str) -> dict[str, Any]:
    """Default value of every knob of world ``name`` (a fresh dict you may modify)."""
    return dict(_world(name).knobs)


def describe_world(name: str) -> str:
    """One-paragraph description of world ``name``."""
    return _world(name).description


def world_memory(n: int, size: int) -> int:
    """Estimated peak bytes of ``make_world(name, n, size)``, any world: ``n·size²·96 + 128 MiB`` (see above)."""
    return int(n) * int(size) ** 2 * BYTES_PER_WORLD_PIXEL + WORLD_FIXED_BYTES


def _fits(n: int, size: int, room: int) -> str:
    """What would fit in ``room`` bytes: a smaller n at this size, and a smaller size for this n."""
    left = max(0, room - WORLD_FIXED_BYTES)
    fit_n = left // (size * size * BYTES_PER_WORLD_PIXEL)
    fit_size = math.isqrt(left // (n * BYTES_PER_WORLD_PIXEL))
    parts = [f"n={fit_n:,} at size={size}" if fit_n >= 1 else f"no image fits at size={size}"]
    if fit_size >= 16:
        parts.append(f"size={fit_size} for n={n:,}")
    return "at most " + " or ".join(parts) + " would fit (or generate the world in several smaller parts)"


def make_world(name: str, n: int, size: int = 64, seed: int = 0, **knobs: Any) -> ImageDataset:
    """Generate a ground-truth world.

    Parameters
    ----------
    name:
        One of :func:`list_worlds` — ``"masses"``, ``"domains"``, ``"cooccurrence"``, ``"logic"``,
        ``"context"``.
    n:
        Number of images (≥ 1).
    size:
        Image height and width in pixels (16–512); every world scales its geometry with it.
    seed:
        Seed of the :class:`torch.Generator` that draws everything: the same seed gives identical
        tensors.
    **knobs:
        World-specific settings; see :func:`world_knobs` for the names and defaults.

    Returns
    -------
    ImageDataset
        1-channel ``n×1×size×size`` images in [0, 1], labels, ground-truth masks of the true cause,
        per-image ``meta``, ``info`` (name, seed, knobs, description and world facts) and
        train / val / test splits (70 / 15 / 15; ``"ood"`` as well for ``"domains"``).

    Raises
    ------
    UnknownNameError
        ``name`` is not a world (the message lists them).
    UnknownKnobError
        A knob is not accepted by the world (the message lists the valid ones).
    ConfigError
        ``n``, ``size``, ``seed`` or a knob value is invalid, or the world would not fit in the
        memory available (checked before anything is generated: the message says how much would be
        needed, how much is available, and which ``n`` or ``size`` would fit).

    Examples
    --------
    >>> ds = make_world("masses", 200, seed=1, shortcut=0.8)
    >>> ds.images.shape, ds.classes
    (torch.Size([200, 1, 64, 64]), ['benign', 'malignant'])
    """
    world = _world(name)
    for key in knobs:
        if key not in world.knobs:
            raise unknown_name(f"knob of world {name!r}", key, world.knobs, knob=True)
    n = check_int("n", n, 1, None, "number of images, e.g. n=2000")
    size = check_int("size", size, 16, 512, "pixels, e.g. size=64")
    seed = check_int("seed", seed, None, None, "e.g. seed=0")
    check_memory(world_memory(n, size), f"make_world({name!r}, n={n:,}, size={size})",
                 lambda room: _fits(n, size, room))
    settings = {**world.knobs, **knobs}
    g = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    ds = world.build(n, size, g, settings)
    ds.info.update(name=name, seed=seed, n=n, size=size, knobs=settings, description=world.description,
                   seconds=time.perf_counter() - start)
    return ds
