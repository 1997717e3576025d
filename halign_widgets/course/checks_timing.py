"""A check on a measured speed-up: the lab times both sides itself and compares ratios.

Timings are noisy (a shared machine, a notebook's first call, a busy kernel), so the check takes
the best of a few rounds of each side (:func:`~.measure.best_time`) and accepts an answer within a
*factor* of its own ratio rather than a fixed margin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._verdict import NotYet, Verdict
from .core import as_number, checker
from .measure import best_time

__all__ = ["check_speedup", "compare_speedup"]


def compare_speedup(answer: Any, slow: Callable[[], Any], fast: Callable[[], Any], within: float = 10.0,
                    repeat: int = 3, what: str = "") -> Verdict:
    """The comparison behind :func:`check_speedup` (for domain checks that build ``slow``/``fast`` themselves)."""
    value = as_number(answer, "a speed-up ratio (slow time / fast time)")
    if value <= 0:
        raise NotYet(f"{value:g} is not a ratio of two times", "divide the slow time by the fast time")
    t_slow, t_fast = best_time(slow, repeat), best_time(fast, repeat)
    expected = t_slow / max(t_fast, 1e-12)
    factor = max(value / expected, expected / value)
    label = f"{what}: " if what else ""
    if factor <= within:
        return Verdict(True, f"{label}your {value:,.0f}× and the lab's {expected:,.0f}× (slow {t_slow * 1e3:.3g} ms, "
                             f"fast {t_fast * 1e3:.3g} ms) agree within a factor {within:g}")
    if value < 1 <= expected and 1 / value / expected <= within:
        raise NotYet(f"{label}{value:.3g} is below 1", "you divided the fast time by the slow one; "
                                                       "a speed-up is slow / fast")
    return Verdict(False, f"{label}your {value:,.3g}× is more than a factor {within:g} away from the lab's measurement")


@checker(hint="time each side a few times with time.perf_counter (the first call warms up), keep the best, "
              "and divide the slow time by the fast one")
def check_speedup(answer: Any, slow: Callable[[], Any], fast: Callable[[], Any], within: float = 10.0,
                  repeat: int = 3) -> Verdict:
    """Compare a measured speed-up ``t(slow) / t(fast)`` with the lab's own timing of both callables.

    Called as ``check_speedup(name, answer, slow, fast, within=10.0, repeat=3)`` with two
    zero-argument callables.
    """
    return compare_speedup(answer, slow, fast, within, repeat)
