"""Validation of numeric method options, shared by the explainers (private helpers).

Options are checked before any work, so a bad value gets a :class:`~halign_widgets.errors.ConfigError`
that names the option and its valid range — never a third-party assertion from deep inside captum
or a NaN that silently spreads through an optimisation. Booleans are refused where a number is
expected (``True`` is an ``int`` in Python), and so are NaN and infinity.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from ..errors import ConfigError

__all__ = ["check_int", "check_real"]


def check_int(name: str, value: Any, low: int = 0, high: int | None = None) -> int:
    """``value`` as an int if it is an integer (not a bool) in ``[low, high]``; else :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low or (
            high is not None and value > high):
        span = f"between {low} and {high}" if high is not None else f"≥ {low}"
        raise ConfigError(f"{name} must be an integer {span}, got {value!r}.")
    return int(value)


def check_real(name: str, value: Any, low: float | None = None, *, strict: bool = False,
               high: float | None = None) -> float:
    """``value`` as a finite float ≥ ``low`` (``> low`` if ``strict``) and ≤ ``high``; else :class:`ConfigError`."""
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(float(value))
    if ok and low is not None:
        ok = float(value) > low if strict else float(value) >= low
    if ok and high is not None:
        ok = float(value) <= high
    if not ok:
        parts = []
        if low is not None:
            parts.append(f"{'>' if strict else '≥'} {low:g}")
        if high is not None:
            parts.append(f"≤ {high:g}")
        span = " and ".join(parts)
        raise ConfigError(f"{name} must be a finite number{' ' + span if span else ''}, got {value!r}.")
    return float(value)
