"""Load a folder of images with one sub-folder per class (e.g. a CBIS-DDSM crop export), masks optional."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from ..errors import ConfigError, DataLoadError, EmptyDatasetError, InputShapeError
from ._folder_files import IMAGE_EXTENSIONS, Entry, list_entries
from ._image_file import probe, read_mask, read_pixels
from ._intensity import Intensity, check_intensity, to_channels, to_unit
from ._loading import check_size_channels, default_splits, resize, resize_masks
from ._memory import check_memory
from .dataset import ImageDataset

__all__ = ["load_folder", "IMAGE_EXTENSIONS"]

_DECODE_BYTES = 40          # peak bytes per source pixel while one image is decoded and scaled (4 ch. float64 + raw)


def _mask_root(root: Path, masks: str | os.PathLike[str] | None, suffix: str | None) -> Path | None:
    if suffix is not None and (not isinstance(suffix, str) or not suffix or "/" in suffix or os.sep in suffix):
        raise ConfigError(f"mask_suffix={suffix!r} must be a non-empty file-name ending, e.g. mask_suffix='_mask' "
                          "for benign/a.png + benign/a_mask.png.")
    if masks is None:
        return None
    folder = Path(masks)
    if not folder.is_dir():
        raise DataLoadError(f"mask folder {str(folder)!r} does not exist or is not a folder; give the folder holding "
                            "the masks in the same class sub-folders as the images, or mask_suffix='_mask' for "
                            "masks beside their images.")
    if folder.resolve() == root.resolve():
        if suffix is None:
            raise ConfigError("masks= is the image folder itself; for masks beside their images give "
                              "mask_suffix='_mask' (benign/a.png + benign/a_mask.png) instead.")
        return None
    return folder


def _probe_all(entries: list[Entry], size: int | None) -> list[tuple[int, int]]:
    """Header sizes of every image (and mask), checked before anything is decoded."""
    sizes: list[tuple[int, int]] = []
    for e in entries:
        hw = probe(e.image)
        mh, mw = probe(e.mask) if e.mask is not None else hw
        if (mh, mw) != hw:
            raise InputShapeError(f"mask {str(e.mask)!r} is {mh}×{mw} pixels but its image {str(e.image)!r} is "
                                  f"{hw[0]}×{hw[1]}; save each mask at its image's size (they must match pixel "
                                  "for pixel).")
        if size is None and sizes and hw != sizes[0]:
            raise InputShapeError(f"image {str(e.image)!r} is {hw[0]}×{hw[1]} pixels but {str(entries[0].image)!r} "
                                  f"is {sizes[0][0]}×{sizes[0][1]}; with size=None all images must share one size — "
                                  "pass size=64 (or another size) to resize them.")
        sizes.append(hw)
    return sizes


def _check_memory(root: Path, n: int, hw: tuple[int, int], channels: int, masks: bool, largest: int,
                  size: int | None) -> None:
    per_image = hw[0] * hw[1] * (4 * channels + (1 if masks else 0))
    decode = largest * _DECODE_BYTES

    def advice(room: int) -> str:
        left = max(0, room - decode)
        smaller, subset = math.isqrt(left // (n * (4 * channels + (1 if masks else 0)))), left // per_image
        hints = ([f"pass size={smaller} or smaller"] if size is not None and smaller >= 4 else []) + \
            ([f"load a subset of at most {subset} images"] if subset >= 1 else [])
        return " or ".join(hints) or "free memory, or use a machine with more"

    check_memory(n * per_image + decode, f"load_folder({str(root)!r}) of {n} images at {hw[0]}×{hw[1]}", advice)


def load_folder(path: str | os.PathLike[str], size: int | None = 64, channels: int = 1, seed: int = 0, *,
                intensity: Intensity = "dtype", masks: str | os.PathLike[str] | None = None,
                mask_suffix: str | None = None) -> ImageDataset:
    """Load ``path/<class name>/<image files>`` (e.g. a CBIS-DDSM crop export) as a dataset.

    Pixel values keep their precision: each file is scaled by its own bit depth (8-bit by 255,
    16-bit PNG / TIFF / PGM by 65535 …; see ``intensity``), converted to ``channels`` in float
    (alpha dropped, palettes expanded, grayscale replicated, RGB → luminance), then resized with
    anti-aliasing. Every file's header is checked (sizes, decompression bombs, masks, memory)
    before the first image is decoded.

    Parameters
    ----------
    path:
        Folder with one sub-folder per class; class names are the sub-folder names, sorted.
    size:
        Every image is resized to ``size×size`` pixels; ``None`` keeps the native size (then all
        images must share it).
    channels:
        1 (grayscale) or 3 (RGB).
    seed:
        Seed of the deterministic 70 / 15 / 15 train / val / test split.
    intensity:
        ``"dtype"`` (default: by each file's bit depth; float TIFFs must lie in [0, 1]),
        ``"minmax"`` (per image) or the data's maximum as a number (e.g. ``4095`` for 12-bit
        data in 16-bit PNGs).
    masks:
        Optional folder of ground-truth masks with the same class sub-folders and file names
        (``masks/benign/a.png`` for ``benign/a.png``; another image extension is accepted).
    mask_suffix:
        Masks beside their images, named with this suffix (``benign/a_mask.png`` for
        ``benign/a.png``; those files are not loaded as images). With ``masks`` too, the files in
        the mask folder carry the suffix. Masks are non-zero inside the true cause; they are
        resized with the images (nearest neighbour) and become ``masks`` (``N×1×H×W`` bool).

    Raises
    ------
    DataLoadError
        The path is missing or not a folder; a file cannot be read (permission, broken link), is a
        folder named like an image, or is a decompression bomb; a mask file is missing (or a mask
        beside the images has no image) — each message names the file.
    EmptyDatasetError
        No class sub-folders, or a class sub-folder without images.
    CorruptFileError
        An image file cannot be decoded or is truncated (the message names it).
    InputShapeError
        A mask of another size than its image; images of different sizes with ``size=None``.
    InvalidPixelError
        Pixel values ``intensity`` cannot map to [0, 1] (the message says what was found).
    ConfigError
        Bad ``size``, ``channels``, ``intensity`` or ``mask_suffix``, or the images would not fit
        in the memory available (the message says what would fit).
    """
    check_size_channels(size, channels)
    intensity = check_intensity(intensity)
    root = Path(path)
    if not root.exists():
        raise DataLoadError(f"folder {str(root)!r} does not exist; give the path of a folder holding one "
                            "sub-folder of images per class.")
    if not root.is_dir():
        raise DataLoadError(f"{str(root)!r} is a file, not a folder; give the folder that holds one sub-folder "
                            "per class (for a .npz file use load_npz).")
    mask_root = _mask_root(root, masks, mask_suffix)
    skip = mask_root.resolve() if mask_root is not None else None
    classes = sorted(p.name for p in root.iterdir()
                     if p.is_dir() and not p.name.startswith(".") and p.resolve() != skip)
    if not classes:
        raise EmptyDatasetError(f"folder {str(root)!r} has no class sub-folders; put the images of each class in "
                                "their own sub-folder, e.g. benign/ and malignant/.")
    entries = list_entries(root, classes, mask_root, mask_suffix)
    sizes = _probe_all(entries, size)
    hw = (size, size) if size is not None else sizes[0]
    with_masks = mask_root is not None or mask_suffix is not None
    _check_memory(root, len(entries), hw, channels, with_masks, max(h * w for h, w in sizes), size)

    x = torch.empty(len(entries), channels, *hw)
    m = torch.empty(len(entries), 1, *hw, dtype=torch.bool) if with_masks else None
    for i, e in enumerate(entries):
        where = f"image file {str(e.image)!r}"
        raw, native = read_pixels(e.image)
        img = torch.from_numpy(to_channels(to_unit(raw, intensity, where, native_max=native), channels, where))
        x[i] = resize(img[None], size)[0]
        if m is not None and e.mask is not None:
            m[i] = resize_masks(torch.from_numpy(read_mask(e.mask))[None, None], size)[0]
    y = torch.tensor([e.label for e in entries], dtype=torch.long)
    info = {"name": root.name, "source": str(root), "kind": "folder", "intensity": intensity,
            "masks": None if not with_masks else str(mask_root or f"beside the images, suffix {mask_suffix!r}")}
    meta = {"file": [str(e.image.relative_to(root)) for e in entries]}
    return ImageDataset(x, y, classes, m, meta, info, default_splits(len(y), seed))
