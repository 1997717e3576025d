"""Chapter figures of the prototype chapter (private; public through :mod:`halign_widgets.widgets.plots`).

The map and box panels are drawn by the PrototypeBrowser's own functions (:mod:`._prototype_plots`).
"""

from __future__ import annotations

from typing import Any

import torch
from matplotlib.figure import Figure
from torch import Tensor

from ._plotting import (
    LABEL_PT,
    TITLE_PT,
    as_images,
    column_width,
    decorate_panel,
    prepare_figure,
    show_image,
    wrap_text,
)
from ._prototype_plots import draw_box, draw_similarity

__all__ = ["plot_three_views"]


def _colour_bar(fig: Figure, image: Any, ax: Any, label: str) -> None:
    bar = fig.colorbar(image, ax=ax, fraction=0.05, pad=0.03)
    bar.set_label(label, fontsize=LABEL_PT)
    bar.ax.tick_params(labelsize=LABEL_PT)


def plot_three_views(image: Tensor, synthesized: Any, cam: Any, prototypes: Any, push: Any, sources: Tensor, *,
                     mask: Tensor | None = None, class_name: str = "class 1", fig: Figure | None = None,
                     width: float | None = None) -> Figure:
    """One model seen three ways: activation maximization, a CAM, and its top prototype with its source patch.

    Panels, left to right: the input synthesized for the class (``synthesized``, an
    :class:`~halign_widgets.explain.ActMaxResult` or a ``1×C×H×W`` image); ``image`` with the CAM
    (``cam``, an :class:`~halign_widgets.explain.Explanation` of that image; ``|map|`` ÷ its max)
    over it; ``image`` with the upsampled similarity map of the prototype that adds most to the
    explained logit (``prototypes``, a :class:`~halign_widgets.prototypes.PrototypeExplanation`);
    and the training image that prototype was pushed onto (``sources[push[j].image_index]``), with
    the prototype's box in red. Each map has its own colour bar; ``mask`` (``H×W``) is drawn as a
    lime contour on the two map panels.
    """
    x = as_images(image)[0]
    synth = as_images(getattr(synthesized, "image", synthesized))[0]
    j = prototypes.top(1)[0]
    record = push[j]
    source = as_images(sources[record.image_index])[0]
    heat = cam.normalized("abs")[0].detach().float().cpu()
    similarity = prototypes.maps[j].detach().float().cpu()
    w = column_width(fig, width)
    fig = prepare_figure(fig, w, 0.26 * w + 0.6)
    axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [1, 1.25, 1.25, 1]})
    show_image(axes[0], synth)
    decorate_panel(axes[0])
    axes[0].set_title(wrap_text(f"activation maximization ({class_name})", w / 5), fontsize=TITLE_PT)
    shown_mask = None if mask is None else torch.as_tensor(mask).squeeze()
    for ax, data, cmap, title, label in (
            (axes[1], heat, "inferno", f"{cam.label}", "|relevance| ÷ max"),
            (axes[2], similarity, "magma", f"looks like p{j} here\n(s = {float(prototypes.scores[j]):.2f})",
             "similarity")):
        _colour_bar(fig, draw_similarity(ax, x, data, shown_mask, cmap=cmap), ax, label)
        ax.set_title(wrap_text(title, w / 5), fontsize=TITLE_PT)
    show_image(axes[3], source)
    decorate_panel(axes[3])
    draw_box(axes[3], record.box)
    axes[3].set_title(wrap_text(f"p{j}: training image {record.image_index}", w / 5), fontsize=TITLE_PT)
    return fig
