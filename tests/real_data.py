"""Real-looking data on disk for the tests: 16-bit PNG crops with masks, and an ``.npz`` with masks.

Written from the lab's own ``masses`` world (so the true cause is known), the way a CBIS-DDSM crop
export looks: one sub-folder per class, 16-bit grayscale PNGs using 12 of their bits, and a
parallel folder of mask PNGs with the same names. The ``.npz`` has MedMNIST's keys plus
``<split>_masks``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from halign_widgets.data import make_world


def write_crops(root: Path, n: int = 40, size: int = 48, seed: int = 0) -> tuple[Path, Path]:
    """``root/images/<class>/<name>.png`` (16-bit, 12 bits used) and ``root/masks/...``; returns both folders."""
    from PIL import Image

    world = make_world("masses", n, size=size, seed=seed)
    images, masks = root / "images", root / "masks"
    for i in range(n):
        cls = world.classes[int(world.labels[i])]
        for folder in (images / cls, masks / cls):
            folder.mkdir(parents=True, exist_ok=True)
        pixels = np.round(world.images[i, 0].numpy() * 4095).astype(np.uint16)
        Image.fromarray(pixels).save(images / cls / f"crop{i:03d}.png")
        Image.fromarray((world.masks[i, 0].numpy() * 255).astype(np.uint8)).save(masks / cls / f"crop{i:03d}.png")
    return images, masks


def write_npz(path: Path, n: int = 40, size: int = 28, seed: int = 0) -> Path:
    """A MedMNIST-format ``.npz`` (uint8 images, N×1 labels) with ``<split>_masks``; returns its path."""
    world = make_world("masses", n, size=size, seed=seed)
    arrays: dict[str, np.ndarray] = {}
    for split, idx in world.splits.items():
        arrays[f"{split}_images"] = np.round(world.images[idx, 0].numpy() * 255).astype(np.uint8)
        arrays[f"{split}_labels"] = world.labels[idx].numpy().reshape(-1, 1)
        arrays[f"{split}_masks"] = world.masks[idx, 0].numpy()
    np.savez(path, **arrays)
    return path
