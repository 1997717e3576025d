"""Real-data loaders: a folder of class sub-folders, a MedMNIST ``.npz`` file, scikit-learn's digits.

All of them return the same :class:`ImageDataset` as the worlds (``masks=None``: real data has no
ground-truth cause), with intensities in [0, 1] and train / val / test splits — the file's own
splits where it has them, otherwise a deterministic 70 / 15 / 15 split.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import (ConfigError, CorruptFileError, DataLoadError, EmptyDatasetError, InputShapeError,
                      InvalidPixelError, LabelMismatchError, unknown_name)
from .dataset import ImageDataset
from .worlds._base import make_splits

__all__ = ["load_folder", "load_npz", "load_digits", "IMAGE_EXTENSIONS"]

#: File extensions :func:`load_folder` reads as images (other files are ignored).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
_SPLITS = ("train", "val", "test")


def _check_size_channels(size: int | None, channels: int | None) -> None:
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or not 4 <= size <= 1024):
        raise ConfigError(f"size={size!r} must be an integer between 4 and 1024 (pixels), e.g. size=64.")
    if channels is not None and channels not in (1, 3):
        raise ConfigError(f"channels={channels!r} must be 1 (grayscale) or 3 (RGB).")


def _resize(x: Tensor, size: int | None) -> Tensor:
    if size is None or tuple(x.shape[-2:]) == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)


def _default_splits(n: int, seed: int) -> dict[str, Tensor]:
    return make_splits(n, torch.Generator().manual_seed(seed))


def _read_image(path: Path, size: int, channels: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB")
            img = img.resize((size, size), Image.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise CorruptFileError(f"cannot decode image file {str(path)!r} ({exc}); the file is corrupt or not an "
                               "image — delete or re-export it.") from exc
    except OSError as exc:
        if "truncated" in str(exc).lower() or "broken" in str(exc).lower():
            raise CorruptFileError(f"image file {str(path)!r} is truncated or broken ({exc}); re-export it.") from exc
        raise DataLoadError(f"cannot read file {str(path)!r} ({exc.strerror or exc}); check that it exists and "
                            "that you have permission to read it.") from exc
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def load_folder(path: str | os.PathLike[str], size: int = 64, channels: int = 1, seed: int = 0) -> ImageDataset:
    """Load ``path/<class name>/<image files>`` (e.g. a CBIS-DDSM crop export) as a dataset.

    Parameters
    ----------
    path:
        Folder with one sub-folder per class; class names are the sub-folder names, sorted.
    size:
        Every image is resized to ``size×size`` pixels.
    channels:
        1 (grayscale) or 3 (RGB).
    seed:
        Seed of the deterministic 70 / 15 / 15 train / val / test split.

    Raises
    ------
    DataLoadError
        The path is missing, not a folder, or a file cannot be read.
    EmptyDatasetError
        No class sub-folders, or a class sub-folder without images.
    CorruptFileError
        An image file cannot be decoded (the message names it).
    """
    _check_size_channels(size, channels)
    root = Path(path)
    if not root.exists():
        raise DataLoadError(f"folder {str(root)!r} does not exist; give the path of a folder holding one "
                            "sub-folder of images per class.")
    if not root.is_dir():
        raise DataLoadError(f"{str(root)!r} is a file, not a folder; give the folder that holds one sub-folder "
                            "per class (for a .npz file use load_npz).")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise EmptyDatasetError(f"folder {str(root)!r} has no class sub-folders; put the images of each class in "
                                "their own sub-folder, e.g. benign/ and malignant/.")
    images, labels = [], []
    for k, name in enumerate(classes):
        files = sorted(f for f in (root / name).iterdir()
                       if f.suffix.lower() in IMAGE_EXTENSIONS and not f.name.startswith("."))
        if not files:
            raise EmptyDatasetError(f"class sub-folder {str(root / name)!r} holds no image files "
                                    f"({', '.join(IMAGE_EXTENSIONS[:4])} …); add images or remove the folder.")
        for f in files:
            images.append(_read_image(f, size, channels))
            labels.append(k)
    x = torch.from_numpy(np.stack(images)).float() / 255.0
    y = torch.tensor(labels, dtype=torch.long)
    return ImageDataset(x, y, classes, None, {}, {"name": root.name, "source": str(root), "kind": "folder"},
                        _default_splits(len(y), seed))


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
    _check_size_channels(size, None)
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
    x = _resize(torch.cat([p[1] for p in parts]), size)
    y = torch.cat([p[2] for p in parts])
    if len(y) == 0:
        raise EmptyDatasetError(f"{str(file)!r} holds no images.")
    splits, start = {}, 0
    for s, xi, _ in parts:
        if s:
            splits[s] = torch.arange(start, start + len(xi))
        start += len(xi)
    if not splits:
        splits = _default_splits(len(y), 0)
    k = y.shape[1] if y.dim() == 2 else int(y.max()) + 1
    info = {"name": file.stem, "source": str(file), "kind": "npz", "split": split}
    return ImageDataset(x, y, [str(i) for i in range(k)], None, {}, info, splits)


def load_digits(size: int = 64, seed: int = 0) -> ImageDataset:
    """scikit-learn's bundled 8×8 handwritten digits (1,797 images, 10 classes), upsampled to ``size``.

    Nothing is downloaded: the data ships with scikit-learn. Splits are a deterministic
    70 / 15 / 15 split for ``seed``.
    """
    _check_size_channels(size, None)
    from sklearn.datasets import load_digits as _sk_digits

    bunch = _sk_digits()
    x = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)[:, None]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    info = {"name": "digits", "source": "sklearn.datasets.load_digits", "kind": "digits"}
    return ImageDataset(x, y, [str(i) for i in range(10)], None, {}, info, _default_splits(len(y), seed))
