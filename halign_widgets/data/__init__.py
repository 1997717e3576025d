"""Ground-truth worlds and real-data loaders, all returning one :class:`ImageDataset` type.

- :func:`make_world` generates a procedural world with the true cause of every label as a mask
  (``list_worlds()``, ``world_knobs(name)``);
- :func:`load_folder`, :func:`load_npz`, :func:`load_digits` read real data at its true bit depth, with
  ground-truth masks where the data has them.
"""

from __future__ import annotations

from .dataset import ImageDataset, check_images, train_and_val
from .load import describe_data, load_data, requires
from .loaders import load_digits, load_folder, load_npz
from .registry import describe_world, list_worlds, make_world, world_knobs

__all__ = ["ImageDataset", "check_images", "train_and_val", "make_world", "list_worlds", "world_knobs",
           "describe_world",
           "load_folder", "load_npz", "load_digits", "load_data", "describe_data", "requires"]
