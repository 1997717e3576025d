"""How the Trainer's ranks stay in step: the same calls in one process and in a distributed run (private).

The Trainer talks to a *team*: :class:`Solo` in one process, :class:`Team` under
``torch.distributed``. Both offer the same few calls, so ``trainer.py`` has one loop:

- ``together(work, where, stop)`` runs ``work()`` — a local stretch such as a forward pass or a
  validation shard, returning ``(result, values)`` — and then **agrees** with the other ranks:
  one all-reduce of a fixed-size float64 vector that sums ``values`` (batch sizes, loss and
  accuracy sums …) and carries a stop flag and a failure flag. Every rank leaves with the same
  sums and the same decision: all stop after the same batch, and if one rank's work raised, that
  rank re-raises its own error while every other rank raises :class:`DistributedError` naming it
  — at once, not after a timeout [ours].
  The Trainer agrees twice per batch: after *loading* it (a damaged file on one rank stops every
  rank before the forward pass, whose synchronised batch norm already waits for the others) and
  after the forward pass (loss and metric sums, stop flag); once after validation and once at the
  end of each epoch (after the checkpoint and the callbacks).
- ``local(fn)`` runs work that has no collective inside (callbacks, the checkpoint, precise-BN
  statistics on rank 0). A failure there is held and reported at the next ``together``, so every
  rank still issues the same sequence of collective operations and nobody waits in a collective
  that another rank skipped.

The vector has the same size at every agreement point, so a rank that fails anywhere between two
points meets the others in a matching collective. A rank that dies (or fails inside a collective:
DDP's gradient all-reduce, synchronised batch norm) is detected by the backend — gloo and NCCL
report a closed connection, or the process group's timeout expires — and turned into a
:class:`DistributedError` too.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import torch
from torch import nn

from ..errors import ConfigError, DistributedError
from .distributed import DistributedContext, describe, shard_order

__all__ = ["Solo", "Team", "SLOTS", "is_comm_error"]

T = TypeVar("T")
#: Length of the agreement vector: 4 header slots + up to 60 summed values.
SLOTS = 64
_HEADER = 4
_COMM_MARKERS = ("gloo", "NCCL", "nccl", "Connection closed", "Connection reset", "Timed out", "timed out")


def is_comm_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from the communication backend (a peer gone, a timeout)."""
    import torch.distributed as dist

    dist_error = getattr(dist, "DistError", None)
    return (dist_error is not None and isinstance(exc, dist_error)) or (
        isinstance(exc, RuntimeError) and any(m in str(exc) for m in _COMM_MARKERS))


def _ddp_parameters() -> set[str]:
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    return set(inspect.signature(DistributedDataParallel.__init__).parameters)


class Solo:
    """One process: agreements are the local values, stop requests are read live."""

    rank, world_size, is_main = 0, 1, True
    context: DistributedContext | None = None

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def together(self, work: Callable[[], tuple[T, Sequence[float]]], where: str,
                 stop: bool = False) -> tuple[T, list[float]]:
        result, values = work()
        return result, [float(v) for v in values]

    def local(self, fn: Callable[[], Any]) -> None:
        fn()

    def stop_agreed(self, trainer: Any) -> bool:
        return bool(trainer.stop_requested)

    def reset(self) -> None:
        pass

    def order(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randperm(n, generator=generator)

    def eval_indices(self, n: int) -> torch.Tensor | None:
        return None

    def rank_batch(self, batch_size: int) -> int:
        return batch_size

    def batches_per_epoch(self, n: int, batch_size: int) -> int:
        return math.ceil(n / batch_size)

    def seed_parts(self) -> tuple[str, ...]:
        return ()

    def wrap(self, step_module: nn.Module) -> nn.Module:
        return step_module

    def synchronized_bn(self, model: nn.Module) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def broadcast_buffers(self, model: nn.Module) -> None:
        pass

    def parameter_spread(self, model: nn.Module) -> float:
        return 0.0

    def translate(self, where: str) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()


class Team(Solo):
    """A distributed run: every agreement is an all-reduce (see the module docstring)."""

    context: DistributedContext

    def __init__(self, context: DistributedContext, *, sync_bn: bool = True) -> None:
        super().__init__(context.device)
        self.context = context
        self.rank, self.world_size, self.is_main = context.rank, context.world_size, context.is_main
        self.sync_bn = bool(sync_bn)
        self._pending: BaseException | None = None
        self._stop = False
        self._comm_device = context.device if context.backend == "nccl" else torch.device("cpu")

    # -- agreement -------------------------------------------------------------------------------
    def together(self, work: Callable[[], tuple[T, Sequence[float]]], where: str,
                 stop: bool = False) -> tuple[T, list[float]]:
        result: Any = None
        values: list[float] = []
        error, self._pending = self._pending, None
        if error is None:
            try:
                result, raw = work()
                values = [float(v) for v in raw]
            except Exception as exc:  # noqa: BLE001 - told to the other ranks, then re-raised below
                error = exc
        if error is not None and is_comm_error(error):  # a collective inside the work failed: nobody to tell
            with self.translate(where):
                raise error
        if error is not None:
            print(f"[{describe(self.context)}] failed at {where}: {type(error).__name__}: {error}; telling the "
                  "other ranks.", file=sys.stderr, flush=True)
        if len(values) > SLOTS - _HEADER:
            error = error or ConfigError(f"a distributed step can sum at most {SLOTS - _HEADER} values, got "
                                         f"{len(values)}; return fewer loss terms from step_fn.")
            values = []
        buf = torch.zeros(SLOTS, dtype=torch.float64)
        buf[0], buf[1] = float(stop or self._stop), float(error is not None)
        buf[2], buf[3] = float(self.rank + 1) if error is not None else 0.0, float(len(values))
        buf[_HEADER:_HEADER + len(values)] = torch.tensor(values, dtype=torch.float64)
        buf = buf.to(self._comm_device)
        with self.translate(where):
            import torch.distributed as dist

            dist.all_reduce(buf)
        out = buf.cpu().tolist()
        if error is not None:
            raise error
        failed = int(round(out[1]))
        if failed:
            who = f"rank {int(round(out[2])) - 1}" if failed == 1 else f"{failed} ranks"
            raise DistributedError(
                f"{who} of {self.world_size} failed at {where}, so {describe(self.context)} stopped there too. "
                "The failing rank printed its error (under torchrun it is also in the launcher's failure summary); "
                "fix it and resume from the last checkpoint (trainer.fit(resume_from=...), or --resume).")
        if int(round(out[3])) != len(values) * self.world_size:
            raise ConfigError(f"the ranks reported different numbers of values at {where} (step_fn returned "
                              "different loss terms on different ranks); return the same terms on every rank.")
        self._stop = self._stop or out[0] > 0
        return result, out[_HEADER:_HEADER + len(values)]

    def local(self, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - reported at the next agreement (see module docstring)
            if self._pending is None:
                self._pending = exc

    def stop_agreed(self, trainer: Any) -> bool:
        if self._stop and not trainer.stop_requested:
            trainer.request_stop()  # another rank asked: this rank's state says "stopping" too
        return self._stop

    def reset(self) -> None:
        """Forget the last run's stop decision (a new ``fit`` starts)."""
        self._pending, self._stop = None, False

    @contextlib.contextmanager
    def translate(self, where: str) -> Iterator[None]:
        """Turn a backend failure (peer gone, timeout) inside the block into a :class:`DistributedError`."""
        try:
            yield
        except RuntimeError as exc:
            if isinstance(exc, DistributedError) or not is_comm_error(exc):
                raise
            raise DistributedError(
                f"{describe(self.context)} lost contact with the other ranks at {where} ({str(exc)[:200]}). Another "
                f"rank crashed, was killed or did not answer within the timeout of {self.context.timeout:g} s; its "
                "own output shows the first error. Fix it and resume from the last checkpoint.") from exc

    # -- data --------------------------------------------------------------------------------------
    def order(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return shard_order(torch.randperm(n, generator=generator), self.rank, self.world_size)

    def eval_indices(self, n: int) -> torch.Tensor | None:
        return torch.arange(n)[self.rank::self.world_size]

    def rank_batch(self, batch_size: int) -> int:
        return batch_size // self.world_size

    def batches_per_epoch(self, n: int, batch_size: int) -> int:
        return math.ceil(math.ceil(n / self.world_size) / self.rank_batch(batch_size))

    def seed_parts(self) -> tuple[str, ...]:
        return (f"rank{self.rank}",)  # each rank its own dropout masks

    # -- model ---------------------------------------------------------------------------------------
    def wrap(self, step_module: nn.Module) -> nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        options: dict[str, Any] = {"device_ids": [self.device.index]} if self.device.type == "cuda" else {}
        # synchronised BN keeps the buffers equal on every rank: no broadcast before each forward
        # (torch ≥ 2.13 names this forward_sync_buffers and deprecates broadcast_buffers)
        name = "forward_sync_buffers" if "forward_sync_buffers" in _ddp_parameters() else "broadcast_buffers"
        options[name] = not self.sync_bn
        with self.translate("the start of the run (DistributedDataParallel)"):
            return DistributedDataParallel(step_module, **options)

    def synchronized_bn(self, model: nn.Module) -> contextlib.AbstractContextManager[Any]:
        if not self.sync_bn:
            return contextlib.nullcontext()
        from ._sync_bn import synchronized_batchnorm

        return synchronized_batchnorm(model, self.device)

    def broadcast_buffers(self, model: nn.Module) -> None:
        """Give every rank rank 0's buffers (batch-norm statistics)."""
        import torch.distributed as dist

        with self.translate("the batch-norm statistics broadcast"):
            for buffer in model.buffers():
                dist.broadcast(buffer.data, src=0)

    def parameter_spread(self, model: nn.Module) -> float:
        """Largest ``|p − p_rank0|`` over every parameter and rank (0.0 when the ranks are in step)."""
        import torch.distributed as dist

        params = [p.detach().reshape(-1).to(self._comm_device, torch.float64) for p in model.parameters()]
        if not params:
            return 0.0
        mine = torch.cat(params)
        reference = mine.clone()
        with self.translate("the end-of-run parameter check"):
            dist.broadcast(reference, src=0)
            spread = (mine - reference).abs().max().reshape(1)
            dist.all_reduce(spread, op=dist.ReduceOp.MAX)
        return float(spread.item())
