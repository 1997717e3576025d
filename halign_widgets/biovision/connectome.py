"""The area graph of CoCoReco and its connectome gains, as inspectable data.

After Carloni, Ghiasi, Colantonio et al., "Connectivity-Inspired Network for Context-Aware
Recognition" (ECCV 2024 workshop on Human-inspired Computer Vision); see METHODS.md §3.

Every area is one conv stage (3×3 conv → ReLU → 2×2 max-pool). Every **edge** ``src->dst`` feeds
``src``'s output into ``dst``'s input, scaled by a **fixed gain** ``α``:

- a ``drive`` edge is the area's own feed-forward input, passed as it is (identity): the image
  reaches the retina, the retina drives the superior colliculus (10 % of the axons), the pulvinar
  (10 %) and the LGN (90 %), the LGN drives V1, V1 drives the PFC shortcut and both V2 stripes, …;
- a ``projection`` edge is ``α · resize(1×1 conv(h))``: a learned 1×1 conv matches the channels,
  the grid is resized to the destination's (adaptive average pooling when it shrinks, bilinear
  interpolation when it grows — [ours]: the authors resize to fixed sizes computed for 160 px).

The gains come from :data:`SOURCE`: the values the authors set in their public network definition
after connectome studies (0.015 to 1.0; e.g. V1→V3 0.12, V1→V4 0.05, V4→IT 0.07, PFC→IT 1.0,
LGN→V4 1.0). Where the authors scale an area's output without a 1×1 conv (V3→V8 0.075,
V4→V3a 0.03, V3a→MST 0.02) this table uses a projection like every other lateral edge [ours];
where they share one projection between two edges (PFC→IPL and PFC→SPL) each edge has its own
[ours]. Edges are ``direction="feedback"`` when they run from a higher area back to a lower one
or top-down from the prefrontal and parietal cortex; all others are ``"forward"``.

Names: areas by lower-case ids (``"v5mt"``), displayed with :attr:`Area.label` (``"V5/MT"``);
edges as ``"src->dst"`` (``"→"`` is accepted too, and labels such as ``"V1->V4"``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import unknown_name

__all__ = ["SOURCE", "Area", "Edge", "AREAS", "EDGES", "PATHWAYS", "area_names", "edge_names", "get_area",
           "get_edge", "edge_name", "topological_order", "in_edges", "pathway_edges", "connectome_table"]

#: Where the gains and the wiring come from.
SOURCE = ("Carloni et al., 'Connectivity-Inspired Network for Context-Aware Recognition', ECCV 2024 "
          "workshops: the gains of the authors' public network definition (github.com/gianlucarloni/"
          "CoCoReco, model/network.py), which they take from connectome studies of the primate visual "
          "system; METHODS.md §3.")


@dataclass(frozen=True)
class Area:
    """One cortical or subcortical area: id, display label, stream and channels at full scale."""

    name: str
    label: str
    stream: str
    channels: int


@dataclass(frozen=True)
class Edge:
    """One connection ``src -> dst`` with its fixed connectome gain."""

    src: str
    dst: str
    gain: float
    kind: str = "projection"       # "drive" (identity) or "projection" (α · resize(1×1 conv))
    direction: str = "forward"     # "forward" or "feedback"

    @property
    def name(self) -> str:
        """``"src->dst"``."""
        return f"{self.src}->{self.dst}"


AREAS: tuple[Area, ...] = (
    Area("retina", "retina", "early", 16),
    Area("sc", "SC", "subcortical", 32),
    Area("pulvinar", "pulvinar", "subcortical", 32),
    Area("lgn", "LGN", "early", 32),
    Area("v1", "V1", "early", 64),
    Area("pfc", "PFC", "prefrontal", 1024),
    Area("v2thin", "V2-thin", "ventral", 128),
    Area("v4", "V4", "ventral", 256),
    Area("v8", "V8", "ventral", 512),
    Area("it", "IT", "ventral", 1024),
    Area("v2thick", "V2-thick", "dorsal", 128),
    Area("v3", "V3", "dorsal", 256),
    Area("v5mt", "V5/MT", "dorsal", 512),
    Area("mst", "MST", "dorsal", 1024),
    Area("ipl", "IPL", "dorsal", 2048),
    Area("v3a", "V3a", "dorsal", 512),
    Area("v6", "V6", "dorsal", 1024),
    Area("spl", "SPL", "dorsal", 2048),
)

_D, _FB = "drive", "feedback"
EDGES: tuple[Edge, ...] = (
    # retina → superior colliculus (10 %) → pulvinar; retina → LGN (90 %) → V1
    Edge("retina", "sc", 0.10, _D), Edge("retina", "pulvinar", 0.10, _D), Edge("sc", "pulvinar", 1.0),
    Edge("retina", "lgn", 0.90, _D), Edge("sc", "lgn", 0.10), Edge("lgn", "v1", 1.0, _D),
    # the fast V1 → prefrontal shortcut
    Edge("v1", "pfc", 1.0, _D),
    # ventral stream: V2-thin → V4 → V8 → IT
    Edge("v1", "v2thin", 1.0, _D), Edge("lgn", "v2thin", 1.0),
    Edge("v2thin", "v4", 1.0, _D), Edge("lgn", "v4", 1.0), Edge("v1", "v4", 0.05),
    Edge("v3", "v4", 0.12, direction=_FB),
    Edge("v4", "v8", 1.0, _D), Edge("v1", "v8", 0.035), Edge("v2thin", "v8", 0.065), Edge("v3", "v8", 0.075),
    Edge("v8", "it", 1.0, _D), Edge("v2thin", "it", 0.025), Edge("v4", "it", 0.07), Edge("v3", "it", 0.05),
    # dorsal stream: V2-thick → V3, then V5/MT → MST → IPL and V3a → V6 → SPL
    Edge("v1", "v2thick", 1.0, _D), Edge("lgn", "v2thick", 1.0), Edge("pulvinar", "v2thick", 1.0),
    Edge("v2thick", "v3", 1.0, _D), Edge("v1", "v3", 0.12),
    Edge("v3", "v3a", 0.075, _D), Edge("v1", "v3a", 0.05), Edge("v2thick", "v3a", 0.085), Edge("v4", "v3a", 0.03),
    Edge("v3a", "v6", 1.0, _D), Edge("v1", "v6", 0.05), Edge("v2thick", "v6", 0.07), Edge("v3", "v6", 0.025),
    Edge("v3", "v5mt", 1.0, _D), Edge("lgn", "v5mt", 1.0), Edge("v2thick", "v5mt", 0.015),
    Edge("pulvinar", "v5mt", 1.0), Edge("v3a", "v5mt", 0.02, direction=_FB),
    Edge("v6", "v5mt", 0.025, direction=_FB),
    Edge("v5mt", "mst", 1.0, _D), Edge("v3", "mst", 0.02), Edge("v3a", "mst", 0.02), Edge("v4", "mst", 0.025),
    Edge("mst", "ipl", 1.0, _D), Edge("v6", "spl", 1.0, _D),
    # top-down: PFC → parietal, PFC → IT, parietal → IT
    Edge("pfc", "ipl", 1.0, direction=_FB), Edge("pfc", "spl", 1.0, direction=_FB),
    Edge("pfc", "it", 1.0, direction=_FB), Edge("ipl", "it", 1.0, direction=_FB),
    Edge("spl", "it", 1.0, direction=_FB),
)

_AREA = {a.name: a for a in AREAS}
_EDGE = {e.name: e for e in EDGES}
_LABEL = {a.label.lower(): a.name for a in AREAS} | {a.name: a.name for a in AREAS}

#: Pathways that can be cut as a whole. A stream is cut by removing every edge that leaves one of
#: its areas (its areas still compute, but nothing of theirs reaches the rest of the network);
#: ``"feedback"`` is every edge marked ``direction="feedback"``.
PATHWAYS: dict[str, tuple[str, ...]] = {
    "ventral": ("v2thin", "v4", "v8"),
    "dorsal": ("v2thick", "v3", "v3a", "v5mt", "mst", "v6", "ipl", "spl"),
    "sc_pulvinar": ("sc", "pulvinar"),
    "pfc_shortcut": ("pfc",),
    "feedback": (),
}


def area_names() -> list[str]:
    """Area ids in the order of :data:`AREAS`."""
    return [a.name for a in AREAS]


def edge_names() -> list[str]:
    """Edge names ``"src->dst"`` in the order of :data:`EDGES` (the order of the gain buffer)."""
    return [e.name for e in EDGES]


def get_area(name: str) -> Area:
    """The :class:`Area` called ``name`` (its id or its label, any case); typed error otherwise."""
    key = _LABEL.get(str(name).strip().lower())
    if key is None:
        raise unknown_name("area", str(name), area_names())
    return _AREA[key]


def edge_name(name: str) -> str:
    """Canonical ``"src->dst"`` for ``name`` (``"V1→V4"``, ``"v1 -> v4"`` …); typed error if no such edge."""
    text = str(name).replace("→", "->")
    if "->" not in text:
        raise unknown_name("edge (write it 'src->dst')", str(name), edge_names())
    src, _, dst = text.partition("->")
    try:
        canonical = f"{get_area(src).name}->{get_area(dst).name}"
    except LookupError:
        raise unknown_name("edge", str(name), edge_names()) from None
    if canonical not in _EDGE:
        raise unknown_name("edge", str(name), edge_names())
    return canonical


def get_edge(name: str) -> Edge:
    """The :class:`Edge` called ``name`` (see :func:`edge_name`)."""
    return _EDGE[edge_name(name)]


def in_edges(area: str) -> list[Edge]:
    """Edges arriving at ``area``, drive edge first."""
    area = get_area(area).name
    return sorted((e for e in EDGES if e.dst == area), key=lambda e: e.kind != "drive")


def topological_order(edges: Iterable[Edge] = EDGES) -> list[str]:
    """Areas in an order where every edge's source comes before its destination (Kahn's algorithm).

    Ties keep the order of :data:`AREAS`. Raises ``ValueError`` if the edges contain a cycle.
    """
    edges = list(edges)
    indegree = {a: 0 for a in area_names()}
    for e in edges:
        indegree[e.dst] += 1
    order: list[str] = []
    ready = [a for a in area_names() if indegree[a] == 0]
    while ready:
        area = ready.pop(0)
        order.append(area)
        for e in edges:
            if e.src == area:
                indegree[e.dst] -= 1
                if indegree[e.dst] == 0:
                    ready.append(e.dst)
        ready.sort(key=area_names().index)
    if len(order) != len(indegree):
        raise ValueError("the area graph has a cycle; a feed-forward network needs a DAG.")
    return order


def pathway_edges(pathway: str) -> list[str]:
    """Edge names removed when ``pathway`` (one of :data:`PATHWAYS`) is cut."""
    key = str(pathway).strip().lower().replace("-", "_").replace(" ", "_")
    if key not in PATHWAYS:
        raise unknown_name("pathway", str(pathway), PATHWAYS)
    if key == "feedback":
        return [e.name for e in EDGES if e.direction == "feedback"]
    areas = set(PATHWAYS[key])
    return [e.name for e in EDGES if e.src in areas]


def connectome_table() -> list[dict[str, object]]:
    """One row per edge: ``edge``, ``source``, ``target`` (labels), ``gain``, ``kind``, ``direction``.

    ``pandas.DataFrame(connectome_table())`` shows it as a table.
    """
    return [dict(edge=e.name, source=_AREA[e.src].label, target=_AREA[e.dst].label, gain=e.gain, kind=e.kind,
                 direction=e.direction) for e in EDGES]
