"""Ground-truth masks from real data: a parallel mask folder, ``*_mask`` files beside the images, ``.npz`` arrays."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from halign_widgets.data import load_folder, load_npz
from halign_widgets.errors import ConfigError, DataLoadError, InputShapeError, InvalidPixelError, LabelMismatchError

CLASSES = ("benign", "malignant")
N_PER_CLASS = 12
HW = 32
INSIDE, OUTSIDE = 50000, 10000                                     # 16-bit intensities


def disk(i: int) -> np.ndarray:
    """A different disk for every image, so a mask paired with the wrong image shows."""
    yy, xx = np.mgrid[:HW, :HW]
    return (yy - (6 + i)) ** 2 + (xx - (25 - i)) ** 2 <= (3 + i % 4) ** 2


def crops() -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(class, file stem, 16-bit image, bool mask) of two classes × a dozen crops."""
    out = []
    for k, name in enumerate(CLASSES):
        for j in range(N_PER_CLASS):
            mask = disk(j + k)
            out.append((name, f"crop{j:02d}", np.where(mask, INSIDE, OUTSIDE).astype(np.uint16), mask))
    return out


def write(root: Path, layout: str) -> tuple[Path, dict[str, object]]:
    """Write the crops as 16-bit PNGs with masks in ``layout`` ("parallel" or "beside"); return loader kwargs."""
    for name, stem, img, mask in crops():
        (root / "images" / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / "images" / name / f"{stem}.png")
        m = Image.fromarray((mask * 255).astype(np.uint8))
        if layout == "parallel":
            (root / "masks" / name).mkdir(parents=True, exist_ok=True)
            m.save(root / "masks" / name / f"{stem}.png")
        else:
            m.save(root / "images" / name / f"{stem}_mask.png")
    kwargs: dict[str, object] = {"masks": root / "masks"} if layout == "parallel" else {"mask_suffix": "_mask"}
    return root / "images", kwargs


@pytest.mark.parametrize("layout", ["parallel", "beside"])
def test_folder_masks_native_size(tmp_path: Path, layout: str) -> None:
    root, kwargs = write(tmp_path, layout)
    ds = load_folder(root, size=None, **kwargs)  # type: ignore[arg-type]
    assert len(ds) == 2 * N_PER_CLASS and ds.classes == list(CLASSES)                 # mask files are no images
    assert ds.masks is not None and ds.masks.dtype == torch.bool and ds.masks.shape == (24, 1, HW, HW)
    assert not any("_mask" in f for f in ds.meta["file"])
    for i, (name, stem, img, mask) in enumerate(crops()):
        assert ds.meta["file"][i] == f"{name}/{stem}.png" and int(ds.labels[i]) == CLASSES.index(name)
        assert torch.equal(ds.masks[i, 0], torch.from_numpy(mask))                    # each image its own mask
        assert torch.allclose(ds.images[i, 0], torch.from_numpy(img / 65535).float(), atol=1e-7, rtol=0)
    train = ds.train
    assert train.masks is not None and torch.equal(train.masks, ds.masks[ds.splits["train"]])


def test_folder_masks_resized_nearest_and_layouts_agree(tmp_path: Path) -> None:
    a_root, a_kw = write(tmp_path / "a", "parallel")
    b_root, b_kw = write(tmp_path / "b", "beside")
    a = load_folder(a_root, size=16, **a_kw)  # type: ignore[arg-type]
    b = load_folder(b_root, size=16, **b_kw)  # type: ignore[arg-type]
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks) and torch.equal(a.labels, b.labels)
    full = torch.from_numpy(np.stack([m for *_, m in crops()]))[:, None]
    expected = F.interpolate(full.float(), size=(16, 16), mode="nearest-exact") > 0.5
    assert a.masks is not None and a.masks.dtype == torch.bool and torch.equal(a.masks, expected)
    inside = a.images[a.masks].mean()
    outside = a.images[~a.masks].mean()
    assert float(inside) > 0.6 and float(outside) < 0.25                          # the mask sits on the lesion


def test_parallel_masks_other_extension_and_mask_folder_inside_root(tmp_path: Path) -> None:
    root, _ = write(tmp_path, "parallel")
    shutil.move(str(tmp_path / "masks"), str(root / "masks"))                     # masks/ inside the image folder
    png = root / "masks" / "benign" / "crop03.png"
    Image.open(png).save(png.with_suffix(".bmp"))
    png.unlink()
    ds = load_folder(root, size=None, masks=root / "masks")
    assert ds.classes == list(CLASSES) and len(ds) == 24                         # masks/ is no class
    assert ds.masks is not None and torch.equal(ds.masks[3, 0], torch.from_numpy(disk(3)))


def test_masks_with_suffix_in_parallel_folder(tmp_path: Path) -> None:
    root, _ = write(tmp_path, "parallel")
    for f in (tmp_path / "masks").rglob("*.png"):
        f.rename(f.with_name(f.stem + "_roi.png"))
    ds = load_folder(root, size=None, masks=tmp_path / "masks", mask_suffix="_roi")
    assert ds.masks is not None and torch.equal(ds.masks[13, 0], torch.from_numpy(disk(2)))


def test_folder_mask_mismatches_name_the_file(tmp_path: Path) -> None:
    root, kw = write(tmp_path / "p", "parallel")
    (tmp_path / "p" / "masks" / "malignant" / "crop05.png").unlink()
    with pytest.raises(DataLoadError, match=r"malignant/crop05.png' has no mask: expected '.*masks/malignant/crop05"):
        load_folder(root, **kw)  # type: ignore[arg-type]
    Image.fromarray(np.zeros((HW, HW + 1), np.uint8)).save(tmp_path / "p" / "masks" / "malignant" / "crop05.png")
    with pytest.raises(InputShapeError, match=r"mask '.*malignant/crop05.png' is 32×33 pixels but its image "
                                              r"'.*images/malignant/crop05.png' is 32×32"):
        load_folder(root, size=16, **kw)  # type: ignore[arg-type]   # checked before resizing
    shutil.rmtree(tmp_path / "p" / "masks" / "malignant")
    with pytest.raises(DataLoadError, match="no sub-folder 'malignant'"):
        load_folder(root, **kw)  # type: ignore[arg-type]
    with pytest.raises(DataLoadError, match="mask folder .* does not exist"):
        load_folder(root, masks=tmp_path / "nowhere")

    root, kw = write(tmp_path / "b", "beside")
    (root / "benign" / "crop07_mask.png").unlink()
    with pytest.raises(DataLoadError, match=r"benign/crop07.png' has no mask: expected '.*benign/crop07_mask.png'"):
        load_folder(root, **kw)  # type: ignore[arg-type]
    Image.fromarray(np.zeros((HW, HW), np.uint8)).save(root / "benign" / "crop07_mask.png")
    Image.fromarray(np.zeros((HW, HW), np.uint8)).save(root / "benign" / "stray_mask.png")
    with pytest.raises(DataLoadError, match=r"mask '.*benign/stray_mask.png' has no image \(expected '.*stray.png'"):
        load_folder(root, **kw)  # type: ignore[arg-type]


def test_mask_options_checked(tmp_path: Path) -> None:
    root, _ = write(tmp_path, "beside")
    with pytest.raises(ConfigError, match="mask_suffix='_mask'"):
        load_folder(root, masks=root)
    for bad in ("", "a/b", 3):
        with pytest.raises(ConfigError, match="mask_suffix="):
            load_folder(root, mask_suffix=bad)  # type: ignore[arg-type]
    assert load_folder(root, masks=root, mask_suffix="_mask", size=8).masks is not None


# -- npz ---------------------------------------------------------------------------------------------------------
def medmnist_with_masks(counts: tuple[int, int, int] = (8, 3, 3), hw: int = 28) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2)
    out = {}
    for split, n in zip(("train", "val", "test"), counts, strict=True):
        out[f"{split}_images"] = rng.integers(0, 256, (n, hw, hw)).astype(np.uint8)
        out[f"{split}_labels"] = (np.arange(n) % 2).astype(np.uint8)[:, None]
        out[f"{split}_masks"] = (rng.random((n, hw, hw)) < 0.3).astype(np.uint8) * 255
    return out


def test_npz_masks(tmp_path: Path) -> None:
    a = medmnist_with_masks()
    a["val_masks"] = (a["val_masks"] > 0)[:, None]                               # N×1×H×W bool
    a["test_masks"] = a["test_masks"][..., None]                                 # N×H×W×1
    np.savez(tmp_path / "m.npz", **a)
    ds = load_npz(tmp_path / "m.npz")
    truth = torch.from_numpy(np.concatenate([a["train_masks"] != 0, a["val_masks"][:, 0],
                                             a["test_masks"][..., 0] != 0]))
    assert ds.masks is not None and ds.masks.dtype == torch.bool and torch.equal(ds.masks[:, 0], truth)
    small = load_npz(tmp_path / "m.npz", size=14)
    assert small.masks is not None and small.masks.shape == (14, 1, 14, 14)
    assert torch.equal(small.masks, F.interpolate(truth[:, None].float(), size=(14, 14), mode="nearest-exact") > 0.5)
    val = load_npz(tmp_path / "m.npz", split="val")
    assert val.masks is not None and torch.equal(val.masks[:, 0], truth[8:11])
    np.savez(tmp_path / "plain.npz", images=a["train_images"], labels=a["train_labels"], masks=a["train_masks"])
    plain = load_npz(tmp_path / "plain.npz")
    assert plain.masks is not None and torch.equal(plain.masks[:, 0], truth[:8])


def test_npz_mask_mismatches_name_key_and_index(tmp_path: Path) -> None:
    def attempt(**changes: np.ndarray | None) -> None:
        a = medmnist_with_masks()
        for key, value in changes.items():
            if value is None:
                del a[key]
            else:
                a[key] = value
        np.savez(tmp_path / "bad.npz", **a)
        load_npz(tmp_path / "bad.npz")

    base = medmnist_with_masks()
    with pytest.raises(LabelMismatchError, match=r"'val_masks' holds 2 masks but 'val_images' holds 3 images "
                                                 r"\(image 2 is the first without a mask\)"):
        attempt(val_masks=base["val_masks"][:2])
    with pytest.raises(LabelMismatchError,
                       match=r"'test_masks' holds 4 masks .* \(mask 3 is the first without an image\)"):
        attempt(test_masks=np.concatenate([base["test_masks"], base["test_masks"][:1]]))
    with pytest.raises(InputShapeError,
                       match=r"'train_masks' masks are 20×20 pixels but 'train_images' images are 28×28"):
        attempt(train_masks=np.zeros((8, 20, 20), np.uint8))
    with pytest.raises(LabelMismatchError, match=r"has 'train_masks' but no 'test_masks'"):
        attempt(test_masks=None)
    nan = base["train_masks"].astype(np.float32)
    nan[5, 1, 1] = np.nan
    with pytest.raises(InvalidPixelError, match="first in mask 5"):
        attempt(train_masks=nan)
    with pytest.raises(InputShapeError, match=r"'val_masks' has shape \(3, 28, 28, 3\)"):
        attempt(val_masks=np.zeros((3, 28, 28, 3), np.uint8))
    a = medmnist_with_masks()
    del a["test_masks"]
    np.savez(tmp_path / "some.npz", **a)
    assert load_npz(tmp_path / "some.npz", split="train").masks is not None      # that split has masks
