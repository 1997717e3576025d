"""Distributed data-parallel training: the process group, one device per rank, equal shards.

The Trainer uses PyTorch's own engine — ``torch.distributed`` and
:class:`~torch.nn.parallel.DistributedDataParallel` (after Li et al., "PyTorch Distributed:
Experiences on Accelerating Data Parallel Training", VLDB 2020), launched by ``torchrun`` — and
adds only what the lab's guarantees need:

- **Detection.** Under ``torchrun`` (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` in the environment)
  or in a process group the caller initialised, ``Trainer(distributed="auto")`` trains
  data-parallel; ``distributed=True`` insists (and says how to launch), ``False`` never does.
- **Devices.** Rank ``r`` trains on ``cuda:LOCAL_RANK`` with NCCL where CUDA is available (or
  asked for), otherwise on the CPU with gloo. More processes per node than GPUs — or than usable
  CPU cores — is refused up front with the ``--nproc_per_node`` that fits.
- **Shards.** Each epoch's order is still drawn from ``(seed, epoch)``; :func:`shard_order` pads
  it by repeating its head to a multiple of the world size ``W`` (as ``DistributedSampler``
  does) and deals it round-robin, rank ``r`` taking positions ``r, r + W, …``. With per-rank
  batches of ``batch_size / W``, batch ``k`` of all ranks together is exactly batch ``k`` of a
  single-process run with ``batch_size`` — so ``batch_size`` is the *global* batch [ours].

How the ranks agree on metrics, stop requests and failures is in
:mod:`halign_widgets.training._team`; synchronised batch norm in
:mod:`halign_widgets.training._sync_bn`.
"""

from __future__ import annotations

import atexit
import datetime
import gc
import math
import os
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ConfigError
from ..validation import check_real
from .threads import choose_threads, usable_cpus

__all__ = ["DistributedContext", "init_distributed", "launch_environment", "check_processes", "shard_order",
           "rank_threads", "describe", "finish_distributed", "OVERSUBSCRIBE_ENV"]

#: Set to ``1`` to run more CPU (gloo) processes per node than usable cores (slow; for testing).
OVERSUBSCRIBE_ENV = "HALIGN_OVERSUBSCRIBE"


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a distributed run."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    device: torch.device
    backend: str
    timeout: float

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes checkpoints, history files and progress bars."""
        return self.rank == 0


def launch_environment() -> dict[str, int] | None:
    """``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE`` as set by ``torchrun``; ``None`` if absent."""
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        return None
    try:
        world = int(os.environ["WORLD_SIZE"])
        rank = int(os.environ["RANK"])
        local = int(os.environ.get("LOCAL_RANK", rank))
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    except ValueError as exc:
        raise ConfigError(f"the launcher's environment is malformed ({exc}); RANK, WORLD_SIZE, LOCAL_RANK and "
                          "LOCAL_WORLD_SIZE must be integers (torchrun sets them).") from exc
    return {"rank": rank, "world_size": world, "local_rank": local, "local_world_size": local_world}


def check_processes(kind: str, local_rank: int, local_world_size: int, *, gpus: int | None = None,
                    cpus: int | None = None) -> None:
    """Refuse more processes per node than devices: GPUs for CUDA, usable cores for the CPU.

    Raises
    ------
    ConfigError
        Naming the ``--nproc_per_node`` that fits and the other way out.
    """
    if kind == "cuda":
        gpus = torch.cuda.device_count() if gpus is None else gpus
        if local_world_size > gpus or local_rank >= gpus:
            raise ConfigError(
                f"this node runs {local_world_size} training processes but sees {gpus} CUDA GPU(s) (local rank "
                f"{local_rank} would need cuda:{local_rank}); start one process per GPU with "
                f"torchrun --nproc_per_node={max(gpus, 1)}, or train on the CPU with device='cpu' (gloo).")
        return
    cpus = usable_cpus() if cpus is None else cpus
    if local_world_size > cpus and os.environ.get(OVERSUBSCRIBE_ENV, "") != "1":
        raise ConfigError(
            f"this node runs {local_world_size} CPU training processes but this process may use only {cpus} "
            f"CPU core(s), so they would take turns instead of working in parallel; use "
            f"torchrun --nproc_per_node={cpus} (or fewer), or set {OVERSUBSCRIBE_ENV}=1 to run them anyway.")


def _kind(device: str | torch.device) -> str:
    requested = "auto" if device is None else str(device)
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(requested).type
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda'.") from exc
    if kind not in ("cpu", "cuda"):
        raise ConfigError(f"distributed training runs on CUDA (NCCL) or the CPU (gloo), not on {kind!r}; "
                          "pass device='cuda', 'cpu' or 'auto'.")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was requested but no CUDA GPU is available; use device='auto'.")
    return kind


#: Whether :func:`init_distributed` started the process group (a group the caller started is theirs to end).
_started = False


def finish_distributed(*, together: bool = True) -> bool:
    """End the process group :func:`init_distributed` started; ``True`` if there was one to end.

    With ``together`` every rank first waits at a barrier until all of them got here, so no rank
    tears its connections down while another still works (rank 0 evaluating the test split,
    writing the history). Measured on the 2-core CI machine, three 2-rank ``torchrun`` runs of the
    command line at a time: when a rank left early and let the interpreter's exit end the group,
    it aborted in gloo's teardown ("terminate called without an active exception", SIGABRT) in 2
    of 54 runs, and ``torchrun`` then killed rank 0 and reported the finished run as failed; with
    the barrier, 0 of 75. A group the caller initialised is left alone.
    """
    global _started
    import torch.distributed as dist

    if not (_started and dist.is_available() and dist.is_initialized()):
        return False
    try:
        if together:
            dist.barrier()
    finally:
        _started = False
        dist.destroy_process_group()
        gc.collect()  # drop what still refers to the group's sockets while the interpreter is alive
    return True


def _destroy() -> None:  # pragma: no cover - runs at interpreter exit
    finish_distributed(together=False)


def init_distributed(distributed: bool | str = "auto", device: str | torch.device = "auto",
                     timeout: float = 300.0) -> DistributedContext | None:
    """Join (or start) the process group of a launched run; ``None`` when training in one process.

    Parameters
    ----------
    distributed:
        ``"auto"``: data-parallel when launched with more than one process (``torchrun``) or when a
        process group of several ranks is already initialised; ``True``: required (a 1-process
        group is fine); ``False``: never.
    device:
        ``"auto"`` (CUDA if available, else CPU), ``"cuda"`` or ``"cpu"``; the rank's index is
        always ``LOCAL_RANK``.
    timeout:
        Seconds a collective operation may wait for the other ranks before failing (only for a
        group started here; a group the caller initialised keeps its own timeout).

    Raises
    ------
    ConfigError
        ``distributed=True`` without a launcher, a bad device, more processes than devices, a
        non-positive timeout, or an initialised group whose backend cannot drive the device.
    """
    global _started
    if distributed not in (True, False, "auto"):
        raise ConfigError(f"distributed must be 'auto', True or False, got {distributed!r}.")
    check_real("the distributed timeout", timeout, 0.0, strict=True, hint="a positive number of seconds")
    if distributed is False:
        return None
    import torch.distributed as dist

    initialised = dist.is_available() and dist.is_initialized()
    env = launch_environment()
    if initialised:
        world, rank = dist.get_world_size(), dist.get_rank()
        local_rank = env["local_rank"] if env else rank
        local_world = env["local_world_size"] if env else world
    elif env is not None:
        world, rank, local_rank, local_world = (env["world_size"], env["rank"], env["local_rank"],
                                                env["local_world_size"])
    else:
        world = 1
    if world <= 1 and distributed == "auto":
        return None
    if not initialised and env is None:
        raise ConfigError("distributed=True but this process was not launched for distributed training; start it "
                          "with torchrun, e.g. `torchrun --nproc_per_node=2 -m halign_widgets.train ...`, or use "
                          "distributed='auto' to train in one process.")
    if not dist.is_available():
        raise ConfigError("this build of torch has no torch.distributed; train in one process (distributed=False).")
    kind = _kind(device)
    check_processes(kind, local_rank, local_world)
    here = torch.device("cuda", local_rank) if kind == "cuda" else torch.device("cpu")
    if initialised:
        backend = str(dist.get_backend())
        if kind == "cpu" and backend == "nccl":
            raise ConfigError("the process group uses NCCL, which cannot train on the CPU; pass device='cuda' or "
                              "initialise the group with backend='gloo'.")
    else:
        backend = "nccl" if kind == "cuda" and dist.is_nccl_available() else "gloo"
        if kind == "cuda":
            torch.cuda.set_device(here)
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=float(timeout)))
        _started = True
        atexit.register(_destroy)
    return DistributedContext(rank=rank, world_size=world, local_rank=local_rank, local_world_size=local_world,
                              device=here, backend=backend, timeout=float(timeout))


def rank_threads(context: DistributedContext) -> int | None:
    """Torch threads for one CPU rank: this node's usable cores shared among its processes (``HALIGN_THREADS`` wins)."""
    if context.device.type != "cpu":
        return None
    return choose_threads(usable=max(1, usable_cpus() // max(1, context.local_world_size)), busy=0)


def shard_order(order: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Rank ``rank``'s share of ``order``: padded (repeating its head) to a multiple of ``world_size``, dealt
    round-robin.

    Every rank gets ``ceil(len(order) / world_size)`` indices.

    Examples
    --------
    >>> shard_order(torch.tensor([5, 3, 8, 1, 0]), 1, 2).tolist()
    [3, 1, 5]
    """
    n = int(order.numel())
    total = math.ceil(n / world_size) * world_size
    if total > n:
        order = order.repeat(math.ceil(total / n))[:total]
    return order[rank::world_size]


def describe(context: Any) -> str:
    """``"rank 1 of 2 (cpu, gloo)"`` for messages."""
    return f"rank {context.rank} of {context.world_size} ({context.device}, {context.backend})"
