"""Load a folder of images with one sub-folder per class (e.g. a CBIS-DDSM crop export)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..errors import CorruptFileError, DataLoadError, EmptyDatasetError
from ._loading import check_size_channels, default_splits
from .dataset import ImageDataset

__all__ = ["load_folder", "IMAGE_EXTENSIONS"]

#: File extensions :func:`load_folder` reads as images (other files are ignored).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


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
    check_size_channels(size, channels)
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
                        default_splits(len(y), seed))
