"""Keeping the model intact when a training step diverges (private helpers of the Trainer).

A NaN or infinite loss — or finite loss with NaN/inf gradients — is detected *before*
``optimizer.step()``, so the parameters and the optimiser state stay those of the last good
step. The forward pass of the bad batch has already run in training mode, though, and batch-norm
layers update their running statistics during it; those buffers are therefore copied before each
forward pass (a few hundred numbers for the lab's models) and put back when the step is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = ["snapshot_buffers", "restore_buffers", "gradients_finite", "checkpoint_note"]


def snapshot_buffers(model: nn.Module) -> list[Tensor]:
    """Copies of every buffer of ``model`` (batch-norm running statistics and counters)."""
    return [b.detach().clone() for b in model.buffers()]


@torch.no_grad()
def restore_buffers(model: nn.Module, saved: list[Tensor]) -> None:
    """Write the copies of :func:`snapshot_buffers` back into ``model``'s buffers."""
    for buffer, value in zip(model.buffers(), saved, strict=True):
        buffer.copy_(value)


@torch.no_grad()
def gradients_finite(optimizer: torch.optim.Optimizer) -> bool:
    """Whether every gradient the optimiser would apply is finite (one device sync).

    Uses the max of absolute values per gradient: it propagates NaN and cannot overflow, unlike a
    sum of squares of large but finite gradients.
    """
    peaks = [p.grad.detach().abs().amax() for group in optimizer.param_groups for p in group["params"]
             if p.grad is not None and p.grad.numel()]
    return not peaks or bool(torch.isfinite(torch.stack([v.float() for v in peaks])).all())


def checkpoint_note(checkpoint_dir: str | os.PathLike[str] | None) -> str:
    """Where the last checkpoint lies (path and epoch), for the divergence message."""
    if checkpoint_dir is None:
        return "no checkpoint was written (pass checkpoint_dir=... to keep one after every epoch)"
    path = Path(checkpoint_dir) / "last.pt"
    if not path.is_file():
        return f"no checkpoint was written yet ({path} is written after every completed epoch)"
    from .checkpoint import read_checkpoint  # only on this error path

    try:
        epoch = read_checkpoint(path).get("epoch")
    except Exception as exc:  # noqa: BLE001 - the note must not hide the divergence itself
        return f"the last checkpoint {path} cannot be read ({type(exc).__name__})"
    return f"the last checkpoint is {path} (epoch {epoch}; resume with trainer.fit(resume_from=...))"
