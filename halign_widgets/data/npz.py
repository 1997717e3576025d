"""Load a MedMNIST-format ``.npz`` file (``train_images``, ``train_labels``, ``val_images`` …), masks optional."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor

from ..errors import (
    DataLoadError,
    EmptyDatasetError,
    InputShapeError,
    InvalidPixelError,
    LabelMismatchError,
    unknown_name,
)
from ._intensity import Intensity, check_intensity, to_unit
from ._loading import check_size_channels, default_splits, resize, resize_masks
from ._memory import check_memory
from ._npz_file import array_header, open_npz, read_array
from .dataset import ImageDataset

__all__ = ["load_npz"]

_SPLITS = ("train", "val", "test")


def _npz_images(arr: np.ndarray, key: str, intensity: Intensity) -> Tensor:
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim == 4 and arr.shape[-1] in (1, 3, 4):
        arr = arr.transpose(0, 3, 1, 2)[:, :3]                        # channels first, alpha dropped
    else:
        raise InputShapeError(f"{key!r} has shape {arr.shape}; expected N×H×W or N×H×W×C (C = 1 or 3) images.")
    return torch.from_numpy(np.ascontiguousarray(to_unit(arr, intensity, f"array {key!r}", batch=True)))


def _npz_labels(arr: np.ndarray, key: str, n: int) -> Tensor:
    if arr.shape[0] != n:
        raise LabelMismatchError(f"{key!r} holds {arr.shape[0]} labels but there are {n} images; the file must "
                                 "have exactly one label per image.")
    if arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1):
        y = torch.from_numpy(np.asarray(arr).reshape(-1).astype(np.int64))
        if n and int(y.min()) < 0:
            raise LabelMismatchError(f"{key!r} holds negative class indices; labels must be 0, 1, 2, …")
        return y
    if arr.ndim == 2:                                                 # multi-label 0/1 matrix
        return torch.from_numpy(arr.astype(np.float32))
    raise InputShapeError(f"{key!r} has shape {arr.shape}; expected N or N×1 class indices (or N×K 0/1).")


def _npz_masks(arr: np.ndarray, key: str, image_key: str, images: Tensor) -> Tensor:
    """``N×1×H×W`` bool masks (non-zero = inside) checked against their images."""
    if arr.dtype.kind not in "buif":
        raise InputShapeError(f"{key!r} has dtype {arr.dtype}; masks must be bool or numbers (non-zero = inside).")
    if arr.ndim == 4 and arr.shape[-1] == 1 and arr.shape[1] != 1:
        arr = arr.transpose(0, 3, 1, 2)
    elif arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4 or arr.shape[1] != 1:
        raise InputShapeError(f"{key!r} has shape {arr.shape}; expected N×H×W (or N×1×H×W) masks.")
    n, m = images.shape[0], arr.shape[0]
    if m != n:
        first = f"image {m} is the first without a mask" if m < n else f"mask {n} is the first without an image"
        raise LabelMismatchError(f"{key!r} holds {m} masks but {image_key!r} holds {n} images ({first}); save "
                                 "exactly one mask per image, in the same order.")
    if tuple(arr.shape[-2:]) != tuple(images.shape[-2:]):
        raise InputShapeError(f"{key!r} masks are {arr.shape[-2]}×{arr.shape[-1]} pixels but {image_key!r} images "
                              f"are {images.shape[-2]}×{images.shape[-1]}; save each mask at its image's size "
                              "(they must match pixel for pixel).")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr).reshape(m, -1).all(1))[0])
        raise InvalidPixelError(f"{key!r} holds NaN or infinite values (first in mask {bad}); masks must be "
                                "0 (outside) or non-zero (inside).")
    return torch.from_numpy(np.ascontiguousarray(arr != 0))


def _plan(arrays: set[str], split: str | None, file: Path) -> list[tuple[str, str, str, str | None]]:
    """``(split, images key, labels key, masks key or None)`` of every part to load."""
    present = [s for s in _SPLITS if f"{s}_images" in arrays]
    if not present and "images" not in arrays:
        raise DataLoadError(f"{str(file)!r} has keys {sorted(arrays)}; a MedMNIST file needs 'train_images', "
                            "'train_labels', 'val_images', … (or plain 'images' and 'labels').")
    if split is not None and split not in present:
        raise DataLoadError(f"{str(file)!r} has no {split!r} split (keys: {sorted(arrays)}); use one of {present}.")
    parts = [(s, f"{s}_images", f"{s}_labels", f"{s}_masks") for s in ([split] if split else present)] \
        or [("", "images", "labels", "masks")]
    for _, ik, lk, _ in parts:
        if lk not in arrays:
            raise LabelMismatchError(f"{str(file)!r} has {ik!r} but no {lk!r}; add the labels for those images.")
    with_masks = [mk for *_, mk in parts if mk in arrays]
    if with_masks and len(with_masks) < len(parts):
        missing = next(mk for *_, mk in parts if mk not in arrays)
        raise LabelMismatchError(f"{str(file)!r} has {with_masks[0]!r} but no {missing!r}; save masks for every "
                                 "split, or load only the splits that have them (split=...).")
    return [(s, ik, lk, mk if with_masks else None) for s, ik, lk, mk in parts]


def _check_memory(data: Any, parts: list[tuple[str, str, str, str | None]], file: Path, size: int | None,
                  split: str | None) -> None:
    """Refuse before loading when the arrays, their float copies and the resized result cannot fit."""
    needed = 0
    for _, ik, _, mk in parts:
        for key, mask in ((ik, False), (mk, True)):
            head = array_header(data, key, file) if key else None
            if head is None:
                continue
            shape, dtype = head
            count = int(np.prod(shape, dtype=np.int64))
            needed += count * (dtype.itemsize + (2 if mask else 16))        # raw + float64/32 temporaries
            if size is not None and shape:
                c = shape[-1] if len(shape) == 4 and not mask else 1
                needed += shape[0] * c * size * size * (1 if mask else 8)   # resized result (+ cat)
    advice = "load one split at a time (split='train')" if split is None else "pass a smaller size="
    check_memory(needed, f"load_npz({str(file)!r}, split={split!r}, size={size!r})",
                 lambda room: f"{advice}, or save a smaller file")


def load_npz(path: str | os.PathLike[str], split: str | None = None, size: int | None = None, *,
             intensity: Intensity = "dtype") -> ImageDataset:
    """Load a MedMNIST-format ``.npz`` file (``train_images``, ``train_labels``, ``val_images`` …).

    Parameters
    ----------
    path:
        The ``.npz`` file. Images are ``N×H×W`` or ``N×H×W×C`` (C = 1, 3, or 4 with alpha dropped),
        of any real numeric dtype (bool, int8 … uint64, float16 … float64; complex is refused);
        labels ``N×1`` class indices (or ``N×K`` 0/1 for multi-label files).
        Optional ``<split>_masks`` (``N×H×W`` or ``N×1×H×W``, non-zero = inside the true cause)
        become ``masks``. A file with plain ``images`` / ``labels`` (/ ``masks``) keys is accepted
        too and split 70 / 15 / 15.
    split:
        ``"train"``, ``"val"``, ``"test"`` to load one split, or ``None`` for all of them (the file's
        splits become the dataset's ``splits``).
    size:
        If given, resize the images to ``size×size`` (anti-aliased bilinear, in float, after
        scaling) and the masks with them (nearest neighbour, kept boolean).
    intensity:
        How pixel values map to [0, 1]: ``"dtype"`` (default; uint8 / 255, uint16 / 65535, …;
        float images must already lie in [0, 1]), ``"minmax"`` (per image) or the data's maximum
        as a number (e.g. ``4095`` for 12-bit data in uint16). See ``halign_widgets.data._intensity``.

    Raises
    ------
    DataLoadError, CorruptFileError
        Missing, unreadable, non-``.npz`` (a ``.npy`` file, random bytes), truncated or damaged
        file; an object array.
    LabelMismatchError
        Missing label key, a label or mask count that differs from the image count (the message
        names the key and the first index without a partner), masks for only some splits.
    InputShapeError, InvalidPixelError
        Wrong array shapes (masks of another spatial size than their images); complex or other
        non-numeric pixels (the message says how to convert them); NaN or infinite pixels; values
        that ``intensity`` cannot map to [0, 1] (the message says which range was found and what to
        pass instead).
    ConfigError
        Bad ``size`` or ``intensity``, or the arrays would not fit in the memory available.
    """
    check_size_channels(size, None)
    intensity = check_intensity(intensity)
    if split is not None and split not in _SPLITS:
        raise unknown_name("split", str(split), _SPLITS)
    file = Path(path)
    if not file.is_file():
        raise DataLoadError(f"file {str(file)!r} does not exist (or is a folder); give the path of a .npz file.")
    parts: list[tuple[str, Tensor, Tensor, Tensor | None]] = []
    with open_npz(file) as data:
        plan = _plan(set(data.files), split, file)
        _check_memory(data, plan, file, size, split)
        for s, ik, lk, mk in plan:
            x = _npz_images(read_array(data, ik, file), ik, intensity)
            y = _npz_labels(read_array(data, lk, file), lk, x.shape[0])
            m = _npz_masks(read_array(data, mk, file), mk, ik, x) if mk else None
            parts.append((s, x, y, m))
    shapes = {tuple(p[1].shape[1:]) for p in parts}
    if len(shapes) > 1:
        raise InputShapeError(f"the splits of {str(file)!r} have different image shapes {sorted(shapes)}.")
    y = torch.cat([p[2] for p in parts])
    if len(y) == 0:
        raise EmptyDatasetError(f"{str(file)!r} holds no images; save at least one image per split.")
    x = resize(torch.cat([p[1] for p in parts]), size)
    # every split has masks when the first has (checked when they were read)
    masks = resize_masks(torch.cat([cast(Tensor, p[3]) for p in parts]), size) if parts[0][3] is not None else None
    splits, start = {}, 0
    for s, xi, _, _ in parts:
        if s:
            splits[s] = torch.arange(start, start + len(xi))
        start += len(xi)
    if not splits:
        splits = default_splits(len(y), 0)
    k = y.shape[1] if y.dim() == 2 else int(y.max()) + 1
    info = {"name": file.stem, "source": str(file), "kind": "npz", "split": split, "intensity": intensity}
    return ImageDataset(x, y, [str(i) for i in range(k)], masks, {}, info, splits)
