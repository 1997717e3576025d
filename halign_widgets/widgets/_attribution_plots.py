"""Matplotlib drawing of the AttributionExplorer (private): maps side by side, deletion/insertion curves."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from matplotlib.figure import Figure
from torch import Tensor

from ..explain import Explanation, shared_scale

__all__ = ["plot_curves", "plot_maps"]


def plot_maps(fig: Figure, image: Tensor, mask: Tensor | None, explanations: Mapping[str, Explanation],
              title: str, scale_mode: str = "per-map") -> None:
    """Image (with the ground-truth mask as a contour) then one signed map per explanation.

    ``scale_mode="shared"`` divides every map by one scale (:func:`shared_scale`), otherwise each
    map by its own max |value|; both are shown on the diverging range ``[-1, 1]``.
    """
    fig.clear()
    axes = fig.subplots(1, 1 + len(explanations), squeeze=False)[0]
    axes[0].imshow(image.permute(1, 2, 0).squeeze(-1).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
    axes[0].set_title(title, fontsize=8)
    scale = shared_scale(explanations.values()) if explanations else 1.0
    for ax, e in zip(axes[1:], explanations.values()):
        shown = e.normalized("shared", scale=scale) if scale_mode == "shared" else e.normalized("per-map")
        ax.imshow(shown[0].cpu().numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_title(f"{e.label} (c={int(e.target[0])})", fontsize=8)
    for ax in axes:
        if mask is not None and bool(mask.any()):
            ax.contour(mask.float().cpu().numpy(), levels=[0.5], colors="lime", linewidths=0.8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()


def plot_curves(fig: Figure, result: Any, label: str, target: int) -> None:
    """Deletion and insertion curves of one image (``result`` from ``deletion_insertion``)."""
    fig.clear()
    frac = torch.linspace(0, 1, result.deletion_curve.shape[1]).numpy()
    ax = fig.subplots()
    ax.plot(frac, result.deletion_curve[0].cpu().numpy(), label=f"deletion (AUC {float(result.deletion_auc[0]):.2f})")
    ax.plot(frac, result.insertion_curve[0].cpu().numpy(),
            label=f"insertion (AUC {float(result.insertion_auc[0]):.2f})")
    ax.set_xlabel("fraction of pixels", fontsize=8)
    ax.set_ylabel(f"p(class {target})", fontsize=8)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{label}: Overall = {float(result.overall[0]):.2f}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
