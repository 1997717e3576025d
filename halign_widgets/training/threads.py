"""How many threads torch should use here: the CPUs this process may really use, minus the busy ones.

Why this module exists [ours] — measured on the 2-core course machine: torch starts with one
intra-op thread per core it *sees*, but a course hub or Binder gives a notebook fewer CPUs than
that (a cgroup quota of 1 CPU on a 2-core host, a ``taskset``), and a shared machine may have
every core busy with other users' work. Small operations split across OpenMP threads then
collapse: every parallel region waits at a barrier for a thread that the scheduler has parked,
and whole chapters ran 5–20× slower on a busy machine (``benchmarks/bench_threads.py`` measures
the effect idle and under a competing load; ``benchmarks/results/threads.json`` holds the
reference run, rendered in the README).

:func:`choose_threads` therefore counts

- the CPUs the process may use: its affinity mask (``os.sched_getaffinity``) and its cgroup CPU
  quota (cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us / cpu.cfs_period_us``), rounded up; and
- the CPUs other work keeps busy right now: the kernel's instantaneous count of runnable tasks
  (fourth field of ``/proc/loadavg``, a few samples, minus the sampling thread itself) — not the
  1-minute load average, which remembers this process's own last training run;

and uses ``usable − busy`` threads, at least 1. ``HALIGN_THREADS=N`` fixes the count,
``HALIGN_THREADS=off`` leaves torch's own setting alone.

The size of the work [ours]: a free core helps only when each thread gets enough work to pay
for waking it. ``benchmarks/bench_threads.py`` times SmallCNN training steps from a few MFLOP to
tens of GFLOP with 1 and 2 threads, idle and under load. In the reference run the smallest
steps gained nothing from a second thread idle and the chapters' typical step (about 130 MFLOP)
about a quarter, but lost a third with it under load, while large steps ran about 1.8× faster
with 2 threads idle; under load, a second thread now and then made steps of any size many
times slower (what subtracting the busy cores guards against). So :func:`sized_threads` lowers the
count for a block of work to one thread per :data:`STEP_FLOPS_PER_THREAD` floating-point
operations of its step, never above the count the process chose:
:class:`~halign_widgets.training.Trainer` sizes every run from one batch's forward pass
(:func:`step_flops`), and activation maximization and SUNY size their loops the same way
(:func:`sized_for`).

:func:`apply_threads` sets torch's (process-wide) intra-op thread count. The training package
chooses it once, when imported, and keeps it for the whole process [ours]: the thread count
changes how torch splits its float reductions, so two runs with the same seed give the same
weights bit for bit only under the same count — and a count re-chosen from a noisy load reading
at the start of every run broke that (seen in CI: equal seeds, weights 1e-8 apart). A later
choice happens only when asked: ``apply_threads(refresh=True)`` (for example after the machine
got busier), an explicit ``apply_threads(n)``, or ``torch.set_num_threads`` by the user.
Sizing keeps that property: the count of a block depends only on the process's count and on
the shapes of the model and the batch, so equal seeds and equal settings still give equal
weights. A count the user set, ``HALIGN_THREADS=N`` and :func:`pinned_threads` are never sized.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["usable_cpus", "busy_cpus", "choose_threads", "apply_threads", "pinned_threads", "STEP_FLOPS_PER_THREAD",
           "step_flops", "threads_for_work", "sized_threads", "sized_for"]

#: floating-point operations of one step (forward and backward of one batch) per torch thread [ours]:
#: below twice this a step runs on one thread (see the module docstring and ``benchmarks/bench_threads.py``)
STEP_FLOPS_PER_THREAD = 125e6

_CGROUP_V2 = "/sys/fs/cgroup/cpu.max"
_CGROUP_V1 = ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def _quota_cpus(v2: str = _CGROUP_V2, v1: tuple[str, str] = _CGROUP_V1) -> int | None:
    """CPUs allowed by the cgroup quota (rounded up), or ``None`` without a quota."""
    try:
        quota, period = Path(v2).read_text().split()[:2]
        if quota != "max":
            return max(1, math.ceil(int(quota) / int(period)))
        return None
    except (OSError, ValueError):
        pass
    try:
        quota_v1, period_v1 = (int(Path(p).read_text().strip()) for p in v1)
        if quota_v1 > 0 and period_v1 > 0:
            return max(1, math.ceil(quota_v1 / period_v1))
    except (OSError, ValueError):
        pass
    return None


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask and its cgroup CPU quota (at least 1)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):   # not on Linux
        cpus = os.cpu_count() or 1
    quota = _quota_cpus()
    return max(1, min(cpus, quota) if quota is not None else cpus)


def busy_cpus(samples: int = 5, interval: float = 0.001, loadavg: str = "/proc/loadavg") -> int:
    """CPUs that other work keeps busy now: median runnable tasks over ``samples``, minus this reader.

    Returns 0 where ``/proc/loadavg`` cannot be read (then nothing is assumed busy).
    """
    counts = []
    for i in range(max(1, samples)):
        try:
            running = int(Path(loadavg).read_text().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return 0
        counts.append(max(0, running - 1))
        if i + 1 < samples:
            time.sleep(interval)
    counts.sort()
    return counts[len(counts) // 2]


def choose_threads(usable: int | None = None, busy: int | None = None) -> int | None:
    """Threads for torch: ``usable − busy`` (at least 1); ``None`` when ``HALIGN_THREADS=off``.

    Parameters
    ----------
    usable, busy:
        Override the measurements (tests, benchmarks); default :func:`usable_cpus` and
        :func:`busy_cpus`.
    """
    setting = os.environ.get("HALIGN_THREADS", "auto").strip().lower()
    if setting == "off":
        return None
    if setting not in ("", "auto"):
        try:
            return max(1, int(setting))
        except ValueError:
            pass  # a malformed value is treated as "auto"
    usable = usable_cpus() if usable is None else int(usable)
    busy = busy_cpus() if busy is None else int(busy)
    return max(1, usable - max(0, busy))


_applied: list[int] = []   # the count this module set last (empty before the first time)
_pins: list[int] = []      # counts fixed by pinned_threads blocks (innermost last)


def apply_threads(threads: int | None = None, refresh: bool = False) -> int:
    """Set torch's intra-op threads (default :func:`choose_threads`); return the count now in force.

    The automatic choice is made once per process: later calls keep it (so equal seeds give
    equal weights) unless ``refresh=True`` asks to measure the free CPUs again. A count somebody
    else set (``torch.set_num_threads`` in a notebook or a script, a :func:`pinned_threads`
    block) is never replaced by the automatic choice. An explicit ``threads`` always applies.
    """
    current = torch.get_num_threads()
    if threads is None and (_pins or (_applied and (current != _applied[-1] or not refresh))):
        return current            # chosen before, by this module or by the user: keep it
    n = choose_threads() if threads is None else threads
    if n is not None:
        if n != current:
            torch.set_num_threads(int(n))
        _applied[:] = [int(n)]
    return torch.get_num_threads()


@contextmanager
def pinned_threads(threads: int) -> Iterator[int]:
    """Fix torch's thread count for the block; the automatic choice (:func:`apply_threads`) stays away.

    What an experiment grid needs: every cell with the same count, whether it runs here or in a
    worker process, so serial and parallel runs give the same numbers. The previous count comes
    back afterwards.
    """
    saved = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    _pins.append(int(threads))
    try:
        yield int(threads)
    finally:
        _pins.pop()
        torch.set_num_threads(saved)


def _layer_flops(module: nn.Module, output: Any) -> float:
    """Multiply-adds × 2 of one convolution or linear layer's forward pass, from its output's shape."""
    if not isinstance(output, Tensor):
        return 0.0
    if isinstance(module, nn.modules.conv._ConvNd):
        per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
        return 2.0 * output.numel() * per_output
    if isinstance(module, nn.Linear):
        return 2.0 * output.numel() * module.in_features
    return 0.0


def step_flops(model: nn.Module, x: Tensor, *, backward: bool = True) -> float | None:
    """Estimated floating-point operations of one training step of ``model`` on the batch ``x``.

    Three times the forward pass's (backward costs about twice the forward; ``backward=False``:
    the forward pass alone), counted over the model's convolution and linear layers from their
    output shapes, with one forward pass in evaluation mode without gradients (no batch-norm
    statistics change, and torch's CPU random state is put back). The model's mode comes back
    afterwards. ``None`` when that forward pass fails (then nothing is sized).

    Why by hand: ``torch.utils.flop_counter.FlopCounterMode`` counts every operator exactly, but its
    first use imports ``torch._dynamo`` (measured here at 0.8 s and 75 MB per process on an idle
    machine, 3.4 s on a slow one). torch's optimizers import it too on their first construction, so
    a training run pays that once anyway; SUNY and the explanation apps, which build no optimizer,
    would pay it only for this count. The lab's models spend their work in convolution and linear
    layers, and ``tests/test_threads.py`` checks this count against ``FlopCounterMode``'s.
    """
    total = [0.0]

    def count(module: nn.Module, _inputs: tuple[Any, ...], output: Any) -> None:
        total[0] += _layer_flops(module, output)

    handles = [m.register_forward_hook(count) for m in model.modules()
               if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            model(x)
    except Exception:  # noqa: BLE001 - a model that needs more than one tensor is simply not sized
        return None
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return (3.0 if backward else 1.0) * total[0]


def threads_for_work(flops: float | None, available: int) -> int:
    """One thread per :data:`STEP_FLOPS_PER_THREAD` of ``flops`` (at least 1, at most ``available``)."""
    if flops is None or not math.isfinite(flops):
        return max(1, int(available))
    return max(1, min(int(available), int(flops // STEP_FLOPS_PER_THREAD)))


def _automatic(current: int) -> bool:
    """Whether the count in force is the lab's automatic choice (not the user's, not pinned, not fixed)."""
    setting = os.environ.get("HALIGN_THREADS", "auto").strip().lower()
    return not _pins and bool(_applied) and current == _applied[-1] and setting in ("", "auto")


@contextmanager
def sized_threads(flops: float | None) -> Iterator[int]:
    """Run the block with the threads its work is worth: :func:`threads_for_work` of the count in force.

    Only the lab's automatic count is sized (see the module docstring); the count comes back
    afterwards. Use it in the thread that does the work: torch's count is per thread once set.
    """
    current = torch.get_num_threads()
    n = threads_for_work(flops, current) if _automatic(current) else current
    if n == current:
        yield current
        return
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(current)


@contextmanager
def sized_for(model: nn.Module, example: Tensor, *, rows: int | None = None, backward: bool = True) -> Iterator[int]:
    """:func:`sized_threads` for steps of ``model`` on batches like ``example``.

    ``rows``: the batch a step really has, when ``example`` is a smaller sample of it (the count
    grows linearly with the batch). Nothing is sized off the CPU.
    """
    flops = None
    if example.device.type == "cpu":
        flops = step_flops(model, example, backward=backward)
        if flops is not None and rows is not None:
            flops *= rows / max(1, example.shape[0])
    with sized_threads(flops) as n:
        yield n
