"""Chapter figures of the biological-vision chapter (private; public through :mod:`halign_widgets.widgets.plots`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from torch import nn

from ..errors import ConfigError
from ._map_plots import plot_attributions
from ._plotting import COLUMN_WIDTH, LABEL_PT, TITLE_PT, column_width, prepare_figure, wrap_text

__all__ = ["plot_lesions", "plot_model_cams"]


def plot_model_cams(models: Mapping[str, nn.Module], data: Any, n: int = 4, *, method: str = "gradcam",
                    fig: Figure | None = None, width: float | None = None) -> Figure:
    """The first ``n`` images of ``data`` explained by several models: one row per image, one column per model.

    ``models`` maps a column title to a classifier (the figure is about 1.6 in per column unless
    ``width`` or ``fig`` says otherwise); each explains the images for their true
    class with :func:`~halign_widgets.explain.explain` (``method``, Grad-CAM at the model's
    decision layer by default). Maps are ``|map|`` ÷ each map's max, with one colour bar; the
    masks of ``data`` (when it has them) are drawn as lime contours.
    """
    from ..explain import explain

    if not models:
        raise ConfigError("give at least one model to explain (a dict of title → model).")
    k = min(int(n), len(data))
    if k < 1:
        raise ConfigError(f"n must be at least 1 and the data must hold images (n={n}, {len(data)} images).")
    images, labels = data.images[:k], data.labels[:k]
    masks = None if getattr(data, "masks", None) is None else data.masks[:k]
    exps = [explain(net, images, method, target=labels) for net in models.values()]
    names = [str(t) for t in models]
    classes = getattr(data, "classes", None)
    heads = [f"#{i}: {classes[int(labels[i])]}" if classes else f"image {i}" for i in range(k)]
    if width is None and fig is None:     # panels of about 1.6 in: a grid of n rows stays on one screen
        width = min(COLUMN_WIDTH, 1.6 * (1 + len(exps)) + 0.8)
    return plot_attributions(exps, images, masks, titles=names, image_titles=heads, scale="abs", fig=fig,
                             width=width)


def plot_lesions(drops: Any, model: str = "cocoreco_cab", *, title: str | None = None, fig: Figure | None = None,
                 width: float | None = None) -> Figure:
    """Test accuracy lost per cut pathway, plain and with batch norm re-estimated, one panel per world.

    ``drops`` is :func:`halign_widgets.biovision.summarize_drops` output; ``model`` picks the
    variant. Bars are mean ± std over seeds; a recalibrated bar is left out where it was not
    measured.
    """
    needed = ("world", "model", "pathway", "drop_mean", "drop_std", "recal_mean", "recal_std")
    missing = [c for c in needed if c not in drops.columns]
    if missing:
        raise ConfigError(f"plot_lesions needs the table of halign_widgets.biovision.summarize_drops; it lacks "
                          f"the columns {missing}.")
    table = drops[drops["model"] == model]
    if table.empty:
        known = sorted(set(drops["model"]))
        raise ConfigError(f"no lesion rows for model {model!r}; the table holds {known}.")
    worlds = list(dict.fromkeys(table["world"]))
    w = column_width(fig, width)
    n_paths = max(int((table["world"] == world).sum()) for world in worlds)
    fig = prepare_figure(fig, w, 1.1 + 0.32 * n_paths)
    axes = fig.subplots(1, len(worlds), squeeze=False)[0]
    from ..biovision import VARIANT_LABELS

    label = VARIANT_LABELS.get(model, model)
    for ax, world in zip(axes, worlds, strict=True):
        sub = table[table["world"] == world]
        ys = np.arange(len(sub))
        ax.barh(ys + 0.2, sub["drop_mean"].to_numpy(dtype=float), xerr=np.nan_to_num(sub["drop_std"].to_numpy(float)),
                height=0.4, color="tab:red", label="cut", error_kw={"lw": 0.8})
        recal = sub["recal_mean"].to_numpy(dtype=float)
        ax.barh(ys - 0.2, np.nan_to_num(recal), xerr=np.nan_to_num(sub["recal_std"].to_numpy(float)), height=0.4,
                color="tab:orange", label="cut + BN re-estimated", error_kw={"lw": 0.8})
        ax.set_yticks(ys, list(sub["pathway"]), fontsize=LABEL_PT)
        ax.invert_yaxis()
        ax.axvline(0, color="0.3", lw=0.8)
        ax.tick_params(axis="x", labelsize=LABEL_PT)
        ax.set_xlabel(wrap_text("test accuracy lost (mean ± std over seeds)", w / len(worlds) - 0.8, LABEL_PT),
                      fontsize=LABEL_PT)
        ax.set_title(f"{label}, {world}", fontsize=TITLE_PT)
    axes[0].legend(fontsize=LABEL_PT, loc="best")
    if title is not None:
        fig.suptitle(title, fontsize=TITLE_PT)
    return fig
