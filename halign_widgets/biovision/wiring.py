"""Editing CoCoReco's wiring: gains, cut edges, CAB switches (a mixin of :class:`~.model.CoCoReco`).

After Carloni et al. (ECCV 2024 workshops), METHODS.md §3. The gains live in the model's ``gains``
buffer and the cuts in its ``edge_on`` buffer, both in the order of
:func:`~.connectome.edge_names`; nothing here is a trainable parameter.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import unknown_name
from ..validation import check_real
from .connectome import EDGES, edge_name, get_area

__all__ = ["WiringMixin", "check_gain"]


def check_gain(edge: str, value: Any) -> float:
    """A finite, non-negative gain, or a :class:`ConfigError` that says how to silence an edge instead."""
    return check_real(f"the gain of {edge}", value, 0.0, hint="connectome gains scale a projection, they do not "
                      "invert it; use 0 (or cut the edge) to silence it")


class WiringMixin:
    """Gains, cuts and CAB switches of a network with ``gains``/``edge_on`` buffers and ``cabs``."""

    gains: Any
    edge_on: Any
    cabs: Any
    cab_on: dict[str, bool]
    _edge_index: dict[str, int]

    @property
    def cab_areas(self) -> tuple[str, ...]:
        """Areas that have a CAB."""
        return tuple(self.cabs.keys())

    def gain(self, edge: str) -> float:
        """Current gain of ``edge`` (``"v1->v4"``; cut edges keep their gain, see :meth:`is_cut`)."""
        return round(float(self.gains[self._edge_index[edge_name(edge)]]), 6)

    def set_gain(self, edge: str, value: float) -> None:
        """Set the fixed gain of ``edge`` (≥ 0; the optimiser never changes it)."""
        name = edge_name(edge)
        self.gains[self._edge_index[name]] = check_gain(name, value)

    def reset_gains(self) -> None:
        """Put every gain back to the connectome value of :data:`.connectome.EDGES` and reconnect every edge."""
        self.gains.copy_(torch.tensor([e.gain for e in EDGES], dtype=self.gains.dtype))
        self.edge_on.fill_(True)

    def cut(self, *edges: str) -> None:
        """Disconnect ``edges``: the forward pass skips them (same output as gain 0)."""
        for index in [self._edge_index[edge_name(e)] for e in edges]:
            self.edge_on[index] = False

    def reconnect(self, *edges: str) -> None:
        """Undo :meth:`cut` for ``edges`` (all edges when none are given)."""
        names = edges or tuple(self._edge_index)
        for index in [self._edge_index[edge_name(e)] for e in names]:
            self.edge_on[index] = True

    def cut_edges(self) -> list[str]:
        """Names of the edges that are cut now."""
        return [name for name, i in self._edge_index.items() if not bool(self.edge_on[i])]

    def gain_table(self) -> dict[str, float]:
        """``{edge: gain}`` for every edge, as it is now."""
        return {name: round(float(g), 6) for name, g in zip(self._edge_index, self.gains.tolist(), strict=True)}

    def reaches_decision(self, area: str) -> bool:
        """Whether ``area``'s output still reaches IT (the decision) through edges that are on, with gain > 0."""
        live = [e for e, on, g in zip(EDGES, self.edge_on.tolist(), self.gains.tolist(), strict=True) if on and g > 0]
        seen, stack = set(), [get_area(area).name]
        while stack:
            a = stack.pop()
            if a == "it":
                return True
            if a not in seen:
                seen.add(a)
                stack.extend(e.dst for e in live if e.src == a)
        return False

    def is_cut(self, edge: str) -> bool:
        """True when ``edge`` is disconnected."""
        return not bool(self.edge_on[self._edge_index[edge_name(edge)]])

    def check_cab(self, area: str) -> str:
        """The id of ``area`` if it has a CAB; a typed error listing the CAB areas otherwise."""
        try:
            name: str | None = get_area(area).name
        except LookupError:
            name = None
        if name is None or name not in self.cabs:
            raise unknown_name("CAB area (this model has CABs at "
                               f"{', '.join(self.cab_areas) or 'no area'})", str(area), self.cab_areas)
        return name

    def set_cab(self, area: str, on: bool) -> None:
        """Switch the CAB of ``area`` on or off (an ablation; :attr:`cab_active` is the master switch)."""
        self.cab_on[self.check_cab(area)] = bool(on)
