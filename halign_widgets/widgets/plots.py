"""Figures of the lab for chapters and apps: one call per picture, legible in a notebook column.

Every helper draws on a given :class:`~matplotlib.figure.Figure` (an app's figure view) or creates
a :class:`NotebookFigure` (which a notebook displays when it is the last value of a cell, with or
without pyplot), resizes it for its content and returns it. The rules they follow (and that
:func:`~halign_widgets.widgets.legibility.legibility_problems` checks in the tests): at most
:data:`COLUMN_WIDTH` inches wide, fonts of at least 8 pt, a colour bar for every map, panel titles
wrapped to the panel's width, at most four map panels per row for one image.

- :func:`plot_images` — a row (or rows) of images with titles, masks and boxes;
- :func:`plot_attributions` — images and their attribution maps, with one shared colour bar; on
  the shared scale a map too faint to see says so in its title;
- :func:`plot_deletion_insertion` — the deletion / insertion curves of one image;
- :func:`plot_suny` — SUNY's necessity, sufficiency and 2-D maps with their colour bars;
- :func:`plot_confusion` — a confusion matrix with counts and per-class recall;
- :func:`plot_leaderboard` — one bar panel per metric of an ``evaluate_methods`` table;
- :func:`plot_experiment_table` — test accuracy per configuration of a ``summarize`` table.
"""

from __future__ import annotations

import io
import math
import struct
import textwrap
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor

from ..errors import ConfigError, InputShapeError, unknown_name
from ..explain import Explanation, shared_scale
from ..explain._registry import METHODS
from ..training.metrics import confusion_matrix
from .legibility import legibility_problems

__all__ = ["COLUMN_WIDTH", "NotebookFigure", "legibility_problems", "plot_attributions", "plot_confusion",
           "plot_deletion_insertion", "plot_experiment_table", "plot_images", "plot_leaderboard", "plot_suny"]

#: Widest figure (inches) that a notebook column shows without shrinking its text.
COLUMN_WIDTH = 9.5
TITLE_PT, LABEL_PT = 9.0, 8.0
SCALES = ("per-map", "shared", "abs")


class NotebookFigure(Figure):
    """A figure that shows itself as a sharp PNG in a notebook, with or without pyplot.

    Created by the helpers when no figure is given. ``_repr_png_`` renders at twice the figure's
    dpi and asks the frontend to show it at the figure's own size, so text is never stretched.
    """

    def _repr_png_(self) -> tuple[bytes, dict[str, int]]:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=2 * self.dpi, bbox_inches="tight", facecolor="white")
        data = buf.getvalue()
        w, h = struct.unpack(">II", data[16:24])
        return data, {"width": w // 2, "height": h // 2}


# -- shared pieces ---------------------------------------------------------------------------------
def _figure(fig: Figure | None, width: float | None, height: float) -> Figure:
    """``fig`` cleared and resized (or a new :class:`NotebookFigure`), with constrained layout."""
    if fig is None:
        fig = NotebookFigure(figsize=(width or COLUMN_WIDTH, height), dpi=100)
        FigureCanvasAgg(fig)
    else:
        fig.clear()
        fig.set_size_inches(width or fig.get_figwidth(), height)
    fig.set_layout_engine("constrained")
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.set(w_pad=0.02, h_pad=0.02, wspace=0.03, hspace=0.03)
    return fig


def _width(fig: Figure | None, width: float | None) -> float:
    w = float(width if width is not None else (fig.get_figwidth() if fig is not None else COLUMN_WIDTH))
    if not 1.0 <= w <= 10.0:
        raise ConfigError(f"width must lie in [1, 10] inches (a notebook column), got {w}.")
    return w


def _wrap(text: str, inches: float, points: float = TITLE_PT) -> str:
    """Wrap each line of ``text`` to about the number of characters that fit in ``inches``."""
    chars = max(6, int(inches * 72 / (0.58 * points)))
    return "\n".join(textwrap.fill(line, chars) if len(line) > chars else line for line in text.split("\n"))


def _as_images(images: Tensor | Sequence[Tensor]) -> list[Tensor]:
    """A list of ``C×H×W`` (or ``H×W``) tensors from a batch or a sequence (leading 1s dropped)."""
    items = list(images) if not isinstance(images, Tensor) else (list(images) if images.dim() == 4 else [images])
    out = []
    for t in items:
        t = torch.as_tensor(t).detach().float().cpu()
        while t.dim() > 3 and t.shape[0] == 1:
            t = t[0]
        if t.dim() not in (2, 3):
            raise InputShapeError(f"an image must be C×H×W or H×W, got shape {tuple(t.shape)}.")
        out.append(t)
    if not out:
        raise InputShapeError("no images to draw; give at least one.")
    return out


def _show_image(ax: Axes, image: Tensor, vmin: float | None = 0.0, vmax: float | None = 1.0) -> None:
    if image.dim() == 3 and image.shape[0] == 3:
        ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy())
    else:
        gray = image if image.dim() == 2 else image.mean(0)
        ax.imshow(gray.numpy(), cmap="gray", vmin=vmin, vmax=vmax)


def _decorate(ax: Axes, mask: Tensor | None = None, boxes: Sequence[Sequence[int]] = ()) -> None:
    """Mask contour (lime), boxes ``(y0, y1, x0, x1)`` (cyan), no ticks."""
    if mask is not None and bool(torch.as_tensor(mask).any()):
        ax.contour(torch.as_tensor(mask).float().squeeze().cpu().numpy(), levels=[0.5], colors="lime",
                   linewidths=0.8)
    for y0, y1, x0, x1 in boxes:
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="cyan", lw=1.0))
    ax.set_xticks([])
    ax.set_yticks([])


def _grid(fig: Figure, n: int, ncols: int, **kw: Any) -> list[Axes]:
    rows = math.ceil(n / ncols)
    axes = list(fig.subplots(rows, ncols, squeeze=False, **kw).flat)
    for ax in axes[n:]:
        ax.remove()
    return axes[:n]


def _mask_at(masks: Tensor | None, i: int) -> Tensor | None:
    if masks is None:
        return None
    m = torch.as_tensor(masks)[i]
    return m[0] if m.dim() == 3 else m


def _titles(given: Sequence[str] | None, n: int, default: Sequence[str], what: str) -> list[str]:
    if given is None:
        return list(default)
    given = list(given)
    if len(given) != n:
        raise ConfigError(f"{len(given)} {what} for {n} panels; give one per panel.")
    return [str(t) for t in given]


# -- images ----------------------------------------------------------------------------------------
def plot_images(images: Tensor | Sequence[Tensor], titles: Sequence[str] | None = None, *,
                masks: Tensor | None = None, boxes: Sequence[Sequence[int]] = (), max_cols: int = 8,
                vmin: float | None = 0.0, vmax: float | None = 1.0, fig: Figure | None = None,
                width: float | None = None) -> Figure:
    """Images in rows of at most ``max_cols``, each with its title, mask contour and boxes.

    Parameters
    ----------
    images:
        ``N×C×H×W`` batch or a sequence of ``C×H×W`` / ``H×W`` tensors (1 channel = gray, 3 = RGB,
        otherwise the channel mean); shown on ``[vmin, vmax]`` (``None`` = the image's range).
    titles:
        One title per image (wrapped to the panel width).
    masks:
        ``N×H×W`` (or ``N×1×H×W``) ground-truth masks drawn as lime contours.
    boxes:
        ``(y0, y1, x0, x1)`` boxes drawn on every image (e.g. a marker).
    """
    items = _as_images(images)
    w = _width(fig, width)
    ncols = max(1, min(int(max_cols), len(items)))
    panel = w / ncols
    shown = _titles(titles, len(items), [""] * len(items), "titles")
    shown = [_wrap(t, panel) for t in shown]
    lines = max((t.count("\n") + 1 for t in shown if t), default=0)
    rows = math.ceil(len(items) / ncols)
    fig = _figure(fig, w, rows * (panel + 0.1 + 0.2 * lines) + 0.05)
    for i, (ax, img, title) in enumerate(zip(_grid(fig, len(items), ncols), items, shown)):
        _show_image(ax, img, vmin, vmax)
        _decorate(ax, _mask_at(masks, i), boxes)
        ax.set_title(title, fontsize=TITLE_PT)
    return fig


# -- attribution maps ------------------------------------------------------------------------------
def _display_maps(exps: list[Explanation], scale: str, hide_below: float) -> tuple[list[Tensor], list[list[str]], str]:
    """Maps as shown (in [-1, 1], or [0, 1] for ``abs``), a note per map, and the colour bar label."""
    notes = [["" for _ in range(len(e))] for e in exps]
    for j, e in enumerate(exps):
        peak = e.maps.detach().float().abs().flatten(1).amax(1)
        for r in range(len(e)):
            if float(peak[r]) == 0.0:
                notes[j][r] = "zero everywhere"
    if scale == "shared":
        s = shared_scale(exps) if exps else 1.0
        shown = [e.normalized("shared", scale=s).cpu() for e in exps]
        for j, e in enumerate(exps):
            peak = e.maps.detach().float().abs().flatten(1).amax(1)
            for r in range(len(e)):
                ratio = float(peak[r]) / s if s > 0 else 0.0
                if 0.0 < ratio < hide_below:
                    notes[j][r] = f"×{1 / ratio:,.0f} smaller: invisible on the shared scale"
        return shown, notes, f"relevance ÷ shared scale ({s:.2g})"
    if scale == "abs":
        return [e.normalized("abs").cpu() for e in exps], notes, "|relevance| ÷ each map's max"
    return [e.normalized("per-map").cpu() for e in exps], notes, "relevance ÷ each map's max |value|"


def plot_attributions(explanations: Mapping[str, Explanation] | Sequence[Explanation], images: Tensor,
                      masks: Tensor | None = None, *, titles: Sequence[str] | None = None,
                      image_titles: Sequence[str] | None = None, scale: str = "per-map",
                      boxes: Sequence[Sequence[int]] = (), hide_below: float = 0.05, max_cols: int = 4,
                      fig: Figure | None = None, width: float | None = None) -> Figure:
    """Images and their attribution maps, on one colour scale with one colour bar.

    One image: the image, then one panel per explanation, in rows of at most ``max_cols`` panels.
    Several images: one row per image (image first, then its maps; method titles on the top row).

    Parameters
    ----------
    explanations:
        :class:`~halign_widgets.explain.Explanation` objects (a dict's values are used), each with
        one map per image.
    images:
        ``B×C×H×W`` images (or one ``C×H×W`` image).
    masks:
        ``B×H×W`` ground-truth masks drawn as contours on every panel of their row.
    titles:
        One title per explanation (default: the method's label and the explained class).
    image_titles:
        One title per image (default ``"image"``).
    scale:
        ``"per-map"`` (each map ÷ its own max |value|, signed), ``"shared"`` (every map ÷ one scale,
        :func:`~halign_widgets.explain.shared_scale`) or ``"abs"`` (|map| ÷ its max).
    boxes:
        ``(y0, y1, x0, x1)`` boxes drawn on every panel (e.g. a marker).
    hide_below:
        On the shared scale, a map whose max |value| is below this fraction of the scale gets the
        note "×N smaller: invisible on the shared scale" in its title.
    """
    exps = list(explanations.values()) if isinstance(explanations, Mapping) else list(explanations)
    if scale not in SCALES:
        raise unknown_name("colour scale", scale, SCALES)
    imgs = _as_images(images)
    for e in exps:
        if len(e) != len(imgs):
            raise InputShapeError(f"{e.label} has {len(e)} map(s) for {len(imgs)} image(s); explain the same images.")
    default = [f"{e.label} (c={int(e.target[0])})" if len(imgs) == 1 else e.label for e in exps]
    names = _titles(titles, len(exps), default, "titles")
    heads = _titles(image_titles, len(imgs), ["image"] * len(imgs), "image titles")
    shown, notes, label = _display_maps(exps, scale, hide_below)
    w = _width(fig, width)
    single = len(imgs) == 1
    n_panels = 1 + len(exps)
    ncols = max(1, min(int(max_cols), n_panels)) if single else n_panels
    rows = math.ceil(n_panels / ncols) if single else len(imgs)
    panel = (w - 0.8) / ncols
    cells: list[tuple[int, int | None, str]] = []      # (image row, explanation index or None, title)
    for r in range(len(imgs)):
        cells.append((r, None, heads[r]))
        for j in range(len(exps)):
            title = names[j] if single or r == 0 else ""
            note = notes[j][r]
            cells.append((r, j, "\n".join(t for t in (title, note) if t)))
    wrapped = [_wrap(t, panel) for _, _, t in cells]
    lines = [max((wrapped[i].count("\n") + 1 for i in range(k * ncols, min(len(cells), (k + 1) * ncols))
                  if wrapped[i]), default=0) for k in range(rows)] if single else \
        [max((wrapped[r * n_panels + c].count("\n") + 1 for c in range(n_panels) if wrapped[r * n_panels + c]),
             default=0) for r in range(rows)]
    fig = _figure(fig, w, rows * (panel + 0.1) + 0.2 * sum(lines) + 0.1)
    axes = _grid(fig, len(cells), ncols)
    cmap, norm = ("inferno", Normalize(0, 1)) if scale == "abs" else ("RdBu_r", Normalize(-1, 1))
    map_axes = []
    for ax, (r, j, _), title in zip(axes, cells, wrapped):
        if j is None:
            _show_image(ax, imgs[r])
        else:
            ax.imshow(shown[j][r].numpy(), cmap=cmap, norm=norm)
            map_axes.append(ax)
        _decorate(ax, _mask_at(masks, r), boxes)
        ax.set_title(title, fontsize=TITLE_PT)
    if map_axes:
        bar = fig.colorbar(ScalarMappable(norm, cmap), ax=map_axes, shrink=0.9 if rows > 1 else 1.0, aspect=25)
        bar.set_label(_wrap(label, max(1.0, 0.85 * rows * panel), LABEL_PT), fontsize=LABEL_PT)
        bar.ax.tick_params(labelsize=LABEL_PT)
    return fig


def plot_deletion_insertion(result: Any, label: str, target: int, index: int = 0, fig: Figure | None = None,
                            width: float | None = None) -> Figure:
    """Deletion and insertion curves of image ``index`` of a ``deletion_insertion`` result, with their AUCs."""
    w = _width(fig, width if width is not None else (None if fig is not None else 5.5))
    fig = _figure(fig, w, 2.6)
    ax = fig.subplots()
    frac = np.linspace(0, 1, result.deletion_curve.shape[1])
    ax.plot(frac, result.deletion_curve[index].cpu().numpy(),
            label=f"deletion (AUC {float(result.deletion_auc[index]):.2f})")
    ax.plot(frac, result.insertion_curve[index].cpu().numpy(),
            label=f"insertion (AUC {float(result.insertion_auc[index]):.2f})")
    ax.set_xlabel("fraction of pixels", fontsize=LABEL_PT)
    ax.set_ylabel(f"p(class {target})", fontsize=LABEL_PT)
    ax.set_ylim(-0.02, 1.02)
    ax.tick_params(labelsize=LABEL_PT)
    ax.set_title(f"{label}: Overall = {float(result.overall[index]):.2f}", fontsize=TITLE_PT)
    ax.legend(fontsize=LABEL_PT)
    return fig


# -- SUNY ------------------------------------------------------------------------------------------
def plot_suny(image: Tensor, result: Any, index: int = 0, title: str | None = None, fig: Figure | None = None,
              width: float | None = None) -> Figure:
    """The image, SUNY's necessity and sufficiency maps (each with a colour bar), the 2-D map, the legend.

    ``result`` is a :class:`~halign_widgets.explain.suny.SunyResult`; ``index`` picks its image.
    The 2-D map (blue = necessary, red = sufficient, magenta = both) divides each map by its own
    maximum (:func:`~halign_widgets.explain.suny.suny_rgb`), so the legend square is its colour key.
    """
    from ..explain.suny import suny_legend, suny_rgb

    img = _as_images(image)[0]
    gray = img if img.dim() == 2 else img.mean(0)
    n, s = result.necessity[index].detach().float().cpu(), result.sufficiency[index].detach().float().cpu()
    rgb = suny_rgb(n, s)[0]
    w = _width(fig, width)
    fig = _figure(fig, w, 0.21 * w + 0.55)
    axes = fig.subplots(1, 5, gridspec_kw={"width_ratios": [1, 1.25, 1.25, 1, 0.55]})
    head = title if title is not None else f"image · p = {float(result.p_full[index]):.2f}"
    _show_image(axes[0], img)
    axes[0].set_title(_wrap(head, w / 5.5), fontsize=TITLE_PT)
    for ax, data, cmap, name in ((axes[1], n, "Blues", "necessity N"), (axes[2], s, "Reds", "sufficiency S")):
        im = ax.imshow(data.numpy(), cmap=cmap, vmin=0, vmax=max(float(data.max()), 1e-12))
        bar = fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02)
        bar.ax.tick_params(labelsize=LABEL_PT)
        ax.set_title(name, fontsize=TITLE_PT)
    axes[3].imshow((0.5 * rgb + 0.5 * gray[None]).clamp(0, 1).permute(1, 2, 0).numpy())
    axes[3].set_title("N (blue) + S (red)", fontsize=TITLE_PT)
    for ax in axes[:4]:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[4].imshow(suny_legend(32).permute(1, 2, 0).numpy(), extent=(0, 1, 0, 1))
    axes[4].set_xlabel("sufficiency", fontsize=LABEL_PT)
    axes[4].set_ylabel("necessity", fontsize=LABEL_PT)
    axes[4].set_xticks([0, 1])
    axes[4].set_yticks([0, 1])
    axes[4].tick_params(labelsize=LABEL_PT)
    return fig


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
    w = _width(fig, width if width is not None else (None if fig is not None else min(COLUMN_WIDTH, 2.6 + 1.1 * k)))
    fig = _figure(fig, w, min(8.0, 1.2 + 0.95 * k))
    ax = fig.subplots()
    im = ax.imshow(cm.numpy(), cmap="Blues", vmin=0)
    top = float(cm.max()) or 1.0
    for t in range(k):
        for p in range(k):
            c = int(cm[t, p])
            ax.text(p, t, f"{c}\n{100 * c / int(totals[t]):.0f} %", ha="center", va="center", fontsize=LABEL_PT,
                    color="white" if c > 0.6 * top else "black")
    ax.set_xticks(range(k), [_wrap(n, 1.0, LABEL_PT) for n in names], fontsize=LABEL_PT)
    ax.set_yticks(range(k), [f"{n}\nrecall {float(r):.2f}" for n, r in zip(names, recall)], fontsize=LABEL_PT)
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
    w = _width(fig, width)
    ncols = max(1, min(int(max_cols), len(metrics)))
    rows = math.ceil(len(metrics) / ncols)
    fig = _figure(fig, w, rows * (0.55 + 0.2 * len(order)) + 0.2)
    axes = _grid(fig, len(metrics), ncols)
    labels = [_method_label(m) for m in order]
    for i, (ax, metric) in enumerate(zip(axes, metrics)):
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
    w = _width(fig, width)
    fig = _figure(fig, w, 3.4)
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
                  [_config_label(*c, with_direction=len(directions) > 1) for c in configs], fontsize=LABEL_PT)
    ax.tick_params(axis="y", labelsize=LABEL_PT)
    ax.set_ylabel("test accuracy", fontsize=LABEL_PT)
    spread = "one seed: no spread to show" if one_seed else f"mean ± std over {int(table['seeds'].max())} seeds"
    ax.set_title(f"test accuracy per configuration ({spread}; dashed: baseline)", fontsize=TITLE_PT)
    if len(worlds) > 1:
        fig.legend(*ax.get_legend_handles_labels(), fontsize=LABEL_PT, loc="outside right upper", title="world",
                   title_fontsize=LABEL_PT)
    return fig
