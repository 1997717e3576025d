"""Open a ``.npz`` archive safely and read its arrays, every failure a typed error (private).

``numpy.load`` answers bad input in ways that mislead: a file of random bytes is reported as
"pickled data" (it is not: numpy says so for anything that is neither zip nor ``.npy`` when
``allow_pickle=False``), a ``.npy`` file silently returns one ndarray instead of an archive, a
truncated archive raises ``zipfile.BadZipFile`` (not an ``OSError``), a damaged member raises
``BadZipFile("Bad CRC-32")`` or ``zlib.error`` only when it is read, and an object array raises
a ``ValueError`` about pickles. Here the first bytes are checked before numpy sees the file, and
array headers are read without loading the data, so the loader can check dtypes and memory first.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import CorruptFileError, DataLoadError

__all__ = ["open_npz", "array_header", "read_array"]

_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_NPY = b"\x93NUMPY"
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError)


def _open(file: Path) -> BinaryIO:
    try:
        return open(file, "rb")
    except PermissionError as exc:
        raise DataLoadError(f"permission denied reading {str(file)!r}; make it readable (e.g. chmod a+r on the "
                            "file) or run as a user who may read it.") from exc
    except OSError as exc:
        raise DataLoadError(f"cannot read {str(file)!r} ({exc.strerror or exc}); check that it exists and that "
                            "you have permission to read it.") from exc


def _check_head(head: bytes, file: Path) -> None:
    name = repr(str(file))
    if head.startswith(_NPY):
        raise DataLoadError(f"{name} is a .npy file (a single array), not a .npz archive of named arrays; save "
                            "the images and labels together with numpy.savez(path, train_images=..., "
                            "train_labels=...) or numpy.savez(path, images=..., labels=...).")
    if not head:
        raise CorruptFileError(f"{name} is empty (0 bytes); re-download it or re-save it with numpy.savez.")
    if not head.startswith(_ZIP):
        hint = " (it looks like a Python pickle, which is never loaded for safety)" if head[:1] == b"\x80" else ""
        raise CorruptFileError(f"{name} is not a .npz archive{hint}: a .npz file is a zip archive starting with "
                               f"'PK', this one starts with {head[:4]!r}; give a file written by numpy.savez (or "
                               "re-download it if it should be one).")


@contextmanager
def open_npz(file: Path) -> Iterator[Any]:
    """``numpy.load(file)`` as an ``NpzFile`` for the ``with`` block, or a typed error.

    The file is opened here, not by numpy, so it is closed even when the archive is damaged
    (``numpy.load`` leaks its handle when ``zipfile`` fails).

    Raises
    ------
    DataLoadError
        Unreadable file, or a ``.npy`` file (one array, not an archive).
    CorruptFileError
        Empty, not a zip archive, or a truncated / damaged archive.
    """
    with _open(file) as fh:
        _check_head(fh.read(8), file)
        fh.seek(0)
        try:
            data = np.load(fh, allow_pickle=False)
        except _READ_ERRORS as exc:
            raise CorruptFileError(f"{str(file)!r} is a truncated or damaged .npz archive ({type(exc).__name__}: "
                                   f"{exc}); re-download it or re-save it with numpy.savez.") from exc
        if not isinstance(data, np.lib.npyio.NpzFile):                   # defensive: numpy changed its mind
            raise DataLoadError(f"{str(file)!r} did not open as a .npz archive of named arrays; re-save it with "
                                "numpy.savez.")
        with data:
            yield data


def _member(data: Any, key: str) -> str:
    names = data.zip.namelist()
    return f"{key}.npy" if f"{key}.npy" in names else key


def array_header(data: Any, key: str, file: Path) -> tuple[tuple[int, ...], np.dtype] | None:
    """``(shape, dtype)`` of array ``key`` read from its header only, or None for an unknown header version.

    Raises DataLoadError for an object array (never unpickled) and CorruptFileError for a damaged header.
    """
    fmt = np.lib.format
    try:
        with data.zip.open(_member(data, key)) as fp:
            version = fmt.read_magic(fp)
            if version == (1, 0):
                shape, _, dtype = fmt.read_array_header_1_0(fp)
            elif version == (2, 0):
                shape, _, dtype = fmt.read_array_header_2_0(fp)
            else:
                return None
    except _READ_ERRORS as exc:
        raise CorruptFileError(f"array {key!r} of {str(file)!r} is damaged ({type(exc).__name__}: {exc}); "
                               "re-download the file or re-save it with numpy.savez.") from exc
    if dtype.hasobject:
        raise DataLoadError(f"array {key!r} of {str(file)!r} holds Python objects (dtype {dtype}), which are never "
                            "unpickled for safety; save numeric arrays instead, e.g. "
                            "numpy.stack(images).astype(numpy.uint8).")
    return tuple(int(s) for s in shape), dtype


def read_array(data: Any, key: str, file: Path) -> np.ndarray:
    """Load array ``key``; a damaged member or an object array becomes a typed error naming the key."""
    array_header(data, key, file)                                        # object dtype: refuse before loading
    try:
        return np.asarray(data[key])
    except _READ_ERRORS as exc:
        raise CorruptFileError(f"array {key!r} of {str(file)!r} is truncated or damaged ({type(exc).__name__}: "
                               f"{exc}); re-download the file or re-save it with numpy.savez.") from exc
