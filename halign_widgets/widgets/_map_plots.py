"""Figure helpers for images and maps (private; public through :mod:`halign_widgets.widgets.plots`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from torch import Tensor

from ..errors import InputShapeError, unknown_name
from ..explain import Explanation, shared_scale
from ._plotting import (
    LABEL_PT,
    SCALES,
    TITLE_PT,
    as_images,
    column_width,
    decorate_panel,
    mask_at,
    panel_grid,
    prepare_figure,
    show_image,
    titles_for,
    wrap_text,
)

__all__ = ["plot_attributions", "plot_deletion_insertion", "plot_images", "plot_suny"]


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
    items = as_images(images)
    w = column_width(fig, width)
    ncols = max(1, min(int(max_cols), len(items)))
    panel = w / ncols
    shown = titles_for(titles, len(items), [""] * len(items), "titles")
    shown = [wrap_text(t, panel) for t in shown]
    lines = max((t.count("\n") + 1 for t in shown if t), default=0)
    rows = math.ceil(len(items) / ncols)
    fig = prepare_figure(fig, w, rows * (panel + 0.1 + 0.2 * lines) + 0.05)
    for i, (ax, img, title) in enumerate(zip(panel_grid(fig, len(items), ncols), items, shown, strict=False)):
        show_image(ax, img, vmin, vmax)
        decorate_panel(ax, mask_at(masks, i), boxes)
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
    imgs = as_images(images)
    for e in exps:
        if len(e) != len(imgs):
            raise InputShapeError(f"{e.label} has {len(e)} map(s) for {len(imgs)} image(s); explain the same images.")
    default = [f"{e.label} (c={int(e.target[0])})" if len(imgs) == 1 else e.label for e in exps]
    names = titles_for(titles, len(exps), default, "titles")
    heads = titles_for(image_titles, len(imgs), ["image"] * len(imgs), "image titles")
    shown, notes, label = _display_maps(exps, scale, hide_below)
    w = column_width(fig, width)
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
    wrapped = [wrap_text(t, panel) for _, _, t in cells]
    lines = [max((wrapped[i].count("\n") + 1 for i in range(k * ncols, min(len(cells), (k + 1) * ncols))
                  if wrapped[i]), default=0) for k in range(rows)] if single else \
        [max((wrapped[r * n_panels + c].count("\n") + 1 for c in range(n_panels) if wrapped[r * n_panels + c]),
             default=0) for r in range(rows)]
    fig = prepare_figure(fig, w, rows * (panel + 0.1) + 0.2 * sum(lines) + 0.1)
    axes = panel_grid(fig, len(cells), ncols)
    cmap, norm = ("inferno", Normalize(0, 1)) if scale == "abs" else ("RdBu_r", Normalize(-1, 1))
    map_axes = []
    for ax, (r, exp, _), title in zip(axes, cells, wrapped, strict=False):
        if exp is None:
            show_image(ax, imgs[r])
        else:
            ax.imshow(shown[exp][r].numpy(), cmap=cmap, norm=norm)
            map_axes.append(ax)
        decorate_panel(ax, mask_at(masks, r), boxes)
        ax.set_title(title, fontsize=TITLE_PT)
    if map_axes:
        bar = fig.colorbar(ScalarMappable(norm, cmap), ax=map_axes, shrink=0.9 if rows > 1 else 1.0, aspect=25)
        bar.set_label(wrap_text(label, max(1.0, 0.85 * rows * panel), LABEL_PT), fontsize=LABEL_PT)
        bar.ax.tick_params(labelsize=LABEL_PT)
    return fig


def plot_deletion_insertion(result: Any, label: str, target: int, index: int = 0, fig: Figure | None = None,
                            width: float | None = None) -> Figure:
    """Deletion and insertion curves of image ``index`` of a ``deletion_insertion`` result, with their AUCs."""
    w = column_width(fig, width if width is not None else (None if fig is not None else 5.5))
    fig = prepare_figure(fig, w, 2.6)
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

    img = as_images(image)[0]
    gray = img if img.dim() == 2 else img.mean(0)
    n, s = result.necessity[index].detach().float().cpu(), result.sufficiency[index].detach().float().cpu()
    rgb = suny_rgb(n, s)[0]
    w = column_width(fig, width)
    fig = prepare_figure(fig, w, 0.21 * w + 0.55)
    axes = fig.subplots(1, 5, gridspec_kw={"width_ratios": [1, 1.25, 1.25, 1, 0.55]})
    head = title if title is not None else f"image · p = {float(result.p_full[index]):.2f}"
    show_image(axes[0], img)
    axes[0].set_title(wrap_text(head, w / 5.5), fontsize=TITLE_PT)
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
