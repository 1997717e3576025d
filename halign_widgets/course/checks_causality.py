"""Checks on causality maps (chapter 04, and CoCoReco's attention in chapter 06).

After Carloni & Colantonio (2024); the closed forms and the hidden order are METHODS.md §2.1:

- :func:`check_causality_closed_form` — a per-channel statistic (Lehmer mean ``LM_p(F_i)`` or the
  mass ``S_i``) or a whole ``k×k`` map against the lab's map (faithful mode when it fits, so the
  check also shows that the closed form is what the literal definition gives);
- :func:`check_channel_order` — the strongest "cause" (or the whole order) against the order by
  the channel statistic; ties are accepted in any order;
- :func:`check_causality_speedup` — a measured fast-vs-faithful ratio (:func:`.checks_timing.check_speedup`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from ._verdict import NotYet, Verdict
from .checks_timing import compare_speedup
from .core import as_integer, as_tensor, checker

if TYPE_CHECKING:
    from ..causality.maps import Estimator, Mode

__all__ = ["check_causality_closed_form", "check_channel_order", "check_causality_speedup"]


def _features(source: Tensor | nn.Module, images: Tensor | None, layer: str | None) -> Tensor:
    from ..causality import features_of

    if isinstance(source, nn.Module):
        if images is None:
            raise TypeError("give the images whose features to use: check(..., model, images)")
        return features_of(source, images, layer)
    feats = source.detach()
    return feats[None] if feats.dim() == 3 else feats


def _module_choice(source: Any, estimator: Estimator | None, p: float | None) -> tuple[Estimator, float]:
    module = getattr(source, "causality", None)
    est: Estimator = estimator or (module.estimator if module is not None else "max")
    power = float(p if p is not None else (module.p if module is not None else 1.0))
    return est, power


@checker(hint="normalize each image's features by their maximum (causality.normalize_features), flatten the grid, "
              "and take one number per channel: the Lehmer mean (causality.lehmer_mean) or, for Max, the mass Σ F_i")
def check_causality_closed_form(answer: Any, source: Tensor | nn.Module, images: Tensor | None = None,
                                estimator: Estimator = "lehmer", p: float = 2.0, layer: str | None = None,
                                rtol: float = 1e-4, atol: float = 1e-6) -> Verdict:
    """Compare a per-channel statistic (``k`` or ``B×k``) or a map (``k×k`` or ``B×k×k``) with the lab's.

    Called as ``check_causality_closed_form(name, answer, features_or_model, images=None,
    estimator="lehmer", p=2.0)``. A vector is compared with
    :func:`~halign_widgets.causality.channel_statistic` (``LM_p(F_i)`` or ``S_i``) and, for Lehmer,
    with every column ``j`` of the map — the closed form ``C[i, j] = LM_p(F_i)``; a matrix is
    compared with the map itself, computed in faithful mode when it is small enough.
    """
    from ..causality import FAITHFUL_LIMIT, causality_map, channel_statistic

    feats = _features(source, images, layer)
    b, k, h, w = feats.shape
    mode: Mode = "faithful" if b * k * k * (h * w) ** 2 <= FAITHFUL_LIMIT else "fast"
    cmap = causality_map(feats, estimator, p, mode=mode).double()
    stat = channel_statistic(feats, estimator, p).double()
    got = as_tensor(answer, "per-channel values")
    vector = not (got.dim() >= 2 and got.shape[-1] == got.shape[-2] == k and got.numel() in (k * k, b * k * k))
    if not vector:
        expected, what = cmap.reshape(got.shape), f"the {k}×{k} causality map ({mode} mode)"
    elif got.numel() == b * k:
        expected, what = stat.reshape(got.shape), ("LM_p(F_i) per channel" if estimator == "lehmer"
                                                   else "the mass S_i per channel")
    else:
        raise NotYet(f"it has shape {tuple(got.shape)}; expected {k} values per image (the channels) or a "
                     f"{k}×{k} map, for {b} image(s)")
    diff = (got - expected).abs()
    ok = bool((diff <= atol + rtol * expected.abs()).all())
    if not ok:
        return Verdict(False, f"{int((diff > atol + rtol * expected.abs()).sum())} of {got.numel()} values differ "
                              f"from {what}")
    extra = ""
    if estimator == "lehmer" and vector:
        column_gap = float((cmap - stat.unsqueeze(2)).abs().max())
        extra = f"; every column of the {mode} map equals it (max deviation {column_gap:.1e}): C[i, j] = LM_p(F_i)"
    return Verdict(True, f"matches {what} (max deviation {float(diff.max()):.1e}){extra}")


@checker(hint="build the direction graph of the map (causality.direction_graph), count each channel's out-degree "
              "(causality.degrees) and take the channel that causes the most others")
def check_channel_order(answer: Any, source: Tensor | nn.Module, images: Tensor | None = None,
                        estimator: Estimator | None = None, p: float | None = None,
                        layer: str | None = None) -> Verdict:
    """Compare the strongest "cause" (an int) or a whole channel order with the order by the channel statistic.

    Called as ``check_channel_order(name, answer, model_or_features, images=None, estimator=None, p=None)``
    for ONE image. Estimator and ``p`` default to the model's causality module (Max otherwise).
    Channels with equal statistics may come in any order.
    """
    from ..causality import channel_statistic

    est, power = _module_choice(source, estimator, p)
    feats = _features(source, images, layer)
    if feats.shape[0] != 1:
        raise TypeError(f"give the features of one image (got {feats.shape[0]}): e.g. world.test.images[1:2]")
    stat = channel_statistic(feats, est, power)[0].double()
    k = stat.numel()
    if isinstance(answer, (list, tuple)) or (isinstance(answer, Tensor) and answer.numel() > 1):
        order = [as_integer(v, "a channel index") for v in (answer.tolist() if isinstance(answer, Tensor) else answer)]
        if sorted(order) != list(range(k)):
            raise NotYet(f"it is not an ordering of the {k} channels (each index 0…{k - 1} exactly once)")
        values = stat[order]
        ok = bool((values[:-1] >= values[1:]).all())
        return Verdict(ok, f"the order of all {k} channels " + ("is the order by the channel statistic "
                           f"({'mass' if est == 'max' else 'Lehmer mean'}): the direction graph is a total order"
                           if ok else "is not the order the lab finds"))
    channel = as_integer(answer, "a channel index")
    if not 0 <= channel < k:
        raise NotYet(f"channel {channel} does not exist; the layer has channels 0…{k - 1}")
    top = stat.max()
    if bool(stat[channel] == top):
        return Verdict(True, f"channel {channel} causes the most others — and it has the largest "
                             f"{'mass S_i' if est == 'max' else 'Lehmer mean'} ({float(top):.4g}) of the {k} channels")
    return Verdict(False, f"channel {channel} is not the one the lab's direction graph puts first")


@checker(hint="time causality_map(..., mode='faithful') and mode='fast' on the same features (best of a few runs, "
              "time.perf_counter) and divide the slow time by the fast one")
def check_causality_speedup(answer: Any, k: int = 32, n: int = 8, estimator: Estimator = "lehmer", p: float = 2.0,
                            within: float = 10.0, repeat: int = 3, seed: int = 0) -> Verdict:
    """Compare a measured fast-vs-faithful speed-up of :func:`~halign_widgets.causality.causality_map`.

    Called as ``check_causality_speedup(name, answer, k=32, n=8, estimator="lehmer", p=2.0,
    within=10.0)``: the lab times both modes on one random ``1×k×n×n`` feature tensor and accepts
    a ratio within a factor ``within`` of its own (timings vary from run to run and machine to
    machine; the closed form wins by orders of magnitude, so a factor 10 still tells right from
    wrong).
    """
    from ..causality import causality_map

    feats = torch.rand(1, int(k), int(n), int(n), generator=torch.Generator().manual_seed(seed))
    return compare_speedup(answer, lambda: causality_map(feats, estimator, p, mode="faithful"),
                           lambda: causality_map(feats, estimator, p, mode="fast"), within, repeat,
                           f"causality map, {estimator}, k={k}, n={n}")
