"""CoCoReco: a CNN wired like the primate visual system, with Contextual Attention Blocks.

After Carloni et al., "Connectivity-Inspired Network for Context-Aware Recognition" (ECCV 2024
workshops); METHODS.md §3. The wiring and the fixed gains are the data of :mod:`.connectome`;
the CAB is :class:`.attention.ContextualAttention`. Choices marked [ours]:

- channel widths are the paper's divided by ``width`` (at least :data:`MIN_CHANNELS`);
- an area skips its 2×2 pooling once its grid would fall below ``min_grid`` (see
  :class:`.blocks.AreaBlock`), so the network runs on 32, 64, 128 and 256 px inputs (the smallest
  accepted input is ``8 · min_grid`` px: the retina, the LGN and V1 each halve the grid);
- projections resize onto the destination's grid (see :func:`.blocks.resize`);
- the decision is a linear layer on IT's globally averaged features (the paper flattens IT's grid,
  which ties the model to one input size);
- batch norm inside each area by default (``norm="batch"``; ``"none"`` is the paper's stage).

The gains are **buffers**, not parameters: the optimiser never changes them, checkpoints store
them, and :meth:`CoCoReco.set_gain` / :meth:`CoCoReco.cut` (or :func:`.ablation.ablate`) edit them
(see :mod:`.wiring`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ..data.dataset import check_images
from ..errors import InputShapeError, unknown_name
from ..models import ConfigFacts, eval_mode, model_device
from ..training.registry import register_model
from ..validation import check_int, check_real
from .attention import ContextualAttention
from .blocks import NORMS, AreaBlock, Projection
from .connectome import AREAS, EDGES, edge_names, get_area, in_edges, topological_order
from .wiring import WiringMixin

__all__ = ["MIN_CHANNELS", "DEFAULT_CAB_AREAS", "CoCoRecoOutput", "CoCoReco", "area_channels", "min_input_size"]

MIN_CHANNELS = 4
DEFAULT_CAB_AREAS = ("v1", "pfc", "it")


def area_channels(width: int) -> dict[str, int]:
    """Channels of every area for the width divisor ``width``: ``max(4, full // width)``."""
    return {a.name: max(MIN_CHANNELS, a.channels // width) for a in AREAS}


def min_input_size(min_grid: int = 4) -> int:
    """Smallest input side CoCoReco accepts: ``8 · min_grid`` (32 px for the default ``min_grid=4``)."""
    return 8 * int(min_grid)


def check_network_options(in_channels: int, num_classes: int, width: int, norm: str, dropout: float,
                          min_grid: int) -> None:
    """The constructor arguments both networks here share (CoCoReco and the ScratchCNN), or a ConfigError.

    Raises
    ------
    ConfigError
        A count that is not an integer ≥ 1, or a dropout outside ``[0, 1)``.
    UnknownNameError
        An unknown ``norm``.
    """
    check_int("in_channels", in_channels, 1)
    check_int("num_classes", num_classes, 1)
    check_int("width (the channel divisor)", width, 1)
    check_int("min_grid", min_grid, 1)
    if norm not in NORMS:
        raise unknown_name("normalization", norm, NORMS)
    check_real("dropout", dropout, 0.0, 1.0, strict_high=True)


def check_grid_input(x: Tensor, model: str, in_channels: int, min_grid: int,
                     halving: str = "the retina, the LGN and V1") -> None:
    """Refuse images with other channels, or smaller than ``min_input_size(min_grid)`` (both networks here).

    Raises
    ------
    InputShapeError
        With the minimum side and how to get there.
    """
    check_images(x, channels=in_channels)
    side = min_input_size(min_grid)
    if min(x.shape[-2:]) < side:
        raise InputShapeError(
            f"{model} needs images of at least {side}×{side} px ({halving} each halve the grid, "
            f"down to {min_grid}×{min_grid} cells), got {x.shape[-2]}×{x.shape[-1]}; resize them "
            f"(torch.nn.functional.interpolate) or generate the world with size={side} or more (32, 64, 128 and "
            "256 px are supported).")


class CoCoRecoOutput(NamedTuple):
    """Everything one forward pass computed."""

    logits: Tensor
    features: dict[str, Tensor]   # every area's output (after its CAB, if any), by area id
    maps: dict[str, Tensor]       # the CABs' rescaled causality maps (B×k×k), areas whose CAB ran
    factors: dict[str, Tensor]    # the CABs' factors (B×k in [0, 1]), areas whose CAB ran


class CoCoReco(ConfigFacts, WiringMixin, nn.Module):
    """A network wired like the visual cortex: 18 areas, 51 fixed-gain edges, CABs at V1, PFC and IT.

    Parameters
    ----------
    in_channels:
        Image channels (any number ≥ 1).
    num_classes:
        Number of logits (the decision is read from IT).
    width:
        Divisor of the paper's channel widths (V1 64 … IT 1024, parietal 2048): ``width=16`` gives
        V1 4, IT 64, parietal 128 channels.
    cab_areas:
        Areas with a Contextual Attention Block (default V1, PFC and IT, as in the paper); ``()``
        is "CoCoReco without CAB".
    norm:
        ``"batch"`` (default [ours]) or ``"none"``; see :class:`.blocks.AreaBlock`.
    dropout:
        Dropout before the linear decision layer.
    min_grid:
        Smallest grid an area pools down to [ours]; inputs must be at least ``8·min_grid`` px.

    Attributes
    ----------
    gains:
        Buffer of the edges' gains, in the order of :func:`.connectome.edge_names`.
    edge_on:
        Bool buffer: ``False`` for a cut edge (skipped; the same output as gain 0).
    cab_active:
        Master switch of the CABs (the training step sets it off during the first epoch).

    Examples
    --------
    >>> model = CoCoReco(in_channels=1, num_classes=2, width=16)
    >>> model(torch.zeros(2, 1, 32, 32)).shape
    torch.Size([2, 2])
    >>> model.gain("v1->v3"), model.gain("pfc->it")
    (0.12, 1.0)
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, width: int = 16,
                 cab_areas: Iterable[str] = DEFAULT_CAB_AREAS, norm: str = "batch", dropout: float = 0.0,
                 min_grid: int = 4) -> None:
        super().__init__()
        check_network_options(in_channels, num_classes, width, norm, dropout, min_grid)
        if isinstance(cab_areas, str):
            cab_areas = (cab_areas,)
        cabs = tuple(dict.fromkeys(get_area(a).name for a in cab_areas))
        self.config: dict[str, Any] = dict(in_channels=in_channels, num_classes=num_classes, width=width,
                                           cab_areas=list(cabs), norm=norm, dropout=dropout, min_grid=min_grid)
        self.channels = area_channels(width)
        self.order = topological_order()
        self._edge_index = {name: i for i, name in enumerate(edge_names())}
        self._inputs = {a: [(self._edge_index[e.name], e) for e in in_edges(a)] for a in self.order}
        drive = {e.dst: e.src for e in EDGES if e.kind == "drive"}
        self._drive = drive
        self.areas = nn.ModuleDict()
        for a in self.order:
            cin = in_channels if a == "retina" else self.channels[drive[a]]
            self.areas[a] = AreaBlock(cin, self.channels[a], norm, min_grid)
        self.projections = nn.ModuleDict({
            self._key(e.name): Projection(self.channels[e.src], self.channels[drive[e.dst]])
            for e in EDGES if e.kind == "projection"})
        self.cabs = nn.ModuleDict({a: ContextualAttention() for a in cabs})
        # identity taps: hooking "outputs.<area>" sees the area's final output (after its CAB)
        self.outputs = nn.ModuleDict({a: nn.Identity() for a in self.order})
        self.register_buffer("gains", torch.tensor([e.gain for e in EDGES], dtype=torch.float32))
        self.register_buffer("edge_on", torch.ones(len(EDGES), dtype=torch.bool))
        self.cab_active = True
        self.cab_on = {a: True for a in cabs}
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.channels["it"], num_classes)

    @staticmethod
    def _key(edge: str) -> str:
        return edge.replace("->", "_to_")

    # -- configuration -------------------------------------------------------------------------------
    @property
    def min_input(self) -> int:
        """Smallest input side accepted (``8 · min_grid`` px)."""
        return min_input_size(self.config["min_grid"])

    @property
    def last_conv_layer(self) -> str:
        """Layer the CAM methods use by default: IT's output, after its CAB (``"outputs.it"``)."""
        return "outputs.it"

    # -- forward ---------------------------------------------------------------------------------------
    def _check_input(self, x: Tensor) -> None:
        check_grid_input(x, "CoCoReco", self.in_channels, self.config["min_grid"])

    def forward_details(self, x: Tensor) -> CoCoRecoOutput:
        """Run the network; return logits, every area's output, and each active CAB's map and factors."""
        self._check_input(x)
        h: dict[str, Tensor] = {}
        maps: dict[str, Tensor] = {}
        factors: dict[str, Tensor] = {}
        on = self.edge_on.tolist()          # one device sync per forward, not one per edge
        for area in self.order:
            if area == "retina":
                drive_in = x
            else:
                grid = tuple(h[self._drive[area]].shape[-2:])
                drive_in = None
                for index, edge in self._inputs[area]:
                    if not on[index]:
                        continue
                    src = h[edge.src]
                    v = src if edge.kind == "drive" else self.projections[self._key(edge.name)](src, grid)
                    v = v * self.gains[index]
                    drive_in = v if drive_in is None else drive_in + v
                if drive_in is None:       # every input cut: the area sees zeros
                    src = h[self._drive[area]]
                    drive_in = src.new_zeros(src.shape)
            out = self.areas[area](drive_in)
            if area in self.cabs and self.cab_active and self.cab_on[area]:
                gated = self.cabs[area].attend(out)
                out, maps[area], factors[area] = gated.features, gated.map, gated.factors
            h[area] = self.outputs[area](out)
        logits = self.classifier(self.dropout(h["it"].mean((2, 3))))
        return CoCoRecoOutput(logits, h, maps, factors)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``B×num_classes``."""
        return self.forward_details(x).logits

    def features(self, x: Tensor) -> dict[str, Tensor]:
        """Every area's activations by id (``"v1"``, ``"it"`` …), after its CAB where one is active."""
        return self.forward_details(x).features

    def forward_features(self, x: Tensor) -> Tensor:
        """IT's activations, ``B×k×n×n`` (what the decision and the CAMs read)."""
        return self.forward_details(x).features["it"]

    @torch.no_grad()
    def area_shapes(self, size: int | tuple[int, int] = 32) -> dict[str, tuple[int, int, int]]:
        """``(channels, rows, columns)`` of every area for one input of ``size`` px (eval mode, no grad)."""
        hw = (size, size) if isinstance(size, int) else tuple(size)
        x = torch.zeros(1, self.in_channels, *hw, device=model_device(self), dtype=self.gains.dtype)
        with eval_mode(self):
            feats = self.features(x)
        return {a: tuple(int(s) for s in feats[a].shape[1:]) for a in self.order}  # type: ignore[misc]

    def extra_repr(self) -> str:
        return (f"width={self.config['width']}, cab_areas={self.cab_areas}, norm={self.config['norm']!r}, "
                f"{len(self.order)} areas, {len(EDGES)} edges")


register_model(CoCoReco)  # load_trained rebuilds it from a checkpoint's model_class / model_config
