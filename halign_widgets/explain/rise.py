"""RISE: randomized input sampling for explanation (Petsiuk, Das & Saenko, BMVC 2018).

Hand-written (captum has no RISE). Used as the perturbation reference that the SUNY chapter
compares against.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models import model_input
from ..validation import check_int, check_real

__all__ = ["check_rise_options", "rise", "rise_masks"]


def rise_masks(n_masks: int, size: tuple[int, int], grid: int = 8, p: float = 0.5, seed: int = 0,
               device: torch.device | str = "cpu") -> Tensor:
    """Random smooth masks ``n_masks×1×H×W`` in ``[0, 1]``.

    A binary ``grid×grid`` pattern (each cell kept with probability ``p``) is bilinearly upsampled
    to ``(grid+1)·cell`` and cropped with a random shift of up to one cell, as in the paper.
    """
    h, w = size
    gen = torch.Generator().manual_seed(int(seed))
    cell_h, cell_w = -(-h // grid), -(-w // grid)
    cells = (torch.rand(n_masks, 1, grid, grid, generator=gen) < p).float()
    up = F.interpolate(cells, size=((grid + 1) * cell_h, (grid + 1) * cell_w), mode="bilinear",
                       align_corners=False)
    dy = torch.randint(0, cell_h, (n_masks,), generator=gen)
    dx = torch.randint(0, cell_w, (n_masks,), generator=gen)
    masks = torch.stack([up[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n_masks)])
    return masks.to(device)


def check_rise_options(n_masks: int, grid: int, p: float, seed: int,
                       batch_size: int) -> tuple[int, int, float, int, int]:
    """Validate RISE's options (:class:`~halign_widgets.errors.ConfigError` with the valid range)."""
    return (check_int("n_masks (RISE needs n_masks ≥ 1)", n_masks, 1),
            check_int("grid (cells per side of the coarse masks)", grid, 1),
            check_real("p (the keep probability; RISE needs 0 < p ≤ 1)", p, 0.0, strict=True, high=1.0),
            check_int("seed", seed, 0),
            check_int("batch_size (masked images per forward pass)", batch_size, 1))


@torch.no_grad()
def rise(model: nn.Module, x: Tensor, target: Tensor, n_masks: int = 500, grid: int = 8, p: float = 0.5,
         seed: int = 0, batch_size: int = 100) -> Tensor:
    """RISE saliency ``S_c = Σ_i p_c(x ⊙ M_i) M_i / (N · p)``, returned as ``B×H×W``.

    Parameters
    ----------
    model, x, target:
        Classifier, images ``B×C×H×W`` and target classes ``B``.
    n_masks:
        Number of random masks ``N`` (shared by the images of the batch; seeded).
    grid, p:
        Coarse grid size and keep probability of the masks.
    batch_size:
        Masked images per forward pass.

    The images follow the model's device and dtype; the map is accumulated in at least float32.
    """
    n_masks, grid, p, seed, batch_size = check_rise_options(n_masks, grid, p, seed, batch_size)
    x = model_input(model, x)  # the model's device and dtype
    acc = torch.promote_types(x.dtype, torch.float32)  # accumulate in ≥ float32 even for a half-precision model
    masks = rise_masks(int(n_masks), (x.shape[-2], x.shape[-1]), int(grid), float(p), seed, x.device).to(acc)
    out = torch.zeros(x.shape[0], *x.shape[-2:], device=x.device, dtype=acc)
    for b in range(x.shape[0]):
        for start in range(0, n_masks, batch_size):
            m = masks[start:start + batch_size]
            probs = model(x[b:b + 1] * m.to(x.dtype)).to(acc).softmax(1)[:, int(target[b])]
            out[b] += (probs[:, None, None] * m[:, 0]).sum(0)
    return out / (n_masks * p)
