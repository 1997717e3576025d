"""A chapter's DATA parameter: a world, a folder of 16-bit crops with masks, or an .npz with masks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from halign_widgets.data import describe_data, load_data, make_world, requires
from halign_widgets.errors import DataLoadError
from real_data import write_crops, write_npz


def test_a_world_name_makes_the_world() -> None:
    ds = load_data("masses", n=30, size=32, seed=1)
    ref = make_world("masses", 30, size=32, seed=1)
    assert torch.equal(ds.images, ref.images) and ds.masks is not None
    assert load_data(ds) is ds
    assert load_data("digits", size=16).num_classes == 10


def test_a_folder_of_16_bit_crops_with_masks(tmp_path: Path) -> None:
    images, masks = write_crops(tmp_path, n=24, size=40)
    ds = load_data(images, size=32, masks=masks, intensity=4095)
    assert len(ds) == 24 and ds.images.shape[1:] == (1, 32, 32) and ds.classes == ["benign", "malignant"]
    assert ds.masks is not None and ds.masks.dtype == torch.bool and ds.masks.shape == (24, 1, 32, 32)
    assert 0.2 < float(ds.images.mean()) < 0.8, "12-bit data scaled by its stated maximum"
    assert requires(ds, "masks", "x") and "with ground-truth masks" in describe_data(ds)


def test_an_npz_with_masks(tmp_path: Path) -> None:
    ds = load_data(write_npz(tmp_path / "crops.npz", n=30), size=None)
    assert set(ds.splits) == {"train", "val", "test"} and ds.masks is not None and ds.images.shape[-1] == 28


def test_what_a_section_skips_is_said_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images, _ = write_crops(tmp_path, n=10, size=32)
    ds = load_data(images, size=32, intensity=4095)
    assert not requires(ds, "masks", "the localization scores")
    assert not requires(ds, "marker", "the shortcut detective")
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["skipped the localization scores: the data has no ground-truth masks (give masks= to load_folder, "
                   "or <split>_masks in the .npz).",
                   "skipped the shortcut detective: the data has no 'marker' (it is metadata of the lab's generated "
                   "worlds)."]


def test_bad_data_names_say_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(DataLoadError, match="neither a world nor an existing folder"):
        load_data("massses")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(DataLoadError, match="not an .npz"):
        load_data(text)
