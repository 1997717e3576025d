"""How many threads torch should use here: the CPUs this process may really use, minus the busy ones.

Why this module exists [ours] — measured on the 2-core course machine: torch starts with one
intra-op thread per core it *sees*, but a course hub or Binder gives a notebook fewer CPUs than
that (a cgroup quota of 1 CPU on a 2-core host, a ``taskset``), and a shared machine may have
every core busy with other users' work. Small operations split across OpenMP threads then
collapse: every parallel region waits at a barrier for a thread that the scheduler has parked,
so with two busy processes competing for the two cores one fast-path causality map took 4.9 ms
with 2 threads against 0.68 ms with 1 (0.26 ms idle), and whole chapters ran 5–20× slower.

:func:`choose_threads` therefore counts

- the CPUs the process may use: its affinity mask (``os.sched_getaffinity``) and its cgroup CPU
  quota (cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us / cpu.cfs_period_us``), rounded up; and
- the CPUs other work keeps busy right now: the kernel's instantaneous count of runnable tasks
  (fourth field of ``/proc/loadavg``, a few samples, minus the sampling thread itself) — not the
  1-minute load average, which remembers this process's own last training run;

and uses ``usable − busy`` threads, at least 1. ``HALIGN_THREADS=N`` fixes the count,
``HALIGN_THREADS=off`` leaves torch's own setting alone.

:func:`apply_threads` sets torch's (process-wide) intra-op thread count. The training package
chooses it once, when imported, and keeps it for the whole process [ours]: the thread count
changes how torch splits its float reductions, so two runs with the same seed give the same
weights bit for bit only under the same count — and a count re-chosen from a noisy load reading
at the start of every run broke that (seen in CI: equal seeds, weights 1e-8 apart). A later
choice happens only when asked: ``apply_threads(refresh=True)`` (for example after the machine
got busier), an explicit ``apply_threads(n)``, or ``torch.set_num_threads`` by the user.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

__all__ = ["usable_cpus", "busy_cpus", "choose_threads", "apply_threads", "pinned_threads"]

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
