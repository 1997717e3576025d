"""Browser-less tests of the DatasetBrowser app (ipywidgets 8 without a kernel)."""

from __future__ import annotations

import pytest
import torch

from halign_widgets.data import ImageDataset, make_world
from halign_widgets.errors import ConfigError, UnknownNameError
from halign_widgets.widgets import DatasetBrowser


@pytest.fixture(scope="module")
def masses() -> ImageDataset:
    return make_world("masses", 120, seed=0)


def test_first_page_and_paging(masses: ImageDataset) -> None:
    app = DatasetBrowser(masses, n=16, key="db-page")
    try:
        assert app.indices_shown == list(range(16)) and app.n_pages == 8 and app.view.renders == 1
        assert "page 1/8" in app.page_label.value
        assert app.axes[0].get_title().startswith("#0 ")
        assert masses.classes[int(masses.labels[0])] in app.axes[0].get_title()
        app.next_button.click()
        assert app.page == 1 and app.indices_shown == list(range(16, 32)) and app.view.renders == 2
        app.prev_page()
        app.prev_page()                                                # wraps to the last page
        assert app.page == 7 and app.indices_shown == list(range(112, 120))
        assert not app.axes[15].get_visible() and app.axes[7].get_visible()   # unused axes are hidden
    finally:
        app.close()


def test_class_and_split_filters(masses: ImageDataset) -> None:
    app = DatasetBrowser(masses, n=9, key="db-filter")
    try:
        shown = app.select("malignant")
        assert shown and all(int(masses.labels[i]) == 1 for i in app.indices_shown)
        assert len(app.pool) == int((masses.labels == 1).sum())
        app.split_picker.value = "test"                                 # through the widget
        test = set(masses.splits["test"].tolist())
        assert set(app.pool) == {i for i in test if int(masses.labels[i]) == 1}
        assert all(i in test for i in app.indices_shown) and app.page == 0
        app.class_picker.value = "all"
        assert set(app.pool) == test
        app.select(class_name="all", split="all")
        assert len(app.pool) == 120
    finally:
        app.close()


def test_mask_overlay_changes_the_figure(masses: ImageDataset) -> None:
    app = DatasetBrowser(masses, n=4, key="db-masks")
    try:
        before = app.view.image.value
        assert app.mask_artists == 0
        app.show_masks(True)
        assert app.mask_artists == 4 and app.view.image.value != before
        assert any(ax.collections for ax in app.axes)                  # contours drawn
        contour = app.view.image.value
        app.mask_style.value = "fill"
        assert app.mask_artists == 4 and app.view.image.value != contour
        assert all(len(ax.images) == 2 for ax in app.axes)             # image + translucent mask
        app.masks_toggle.value = False
        assert app.mask_artists == 0 and all(len(ax.images) == 1 for ax in app.axes)
    finally:
        app.close()


def test_multilabel_titles_and_finding_filter() -> None:
    ds = make_world("domains", 60, seed=1)
    app = DatasetBrowser(ds, n=6, key="db-multi")
    try:
        assert app.class_picker.description == "finding"
        app.select("halo")
        assert app.pool and all(float(ds.labels[i, 3]) == 1 for i in app.pool)
        title = app.axes[0].get_title()
        assert "halo" in title and " · s" in title                       # findings and source
        app.select(split="ood")
        assert all(int(ds.meta["source"][i]) == ds.info["ood_source"] for i in app.indices_shown)
    finally:
        app.close()


def test_errors_inline_and_app_stays_usable(masses: ImageDataset) -> None:
    app = DatasetBrowser(masses, n=4, key="db-err")
    try:
        assert app.select("cancer") is None
        assert isinstance(app.last_error, UnknownNameError) and "malignant" in app.error_box.value
        assert app.indices_shown == [0, 1, 2, 3]
        app.next_page()
        assert app.last_error is None and app.indices_shown == [4, 5, 6, 7]
        app.set_page(99)
        assert isinstance(app.last_error, ConfigError)
    finally:
        app.close()
    real = ImageDataset(torch.rand(5, 1, 8, 8), torch.tensor([0, 1, 0, 1, 0]), ["a", "b"])
    app = DatasetBrowser(real, n=4, key="db-real")
    try:
        assert app.masks_toggle.disabled
        app.show_masks(True)
        assert isinstance(app.last_error, ConfigError) and app.mask_artists == 0
        app.select(class_name="b")
        assert app.indices_shown == [1, 3]
    finally:
        app.close()
    with pytest.raises(ConfigError):
        DatasetBrowser(real, n=0)


def test_rerun_with_same_key_replaces_the_app(masses: ImageDataset) -> None:
    first = DatasetBrowser(masses, n=4, key="db-rerun")
    second = DatasetBrowser(masses, n=4, key="db-rerun")
    assert first.closed and not second.closed
    second.close()


def test_rgb_dataset_is_shown_in_colour() -> None:
    x = torch.zeros(3, 3, 8, 8)
    x[:, 0] = 1.0                                                      # pure red images
    app = DatasetBrowser(ImageDataset(x, torch.tensor([0, 1, 0]), ["a", "b"]), n=4, key="db-rgb")
    try:
        data = app.axes[0].images[0].get_array()
        assert data.shape == (8, 8, 3) and float(data[..., 0].min()) == 1.0 and float(data[..., 1].max()) == 0.0
        assert app.indices_shown == [0, 1, 2] and not app.axes[3].get_visible()
    finally:
        app.close()
