"""No third-party error escapes unexplained: every broken file becomes a typed error naming it, with a fix."""

from __future__ import annotations

import builtins
import pickle
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from halign_widgets.data import load_folder, load_npz
from halign_widgets.errors import CorruptFileError, DataLoadError


def medmnist(tmp_path: Path, name: str = "m.npz", compressed: bool = False) -> Path:
    rng = np.random.default_rng(0)
    file = tmp_path / name
    (np.savez_compressed if compressed else np.savez)(
        file, train_images=rng.integers(0, 256, (40, 28, 28)).astype(np.uint8),
        train_labels=rng.integers(0, 2, (40, 1)).astype(np.uint8))
    return file


# -- npz ---------------------------------------------------------------------------------------------------------
def test_truncated_npz(tmp_path: Path) -> None:
    file = medmnist(tmp_path)
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    with pytest.raises(CorruptFileError, match=r"m.npz' is a truncated or damaged .npz archive \(BadZipFile") as info:
        load_npz(file)
    assert isinstance(info.value.__cause__, zipfile.BadZipFile) and "re-download" in str(info.value)


@pytest.mark.parametrize("compressed", [False, True])
def test_damaged_npz_member(tmp_path: Path, compressed: bool) -> None:
    file = medmnist(tmp_path, compressed=compressed)
    data = bytearray(file.read_bytes())
    for i in range(2000, 2400):                                       # inside train_images' pixel data
        data[i] ^= 0x5A
    file.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=r"array 'train_images' of '.*m.npz' is (truncated or )?damaged"):
        load_npz(file)


def test_npy_file_given_to_npz_loader(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(DataLoadError,
                       match=r"x.npy' is a .npy file \(a single array\), not a .npz archive.*numpy.savez"):
        load_npz(tmp_path / "x.npy")


def test_random_bytes_and_pickles_are_not_called_pickled_data(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    junk = b"\x07" + rng.bytes(4000)                                  # neither 'PK', '\x93NUMPY' nor a pickle
    (tmp_path / "junk.npz").write_bytes(junk)
    with pytest.raises(CorruptFileError, match=r"junk.npz' is not a .npz archive: a .npz file is a zip") as info:
        load_npz(tmp_path / "junk.npz")
    assert "pickle" not in str(info.value).replace(str(tmp_path), "")  # numpy would say "pickled data"
    (tmp_path / "p.npz").write_bytes(pickle.dumps({"train_images": [1, 2]}))
    with pytest.raises(CorruptFileError, match="not a .npz archive.*looks like a Python pickle"):
        load_npz(tmp_path / "p.npz")
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(CorruptFileError, match=r"empty.npz' is empty \(0 bytes\)"):
        load_npz(tmp_path / "empty.npz")


def test_object_array_in_npz(tmp_path: Path) -> None:
    images = np.empty(2, dtype=object)
    images[0], images[1] = np.zeros((4, 4)), np.zeros((5, 5))        # ragged: saved as pickled objects
    np.savez(tmp_path / "o.npz", train_images=images, train_labels=np.zeros((2, 1), np.uint8))
    with pytest.raises(DataLoadError, match=r"array 'train_images' of '.*o.npz' holds Python objects.*numpy.stack"):
        load_npz(tmp_path / "o.npz")
    np.savez(tmp_path / "extra.npz", images=np.zeros((3, 4, 4), np.uint8), labels=np.zeros(3, np.uint8),
             notes=np.array(["a", None], dtype=object))              # an unused object array is never read
    assert len(load_npz(tmp_path / "extra.npz")) == 3


def test_unreadable_npz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = medmnist(tmp_path)

    real_open = builtins.open

    def guarded(path: object, *args: object, **kwargs: object) -> object:
        if str(path) == str(file):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(builtins, "open", guarded)
    with pytest.raises(DataLoadError, match=r"permission denied reading '.*m.npz'.*chmod a\+r"):
        load_npz(file)


# -- folder --------------------------------------------------------------------------------------------------------
def folder(tmp_path: Path, shape: tuple[int, int] = (16, 16)) -> Path:
    rng = np.random.default_rng(1)
    for name in ("a", "b"):
        (tmp_path / "d" / name).mkdir(parents=True, exist_ok=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, shape).astype(np.uint8)).save(tmp_path / "d" / name / f"{i}.png")
    return tmp_path / "d"


@pytest.mark.parametrize("side, pixels", [(40, "1,600"), (50, "2,500")])   # PIL warns above 1×, raises above 2×
def test_decompression_bomb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, side: int, pixels: str) -> None:
    root = folder(tmp_path)
    Image.fromarray(np.zeros((side, side), np.uint8)).save(root / "b" / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                # no DecompressionBombWarning escapes either
        with pytest.raises(DataLoadError, match=rf"huge.png' has {pixels} pixels, above PIL's decompression-bomb "
                                                r"limit of 1,000.*downscale it"):
            load_folder(root)


def test_truncated_png(tmp_path: Path) -> None:
    root = folder(tmp_path, (64, 64))
    png = root / "a" / "1.png"
    png.write_bytes(png.read_bytes()[: png.stat().st_size // 2])
    with pytest.raises(CorruptFileError, match=r"a/1.png' is truncated or broken.*re-export"):
        load_folder(root)


def test_directory_named_like_an_image(tmp_path: Path) -> None:
    root = folder(tmp_path)
    (root / "b" / "scan.png").mkdir()
    with pytest.raises(DataLoadError, match=r"b/scan.png' is a folder named like an image file; rename it"):
        load_folder(root)


def test_unreadable_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = folder(tmp_path)
    real_open = Image.open

    def guarded(fp: object, *args: object, **kwargs: object) -> Image.Image:
        if str(fp).endswith("b/1.png"):
            raise PermissionError(13, "Permission denied", str(fp))
        return real_open(fp, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Image, "open", guarded)
    with pytest.raises(DataLoadError, match=r"permission denied reading '.*b/1.png'.*chmod a\+r"):
        load_folder(root)


def test_not_an_image(tmp_path: Path) -> None:
    root = folder(tmp_path)
    (root / "a" / "notes.jpg").write_text("just text with an image extension")
    with pytest.raises(CorruptFileError, match=r"cannot decode image file '.*a/notes.jpg'.*re-export"):
        load_folder(root)
