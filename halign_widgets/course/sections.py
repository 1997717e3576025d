"""A chapter section that cannot use the researcher's ``DATA`` says so in one printed line (issue 17).

Some sections need what only the lab's generated worlds know — the positions of the logic world's
cues, a world's ``shortcut`` knob — and run on a world of their own instead of ``DATA``, or not at
all. They decide here, so the decision is one tested library call rather than notebook code, and
print the same kind of line as :func:`halign_widgets.data.requires` (``skipped <what>: <why>.``):

- :func:`uses_lab_world` — the section always runs on the lab's world ``world``; when ``DATA`` is
  something else it prints ``skipped your data in <section>: <why>; it runs on the lab's <world>
  world.``;
- :func:`requires_world_knob` — the section only runs when ``DATA`` names a world that has the
  knob; otherwise ``skipped <section>: …``.

Both never raise on any ``DATA`` (a world's name, a path, a loaded dataset) and return a ``bool``.
"""

from __future__ import annotations

import os
from typing import Any

from ..data import list_worlds, world_knobs

__all__ = ["requires_world_knob", "uses_lab_world"]


def _world_name(data: Any) -> str | None:
    """The lab world ``data`` names (a name, or a dataset made by ``make_world``), else ``None``."""
    if isinstance(data, str):
        name: Any = data
    elif isinstance(data, os.PathLike):
        return None
    else:
        info = getattr(data, "info", None)
        name = info.get("name") if isinstance(info, dict) and info.get("kind", "world") == "world" else None
    return name if isinstance(name, str) and name in list_worlds() else None


def uses_lab_world(data: Any, world: str, section: str, why: str) -> bool:
    """``True`` when ``data`` is the lab's world ``world``; otherwise print one "skipped your data" line.

    Called as ``uses_lab_world(DATA, "logic", "§4 AND vs OR", "it needs the positions of the two cues")``
    by a section that always builds its own ``world``: on any other ``DATA`` (another world, a folder,
    an ``.npz``) the line says the section does not use it, why, and what it runs on instead.
    """
    if _world_name(data) == world:
        return True
    print(f"skipped your data in {section}: {why}; it runs on the lab's {world} world.")
    return False


def requires_world_knob(data: Any, knob: str, section: str, why: str = "") -> bool:
    """``True`` when ``data`` names a lab world with the knob ``knob``; otherwise print why ``section`` is skipped.

    Called as ``if requires_world_knob(DATA, "shortcut", "the shortcut experiment"):``. ``why`` (optional)
    is added in parentheses, e.g. where the knob comes from.
    """
    name = _world_name(data)
    if name is not None and knob in world_knobs(name):
        return True
    what = (f"the world {name!r} has no {knob!r} knob" if name else
            f"this data is not a lab world with the {knob!r} knob")
    print(f"skipped {section}: {what}" + (f" ({why})." if why else "."))
    return False
