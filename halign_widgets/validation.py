"""Argument checks shared by every layer: integers, real numbers, choices (the bottom layer).

Every public function of the lab checks its arguments before any work, so a bad value gets a
:class:`~halign_widgets.errors.ConfigError` (or :class:`~halign_widgets.errors.UnknownNameError`)
that names the argument and its valid range — never a third-party assertion from deep inside torch
or captum, and never a NaN that silently spreads. Two Python pitfalls are handled once here:
``True`` is an ``int`` (refused where a number is meant), and NumPy / torch scalars are accepted
as the numbers they are.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Iterable
from typing import Any, TypeVar

from .errors import ConfigError, unknown_name

__all__ = ["check_int", "check_real", "check_fraction", "check_choice"]

T = TypeVar("T")


def _span(low: float | None, high: float | None, strict: bool = False, between: bool = False,
          strict_high: bool = False) -> str:
    if between and low is not None and high is not None and not strict:
        return f" between {low:g} and {high:g}"
    parts = []
    if low is not None:
        parts.append(f"{'>' if strict else '≥'} {low:g}")
    if high is not None:
        parts.append(f"{'<' if strict_high else '≤'} {high:g}")
    return (" " + " and ".join(parts)) if parts else ""


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None, hint: str = "") -> int:
    """``value`` as a Python ``int`` if it is an integer (not a bool) in ``[low, high]``.

    NumPy and torch integer scalars are accepted (``operator.index``). ``hint`` is appended to the
    message, e.g. ``"number of images, e.g. n=2000"``.

    Raises
    ------
    ConfigError
        Not an integer, a bool, or outside the range.
    """
    try:
        v = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        v = None
    if v is None or (low is not None and v < low) or (high is not None and v > high):
        extra = f" ({hint})" if hint else ""
        raise ConfigError(f"{name} must be an integer{_span(low, high, between=True)}, got {value!r}{extra}.")
    return int(v)


def check_real(name: str, value: Any, low: float | None = None, high: float | None = None, *,
               strict: bool = False, strict_high: bool = False, hint: str = "") -> float:
    """``value`` as a finite ``float`` ≥ ``low`` (``> low`` if ``strict``), ≤ ``high`` (``< high`` if ``strict_high``).

    ``hint`` is appended to the message, e.g. ``"a positive learning rate such as 1e-3"``.

    Raises
    ------
    ConfigError
        Not a real number, a bool, NaN or infinite, or outside the range.
    """
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real)
    v = float(value) if ok else math.nan
    ok = ok and math.isfinite(v)
    if ok and low is not None:
        ok = v > low if strict else v >= low
    if ok and high is not None:
        ok = v < high if strict_high else v <= high
    if not ok:
        extra = f" ({hint})" if hint else ""
        raise ConfigError(f"{name} must be a finite number{_span(low, high, strict, strict_high=strict_high)}, "
                          f"got {value!r}{extra}.")
    return v


def check_fraction(name: str, value: Any) -> float:
    """``value`` as a float in ``[0, 1]`` (a probability, a share, a strength)."""
    return check_real(name, value, 0.0, 1.0)


def check_choice(kind: str, value: T, choices: Iterable[T]) -> T:
    """``value`` if it is one of ``choices``; else :class:`UnknownNameError` listing them (and the closest one)."""
    options = list(choices)
    if value not in options:
        raise unknown_name(kind, str(value), [str(c) for c in options])
    return value
