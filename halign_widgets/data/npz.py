"""Load a MedMNIST-format ``.npz`` file (``train_images``, ``train_labels``, ``val_images`` …)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import (DataLoadError, CorruptFileError, EmptyDatasetError, InputShapeError, InvalidPixelError,
                      LabelMismatchError, unknown_name)
from ._loading import check_size_channels, default_splits, resize
from .dataset import ImageDataset

__all__ = ["load_npz"]

_SPLITS = ("train", "val", "test")


def _npz_images(arr: np.ndarray, key: str) -> Tensor:
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim == 4 and arr.shape[-1] in (1, 3, 4):
        arr = arr.transpose(0, 3, 1, 2)
    else:
        raise InputShapeError(f"{key!r} has shape {arr.shape}; expected N×H×W or N×H×W×C (C = 1 or 3) images.")
    if arr.dtype.kind not in "uif":
        raise InputShapeError(f"{key!r} has dtype {arr.dtype}; expected uint8 (0–255) or float (0–1) pixels.")
    x = torch.from_numpy(np.ascontiguousarray(arr)).float()
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).flatten(1).any(1).sum())
        raise InvalidPixelError(f"{key!r} holds NaN or infinite pixels in {bad} image(s); fix or drop them "
                                "(e.g. numpy.nan_to_num) before loading.")
    if arr.dtype.kind in "ui" or float(x.max()) > 1.0:
        x = x / 255.0
    return x[:, :3] if x.shape[1] == 4 else x


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


def load_npz(path: str | os.PathLike[str], split: str | None = None, size: int | None = None) -> ImageDataset:
    """Load a MedMNIST-format ``.npz`` file (``train_images``, ``train_labels``, ``val_images`` …).

    Parameters
    ----------
    path:
        The ``.npz`` file. Images are ``N×H×W`` or ``N×H×W×C`` (uint8 0–255 or float 0–1); labels
        ``N×1`` class indices (or ``N×K`` 0/1 for multi-label files). A file with plain ``images`` /
        ``labels`` keys is accepted too and split 70 / 15 / 15.
    split:
        ``"train"``, ``"val"``, ``"test"`` to load one split, or ``None`` for all of them (the file's
        splits become the dataset's ``splits``).
    size:
        If given, resize the images to ``size×size``.

    Raises
    ------
    DataLoadError, CorruptFileError
        Missing or undecodable file.
    LabelMismatchError
        Missing label key or a label count that differs from the image count.
    InputShapeError, InvalidPixelError
        Wrong array shapes; NaN or infinite pixels.
    """
    check_size_channels(size, None)
    if split is not None and split not in _SPLITS:
        raise unknown_name("split", str(split), _SPLITS)
    file = Path(path)
    if not file.is_file():
        raise DataLoadError(f"file {str(file)!r} does not exist (or is a folder); give the path of a .npz file.")
    try:
        with np.load(file, allow_pickle=False) as data:
            arrays: dict[str, Any] = {k: data[k] for k in data.files}
    except (ValueError, OSError, EOFError) as exc:
        raise CorruptFileError(f"cannot read {str(file)!r} as a .npz archive ({exc}); re-download or re-save it "
                               "with numpy.savez.") from exc
    present = [s for s in _SPLITS if f"{s}_images" in arrays]
    if not present and "images" not in arrays:
        raise DataLoadError(f"{str(file)!r} has keys {sorted(arrays)}; a MedMNIST file needs 'train_images', "
                            "'train_labels', 'val_images', … (or plain 'images' and 'labels').")
    wanted = [split] if split is not None else present
    if split is not None and split not in present:
        raise DataLoadError(f"{str(file)!r} has no {split!r} split (keys: {sorted(arrays)}); use one of {present}.")
    parts: list[tuple[str, Tensor, Tensor]] = []
    for s in (wanted or [""]):
        ik, lk = (f"{s}_images", f"{s}_labels") if s else ("images", "labels")
        if lk not in arrays:
            raise LabelMismatchError(f"{str(file)!r} has {ik!r} but no {lk!r}; add the labels for those images.")
        x = _npz_images(arrays[ik], ik)
        parts.append((s, x, _npz_labels(arrays[lk], lk, x.shape[0])))
    shapes = {tuple(p[1].shape[1:]) for p in parts}
    if len(shapes) > 1:
        raise InputShapeError(f"the splits of {str(file)!r} have different image shapes {sorted(shapes)}.")
    x = resize(torch.cat([p[1] for p in parts]), size)
    y = torch.cat([p[2] for p in parts])
    if len(y) == 0:
        raise EmptyDatasetError(f"{str(file)!r} holds no images.")
    splits, start = {}, 0
    for s, xi, _ in parts:
        if s:
            splits[s] = torch.arange(start, start + len(xi))
        start += len(xi)
    if not splits:
        splits = default_splits(len(y), 0)
    k = y.shape[1] if y.dim() == 2 else int(y.max()) + 1
    info = {"name": file.stem, "source": str(file), "kind": "npz", "split": split}
    return ImageDataset(x, y, [str(i) for i in range(k)], None, {}, info, splits)
