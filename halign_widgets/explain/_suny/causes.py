"""Hypothetical causes of SUNY and the interventions on them (METHODS.md §1.4).

A :class:`CauseSet` holds, for one image and one target class, the ``K`` candidate causes and
answers "what is ``p_c`` after this intervention?" for whole batches of coalitions:

- ``"features"`` — channel ``k`` of a conv layer stands for the soft image region ``A_k`` (its
  activation upsampled to ``H×W`` and min-max normalized to ``[0, 1]``); a coalition ``S`` covers
  ``M_S = max_{k∈S} A_k`` **[ours: union by max]**; remove ``S`` → ``x⊙(1−M_S) + b⊙M_S``, keep
  ``S`` → ``x⊙M_S + b⊙(1−M_S)``;
- ``"filters"`` — the channels themselves, ablated inside the network by a forward hook on the
  layer: remove ``S`` → zero the channels of ``S``; keep ``S`` → zero every channel of the
  *scope* (the candidate pool) outside ``S``. Single-cause sufficiency, used to choose the pool,
  takes every channel as scope **[ours]**;
- ``"patches"`` — a ``grid×grid`` partition of the image into disjoint hard patches
  (model-agnostic), intervened like feature regions with 0/1 masks.

Every distinct intervention is evaluated once (a cache keyed by the coalition), in batched
forwards of ``batch_size`` images. After Xuan et al., "SUNY: a visual interpretation framework for
CNNs from a necessary and sufficient perspective", CVPR workshops 2024.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import ConfigError, unknown_name
from ...models import conv_layers, get_layer, model_input
from ...validation import check_int
from .._baselines import make_baseline  # shared with the metrics: zeros / mean / blurred image

__all__ = ["CAUSE_KINDS", "CauseKind", "CauseSet", "channels_last_activations", "default_layer", "make_causes",
           "patch_regions"]

#: What SUNY treats as the hypothetical causes: feature maps, filters, or image patches.
CauseKind = Literal["features", "filters", "patches"]
CAUSE_KINDS: tuple[CauseKind, ...] = ("features", "filters", "patches")
Request = tuple[str, Tensor, "Tensor | None"]


def default_layer(model: nn.Module) -> str:
    """The model's ``last_conv_layer`` if it declares one, else its last conv layer."""
    name = getattr(model, "last_conv_layer", None)
    if isinstance(name, str):
        return name
    names = list(conv_layers(model))
    if not names:
        raise ConfigError("the model has no conv layer; use causes='patches' (model-agnostic) or pass layer=.")
    return names[-1]


def patch_regions(height: int, width: int, grid: int) -> Tensor:
    """``grid²×H×W`` 0/1 masks of a ``grid×grid`` partition of the image (row-major patch order)."""
    grid = check_int("grid", grid, 1, min(height, width), hint="patches per side, at most the image's side")
    rows = torch.arange(height) * grid // height
    cols = torch.arange(width) * grid // width
    ids = rows[:, None] * grid + cols[None, :]
    return (ids[None] == torch.arange(grid * grid)[:, None, None]).float()


def _minmax(a: Tensor) -> Tensor:
    """Min-max normalize each ``H×W`` map of ``K×H×W`` to ``[0, 1]`` (constant maps → 0)."""
    flat = a.flatten(1)
    lo, hi = flat.min(1).values, flat.max(1).values
    span = (hi - lo).clamp_min(1e-12)
    out = (a - lo[:, None, None]) / span[:, None, None]
    return out * (hi - lo > 1e-12).float()[:, None, None]


def _to_channels_last(_mod: nn.Module, inputs: tuple) -> tuple:
    head = inputs[0]
    if isinstance(head, Tensor) and head.dim() == 4:
        return (head.contiguous(memory_format=torch.channels_last), *inputs[1:])
    return inputs


@contextmanager
def channels_last_activations(model: nn.Module) -> Iterator[None]:
    """Feed every ``Conv2d`` a channels-last input while the block runs (hooks removed in ``finally``).

    SUNY forwards hundreds of intervened copies of one image; on CPU the channels-last layout
    makes pooling and convolutions of such batches markedly faster, with the same results up to
    float rounding. The model's parameters are not touched.
    """
    handles = [m.register_forward_pre_hook(_to_channels_last) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


class CauseSet:
    """The candidate causes of one image and their interventions.

    For patches, "keep S" is the very same image as "remove F∖S" (bit for bit: 0/1 masks that
    partition the image), so with ``share_complements`` (default) both are evaluated once.

    Build it with :func:`make_causes`. Attributes: ``kind``, ``layer`` (``None`` for patches),
    ``x`` (``1×C×H×W``), ``baseline`` (``1×C×H×W``), ``target``, ``p_full`` (``p_c(x)``),
    ``regions`` (``K×H×W`` in ``[0, 1]``), ``n_causes`` and ``forwards`` (images forwarded so far).
    """

    share_complements: bool = True

    def __init__(self, model: nn.Module, x: Tensor, target: int, kind: CauseKind, regions: Tensor, baseline: Tensor,
                 layer: str | None, batch_size: int, progress: Callable[[int], None] | None = None) -> None:
        self.model, self.x, self.target, self.kind = model, x, int(target), kind
        self.regions, self.baseline, self.layer = regions, baseline, layer
        self.batch_size = int(batch_size)
        self.progress = progress
        self.forwards = 0
        self._cache: dict[tuple, float] = {}
        self._broadcast_ok = True
        self.p_full = float(self._forward_images(x)[0])

    @property
    def n_causes(self) -> int:
        """Number of candidate causes ``K``."""
        return int(self.regions.shape[0])

    # -- interventions ----------------------------------------------------------------------
    def masks(self, coalitions: Tensor) -> Tensor:
        """Union masks ``M_S = max_{k∈S} A_k`` (``M×H×W``) of ``M×K`` bool coalitions."""
        c = coalitions.to(self.regions.device).bool()
        out = torch.zeros(c.shape[0], *self.regions.shape[1:], device=self.regions.device)
        if c.shape[0] and int(c.sum(1).max()) <= 1:  # singletons (and the empty set): a gather
            return self.regions[c.float().argmax(1)] * c.any(1).float()[:, None, None]
        for k in torch.nonzero(c.any(0)).flatten().tolist():
            out = torch.maximum(out, self.regions[k] * c[:, k].float()[:, None, None])
        return out

    def images(self, mode: str, coalitions: Tensor) -> Tensor:
        """Intervened images ``M×C×H×W`` for input-space causes (features, patches)."""
        m = self.masks(coalitions)[:, None].to(self.x.dtype)  # regions are float32; images follow the model
        if mode == "remove":
            return self.x * (1 - m) + self.baseline * m
        return self.x * m + self.baseline * (1 - m)

    def gates(self, mode: str, coalitions: Tensor, scope: Tensor | None) -> Tensor:
        """Channel gates ``M×K`` (1 = untouched, 0 = zeroed) of filter interventions."""
        c = coalitions.bool()
        if mode == "remove":
            return (~c).float()
        inside = torch.ones(self.n_causes, dtype=torch.bool) if scope is None else scope.bool()
        return (~(inside[None] & ~c)).float()

    # -- forwards ----------------------------------------------------------------------------
    def _prob(self, logits: Tensor) -> Tensor:
        return torch.softmax(logits.float(), dim=1)[:, self.target].cpu()

    def _forward_images(self, images: Tensor) -> Tensor:
        self.forwards += images.shape[0]
        with torch.no_grad(), channels_last_activations(self.model):
            return self._prob(self.model(images))

    def _forward_gates(self, gates: Tensor) -> Tensor:
        """Forward ``x`` once with the layer's output replaced by ``M`` gated copies (hook removed in ``finally``)."""
        g = gates.to(self.x.device)[:, :, None, None]
        m = g.shape[0]
        module = get_layer(self.model, self.layer or "")

        def hook(_mod: nn.Module, _inp: tuple, out: Tensor) -> Tensor:
            if out.shape[0] == 1:  # broadcast trick: layers below run once, layers above on M copies
                return out.expand(m, *out.shape[1:]) * g.to(out.dtype)
            return out * g.to(out.dtype)

        handle = module.register_forward_hook(hook)
        try:
            self.forwards += m
            with torch.no_grad(), channels_last_activations(self.model):
                logits = self.model(self.x) if self._broadcast_ok else None
                if logits is None or logits.shape[0] != m:
                    self._broadcast_ok = False
                    logits = self.model(self.x.expand(m, *self.x.shape[1:]))
        finally:
            handle.remove()
        return self._prob(logits)

    def _run(self, mode: str, coalitions: Tensor, scope: Tensor | None) -> Tensor:
        out = []
        for start in range(0, coalitions.shape[0], self.batch_size):
            chunk = coalitions[start:start + self.batch_size]
            if self.kind == "filters":
                out.append(self._forward_gates(self.gates(mode, chunk, scope)))
            else:
                out.append(self._forward_images(self.images(mode, chunk)))
            if self.progress is not None:
                self.progress(chunk.shape[0])
        return torch.cat(out) if out else torch.zeros(0)

    def probs(self, requests: Sequence[Request]) -> list[Tensor]:
        """``p_c`` after each intervention, for several requests ``(mode, M×K bool coalitions, scope)``.

        ``mode`` is ``"remove"`` or ``"keep"``; ``scope`` (``K`` bool, the candidate pool) matters
        only for keeping filters. Coalitions already evaluated are taken from the cache.
        """
        results = []
        for mode, coalitions, scope in requests:
            if mode not in ("remove", "keep"):
                raise unknown_name("intervention", mode, ("remove", "keep"))
            c = coalitions.bool().cpu()
            if self.kind == "patches" and mode == "keep" and self.share_complements:
                mode, c = "remove", ~c  # hard disjoint patches covering the image: keep S ≡ remove F∖S
            scope_key = scope.bool().cpu().numpy().tobytes() if (self.kind == "filters" and mode == "keep"
                                                                  and scope is not None) else b""
            keys = [(mode, scope_key, row.tobytes()) for row in c.numpy()]
            missing = {key: i for i, key in enumerate(keys) if key not in self._cache}
            if missing:
                rows = torch.tensor(list(missing.values()), dtype=torch.long)
                values = self._run(mode, c[rows], scope)
                self._cache.update(zip(missing.keys(), values.tolist(), strict=True))
            results.append(torch.tensor([self._cache[key] for key in keys], dtype=torch.float64))
        return results


def make_causes(model: nn.Module, x: Tensor, target: int, kind: CauseKind = "features", *, layer: str | None = None,
                grid: int = 4, baseline: str | float | Tensor = "blur", batch_size: int = 64,
                progress: Callable[[int], None] | None = None) -> CauseSet:
    """Build the :class:`CauseSet` of one image ``x`` (``1×C×H×W``, on the model's device) for class ``target``.

    Raises ``UnknownNameError`` for an unknown ``kind``, layer or baseline, ``ConfigError`` for a bad grid.
    """
    if kind not in CAUSE_KINDS:
        raise unknown_name("cause kind", str(kind), CAUSE_KINDS)
    x = model_input(model, x)
    b = make_baseline(x, baseline)
    h, w = x.shape[-2:]
    if kind == "patches":
        return CauseSet(model, x, target, kind, patch_regions(h, w, grid).to(x.device), b, None, batch_size, progress)
    layer = layer or default_layer(model)
    module = get_layer(model, layer)
    store: list[Tensor] = []
    handle = module.register_forward_hook(lambda _m, _i, out: store.append(out.detach()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    act = store[0]
    if act.dim() != 4:
        raise ConfigError(f"layer {layer!r} outputs shape {tuple(act.shape)}; SUNY needs a conv layer (B×K×h×w).")
    up = F.interpolate(act.float(), size=(h, w), mode="bilinear", align_corners=False)[0]
    return CauseSet(model, x, target, kind, _minmax(up), b, layer, batch_size, progress)
