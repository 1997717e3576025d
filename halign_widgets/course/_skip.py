"""A check that cannot run on this data says so in one "not yet" line containing "skipped" (issue 17).

On a researcher's own data some exercises have nothing to compare with — no ground-truth masks,
no metadata of a generated world. Their check still prints one line, a "not yet" (the exercise is
not done; on this data it cannot be) whose reason starts with "skipped", and returns ``False``::

    ⏳ not yet: suny_mass — skipped: this data has no ground-truth masks to compare with (give …)

A stub answer (``None``) is named too ("it is still None"), as every check does.
"""

from __future__ import annotations

from typing import Any

from ._verdict import announce

__all__ = ["NO_MASKS", "skip"]

#: The reason printed when an exercise needs masks the data lacks.
NO_MASKS = ("this data has no ground-truth masks to compare with (give DATA_OPTIONS['masks'] for a folder, or "
            "<split>_masks in the .npz)")


def skip(name: str, reason: str, answer: Any = ...) -> bool:
    """Print ``⏳ not yet: <name> — skipped: <reason>`` and return ``False``; never raises."""
    stub = "; it is still None — fine: there is nothing to measure on this data" if answer is None else ""
    try:
        return announce(str(name), False, f"skipped: {reason}{stub}")
    except Exception:  # noqa: BLE001 - a check never raises, even on a broken stdout
        return False
