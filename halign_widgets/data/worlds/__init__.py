"""The ground-truth worlds, one module per world; use :func:`halign_widgets.data.make_world`."""

from __future__ import annotations

from ._base import World
from .masses import MASSES

#: Every registered world, by name (in the order they are listed to users).
WORLDS: dict[str, World] = {w.name: w for w in (MASSES,)}

__all__ = ["WORLDS", "World"]
