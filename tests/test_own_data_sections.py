"""Chapters 00–03 on a researcher's data without masks or world metadata: the library calls of their sections.

The chapter runs in ``tests/test_own_data_chapters.py`` are expensive, so here each mask- or
world-dependent section of chapters 00–03 is replayed with the exact calls its cells make, on data
loaded the way a researcher's is — a folder of 16-bit PNG crops without a mask folder, an ``.npz``
without ``<split>_masks`` — and an untrained model (the lines do not depend on training). Each
section must print its one "skipped" line (``skipped <what>: <why>.`` from
:func:`~halign_widgets.data.requires` and :mod:`halign_widgets.course.sections`, or the checks'
``⏳ not yet: <name> — skipped: …``) and go on without raising; with masks / the right world
nothing is skipped.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch

from halign_widgets.course import (
    check_localization,
    check_off_mask_drop,
    check_suny_map_score,
    check_top_prototype_on_mask,
    requires_world_knob,
    uses_lab_world,
)
from halign_widgets.data import ImageDataset, describe_data, load_data, make_world, requires
from halign_widgets.explain import evaluate_methods, explain
from halign_widgets.models import SmallCNN
from halign_widgets.prototypes import ProtoPNet, duplicate_prototypes, push_prototypes
from real_data import write_crops, write_npz

matplotlib.use("Agg")

NO_MASKS = "the data has no ground-truth masks"
CHECK_SKIPPED = "skipped: this data has no ground-truth masks"


@pytest.fixture(scope="module")
def crops(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of 16 crops (two classes, 12 of 16 bits used) whose mask folder the researcher does not have."""
    images, _masks = write_crops(tmp_path_factory.mktemp("crops"), n=16, size=32)
    return images


@pytest.fixture(scope="module")
def folder(crops: Path) -> ImageDataset:
    # what the chapters do: load_data(DATA, n=N_IMAGES, seed=0, **DATA_OPTIONS), no "masks" option
    return load_data(str(crops), n=300, seed=0, size=32, intensity=4095)


@pytest.fixture(scope="module")
def npz_without_masks(tmp_path_factory: pytest.TempPathFactory) -> ImageDataset:
    root = tmp_path_factory.mktemp("npz")
    with np.load(write_npz(root / "with.npz", n=24, size=28)) as full:
        arrays = {k: full[k] for k in full.files if not k.endswith("_masks")}
    np.savez(root / "mine.npz", **arrays)
    return load_data(str(root / "mine.npz"), n=300, seed=0, size=28)


def _model(ds: ImageDataset) -> SmallCNN:
    torch.manual_seed(0)
    return SmallCNN(ds.channels, len(ds.classes), width=4, depth=2).eval()


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.strip().splitlines()


def test_the_data_loads_without_masks_and_says_so(folder: ImageDataset, npz_without_masks: ImageDataset) -> None:
    for ds in (folder, npz_without_masks):
        assert ds.masks is None and ds.test.masks is None and ds.train.masks is None
        assert "no masks" in describe_data(ds)
    # intensity=4095 reads the 12-bit crops at the world's own range, not scaled by 4095/65535
    brightest = float(make_world("masses", 16, size=32, seed=0).images.max())
    assert abs(float(folder.images.max()) - brightest) < 1 / 4095


def test_chapter00_browser_without_mask_outlines(folder: ImageDataset, capsys: pytest.CaptureFixture[str]) -> None:
    from halign_widgets.widgets import DatasetBrowser

    browser = DatasetBrowser(folder, n=4)                   # §2 (the chapter shows 16 per page)
    if requires(folder, "masks", "the mask outlines"):
        browser.show_masks(True)
    assert _lines(capsys) == [f"skipped the mask outlines: {NO_MASKS} (give masks= to load_folder, or "
                              "<split>_masks in the .npz)."]
    assert browser.masks_toggle.disabled
    browser.close()


def test_chapter01_maps_leaderboard_and_exercise_without_masks(folder: ImageDataset,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from halign_widgets.widgets.plots import plot_attributions

    model, test = _model(folder), folder.test
    masks = test.masks if requires(folder, "masks", "the lesion contours and the mask scores") else None  # §1
    assert masks is None
    idx = torch.arange(2)                                                                   # §3
    figure = plot_attributions({m: explain(model, test.images[idx], m) for m in ("saliency", "gradcam")},
                               test.images[idx], None, image_titles=[folder.classes[int(test.labels[i])] for i in idx])
    assert figure is not None
    matplotlib.pyplot.close("all")
    board = evaluate_methods(model, folder, {"saliency": {}, "gradcam": {}}, n_images=2, steps=4)     # §5
    assert board["pointing"].isna().all() and board["relevance_mass"].isna().all()
    assert board["overall"].notna().all() and board["sanity_spearman"].notna().all()
    assert not requires(folder, "masks", "the pointing game and relevance mass")
    # exercise 1: the solution leaves gradcam_mass None without masks; the check says it is skipped
    assert check_localization("gradcam_mass", None, model, test.images[:2], None, method="gradcam",
                              metric="relevance_mass") is False
    lines = _lines(capsys)
    assert lines[0] == f"skipped the lesion contours and the mask scores: {NO_MASKS} (give masks= to load_folder, " \
                       "or <split>_masks in the .npz)."
    assert lines[1].startswith(f"skipped the pointing game and relevance mass: {NO_MASKS}")
    assert lines[2].startswith(f"⏳ not yet: gradcam_mass — {CHECK_SKIPPED}") and len(lines) == 3


def test_chapter02_and_or_section_says_it_runs_on_the_logic_world(crops: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    why = "it needs the positions of the two cues, which only the logic world knows"
    for data in (str(crops), crops, "masses", make_world("masses", 8, size=32, seed=0)):
        assert uses_lab_world(data, "logic", "§4 AND vs OR", why) is False
        assert _lines(capsys) == [f"skipped your data in §4 AND vs OR: {why}; it runs on the lab's logic world."]
    for data in ("logic", make_world("logic", 8, seed=0)):
        assert uses_lab_world(data, "logic", "§4 AND vs OR", why) is True
        assert _lines(capsys) == []


def test_a_folder_named_like_a_world_is_not_that_world(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images, _ = write_crops(tmp_path / "x", n=8, size=32)
    named = images.rename(tmp_path / "logic")
    ds = load_data(str(named), size=32, intensity=4095)
    assert ds.info["name"] == "logic"
    assert uses_lab_world(ds, "logic", "§4", "why") is False
    assert requires_world_knob(ds, "shortcut", "s") is False
    assert len(_lines(capsys)) == 2


def test_chapter02_leaderboard_and_exercise_without_masks(npz_without_masks: ImageDataset,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    data = npz_without_masks
    model, test = _model(data), data.test
    board = evaluate_methods(model, data, {"gradcam": {}, "suny": {"causes": "features", "pool": 2}},    # §5
                             n_images=2, sanity=False, seed=0, steps=4)
    assert board["pointing"].isna().all() and board["overall"].notna().all()
    assert requires(data, "masks", "the pointing column (NaN below)") is False
    assert check_suny_map_score("suny_mass", None, model, test.images[:2], None, target=test.labels[:2],  # ex. 3
                                map="combined", metric="relevance_mass", causes="features", pool=2) is False
    lines = _lines(capsys)
    assert lines[0].startswith(f"skipped the pointing column (NaN below): {NO_MASKS}")
    assert lines[1].startswith(f"⏳ not yet: suny_mass — {CHECK_SKIPPED}") and len(lines) == 2


def test_chapter03_truth_checks_exercises_and_shortcut_without_masks(folder: ImageDataset, crops: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    model = ProtoPNet(in_channels=1, num_classes=2, prototypes_per_class=2, latent_depth=4,
                      layer="features.conv3").eval()
    push = push_prototypes(model, folder.train)
    assert isinstance(duplicate_prototypes(model, push), list)           # §5: still listed without masks
    assert requires(folder, "masks", "the truth checks (prototypes on the lesion, top-3 boxes, consistency)") is False
    assert check_top_prototype_on_mask("top_on_lesion", None, model, folder.test, top=1) is False          # ex. 1
    assert check_off_mask_drop("off_lesion_drop", None, model, push, folder.train, folder.test) is False   # ex. 3
    section = "the shortcut experiment (this section and the next cell)"
    why = "the marker is drawn by the lab's masses world"
    assert requires_world_knob(str(crops), "shortcut", section, why) is False                              # §7
    assert requires_world_knob("logic", "shortcut", section, why) is False
    assert requires_world_knob("masses", "shortcut", section, why) is True
    lines = _lines(capsys)
    assert lines[0].startswith(f"skipped the truth checks (prototypes on the lesion, top-3 boxes, consistency): "
                               f"{NO_MASKS}")
    assert lines[1].startswith(f"⏳ not yet: top_on_lesion — {CHECK_SKIPPED}")
    assert lines[2].startswith(f"⏳ not yet: off_lesion_drop — {CHECK_SKIPPED}")
    assert lines[3] == f"skipped {section}: this data is not a lab world with the 'shortcut' knob ({why})."
    assert lines[4] == f"skipped {section}: the world 'logic' has no 'shortcut' knob ({why})."
    assert len(lines) == 5


def test_with_masks_nothing_is_skipped(crops: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = load_data(str(crops), seed=0, size=32, intensity=4095, masks=str(crops.parent / "masks"))
    assert ds.masks is not None and "with ground-truth masks" in describe_data(ds)
    for section in ("the mask outlines", "the lesion contours and the mask scores", "the pointing column (NaN below)",
                    "the truth checks (prototypes on the lesion, top-3 boxes, consistency)"):
        assert requires(ds, "masks", section) is True
    assert _lines(capsys) == []
