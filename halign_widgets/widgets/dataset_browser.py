"""DatasetBrowser: a page of images of a world or a loaded dataset, with class / split filters and masks.

A thin view over :class:`halign_widgets.data.ImageDataset`: it only filters indices and draws.
"""

from __future__ import annotations

import math
from typing import Any

import ipywidgets as W
import numpy as np
import torch

from ..data import ImageDataset
from ..errors import ConfigError, unknown_name
from ..validation import check_int
from ._app import App, guarded

__all__ = ["DatasetBrowser"]

ALL = "all"
MASK_COLOUR = (1.0, 0.15, 0.1)


class DatasetBrowser(App):
    """Browse a dataset page by page: class filter, split picker, ground-truth mask overlay.

    Parameters
    ----------
    dataset:
        An :class:`~halign_widgets.data.ImageDataset` (a world from ``make_world`` or a loader).
    n:
        Images per page (1–64).
    key:
        Replace-on-rerun key (see :class:`~halign_widgets.widgets._app.App`).

    Attributes
    ----------
    indices_shown:
        Dataset indices of the images on the current page, in display order.
    pool:
        Indices matching the current split and class filter.
    page:
        Current page (0-based).

    Examples
    --------
    >>> browser = DatasetBrowser(make_world("masses", 200), n=16)   # doctest: +SKIP
    >>> browser.select("malignant", split="test")                   # doctest: +SKIP
    >>> browser.show_masks(True); browser.next_page()                # doctest: +SKIP
    >>> browser.indices_shown                                        # doctest: +SKIP
    """

    def __init__(self, dataset: ImageDataset, n: int = 16, key: str | None = None) -> None:
        super().__init__(key=key)
        if not isinstance(dataset, ImageDataset):
            raise ConfigError(f"DatasetBrowser needs an ImageDataset (from make_world or a loader), "
                              f"got {type(dataset).__name__}.")
        n = check_int("n", n, 1, 64, hint="images per page")
        self.dataset, self.n = dataset, n
        self.page = 0
        self.pool: list[int] = list(range(len(dataset)))
        self.indices_shown: list[int] = []
        self._overlays: list[Any] = []
        style = {"description_width": "45px"}
        self.split_picker = W.Dropdown(options=[ALL, *dataset.splits], value=ALL, description="split",
                                       style=style, layout=W.Layout(width="170px"))
        self.class_picker = W.Dropdown(options=[ALL, *dataset.classes], value=ALL,
                                       description="finding" if dataset.multilabel else "class", style=style,
                                       layout=W.Layout(width="240px"))
        has_masks = dataset.masks is not None
        self.masks_toggle = W.ToggleButton(value=False, description="masks", icon="eye", disabled=not has_masks,
                                           tooltip="overlay the ground-truth cause" if has_masks
                                           else "this dataset has no ground-truth masks")
        self.mask_style = W.ToggleButtons(options=["contour", "fill"], value="contour", disabled=not has_masks,
                                          style={"button_width": "70px"})
        self.prev_button = W.Button(description="", icon="arrow-left", tooltip="previous page",
                                    layout=W.Layout(width="40px"))
        self.next_button = W.Button(description="", icon="arrow-right", tooltip="next page",
                                    layout=W.Layout(width="40px"))
        self.page_label = W.HTML(value="")
        cols = math.ceil(math.sqrt(n))
        self.rows, self.cols = math.ceil(n / cols), cols
        self.view = self.figure(figsize=(1.55 * cols, 1.7 * self.rows))
        self.axes = [self.view.figure.add_subplot(self.rows, self.cols, i + 1) for i in range(n)]
        rgb = dataset.images.shape[1] >= 3
        blank = np.zeros(dataset.image_size + ((3,) if rgb else ()))
        self._artists = []
        for ax in self.axes:
            ax.set_axis_off()
            self._artists.append(ax.imshow(blank, cmap=None if rgb else "gray", vmin=0.0, vmax=1.0,
                                           interpolation="nearest"))
        self.view.figure.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.93, wspace=0.05, hspace=0.3)
        self.observe([self.split_picker, self.class_picker], self._on_filter)
        self.observe([self.masks_toggle, self.mask_style], self._on_redraw)
        self.prev_button.on_click(lambda _b: self.prev_page())
        self.next_button.on_click(lambda _b: self.next_page())
        self.track(self.split_picker, self.class_picker, self.masks_toggle, self.mask_style, self.prev_button,
                   self.next_button, self.page_label)
        self.set_body(W.HBox([self.split_picker, self.class_picker, self.masks_toggle, self.mask_style]),
                      W.HBox([self.prev_button, self.page_label, self.next_button]), self.view.widget)
        self.refresh()

    # -- driving from Python ------------------------------------------------------------------
    @property
    def n_pages(self) -> int:
        """Number of pages of the current selection (at least 1)."""
        return max(1, math.ceil(len(self.pool) / self.n))

    @guarded
    def select(self, class_name: str | None = None, split: str | None = None) -> list[int] | None:
        """Filter by class (or finding) and / or split (``"all"`` resets a filter); returns the indices shown."""
        if class_name is not None and class_name not in (ALL, *self.dataset.classes):
            raise unknown_name("class", class_name, [ALL, *self.dataset.classes])
        if split is not None and split not in (ALL, *self.dataset.splits):
            raise unknown_name("split", split, [ALL, *self.dataset.splits])
        with self.holding():
            if class_name is not None:
                self.class_picker.value = class_name
            if split is not None:
                self.split_picker.value = split
        self._apply_filter()
        return self.indices_shown

    @guarded
    def show_masks(self, on: bool = True, style: str | None = None) -> None:
        """Turn the ground-truth mask overlay on or off; ``style`` is ``"contour"`` or ``"fill"``."""
        if on and self.dataset.masks is None:
            raise ConfigError("this dataset has no ground-truth masks (real data); masks exist for the worlds "
                              "made with make_world.")
        if style is not None and style not in self.mask_style.options:
            raise unknown_name("mask style", style, self.mask_style.options)
        with self.holding():
            if style is not None:
                self.mask_style.value = style
            self.masks_toggle.value = bool(on)
        self.refresh()

    @guarded
    def next_page(self) -> list[int] | None:
        """Show the next page (wraps around); returns the indices shown."""
        return self.set_page((self.page + 1) % self.n_pages)

    @guarded
    def prev_page(self) -> list[int] | None:
        """Show the previous page (wraps around); returns the indices shown."""
        return self.set_page((self.page - 1) % self.n_pages)

    @guarded
    def set_page(self, page: int) -> list[int] | None:
        """Show page ``page`` (0-based)."""
        if not 0 <= int(page) < self.n_pages:
            raise ConfigError(f"page {page} does not exist; pages go from 0 to {self.n_pages - 1}.")
        self.page = int(page)
        self.refresh()
        return self.indices_shown

    # -- callbacks -----------------------------------------------------------------------------------
    def _on_filter(self, _change: Any = None) -> None:
        self._apply_filter()

    def _on_redraw(self, _change: Any = None) -> None:
        self.refresh()

    def _apply_filter(self) -> None:
        ds = self.dataset
        keep = torch.ones(len(ds), dtype=torch.bool)
        if self.split_picker.value != ALL:
            keep[:] = False
            keep[ds.splits[self.split_picker.value]] = True
        if self.class_picker.value != ALL:
            k = ds.classes.index(self.class_picker.value)
            keep &= (ds.labels[:, k] > 0.5) if ds.multilabel else (ds.labels == k)
        self.pool = torch.nonzero(keep)[:, 0].tolist()
        self.page = 0
        self.refresh()

    # -- drawing -------------------------------------------------------------------------------------
    def _title(self, i: int) -> str:
        ds = self.dataset
        if ds.multilabel:
            found = [c for c, v in zip(ds.classes, ds.labels[i].tolist(), strict=True) if v > 0.5]
            text = "+".join(c[:4] for c in found) or "none"
        else:
            text = ds.classes[int(ds.labels[i])]
        if "source" in ds.meta:
            text += f" · s{int(ds.meta['source'][i])}"
        return f"#{i} {text}"

    def refresh(self) -> None:
        """Redraw the current page."""
        self.clear_error()
        ds = self.dataset
        start = self.page * self.n
        self.indices_shown = self.pool[start:start + self.n]
        show_masks = bool(self.masks_toggle.value) and ds.masks is not None
        for artist in self._overlays:                                  # artists are reused, overlays dropped
            artist.remove()
        self._overlays = []
        for ax, art, i in zip(self.axes, self._artists, self.indices_shown + [-1] * (self.n - len(self.indices_shown)),
                              strict=False):
            ax.set_visible(i >= 0)
            if i < 0:
                continue
            img = ds.images[i]
            art.set_data(img[0].numpy() if img.shape[0] == 1 else img[:3].permute(1, 2, 0).clamp(0, 1).numpy())
            if show_masks and ds.masks is not None:
                mask = ds.masks[i, 0].numpy()
                if mask.any():
                    self._draw_mask(ax, mask)
            ax.set_title(self._title(i), fontsize=8, pad=2)
        total = len(self.pool)
        self.page_label.value = (f"page {self.page + 1}/{self.n_pages} · {total} image(s)" if total
                                 else "<i>no image matches this split and class</i>")
        self.view.figure.suptitle(str(ds.info.get("name", "dataset")), fontsize=9)
        self.view.redraw()
        self.set_status(f"showing {len(self.indices_shown)} of {total} image(s)")

    def _draw_mask(self, ax: Any, mask: np.ndarray) -> None:
        if self.mask_style.value == "contour":
            self._overlays.append(ax.contour(mask.astype(float), levels=[0.5], colors=[MASK_COLOUR], linewidths=0.8))
        else:
            rgba = np.zeros((*mask.shape, 4), dtype=float)
            rgba[..., :3] = MASK_COLOUR
            rgba[..., 3] = 0.4 * mask
            self._overlays.append(ax.imshow(rgba, interpolation="nearest"))

    @property
    def mask_artists(self) -> int:
        """Number of mask overlays drawn on the current page."""
        return len(self._overlays)
