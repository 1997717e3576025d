"""How many images fit in one forward-backward pass: the attribution methods' adaptive pass size.

Gradient methods that expand each input (Integrated Gradients: ``n_steps`` copies, occlusion:
``batch_size`` occluded copies) are explained in chunks so that one pass holds at most
``max_pass`` images. A fixed cap is wrong both ways: too small, and many small passes pay
captum's per-call overhead again and again; too large, and on Binder (1–2 GB) one pass runs out of
memory. The cap is therefore computed **[ours]**. What it costs is measured by
``python benchmarks/bench_explain.py --ig-only --record`` (``benchmarks/results/explain_ig.json``:
the lab's chunked passes against captum called directly on a batch of 32 images with 20 steps; on a
quiet 2-core machine the chunks were the faster of the two, while under heavy CPU contention the
ratio swung widely between rounds — the slowdown of the old fixed cap that the hardening issue
reported only appeared under such load):

- *bytes per image-pass*: one probe forward of a single image with hooks on the leaf modules
  sums the bytes of every activation, plus the input, times :data:`BACKWARD_FACTOR` for the
  tensors autograd keeps and the gradients of the backward pass (cached per model and input shape);
- *memory at hand*: ``torch.cuda.mem_get_info`` on a GPU; on the CPU the smaller of psutil's
  available memory and what the process's cgroup still allows (containers such as Binder report
  the host's memory in ``/proc/meminfo``);
- ``max_pass = clamp(min(MEMORY_FRACTION · memory, MAX_PASS_BYTES) / bytes per image, MIN_PASS, MAX_PASS)``.

The absolute bound :data:`MAX_PASS_BYTES` (256 MiB) keeps a big machine from spending gigabytes
on one pass for no gain — on 2 CPU cores, passes of ~150 images of 64×64 are already as fast as
one pass of 640 — and keeps a chapter inside its 1.5 GB budget (the measured memory of a pass is
about 1.1× the probe's forward activations, so the estimate is conservative by ~2×).
"""

from __future__ import annotations

import weakref

import torch
from torch import Tensor, nn

from ..data import _memory as _data_memory
from ..models import eval_mode

__all__ = ["BACKWARD_FACTOR", "MAX_PASS", "MAX_PASS_BYTES", "MEMORY_FRACTION", "MIN_PASS", "auto_max_pass",
           "available_memory", "bytes_per_image"]

#: Share of the free memory one pass may use.
MEMORY_FRACTION = 0.25
#: Activations are kept for the backward pass and matched by gradients of the same size.
BACKWARD_FACTOR = 2.0
#: At most this many (estimated) bytes per pass, however much memory is free: a chapter must stay
#: within 1.5 GB, and on 2 cores passes of ~150 images are already as fast as larger ones.
MAX_PASS_BYTES = 256 << 20
#: Bounds of the automatic cap (images per forward-backward pass).
MIN_PASS, MAX_PASS = 16, 4096

_CACHE: weakref.WeakKeyDictionary[nn.Module, dict[tuple, int]] = weakref.WeakKeyDictionary()


def available_memory(device: torch.device | str = "cpu") -> int:
    """Free bytes for tensors on ``device``: ``cuda.mem_get_info`` on a GPU, else the data layer's figure.

    On the CPU this is :func:`halign_widgets.data._memory.available_memory` (the smaller of the
    system's available memory and the room under a container's limit), the same number the worlds
    and loaders check their requests against; 1 GiB is assumed where nothing can be read.
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    room = _data_memory.available_memory()
    return int(room) if room is not None else 1 << 30


@torch.no_grad()
def bytes_per_image(model: nn.Module, x: Tensor) -> int:
    """Estimated bytes one image costs in a forward-backward pass (probe forward, cached)."""
    key = (tuple(x.shape[1:]), x.dtype, x.device.type)
    per_model = _CACHE.setdefault(model, {})
    if key in per_model:
        return per_model[key]
    total = [x[:1].numel() * x.element_size()]

    def hook(_m: nn.Module, _i: tuple, out: object) -> None:
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, Tensor):
                total[0] += t.numel() * t.element_size()

    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with eval_mode(model):
            model(x[:1].detach())
    finally:
        for h in handles:
            h.remove()
    per_model[key] = int(BACKWARD_FACTOR * total[0])
    return per_model[key]


def auto_max_pass(model: nn.Module, x: Tensor, memory: int | None = None) -> int:
    """Images per forward-backward pass that fit in ``MEMORY_FRACTION`` of ``memory`` (default: free memory)."""
    free = available_memory(x.device) if memory is None else int(memory)
    per_image = max(1, bytes_per_image(model, x))
    budget = min(MEMORY_FRACTION * free, MAX_PASS_BYTES)
    return int(min(MAX_PASS, max(MIN_PASS, budget // per_image)))
