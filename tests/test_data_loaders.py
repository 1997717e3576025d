"""Real-data loaders: folder of class sub-folders, MedMNIST .npz, sklearn digits — and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from halign_widgets.data import load_digits, load_folder, load_npz
from halign_widgets.errors import (
    ConfigError,
    CorruptFileError,
    DataLoadError,
    EmptyDatasetError,
    InputShapeError,
    InvalidPixelError,
    LabelMismatchError,
    UnknownNameError,
)


def write_folder(root: Path, counts: dict[str, int], shape: tuple[int, int] = (20, 30)) -> Path:
    rng = np.random.default_rng(0)
    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            value = 40 + 150 * sorted(counts).index(name)             # sorted class k: known grey level
            arr = np.clip(value + rng.integers(-5, 6, shape), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(root / name / f"img{i}.png")
    return root


def medmnist(n: tuple[int, int, int] = (14, 3, 3), hw: int = 28, channels: int | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    out = {}
    for split, count in zip(("train", "val", "test"), n, strict=True):
        shape = (count, hw, hw) if channels is None else (count, hw, hw, channels)
        out[f"{split}_images"] = rng.integers(0, 256, shape).astype(np.uint8)
        out[f"{split}_labels"] = rng.integers(0, 3, (count, 1)).astype(np.uint8)
    out["train_labels"][:3, 0] = [0, 1, 2]                            # every class appears
    return out


# -- folder ------------------------------------------------------------------------------------------
def test_load_folder(tmp_path: Path) -> None:
    write_folder(tmp_path / "data", {"malignant": 6, "benign": 4})
    (tmp_path / "data" / "benign" / "notes.txt").write_text("not an image")   # ignored
    ds = load_folder(tmp_path / "data", size=16)
    assert ds.classes == ["benign", "malignant"] and len(ds) == 10
    assert ds.images.shape == (10, 1, 16, 16) and ds.masks is None
    assert int((ds.labels == 0).sum()) == 4
    means = ds.images.flatten(1).mean(1)
    assert float(means[ds.labels == 0].max()) < float(means[ds.labels == 1].min())   # labels match folders
    assert abs(float(means[ds.labels == 0].mean()) - 40 / 255) < 0.03
    assert sorted(torch.cat(list(ds.splits.values())).tolist()) == list(range(10))
    rgb = load_folder(tmp_path / "data", size=8, channels=3)
    assert rgb.images.shape == (10, 3, 8, 8)
    assert torch.equal(load_folder(tmp_path / "data", size=16).splits["train"], ds.splits["train"])


def test_load_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataLoadError, match="does not exist"):
        load_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmptyDatasetError, match="no class sub-folders"):
        load_folder(tmp_path / "empty")
    (tmp_path / "flat").mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "flat" / "a.png")
    with pytest.raises(EmptyDatasetError, match="sub-folder"):
        load_folder(tmp_path / "flat")                                # images but no class folders
    (tmp_path / "nofiles" / "a").mkdir(parents=True)
    with pytest.raises(EmptyDatasetError, match="no image files"):
        load_folder(tmp_path / "nofiles")
    with pytest.raises(DataLoadError, match="is a file"):
        load_folder(tmp_path / "flat" / "a.png")
    with pytest.raises(ConfigError):
        load_folder(tmp_path / "flat", channels=2)


def test_load_folder_corrupt_and_unreadable_files(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "d", {"a": 2, "b": 2})
    (root / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    with pytest.raises(CorruptFileError, match="broken.png"):
        load_folder(root)
    (root / "b" / "broken.png").unlink()
    (root / "a" / "gone.png").symlink_to(tmp_path / "nowhere.png")  # dangling link: cannot be read
    with pytest.raises(DataLoadError, match="gone.png"):
        load_folder(root)


# -- npz ---------------------------------------------------------------------------------------------------
def test_load_npz_medmnist(tmp_path: Path) -> None:
    arrays = medmnist()
    np.savez(tmp_path / "m.npz", **arrays)
    ds = load_npz(tmp_path / "m.npz")
    assert len(ds) == 20 and ds.images.shape == (20, 1, 28, 28) and ds.labels.dtype == torch.long
    assert ds.classes == ["0", "1", "2"] and ds.masks is None
    assert ds.splits["train"].tolist() == list(range(14)) and ds.splits["test"].tolist() == [17, 18, 19]
    assert torch.allclose(ds.images[14, 0], torch.from_numpy(arrays["val_images"][0]).float() / 255)
    val = load_npz(tmp_path / "m.npz", split="val", size=16)
    assert len(val) == 3 and val.images.shape[-1] == 16
    assert torch.equal(val.labels, torch.from_numpy(arrays["val_labels"][:, 0].astype(np.int64)))
    np.savez(tmp_path / "rgb.npz", **medmnist(channels=3))
    assert load_npz(tmp_path / "rgb.npz").images.shape == (20, 3, 28, 28)
    with pytest.raises(UnknownNameError):
        load_npz(tmp_path / "m.npz", split="training")


def test_load_npz_errors(tmp_path: Path) -> None:
    with pytest.raises(DataLoadError, match="does not exist"):
        load_npz(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"definitely not a zip archive")
    with pytest.raises(CorruptFileError):
        load_npz(tmp_path / "junk.npz")
    np.savez(tmp_path / "keys.npz", pictures=np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(DataLoadError, match="train_images"):
        load_npz(tmp_path / "keys.npz")
    a = medmnist()
    del a["val_labels"]
    np.savez(tmp_path / "nolabels.npz", **a)
    with pytest.raises(LabelMismatchError, match="val_labels"):
        load_npz(tmp_path / "nolabels.npz")
    a = medmnist()
    a["test_labels"] = a["test_labels"][:2]
    np.savez(tmp_path / "count.npz", **a)
    with pytest.raises(LabelMismatchError, match="2 labels but there are 3 images"):
        load_npz(tmp_path / "count.npz")
    a = medmnist()
    a["train_images"] = a["train_images"].astype(np.float32) / 255
    a["train_images"][3, 5, 5] = np.nan
    np.savez(tmp_path / "nan.npz", **a)
    with pytest.raises(InvalidPixelError, match="NaN"):
        load_npz(tmp_path / "nan.npz")
    a = medmnist()
    a["train_images"] = a["train_images"].reshape(14, -1)
    np.savez(tmp_path / "shape.npz", **a)
    with pytest.raises(InputShapeError, match="N×H×W"):
        load_npz(tmp_path / "shape.npz")
    a = medmnist()
    a["val_images"] = np.zeros((3, 20, 20), np.uint8)
    np.savez(tmp_path / "mixed.npz", **a)
    with pytest.raises(InputShapeError, match="different image shapes"):
        load_npz(tmp_path / "mixed.npz")


# -- digits ----------------------------------------------------------------------------------------------
def test_load_digits() -> None:
    ds = load_digits(size=32)
    assert ds.images.shape == (1797, 1, 32, 32) and ds.classes == [str(i) for i in range(10)]
    assert float(ds.images.min()) >= 0 and float(ds.images.max()) <= 1 and float(ds.images.max()) > 0.9
    assert set(ds.labels.tolist()) == set(range(10)) and ds.masks is None
    assert [len(ds.splits[k]) for k in ("train", "val", "test")] == [1258, 270, 269]
    with pytest.raises(ConfigError):
        load_digits(size=0)
