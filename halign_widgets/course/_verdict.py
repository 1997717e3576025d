"""What a check says: a pass or a "not yet", printed as one plain-text line.

The two shapes of the line (DESIGN.md, "Exercises")::

    ✅ pass: speedup — your 310× and the lab's 290× agree within a factor 10
    ⏳ not yet: speedup — it is still None: run your solution cell (hint: time both modes ...)

A "not yet" never states the value the lab expects, so a student copy's printed checks give no
answer away; a pass may show both numbers side by side.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NotYet", "Verdict", "announce", "PASS_MARK", "NOT_YET_MARK"]

PASS_MARK = "✅ pass:"
NOT_YET_MARK = "⏳ not yet:"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one comparison: ``passed`` and a sentence saying what was compared.

    ``hint`` (optional) replaces the check's default hint on a "not yet".
    """

    passed: bool
    detail: str = ""
    hint: str | None = None


class NotYet(Exception):
    """Raised inside a comparison function to say "not yet" with a reason (and optionally a hint).

    Parameters
    ----------
    detail:
        What is wrong with the answer, without giving the expected value away.
    hint:
        What to try (replaces the check's default hint when given).
    """

    def __init__(self, detail: str, hint: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.hint = hint


def announce(name: str, passed: bool, detail: str = "", hint: str | None = None) -> bool:
    """Print the pass / not-yet line for the answer called ``name`` and return ``passed``."""
    body = f"{name} — {detail}" if detail else name
    if passed:
        print(f"{PASS_MARK} {body}", flush=True)
    else:
        print(f"{NOT_YET_MARK} {body}" + (f" (hint: {hint})" if hint else ""), flush=True)
    return bool(passed)
