"""Peak resident-memory growth of one call, sampled in a thread (the benchmarks' memory column).

``/proc/self/statm`` is read directly (cheaper than psutil inside a tight sampling loop); where it
does not exist the growth reads 0.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss() -> int:
    """This process's resident memory in bytes (0 where ``/proc`` is missing)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except OSError:
        return 0


def sampled(fn: Callable[[], Any], interval: float) -> tuple[float, float, Any]:
    """Seconds, peak RSS growth (MB, sampled every ``interval`` s while it runs) and result of one call."""
    base, peak, stop = rss(), [0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t = time.perf_counter()
    try:
        out = fn()
    finally:
        secs = time.perf_counter() - t
        stop.set()
        thread.join()
    return secs, max(0, peak[0] - base) / 2**20, out
