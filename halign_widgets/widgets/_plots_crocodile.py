"""Chapter figures of the CROCODILE chapter (private; public through :mod:`halign_widgets.widgets.plots`).

The CrocodileLab's own live drawing is :mod:`._crocodile_plots`; these helpers return a figure for a
notebook cell. The attention panels of an image are drawn by one function for both
(:func:`._crocodile_plots.draw_attention`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from ..errors import ConfigError
from ._crocodile_plots import draw_attention
from ._map_plots import plot_images
from ._plotting import (
    LABEL_PT,
    TITLE_PT,
    column_width,
    panel_grid,
    prepare_figure,
    wrap_text,
)

__all__ = ["plot_attention_examples", "plot_ladder", "plot_sources"]

_FINDING_CODES = "MCDH"


def plot_sources(world: Any, per_source: int = 4, *, fig: Figure | None = None, width: float | None = None) -> Figure:
    """``per_source`` images of each acquisition source, titled with their source and findings.

    For a world with ``meta["source"]`` (the domains world) each title reads ``src s: MC``
    (M mass, C calcifications, D distortion, H halo; ``none`` without a finding). Other data: its
    first ``4 × per_source`` images, titled with their class (the label vector for multi-label data).
    """
    picks: list[tuple[int | None, int]]
    if "source" in getattr(world, "meta", {}):
        source = torch.as_tensor(world.meta["source"])
        picks = [(int(s), i) for s in torch.unique(source).tolist()
                 for i in torch.nonzero(source == s)[:per_source, 0].tolist()]

        def name(s: int | None, i: int) -> str:
            codes = "".join(_FINDING_CODES[k] if k < len(_FINDING_CODES) else str(k)
                            for k in range(world.labels.shape[1]) if world.labels[i, k])
            return f"src {s}: {codes or 'none'}"
        count = "four" if per_source == 4 else str(per_source)
        title = f"{count} images per source (M mass, C calcifications, D distortion, H halo)"
    else:
        picks = [(None, i) for i in range(min(4 * per_source, len(world)))]

        def name(s: int | None, i: int) -> str:
            if getattr(world, "multilabel", False):
                return str(world.labels[i].int().tolist())
            return str(world.classes[int(world.labels[i])])
        title = "the first images of your data and their classes"
    if not picks:
        raise ConfigError("no images to show: the data is empty.")
    fig = plot_images(world.images[[i for _, i in picks]], [name(s, i)[:12] for s, i in picks], max_cols=8,
                      fig=fig, width=width)
    fig.set_size_inches(fig.get_figwidth(), fig.get_figheight() + 0.3)     # room for the figure's title
    fig.suptitle(title, fontsize=TITLE_PT)
    return fig


_METRICS = (("id_map", "ID test mAP"), ("ood_map", "OOD test mAP"), ("drop_map", "drop (ID − OOD)"))


def plot_ladder(summary: Any, *, fig: Figure | None = None, width: float | None = None) -> Figure:
    """ID mAP, OOD mAP and their drop per configuration of a ``summarize_ladder`` table, mean ± s.e.

    ``summary`` is :func:`halign_widgets.crocodile.summarize_ladder` output (columns ``config``,
    ``label``, ``<metric>`` and ``<metric>_se``). The rungs of the ladder
    (:data:`~halign_widgets.crocodile.LADDER`) are blue, the baselines grey; the two mAP panels
    start a little below the lowest bar.
    """
    from ..crocodile import LADDER

    needed = ["config", "label"] + [c for m, _ in _METRICS for c in (m, f"{m}_se")]
    missing = [c for c in needed if c not in summary.columns]
    if missing:
        raise ConfigError(f"plot_ladder needs the table of halign_widgets.crocodile.summarize_ladder; "
                          f"it lacks the columns {missing}.")
    w = column_width(fig, width)
    labels = [wrap_text(str(s), 0.9, LABEL_PT) for s in summary["label"]]
    lines = max(s.count("\n") + 1 for s in labels)
    fig = prepare_figure(fig, w, 2.4 + 0.13 * lines * 1.2 + 0.35)
    axes = fig.subplots(1, 3)
    xs = np.arange(len(summary))
    colours = ["tab:blue" if c in LADDER else "tab:gray" for c in summary["config"]]
    for ax, (metric, title) in zip(axes, _METRICS, strict=True):
        means = summary[metric].to_numpy(dtype=float)
        errors = np.nan_to_num(summary[f"{metric}_se"].to_numpy(dtype=float))
        ax.bar(xs, means, yerr=errors, capsize=2, color=colours, error_kw={"lw": 0.8})
        ax.set_xticks(xs, labels, rotation=90, fontsize=LABEL_PT)
        ax.tick_params(axis="y", labelsize=LABEL_PT)
        ax.set_title(title, fontsize=TITLE_PT)
        if metric != "drop_map":
            ax.set_ylim(max(0.0, float(np.nanmin(means - errors)) - 0.1), 1.0)
        else:
            ax.axhline(0, color="0.4", lw=0.6)
    fig.suptitle("blue: the ladder, grey: baselines; bars = mean ± s.e. over seeds (selection: training-source val)",
                 fontsize=TITLE_PT)
    return fig


def plot_attention_examples(model: nn.Module, parts: Sequence[tuple[str, Any]], findings: Sequence[str], *,
                            per_part: int = 2, rows: int = 2, fig: Figure | None = None,
                            width: float | None = None) -> Figure:
    """Causal and spurious attention of images that show a finding, scored on its region.

    ``parts`` is a sequence of ``(name, dataset)`` (e.g. ``[("ID", test), ("OOD", ood_test)]``);
    the figure has ``rows`` rows of ``per_part`` examples (the parts in turn; one part fills every
    row from different images). Each example is three panels: the image with the finding's
    region (lime) and the source marker (orange), the causal map ``A`` and the spurious map
    ``1 − A`` of the first finding it shows
    (:func:`~halign_widgets.crocodile.score_attention`), each map with its colour bar and its
    energy share on the finding in its title.
    """
    from ..crocodile import score_attention

    if not parts:
        raise ConfigError("give at least one (name, dataset) part to draw.")
    w = column_width(fig, width)
    fig = prepare_figure(fig, w, rows * (w / (3 * per_part) + 0.45) + 0.1)
    axes = panel_grid(fig, rows * 3 * per_part, 3 * per_part)
    for row in range(rows):
        name, ds = parts[row % len(parts)]
        start = row // len(parts) * (len(ds) // max(1, rows // len(parts)))
        shown = 0
        for i in range(start, len(ds)):
            if shown == per_part:
                break
            present = torch.nonzero(ds.labels[i])[:, 0].tolist() if ds.labels.dim() > 1 else []
            if not present:
                continue
            s = score_attention(model, ds, i, present[0])
            first = row * 3 * per_part + 3 * shown
            draw_attention(fig, axes[first:first + 3], ds.images[i], s, bar_format="%.2g")
            axes[first].set_title(wrap_text(f"{name} #{i}: {findings[present[0]]}", w / (3 * per_part)),
                                  fontsize=TITLE_PT)
            for a, key in zip(axes[first + 1:first + 3], ("causal", "spurious"), strict=True):
                a.set_title(wrap_text(f"{key}: finding {s[key + '_on_finding']:.2f}", w / (3 * per_part)),
                            fontsize=TITLE_PT)
            shown += 1
        for ax in axes[row * 3 * per_part + 3 * shown:(row + 1) * 3 * per_part]:
            ax.set_axis_off()
    return fig
