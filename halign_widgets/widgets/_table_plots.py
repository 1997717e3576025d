"""Figure helpers for result tables (private; public through :mod:`halign_widgets.widgets.plots`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from torch import Tensor

from ..errors import ConfigError, unknown_name
from ..explain._registry import METHODS
from ..training.metrics import confusion_matrix
from ._plotting import COLUMN_WIDTH, LABEL_PT, TITLE_PT, column_width, panel_grid, prepare_figure, wrap_text

__all__ = ["plot_confusion", "plot_experiment_table", "plot_leaderboard"]


# -- tables ----------------------------------------------------------------------------------------
def plot_confusion(y_true: Tensor, y_pred: Tensor, classes: Sequence[str] | None = None, *,
                   title: str | None = None, fig: Figure | None = None, width: float | None = None) -> Figure:
    """Confusion matrix: counts (and the share of each true class) with a colour bar; rows = true class.

    The counts come from :func:`halign_widgets.training.confusion_matrix`; each row's label shows
    that class's recall (its per-class accuracy).
    """
    k = len(classes) if classes is not None else None
    cm = confusion_matrix(y_true, y_pred, k)
    k = cm.shape[0]
    names = [str(c) for c in classes] if classes is not None else [str(i) for i in range(k)]
    totals = cm.sum(1).clamp(min=1)
    recall = cm.diag().double() / totals
    default = None if fig is not None else min(COLUMN_WIDTH, 2.6 + 1.1 * k)
    w = column_width(fig, width if width is not None else default)
    fig = prepare_figure(fig, w, min(8.0, 1.2 + 0.95 * k))
    ax = fig.subplots()
    im = ax.imshow(cm.numpy(), cmap="Blues", vmin=0)
    top = float(cm.max()) or 1.0
    for t in range(k):
        for p in range(k):
            c = int(cm[t, p])
            ax.text(p, t, f"{c}\n{100 * c / int(totals[t]):.0f} %", ha="center", va="center", fontsize=LABEL_PT,
                    color="white" if c > 0.6 * top else "black")
    ax.set_xticks(range(k), [wrap_text(n, 1.0, LABEL_PT) for n in names], fontsize=LABEL_PT)
    ax.set_yticks(range(k), [f"{n}\nrecall {float(r):.2f}" for n, r in zip(names, recall, strict=True)],
                  fontsize=LABEL_PT)
    ax.set_xlabel("predicted class", fontsize=LABEL_PT)
    ax.set_ylabel("true class", fontsize=LABEL_PT)
    acc = float(cm.diag().sum()) / max(1, int(cm.sum()))
    ax.set_title(title if title is not None else f"accuracy {acc:.3f} on {int(cm.sum())} images", fontsize=TITLE_PT)
    bar = fig.colorbar(im, ax=ax, fraction=0.05, pad=0.03)
    bar.set_label("images", fontsize=LABEL_PT)
    bar.ax.tick_params(labelsize=LABEL_PT)
    return fig


def _method_label(name: str) -> str:
    info = METHODS.get(name)
    return info.label if info is not None else name


def plot_leaderboard(table: Any, metrics: Sequence[str] | None = None, *, order_by: str = "overall",
                     max_cols: int = 3, fig: Figure | None = None, width: float | None = None) -> Figure:
    """One horizontal bar panel per metric of an :func:`~halign_widgets.explain.evaluate_methods` table.

    Bars show the mean over images with the std as error bar; methods are sorted by ``order_by``
    (best on top); each panel says whether lower or higher is better. ``metrics`` defaults to the
    deletion, insertion, Overall, localization and sanity columns that hold numbers.
    """
    from ..explain.leaderboard import HIGHER_IS_BETTER, leaderboard_plot_data  # pandas: only when needed

    if metrics is None:
        wanted = ("deletion", "insertion", "overall", "pointing", "relevance_mass", "sanity_spearman")
        metrics = [m for m in wanted if m in table.columns and bool(table[m].notna().any())]
    data = leaderboard_plot_data(table, metrics)
    if order_by not in table.columns:
        raise unknown_name("column to order by", order_by, [c for c in HIGHER_IS_BETTER if c in table.columns])
    best_high = HIGHER_IS_BETTER.get(order_by, True)
    order = list(table.sort_values(order_by, ascending=best_high)["method"])    # barh draws bottom-up
    w = column_width(fig, width)
    ncols = max(1, min(int(max_cols), len(metrics)))
    rows = math.ceil(len(metrics) / ncols)
    fig = prepare_figure(fig, w, rows * (0.55 + 0.2 * len(order)) + 0.2)
    axes = panel_grid(fig, len(metrics), ncols)
    labels = [_method_label(m) for m in order]
    for i, (ax, metric) in enumerate(zip(axes, metrics, strict=False)):
        sub = data[data["metric"] == metric].set_index("method").loc[order]
        err = sub["std"].to_numpy(dtype=float)
        ax.barh(range(len(order)), sub["mean"].to_numpy(dtype=float), xerr=np.where(np.isnan(err), 0, err),
                color="tab:blue", alpha=0.8, error_kw={"lw": 0.8})
        better = "higher" if bool(sub["higher_is_better"].iloc[0]) else "lower"
        ax.set_title(f"{metric}\n({better} is better)", fontsize=TITLE_PT)
        ax.set_yticks(range(len(order)), labels if i % ncols == 0 else [""] * len(order), fontsize=LABEL_PT)
        ax.tick_params(axis="x", labelsize=LABEL_PT)
        ax.axvline(0, color="0.5", lw=0.6)
    return fig


def _config_label(setting: str, estimator: str, p: Any, direction: str, with_direction: bool) -> str:
    est = "" if estimator == "none" else estimator + ("" if p in ("", None) or estimator == "random" else f" p={p:g}")
    parts = [setting, est] + ([direction] if with_direction and direction != "none" else [])
    return "\n".join(x for x in parts if x)


def plot_experiment_table(table: Any, *, fig: Figure | None = None, width: float | None = None) -> Figure:
    """Test accuracy (mean ± std over seeds) per configuration and world of a ``summarize`` table.

    ``table`` is :func:`halign_widgets.causality.summarize` output (index world, setting, estimator,
    p, direction; columns ``mean``, ``std``, ``seeds``). The y range follows the data (every bar
    and error bar is visible); a dashed line marks each world's baseline when there is one; with a
    single seed there is no spread to draw and the title says so.
    """
    missing = [c for c in ("mean", "std", "seeds") if c not in table.columns]
    if missing or list(table.index.names) != ["world", "setting", "estimator", "p", "direction"]:
        raise ConfigError("plot_experiment_table needs the table of halign_widgets.causality.summarize(results).")
    worlds = list(dict.fromkeys(table.index.get_level_values("world")))
    configs = list(dict.fromkeys(tuple(ix[1:]) for ix in table.index))
    directions = {ix[4] for ix in table.index if ix[4] != "none"}
    one_seed = int(table["seeds"].max()) <= 1
    w = column_width(fig, width)
    fig = prepare_figure(fig, w, 3.4)
    ax = fig.subplots()
    bar = 0.8 / len(worlds)
    lows, highs = [], []
    for k, world in enumerate(worlds):
        sub = table.xs(world, level="world")
        means = np.array([float(sub.loc[c, "mean"]) if c in sub.index else np.nan for c in configs])
        stds = np.array([float(sub.loc[c, "std"]) if c in sub.index else 0.0 for c in configs])
        stds = np.zeros_like(stds) if one_seed else np.nan_to_num(stds)
        xs = np.arange(len(configs)) + (k - (len(worlds) - 1) / 2) * bar
        colour = f"C{k}"
        ax.bar(xs, means, bar, yerr=None if one_seed else stds, capsize=2, color=colour, label=world,
               error_kw={"lw": 0.8})
        lows.append(np.nanmin(means - stds))
        highs.append(np.nanmax(means + stds))
        if ("baseline", "none", "", "none") in sub.index:
            ax.axhline(float(sub.loc[("baseline", "none", "", "none"), "mean"]), color=colour, ls="--", lw=0.8)
    lo, hi = float(min(lows)), float(max(highs))
    span = max(hi - lo, 0.02)
    ax.set_ylim(max(0.0, lo - 0.25 * span), hi + 0.12 * span)
    ax.set_xticks(range(len(configs)),
                  [_config_label(s, e, p, d, with_direction=len(directions) > 1) for s, e, p, d in configs],
                  fontsize=LABEL_PT)
    ax.tick_params(axis="y", labelsize=LABEL_PT)
    ax.set_ylabel("test accuracy", fontsize=LABEL_PT)
    spread = "one seed: no spread to show" if one_seed else f"mean ± std over {int(table['seeds'].max())} seeds"
    ax.set_title(f"test accuracy per configuration ({spread}; dashed: baseline)", fontsize=TITLE_PT)
    if len(worlds) > 1:
        fig.legend(*ax.get_legend_handles_labels(), fontsize=LABEL_PT, loc="outside right upper", title="world",
                   title_fontsize=LABEL_PT)
    return fig
