"""Synchronised batch norm for distributed training: statistics over the global batch (private).

Under plain DDP every rank normalises its own ``batch_size / W`` images with their own mean and
variance, so a 2-process run is not the single-process run with the same global batch. With
synchronised batch norm (Ioffe & Szegedy's batch norm computed over the whole global batch, as in
Peng et al., "MegDet", CVPR 2018) it is, up to float rounding — which is why the Trainer turns it
on by default (``sync_bn=True``).

- On CUDA the layers become :class:`torch.nn.SyncBatchNorm` (torch's kernels, NCCL).
- On the CPU torch's ``SyncBatchNorm`` refuses to run ("expected input tensor to be on GPU"), so
  :class:`GlooSyncBatchNorm` computes the same thing with two differentiable all-reduces
  (per-channel sums and counts, then the sums of squared deviations — two passes, like torch's
  own kernels). The backward of a summing all-reduce is the all-reduce of the incoming gradients,
  which is the exact gradient of the global statistics; DDP's averaging of parameter gradients
  then gives the gradient of the global mean loss. The all-reduce is the ten lines of
  :class:`_AllReduceSum` rather than ``torch.distributed.nn.functional.all_reduce`` because
  torch 2.13 deprecates that one in favour of a private module.

:func:`synchronized_batchnorm` swaps the synchronised layers in for one epoch *sharing* the
original layers' parameters and buffers, and puts the originals back afterwards: the user's model
keeps its classes (checkpoints, ``isinstance`` checks and eval-mode use are unchanged), and code
that runs on one rank only (precise-BN statistics) never meets a layer that waits for the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["GlooSyncBatchNorm", "synchronized_batchnorm"]


class _AllReduceSum(torch.autograd.Function):
    """Sum a tensor over every rank; the gradient is summed over every rank too."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor) -> Tensor:
        import torch.distributed as dist

        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return _AllReduceSum.apply(grad)


class GlooSyncBatchNorm(_BatchNorm):
    """Batch norm whose training-mode statistics span every rank of the default process group (CPU, gloo)."""

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: Tensor) -> Tensor:
        import torch.distributed as dist

        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        all_reduce = _AllReduceSum.apply
        x = x.to(torch.promote_types(x.dtype, torch.float32))  # statistics in ≥ float32, also under autocast
        dims = [0, *range(2, x.dim())]
        shape = [1, x.shape[1]] + [1] * (x.dim() - 2)
        count = torch.full((1,), x.numel() / x.shape[1], dtype=x.dtype, device=x.device)
        sums = all_reduce(torch.cat([x.sum(dims), count]))
        total = sums[-1]
        mean = sums[:-1] / total
        centred = x - mean.view(shape)
        var = all_reduce((centred * centred).sum(dims)) / total
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), var.detach(), float(total.detach()))
        return out

    @torch.no_grad()
    def _update_running_stats(self, mean: Tensor, var: Tensor, total: float) -> None:
        # called only with track_running_stats, so the buffers exist
        assert self.num_batches_tracked is not None and self.running_mean is not None and self.running_var is not None
        self.num_batches_tracked.add_(1)
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else float(self.momentum)
        unbiased = var * (total / max(total - 1.0, 1.0))
        self.running_mean.mul_(1 - factor).add_(mean, alpha=factor)
        self.running_var.mul_(1 - factor).add_(unbiased, alpha=factor)

    @classmethod
    def sharing(cls, layer: _BatchNorm) -> GlooSyncBatchNorm:
        """A synchronised layer holding ``layer``'s own parameters and buffers (no copies)."""
        new = cls(layer.num_features, layer.eps, layer.momentum, layer.affine, layer.track_running_stats)
        _share(layer, new)
        return new


def _share(old: _BatchNorm, new: _BatchNorm) -> None:
    new.weight, new.bias = old.weight, old.bias
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        setattr(new, name, getattr(old, name))
    new.training = old.training


def _synchronised(layer: _BatchNorm, device: torch.device) -> _BatchNorm:
    if device.type == "cuda":
        new = nn.SyncBatchNorm(layer.num_features, layer.eps, layer.momentum, layer.affine, layer.track_running_stats)
        _share(layer, new)
        return new
    return GlooSyncBatchNorm.sharing(layer)


@contextmanager
def synchronized_batchnorm(model: nn.Module, device: torch.device) -> Iterator[nn.Module]:
    """Swap every batch-norm layer of ``model`` for a synchronised one sharing its tensors; restore on exit."""
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    try:
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, _BatchNorm) and not isinstance(child, (nn.SyncBatchNorm, GlooSyncBatchNorm)):
                    parent.add_module(name, _synchronised(child, device))
                    swapped.append((parent, name, child))
        yield model
    finally:
        for parent, name, child in reversed(swapped):
            new = getattr(parent, name)
            child.training = new.training
            parent.add_module(name, child)
