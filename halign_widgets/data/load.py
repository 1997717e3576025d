"""One entry point for a chapter's ``DATA`` parameter: a world's name, a folder, an ``.npz`` file.

Every chapter starts with ``DATA = "masses"`` (say); a researcher replaces it by the path of a
folder of images (one sub-folder per class, optional masks) or of a MedMNIST-format ``.npz`` file
and runs the same chapter on their own data. :func:`load_data` decides which loader applies, and
:func:`has_world_metadata` / :func:`requires` let a chapter say in one printed line what a section
skips without ground-truth masks or a world's metadata.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import DataLoadError
from .dataset import ImageDataset
from .folder import load_folder
from .loaders import load_digits
from .npz import load_npz
from .registry import list_worlds, make_world

__all__ = ["load_data", "describe_data", "requires"]


def load_data(data: str | os.PathLike[str] | ImageDataset, n: int = 1200, size: int = 64, seed: int = 0, *,
              channels: int = 1, **options: Any) -> ImageDataset:
    """The dataset a chapter's ``DATA`` names.

    Parameters
    ----------
    data:
        A world (``"masses"``, ``"domains"`` … — see :func:`list_worlds`), ``"digits"``
        (scikit-learn's), the path of a folder (:func:`load_folder`) or of an ``.npz`` file
        (:func:`load_npz`), or an :class:`ImageDataset` (returned as it is).
    n, size, seed:
        For a world: images, side and seed of :func:`make_world`. For files: ``size`` resizes
        (``None`` keeps the files' size), ``seed`` draws the folder's split; ``n`` is ignored.
    channels:
        Channels of a folder's images (1 or 3).
    **options:
        Passed on: a world's knobs, or the loaders' options (``intensity``, ``masks``,
        ``mask_suffix``).

    Raises
    ------
    DataLoadError
        ``data`` is neither a world nor an existing folder / ``.npz`` file (the message lists the
        worlds); the loaders' own typed errors for bad files.
    """
    if isinstance(data, ImageDataset):
        return data
    text = os.fspath(data)
    if text in list_worlds():
        return make_world(text, n, size=size, seed=seed, **options)
    if text == "digits":
        return load_digits(size=size or 64, seed=seed)
    path = Path(text).expanduser()
    if path.is_dir():
        return load_folder(path, size=size, channels=channels, seed=seed, **options)
    if path.is_file() and path.suffix.lower() == ".npz":
        return load_npz(path, size=size, **options)
    if path.is_file():
        raise DataLoadError(f"DATA = {text!r} is a file but not an .npz archive; give a folder of images (one "
                            "sub-folder per class) or a MedMNIST-format .npz file.")
    raise DataLoadError(f"DATA = {text!r} is neither a world nor an existing folder or .npz file; use one of the "
                        f"worlds {list_worlds() + ['digits']} or the path of your data.")


def describe_data(ds: ImageDataset) -> str:
    """One line: what the dataset is, its size, classes, splits, and whether masks exist."""
    kind = ds.info.get("kind") or ("world" if ds.info.get("name") in list_worlds() else "dataset")
    masks = "with ground-truth masks" if ds.masks is not None else "no masks"
    splits = ", ".join(f"{k} {len(v)}" for k, v in ds.splits.items())
    return (f"{ds.info.get('name', 'data')} ({kind}): {len(ds)} images of {ds.channels}×{ds.image_size[0]}×"
            f"{ds.image_size[1]}, classes {ds.classes}, {masks}; splits: {splits or 'none'}")


def requires(ds: ImageDataset, what: str = "masks", section: str = "this section") -> bool:
    """``True`` when ``ds`` has ``what`` (``"masks"``, or a world's metadata key / info key); else print why not.

    A chapter guards a section with ``if requires(data, "masks", "the localization scores"):`` and,
    on real data without masks, prints one line saying what it skips and why instead of failing.
    """
    if what == "masks":
        ok = ds.masks is not None
        reason = "the data has no ground-truth masks (give masks= to load_folder, or <split>_masks in the .npz)"
    else:
        ok = what in ds.meta or what in ds.info
        reason = f"the data has no {what!r} (it is metadata of the lab's generated worlds)"
    if not ok:
        print(f"skipped {section}: {reason}.")
    return ok
