"""The ground-truth worlds, one module per world; use :func:`halign_widgets.data.make_world`."""

from __future__ import annotations

from ._base import World
from .context import CONTEXT
from .cooccurrence import COOCCURRENCE
from .domains import DOMAINS
from .logic import LOGIC
from .masses import MASSES

#: Every registered world, by name (in the order they are listed to users).
WORLDS: dict[str, World] = {w.name: w for w in (MASSES, DOMAINS, COOCCURRENCE, LOGIC, CONTEXT)}

__all__ = ["WORLDS", "World"]
