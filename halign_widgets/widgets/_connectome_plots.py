"""Drawing helpers of the ConnectomeExplorer: the area graph and the detail panels (private)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from matplotlib import patheffects
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..biovision import AREAS, EDGES, get_area

#: Where each area sits in the diagram: x = processing depth, y = lane (PFC on top, ventral, early
#: visual path, dorsal's two sub-streams, subcortical route at the bottom).
POSITIONS: dict[str, tuple[float, float]] = {
    "retina": (0.0, 2.0), "lgn": (1.0, 2.0), "v1": (2.0, 2.0),
    "sc": (1.0, -0.9), "pulvinar": (2.0, -0.9),
    "pfc": (3.0, 4.0),
    "v2thin": (3.0, 3.0), "v4": (4.0, 3.0), "v8": (5.0, 3.0), "it": (8.0, 3.0),
    "v2thick": (3.0, 1.0), "v3": (4.0, 1.0), "v5mt": (5.0, 1.4), "mst": (6.0, 1.4), "ipl": (7.0, 1.4),
    "v3a": (5.0, 0.2), "v6": (6.0, 0.2), "spl": (7.0, 0.2),
}
STREAM_COLORS = {"early": "#555555", "subcortical": "#8c564b", "prefrontal": "#9467bd", "ventral": "#1f77b4",
                 "dorsal": "#2ca02c"}


def draw_graph(fig: Figure, channels: Mapping[str, int], gains: Mapping[str, float], cut: set[str],
               selected_area: str, selected_edge: str, cabs: tuple[str, ...], cab_on: bool) -> None:
    """The area graph: nodes sized by channels, edges as wide as their gain, streams coloured."""
    fig.clear()
    ax = fig.add_axes((0.0, 0.02, 0.8, 0.96))
    stream = {a.name: a.stream for a in AREAS}
    biggest = max(channels.values())
    for e in EDGES:
        (x0, y0), (x1, y1) = POSITIONS[e.src], POSITIONS[e.dst]
        g = gains[e.name]
        is_cut = e.name in cut or g == 0
        chosen = e.name == selected_edge
        color = "#d62728" if chosen else ("#cccccc" if is_cut else STREAM_COLORS[stream[e.src]])
        style = "arc3,rad=0.18" if e.direction == "feedback" else "arc3,rad=0.0"
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), zorder=2 if chosen else 1,
                    arrowprops=dict(arrowstyle="-|>", color=color, lw=0.4 + 3.0 * min(g, 2.0),
                                    linestyle=":" if is_cut else ("--" if e.direction == "feedback" else "-"),
                                    shrinkA=10, shrinkB=10, connectionstyle=style, mutation_scale=8,
                                    alpha=0.9))
    for a in AREAS:
        x, y = POSITIONS[a.name]
        size = 120 + 900 * math.sqrt(channels[a.name] / biggest)
        edge = "black" if a.name == selected_area else "white"
        ax.scatter([x], [y], s=size, color=STREAM_COLORS[a.stream], edgecolors=edge,
                   linewidths=2.5 if a.name == selected_area else 1.0, zorder=3)
        if a.name in cabs:   # a CAB is drawn as a ring around its area (dashed when switched off)
            ax.scatter([x], [y], s=size * 1.9, facecolors="none", edgecolors="#ff7f0e", linewidths=2.0,
                       linestyle="-" if cab_on else ":", zorder=3)
        ax.text(x, y, a.label, ha="center", va="center", fontsize=8, color="black", zorder=4, fontweight="bold",
                path_effects=[patheffects.withStroke(linewidth=2.5, foreground="white")])
    ax.set_xlim(-0.6, 8.6), ax.set_ylim(-1.6, 4.6)
    ax.axis("off")
    handles = [Line2D([], [], color=c, lw=3, label=s) for s, c in STREAM_COLORS.items()]
    handles += [Line2D([], [], color="0.3", lw=1.5, ls="--", label="feedback"),
                Line2D([], [], color="#cccccc", lw=1.5, ls=":", label="cut"),
                Line2D([], [], color="#d62728", lw=2, label="selected edge"),
                Line2D([], [], color="#ff7f0e", lw=0, marker="o", markerfacecolor="none", markersize=9,
                       markeredgewidth=2, label="CAB (dotted: off)")]
    fig.legend(handles=handles, loc="center right", fontsize=8, frameon=False,
               title="line width = gain α\nnode size = channels", title_fontsize=8)


def _mosaic(acts: np.ndarray, columns: int = 2) -> np.ndarray:
    """Tile ``c×h×w`` maps into one image, ``columns`` per row, with one-pixel NaN gaps."""
    c, h, w = acts.shape
    rows = -(-c // columns)
    out = np.full((rows * (h + 1) - 1, columns * (w + 1) - 1), np.nan)
    for k in range(c):
        r, q = divmod(k, columns)
        out[r * (h + 1):r * (h + 1) + h, q * (w + 1):q * (w + 1) + w] = acts[k]
    return out


def draw_detail(fig: Figure, image: np.ndarray, mask: np.ndarray | None, acts: np.ndarray, channels: list[int],
                cam: np.ndarray | None, area_label: str, probs: np.ndarray, intact: np.ndarray,
                classes: list[str]) -> None:
    """Image, CAM at the area, the area's strongest channels (one mosaic) and the probabilities."""
    fig.clear()
    grid = fig.add_gridspec(1, 4, left=0.02, right=0.98, top=0.86, bottom=0.1, wspace=0.35,
                            width_ratios=[1.0, 1.2, 1.2, 1.5])
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(image, cmap="gray")
    if mask is not None and mask.any():
        ax.contour(mask.astype(float), levels=[0.5], colors="yellow", linewidths=0.8)
    ax.set_title("image (mask: yellow)", fontsize=9)
    ax.axis("off")
    ax = fig.add_subplot(grid[0, 1])
    ax.set_title(f"Grad-CAM at {area_label}", fontsize=9)
    if cam is None:
        ax.text(0.5, 0.5, f"CAM is zero:\n{area_label} no longer\nreaches the decision", ha="center", va="center",
                fontsize=8, transform=ax.transAxes)
        ax.set_xticks([]), ax.set_yticks([])
    else:
        ax.imshow(image, cmap="gray")
        im = ax.imshow(cam, cmap="jet", alpha=0.5, vmin=0.0, vmax=1.0)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=8)
        ax.axis("off")
    ax = fig.add_subplot(grid[0, 2])
    vmax = float(np.nanmax(acts)) if acts.size and np.nanmax(acts) > 0 else 1.0
    im = ax.imshow(_mosaic(acts), cmap="magma", vmin=0.0, vmax=vmax, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=8)
    ax.set_title(f"{area_label}: channels {', '.join(map(str, channels))}", fontsize=9)
    ax.axis("off")
    ax = fig.add_subplot(grid[0, 3])
    ys = np.arange(len(classes))
    ax.barh(ys + 0.2, intact, height=0.4, color="0.7", label="intact model")
    ax.barh(ys - 0.2, probs, height=0.4, color="tab:blue", label="now")
    ax.set_yticks(ys, [""] * len(classes))
    for k, name in enumerate(classes):   # names inside the axes: long class names never overlap the CAM
        ax.text(0.01, k + 0.45, name, fontsize=8, va="bottom", ha="left")
    ax.set_ylim(-0.6, len(classes) + 0.25)
    ax.set_xlim(0, 1)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("class probabilities", fontsize=9)


def draw_factors(fig: Figure, factors: Mapping[str, np.ndarray], message: str | None) -> None:
    """One stem chart of CAB factors per CAB area, or a message why there is none."""
    fig.clear()
    if message is not None:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=9, transform=ax.transAxes)
        ax.axis("off")
        return
    axes = fig.subplots(1, len(factors), squeeze=False)[0]
    for ax, (area, w) in zip(axes, factors.items(), strict=False):
        xs = np.arange(len(w))
        ax.vlines(xs, 0.0, w, color="tab:purple", linewidth=max(1.0, 60.0 / max(len(w), 1)))
        ax.set_xlim(-0.8, len(w) - 0.2)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"CAB factors w at {get_area(area).label}", fontsize=9)
        ax.set_xlabel("channel", fontsize=8)
        ax.tick_params(labelsize=8)
    fig.subplots_adjust(left=0.06, right=0.98, top=0.82, bottom=0.28, wspace=0.3)
