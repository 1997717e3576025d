"""Pathway ablation: cut edges, whole streams or CABs, change gains — and get the model back.

After the lesion logic of Carloni et al. (ECCV 2024 workshops), METHODS.md §3: what each pathway
contributes is what the network loses without it. :func:`ablate` applies every change for the
duration of a ``with`` block and restores the model's gains, cuts and CAB switches afterwards,
even if the block raises — at inference (``with ablate(model, pathways=["dorsal"]): model(x)``) or
for a whole training run (``with ablate(model, edges=["pfc->it"]): trainer.fit()``). For a
permanent change use :meth:`~.model.CoCoReco.cut` / :meth:`~.model.CoCoReco.set_gain`.

A cut edge is skipped by the forward pass, which gives the same output as setting its gain to 0
(the tests hold the two to be equal).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from torch import nn

from ..errors import ConfigError
from .connectome import edge_name, pathway_edges
from .model import CoCoReco
from .wiring import check_gain

__all__ = ["ablate", "resolve_cuts", "model_state"]


def _names(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def resolve_cuts(edges: str | Iterable[str] | None = None, pathways: str | Iterable[str] | None = None) -> list[str]:
    """Canonical edge names cut by ``edges`` and ``pathways`` (each checked; typed errors list the choices)."""
    cut = [edge_name(e) for e in _names(edges)]
    for pathway in _names(pathways):
        cut.extend(pathway_edges(pathway))
    return list(dict.fromkeys(cut))


def model_state(model: CoCoReco) -> dict[str, object]:
    """A copy of everything :func:`ablate` may change: gains, cut mask, CAB switches."""
    return {"gains": model.gains.detach().clone(), "edge_on": model.edge_on.detach().clone(),
            "cab_on": dict(model.cab_on), "cab_active": model.cab_active}


def _restore(model: CoCoReco, state: Mapping[str, object]) -> None:
    model.gains.copy_(state["gains"])
    model.edge_on.copy_(state["edge_on"])
    model.cab_on = dict(state["cab_on"])         # type: ignore[call-overload]
    model.cab_active = bool(state["cab_active"])


@contextmanager
def ablate(model: nn.Module, *, edges: str | Iterable[str] | None = None,
           pathways: str | Iterable[str] | None = None, cabs: str | Iterable[str] | None = None,
           gains: Mapping[str, float] | None = None) -> Iterator[nn.Module]:
    """Cut edges, pathways and CABs and set gains inside the block; restore the model on exit.

    Parameters
    ----------
    model:
        A :class:`~.model.CoCoReco`.
    edges:
        Edge names to cut (``"v4->it"``; see :data:`.connectome.EDGES`).
    pathways:
        Pathways to cut, from :data:`.connectome.PATHWAYS`: ``"ventral"``, ``"dorsal"``,
        ``"sc_pulvinar"``, ``"pfc_shortcut"``, ``"feedback"``.
    cabs:
        CAB areas to switch off (``"it"``), or ``"all"``.
    gains:
        ``{edge: gain}`` to set (finite, ≥ 0).

    Everything is validated before the model is touched, so a typo changes nothing.

    Examples
    --------
    >>> with ablate(model, pathways=["dorsal"], cabs="all"):   # doctest: +SKIP
    ...     acc_without_dorsal = accuracy(model(x), y)
    """
    if not isinstance(model, CoCoReco):
        raise ConfigError(f"ablate works on a CoCoReco model, got {type(model).__name__}; a plain CNN has no "
                          "pathways to cut.")
    cut = resolve_cuts(edges, pathways)
    names = _names(cabs)
    off = list(model.cab_areas) if names == ["all"] else [model.check_cab(a) for a in names]
    new_gains = {edge_name(e): check_gain(edge_name(e), v) for e, v in (gains or {}).items()}
    saved = model_state(model)
    try:
        for edge, value in new_gains.items():
            model.set_gain(edge, value)
        model.cut(*cut)
        for area in off:
            model.set_cab(area, False)
        yield model
    finally:
        _restore(model, saved)

