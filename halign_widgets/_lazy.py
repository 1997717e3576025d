"""Names a package exports but imports only when first asked for (private, bottom layer).

``explain``, ``explain.metrics`` and ``widgets`` keep ``import halign_widgets.<package>`` cheap and
free of import cycles by loading some modules on first use (PEP 562, a module-level
``__getattr__``). This is the one implementation they share.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(package: str, lazy: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``name`` comes from the module ``lazy[name]``.

    Module names starting with a dot are relative to ``package``; others are absolute.
    Any other name raises the ``AttributeError`` Python raises for a missing attribute.
    """

    def __getattr__(name: str) -> Any:
        if name in lazy:
            return getattr(importlib.import_module(lazy[name], package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
