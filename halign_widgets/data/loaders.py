"""Real-data loaders: a folder of class sub-folders, a MedMNIST ``.npz`` file, scikit-learn's digits.

All of them return the same :class:`ImageDataset` as the worlds, with intensities in [0, 1] scaled
by the data's real bit depth (``intensity="dtype"``, ``"minmax"`` or a stated maximum; see
``halign_widgets.data._intensity``) and train / val / test splits — the file's own splits where it
has them, otherwise a deterministic 70 / 15 / 15 split. Ground-truth masks come with the data
where it has them: a parallel mask folder or ``*_mask`` files beside the images
(:func:`load_folder`), ``<split>_masks`` arrays (:func:`load_npz`); otherwise ``masks`` is
``None`` (the digits have none). Bad files, values that cannot be meant, masks that disagree with
their images and requests that cannot fit in memory raise typed errors from
:mod:`halign_widgets.errors` that name the file (or key) and the fix.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ._loading import check_size_channels, default_splits
from .dataset import ImageDataset
from .folder import IMAGE_EXTENSIONS, load_folder
from .npz import load_npz

__all__ = ["load_folder", "load_npz", "load_digits", "IMAGE_EXTENSIONS"]


def load_digits(size: int = 64, seed: int = 0) -> ImageDataset:
    """scikit-learn's bundled 8×8 handwritten digits (1,797 images, 10 classes), upsampled to ``size``.

    Nothing is downloaded: the data ships with scikit-learn. Splits are a deterministic
    70 / 15 / 15 split for ``seed``.
    """
    check_size_channels(size, None)
    from sklearn.datasets import load_digits as _sk_digits

    bunch = _sk_digits()
    x = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)[:, None]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    info = {"name": "digits", "source": "sklearn.datasets.load_digits", "kind": "digits"}
    return ImageDataset(x, y, [str(i) for i in range(10)], None, {}, info, default_splits(len(y), seed))
