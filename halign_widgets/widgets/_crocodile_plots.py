"""Matplotlib drawing of the CrocodileLab (private): curves, graphs side by side, attention maps.

:func:`draw_attention` draws the three attention panels of one image; the lab's :func:`plot_attention`
and the chapter's :func:`~halign_widgets.widgets.plots.plot_attention_examples` both use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import Tensor

from ._plotting import LABEL_PT, decorate_panel, show_image

__all__ = ["draw_attention", "plot_curves", "plot_graphs", "plot_attention", "short_names"]

_SCORES = (("map", "mAP", "C0"), ("auroc", "AUROC", "C2"))


def short_names(findings: Sequence[str]) -> list[str]:
    """Four-letter finding names for matrix ticks."""
    return [f[:4] for f in findings]


def plot_curves(fig: Figure, history: Sequence[dict[str, Any]], terms: Sequence[str]) -> None:
    """ID scores | OOD scores | the switched-on loss terms, per epoch."""
    fig.clear()
    axes = fig.subplots(1, 3)
    epochs = [e["epoch"] for e in history]
    for ax, where, title in ((axes[0], "id", "in distribution (val)"), (axes[1], "ood", "out of distribution")):
        for key, label, color in _SCORES:
            values = [e.get(f"{where}_{key}") for e in history]
            ax.plot(epochs, values, marker="o", markersize=3, color=color, label=label)
        ax.set_ylim(0.4, 1.0)
        ax.set_title(title, fontsize=9)
    axes[0].legend(fontsize=8, loc="lower right")
    for name in terms:
        axes[2].plot(epochs, [e.get(f"train_{name}") for e in history], marker=".", label=name, lw=1)
    axes[2].set_title("loss terms (train)", fontsize=9)
    if terms and history:
        axes[2].legend(fontsize=8, loc="upper right", ncol=2)
    last = max(epochs, default=1)
    for ax in axes:
        ax.set_xlim(0.5, last + 0.5)
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))
        ax.set_xlabel("epoch", fontsize=8)
        if not history:
            ax.text(0.5, 0.5, "press Start", ha="center", va="center", transform=ax.transAxes, fontsize=9,
                    color="0.5")
    fig.subplots_adjust(left=0.06, right=0.98, top=0.88, bottom=0.18, wspace=0.3)


def plot_graphs(fig: Figure, prior: Tensor, learned: Tensor | None, truth: Tensor, findings: Sequence[str],
                prior_on: bool) -> None:
    """Prior being edited | learned causality map of the task queries | the world's true graph."""
    fig.clear()
    axes = fig.subplots(1, 3)
    names = short_names(findings)
    panels = ((prior, "prior graph" + ("" if prior_on else " (loss off)")),
              (learned, "learned map of the task queries"), (truth, "true graph (world)"))
    for ax, (matrix, title) in zip(axes, panels, strict=False):
        ax.set_title(title, fontsize=9)
        ax.set_xticks(range(len(names)), names, fontsize=8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_xlabel("effect", fontsize=8)
        if matrix is None:
            ax.imshow(np.zeros((len(names), len(names))), cmap="Greys", vmin=0, vmax=1)
            ax.text(len(names) / 2 - 0.5, len(names) / 2 - 0.5, "train to see", ha="center", va="center",
                    fontsize=9, color="0.4")
            continue
        m = matrix.detach().cpu().numpy()
        own = matrix is learned          # the learned map on its own range, so its structure shows
        lo, hi = (float(m.min()), float(m.max())) if own else (0.0, max(1.0, float(m.max())))
        im = ax.imshow(m, cmap="viridis", vmin=lo, vmax=hi if hi > lo else lo + 1e-6)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=8)
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if m[i, j] < (lo + hi) / 2 else "black")
    axes[0].set_ylabel("cause", fontsize=8)
    fig.subplots_adjust(left=0.06, right=0.97, top=0.88, bottom=0.2, wspace=0.45)


def draw_attention(fig: Figure, axes: Sequence[Axes], image: Tensor, scores: dict[str, Any] | None,
                   bar_format: str = "%.4g") -> None:
    """On three ``axes`` of ``fig``: the image with the finding's region (lime) and the source marker
    (orange) | the causal map ``A`` | the spurious map ``1 − A``, each map with its colour bar.

    ``scores`` is :func:`~halign_widgets.crocodile.score_attention` output; without it only the
    image is drawn. No ticks; the caller titles the panels.
    """
    show_image(axes[0], image.detach().float().cpu())
    decorate_panel(axes[0])
    if scores is None:
        return
    for mask, colour in ((scores["finding_mask"], "lime"), (scores["marker_mask"], "orange")):
        if bool(mask.any()):
            axes[0].contour(mask.float().numpy(), levels=[0.5], colors=colour, linewidths=1)
    for ax, name in zip(axes[1:3], ("causal", "spurious"), strict=True):
        drawn = ax.imshow(scores[name].numpy(), cmap="magma")
        # plain tick labels: a near-flat map would otherwise get an offset text over the title
        fig.colorbar(drawn, ax=ax, fraction=0.046, pad=0.03, format=bar_format).ax.tick_params(labelsize=LABEL_PT)
        decorate_panel(ax)


def plot_attention(fig: Figure, image: Tensor, scores: dict[str, Any] | None, title: str,
                   note: str = "no task queries") -> None:
    """Image with the finding's region and the marker | causal map | spurious map, scores in the titles.

    Without ``scores`` the map panels show ``note`` (a placeholder).
    """
    fig.clear()
    axes = fig.subplots(1, 3)
    draw_attention(fig, axes, image, scores)
    axes[0].set_title(title, fontsize=8)
    if scores is None:
        for ax in axes[1:]:
            ax.text(0.5, 0.5, note, ha="center", va="center", transform=ax.transAxes, fontsize=9, color="0.4")
    else:
        for ax, name in ((axes[1], "causal"), (axes[2], "spurious")):
            on_f, on_m = scores[f"{name}_on_finding"], scores[f"{name}_on_marker"]
            finding = "—" if on_f != on_f else f"{on_f:.2f}"
            ax.set_title(f"{name} {'A' if name == 'causal' else '1 − A'}: finding {finding}, marker {on_m:.2f}",
                         fontsize=8)
    for ax in axes:
        ax.axis("off")
    fig.subplots_adjust(left=0.02, right=0.92, top=0.86, bottom=0.04, wspace=0.35)
