"""Read one image or mask file with PIL, every failure turned into a typed error (private).

PIL reports problems in many shapes — ``UnidentifiedImageError``, ``OSError("image file is
truncated")``, ``SyntaxError`` from a broken header, ``DecompressionBombError`` /
``DecompressionBombWarning``, plain ``PermissionError`` — and none of them says which file of a
folder of thousands was at fault or what to do. :func:`opened` maps each to a
:class:`~halign_widgets.errors.DataLoadError` subclass that names the file and the fix.
"""

from __future__ import annotations

import re
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorruptFileError, DataLoadError, HalignError

__all__ = ["opened", "probe", "read_pixels", "read_mask"]

_DIRECT = {"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F", "RGB", "RGBA"}


def _bomb(path: Path, pixels: int | None, limit: int, detail: str = "") -> DataLoadError:
    count = f"{pixels:,} pixels" if pixels is not None else f"too many pixels ({detail})"
    return DataLoadError(f"image file {str(path)!r} has {count}, above PIL's decompression-bomb limit of "
                         f"{limit:,} (PIL.Image.MAX_IMAGE_PIXELS); it is either a decompression bomb or far larger "
                         "than a crop — downscale it before loading, or, if you trust the file, raise "
                         "PIL.Image.MAX_IMAGE_PIXELS.")


def _mapped(path: Path, exc: BaseException) -> DataLoadError:
    """The typed error for an exception PIL or the file system raised while reading ``path``."""
    from PIL import UnidentifiedImageError

    name = repr(str(path))
    if isinstance(exc, PermissionError):
        return DataLoadError(f"permission denied reading {name}; make it readable (e.g. chmod a+r on the file) "
                             "or run as a user who may read it.")
    if isinstance(exc, FileNotFoundError):
        return DataLoadError(f"cannot read file {name}: it does not exist (a broken link, or deleted while "
                             "loading); restore it or remove the entry.")
    if isinstance(exc, UnidentifiedImageError):
        return CorruptFileError(f"cannot decode image file {name}: it is corrupt or not an image in a format PIL "
                                "reads — delete or re-export it.")
    text = str(exc).lower()
    if isinstance(exc, OSError) and exc.errno is not None:                # a file-system error
        return DataLoadError(f"cannot read file {name} ({exc.strerror or exc}); check that it exists and that "
                             "you have permission to read it.")
    if "truncated" in text or "broken" in text or isinstance(exc, (EOFError, zlib.error, struct.error)):
        return CorruptFileError(f"image file {name} is truncated or broken ({exc}); re-export or re-download it.")
    return CorruptFileError(f"cannot decode image file {name} ({exc}); the file is corrupt or not an image — "
                            "delete or re-export it.")


@contextmanager
def opened(path: Path) -> Iterator[Any]:
    """Open ``path`` with PIL, refusing folders and decompression bombs; errors become typed errors."""
    from PIL import Image

    if path.is_dir():
        raise DataLoadError(f"{str(path)!r} is a folder named like an image file; rename it or move it out of "
                            "the class folder (every entry with an image extension is read as an image).")
    limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)   # checked below, with the name
            img = Image.open(path)
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _bomb(path, int(found.group(1)) if found else None, limit or 0, str(exc)) from exc
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error, struct.error) as exc:
        raise _mapped(path, exc) from exc
    with img:
        w, h = img.size
        if limit is not None and w * h > limit:
            raise _bomb(path, w * h, limit)
        try:
            yield img
        except HalignError:
            raise
        except Image.DecompressionBombError as exc:                       # a size known only when decoding
            raise _bomb(path, None, limit or 0, str(exc)) from exc
        except (OSError, SyntaxError, ValueError, EOFError, zlib.error, struct.error) as exc:
            raise _mapped(path, exc) from exc


def probe(path: Path) -> tuple[int, int]:
    """``(height, width)`` of an image from its header, without decoding the pixels."""
    with opened(path) as img:
        return int(img.size[1]), int(img.size[0])


def _array(img: Any) -> np.ndarray:
    arr = np.asarray(img)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def read_pixels(path: Path) -> tuple[np.ndarray, float | None]:
    """Decode an image as a ``C×H×W`` array of its raw values, and its maximum where the dtype does not tell.

    Palette images are expanded (to RGBA if they have transparency, else RGB); CMYK, YCbCr, HSV and
    LAB become RGB; every other mode keeps its values (``"I;16"`` as uint16, ``"F"`` as float32, …).
    A 16-bit PNG or PGM/PPM that PIL holds as 32-bit ``"I"`` reports 65535 as its maximum.
    """
    with opened(path) as img:
        mode, fmt = img.mode, img.format
        if mode in ("P", "PA"):
            img = img.convert("RGBA" if mode == "PA" or "transparency" in img.info else "RGB")
        elif mode not in _DIRECT:
            img = img.convert("RGBA" if "A" in mode or "a" in mode else "RGB")
        arr = _array(img)
    return arr, (65535.0 if mode == "I" and fmt in ("PNG", "PPM") else None)


def read_mask(path: Path) -> np.ndarray:
    """Decode a mask as an ``H×W`` bool array: a pixel is inside where any colour channel is non-zero.

    Alpha is ignored; a palette mask counts its palette index (index 0 is outside).
    """
    with opened(path) as img:
        arr = _array(img)
    keep = 1 if arr.shape[0] <= 2 else 3                                  # drop alpha (LA, PA, RGBA)
    return (arr[:keep] != 0).any(0)
