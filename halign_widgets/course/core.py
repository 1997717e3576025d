"""The generic core of the checks: a decorator that makes any comparison a never-raising check.

A *comparison function* takes the student's answer first and whatever it needs to recompute the
result itself, and returns ``True``/``False``, a :class:`~._verdict.Verdict`, or a
``(passed, detail)`` pair; it may raise :class:`~._verdict.NotYet` with a reason. :func:`checker`
turns it into a *check* ``check(name, answer, *args, hint=None, **kwargs) -> bool`` that

- says "not yet" when the answer is still ``None`` (or ``...``): the stub of a student copy;
- turns :class:`NotYet`, a wrong type (``TypeError``/``ValueError`` while reading the answer) and
  any other exception inside the comparison into a "not yet" with a hint — a check never raises,
  so a student copy whose solution cells hold only stubs runs to the end;
- prints one line (:func:`~._verdict.announce`) and returns ``True``/``False`` (for tests).

Only ``KeyboardInterrupt``/``SystemExit`` get through (a student may stop a slow check).

Conventions for nbgrader / otter-grader users: there is no grade, only feedback; the lab itself
is the answer key (checks recompute with the lab's functions, so they hold for any seed).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Set
from typing import Any

import torch

from ._verdict import NotYet, Verdict, announce

__all__ = ["checker", "check_value", "check_true", "as_number", "as_integer", "as_tensor", "describe"]

Comparison = Callable[..., Any]
Check = Callable[..., bool]


def describe(value: Any, width: int = 60) -> str:
    """A short readable rendering of an answer (numbers rounded, long things cut)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, torch.Tensor):
        if value.numel() == 1:
            return f"{float(value):.4g}"
        return f"a tensor of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def as_number(answer: Any, what: str = "a number") -> float:
    """The answer as a finite Python float; :class:`NotYet` saying why when it is not one."""
    if isinstance(answer, bool):
        raise NotYet(f"it is {answer!r}, a bool; {what} was expected")
    if isinstance(answer, torch.Tensor):
        if answer.numel() != 1:
            raise NotYet(f"it is a tensor of shape {tuple(answer.shape)}; {what} was expected",
                         "reduce it to one number, e.g. with .mean() or float(...)")
        answer = answer.item()
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise NotYet(f"it is {describe(answer)} ({type(answer).__name__}); {what} was expected") from None
    if not math.isfinite(value):
        raise NotYet(f"it is {value}; a finite number was expected",
                     "a NaN usually comes from an empty selection or a division by zero")
    return value


def as_integer(answer: Any, what: str = "an integer") -> int:
    """The answer as a Python int (an integral float or 0-d tensor is accepted)."""
    value = as_number(answer, what)
    if value != int(value):
        raise NotYet(f"it is {value:g}; {what} was expected")
    return int(value)


def as_tensor(answer: Any, what: str = "numbers") -> torch.Tensor:
    """The answer (tensor, array, list, number) as a float64 CPU tensor; :class:`NotYet` if it cannot be."""
    if isinstance(answer, (str, bytes, dict, Set)):
        raise NotYet(f"it is a {type(answer).__name__}; {what} were expected")
    try:
        if isinstance(answer, torch.Tensor):
            return answer.detach().to("cpu", torch.float64)
        return torch.as_tensor(answer, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise NotYet(f"it is {describe(answer)} ({type(answer).__name__}); {what} were expected") from None


def _empty(answer: Any) -> bool:
    return answer is None or answer is Ellipsis


def checker(func: Comparison | None = None, *, hint: str | None = None) -> Any:
    """Decorate a comparison function into a never-raising check (see the module docstring).

    Parameters
    ----------
    func:
        ``func(answer, *args, **kwargs)`` → ``bool`` | :class:`Verdict` | ``(bool, detail)``.
    hint:
        The default hint printed with a "not yet" (a call may pass its own ``hint=``).

    Returns
    -------
    callable
        ``check(name, answer, *args, hint=None, **kwargs) -> bool``.

    Examples
    --------
    >>> @checker(hint="an even number")
    ... def check_even(answer):
    ...     n = as_integer(answer)
    ...     return Verdict(n % 2 == 0, f"{n} is {'even' if n % 2 == 0 else 'odd'}")
    >>> check_even("n", 4)
    ✅ pass: n — 4 is even
    True
    """
    if func is None:
        return functools.partial(checker, hint=hint)
    default_hint = hint

    @functools.wraps(func)
    def check(name: str, answer: Any, *args: Any, hint: str | None = None, **kwargs: Any) -> bool:
        tip = hint or default_hint
        label = str(name)
        try:
            if _empty(answer):
                return announce(label, False, "it is still None: write your solution and assign the result to "
                                f"`{label}`", tip)
            outcome = func(answer, *args, **kwargs)
            if isinstance(outcome, Verdict):
                return announce(label, outcome.passed, outcome.detail, outcome.hint or tip)
            if isinstance(outcome, tuple) and len(outcome) == 2:
                return announce(label, bool(outcome[0]), str(outcome[1]), tip)
            return announce(label, bool(outcome), "" if outcome else "the comparison did not hold", tip)
        except NotYet as exc:
            return announce(label, False, exc.detail, exc.hint or tip)
        except Exception as exc:  # noqa: BLE001 - a check never raises (DESIGN.md, "Exercises")
            message = f"{type(exc).__name__}: {exc}".strip()
            message = message if len(message) <= 300 else message[:299] + "…"
            try:
                return announce(label, False, f"the check could not use this answer ({message})", tip)
            except Exception:  # noqa: BLE001 - even a broken stdout must not stop the notebook
                return False

    check.comparison = func  # type: ignore[attr-defined]  # the undecorated function, for reuse and tests
    return check


def _close(a: float, e: float, tol: float, rtol: float) -> bool:
    return abs(a - e) <= tol + rtol * abs(e)


def _compare_value(answer: Any, expected: Any, tol: float | None = None, rtol: float = 0.0) -> Verdict:
    if isinstance(expected, Set):
        if answer in expected:
            return Verdict(True, f"{describe(answer)} is one of the answers the lab accepts")
        return Verdict(False, f"{describe(answer)} is not what the lab measures")
    if isinstance(expected, bool):
        if not isinstance(answer, bool) and not (isinstance(answer, torch.Tensor) and answer.numel() == 1):
            raise NotYet(f"it is {describe(answer)} ({type(answer).__name__}); True or False was expected")
        value = bool(answer)
        return Verdict(value == expected, f"{value}" + (" — as the lab finds" if value == expected else
                                                     " — not what the lab finds"))
    if isinstance(expected, str):
        if not isinstance(answer, str):
            raise NotYet(f"it is {describe(answer)} ({type(answer).__name__}); a text was expected")
        ok = answer.strip().lower() == expected.strip().lower()
        return Verdict(ok, f"{answer!r}" + (" — as the lab finds" if ok else " is not what the lab finds"))
    tol = 0.0 if tol is None else float(tol)
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        number = as_number(answer)
        ok = _close(number, float(expected), tol, rtol)
        margin = f" ± {tol:g}" if tol else ""
        if ok:
            return Verdict(True, f"{number:.4g} (the lab measures {float(expected):.4g}{margin})")
        return Verdict(False, f"{number:.4g} is not{' within ' + format(tol, 'g') + ' of' if tol else ''} what the "
                              "lab measures")
    exp = as_tensor(expected)
    got = as_tensor(answer)
    if got.shape != exp.shape:
        if got.numel() == exp.numel():
            got = got.reshape(exp.shape)
        else:
            raise NotYet(f"it has shape {tuple(got.shape)}; the lab's result has shape {tuple(exp.shape)}")
    both_nan = torch.isnan(got) & torch.isnan(exp)
    diff = torch.where(both_nan, torch.zeros_like(got), (got - exp).abs())
    bound = tol + rtol * exp.abs()
    bad = int((~(diff <= bound) & ~both_nan).sum())
    if bad == 0:
        return Verdict(True, f"all {exp.numel()} values agree with the lab's (max deviation {float(diff.max()):.2g})"
                             if exp.numel() else "empty, as the lab's")
    return Verdict(False, f"{bad} of {exp.numel()} values differ from the lab's by more than the tolerance")


@checker(hint="compare your number with the chapter's text; reread the exercise for what to measure")
def check_value(answer: Any, expected: Any, tol: float | None = None, rtol: float = 0.0) -> Verdict:
    """Compare ``answer`` with ``expected`` (what the lab computed itself).

    Called as ``check_value(name, answer, expected, tol=None, rtol=0.0, hint=None) -> bool``.

    - numbers: ``|answer − expected| ≤ tol + rtol·|expected|`` (``tol`` 0: exact);
    - tensors, arrays, lists: the same, element by element, shapes equal (NaN matches NaN);
    - a ``set`` of acceptable answers: membership (e.g. tied channels);
    - ``bool`` and ``str`` (case and surrounding blanks ignored): equality.
    """
    return _compare_value(answer, expected, tol, rtol)


@checker(hint="reread the exercise: what should hold for your result?")
def check_true(answer: Any, predicate: Callable[[Any], Any] | None = None, what: str = "") -> Verdict:
    """Pass when ``predicate(answer)`` (or, without a predicate, ``answer`` itself) is true.

    Called as ``check_true(name, answer, predicate=None, what="", hint=None) -> bool``; ``what``
    says in words what must hold (printed with the outcome).
    """
    ok = bool(predicate(answer)) if predicate is not None else bool(answer)
    detail = what or ("the condition holds" if ok else "the condition does not hold yet")
    return Verdict(ok, detail if ok or not what else f"not yet true: {what}")
