"""SUNY: necessity and sufficiency maps from Shapley values of hypothetical causes.

After Xuan et al., "SUNY: a visual interpretation framework for CNNs from a necessary and
sufficient perspective", CVPR workshops 2024; specification in METHODS.md §1.4. For each image:

1. build the candidate causes (:mod:`.causes`: feature regions, filters or patches);
2. score every cause alone — necessity ``(p − p(do(remove k)))/p``, sufficiency
   ``p(do(keep k))/p`` — and take the pools ``F_N`` / ``F_S`` = top-``pool`` causes by each score
   **[ours]** (when ``pool`` equals the number of causes both pools are all causes, in index order);
3. play two games on the pools, ``E_N(S) = (p(x) − p(do(remove S)))/p(x)`` and
   ``E_S(S) = p(do(keep S))/p(x)``, and take their Shapley values ``R_N``, ``R_S`` — exact over
   all ``2^K`` coalitions when ``K ≤ 10`` and no ``samples`` budget is given, else by seeded
   permutation sampling with a standard error (:mod:`.shapley`); both games share batched forwards;
4. maps ``N = ReLU(Σ_k R_N[k] A_k)``, ``S = ReLU(Σ_k R_S[k] A_k)`` and a combined map, the mean of
   the max-normalized ``N`` and ``S`` **[ours; "product" also offered]**.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ...data.dataset import check_images
from ...errors import ConfigError, unknown_name
from ...models import check_logits, check_model_input, eval_mode, in_channels, model_input, size_errors
from ...training.threads import sized_for
from ...validation import check_int
from .._baselines import check_baseline
from .._resolve import resolve_target
from .causes import CAUSE_KINDS, CauseKind, CauseSet, default_layer, make_causes
from .result import COMBINE, SunyResult, combine_maps
from .shapley import ShapleyValues, exact_shapley, permutation_shapley

__all__ = ["SunyResult", "suny", "MAX_EXACT_POOL", "DEFAULT_SAMPLES"]

MAX_EXACT_POOL = 10
DEFAULT_SAMPLES = 128


def _explain_one(cs: CauseSet, pool: int | None, samples: int | None, seed: int, antithetic: bool) -> dict:
    k_all = cs.n_causes
    k = k_all if pool is None else pool
    if k > k_all:
        what = "patches (grid²)" if cs.kind == "patches" else f"channels of layer {cs.layer!r}"
        raise ConfigError(f"pool={pool} is larger than the number of {what}: at most {k_all}; "
                          "lower pool (or pick a wider layer / a finer grid).")
    p = max(cs.p_full, 1e-12)
    eye = torch.eye(k_all, dtype=torch.bool)
    removed, kept = cs.probs([("remove", eye, None), ("keep", eye, None)])
    single_n, single_s = (p - removed) / p, kept / p
    if k == k_all:
        pool_n = pool_s = torch.arange(k_all)
    else:
        pool_n, pool_s = single_n.topk(k).indices, single_s.topk(k).indices
    scope_s = torch.zeros(k_all, dtype=torch.bool)
    scope_s[pool_s] = True

    def games(coalitions: Tensor) -> Tensor:
        gn = torch.zeros(coalitions.shape[0], k_all, dtype=torch.bool)
        gs = torch.zeros_like(gn)
        gn[:, pool_n], gs[:, pool_s] = coalitions, coalitions
        pr_n, pr_s = cs.probs([("remove", gn, None), ("keep", gs, scope_s)])
        return torch.stack([(p - pr_n) / p, pr_s / p], 1)

    if samples is None and k <= MAX_EXACT_POOL:
        sv: ShapleyValues = exact_shapley(games, k)
    else:
        sv = permutation_shapley(games, k, samples=samples or DEFAULT_SAMPLES, seed=seed, antithetic=antithetic)
    a = cs.regions.cpu()
    r = sv.values.float()
    n_map = torch.relu(torch.einsum("k,khw->hw", r[0], a[pool_n]))
    s_map = torch.relu(torch.einsum("k,khw->hw", r[1], a[pool_s]))
    return dict(necessity=n_map, sufficiency=s_map, r_n=r[0], r_s=r[1], pool_n=pool_n, pool_s=pool_s,
                error_n=sv.stderr[0].float(), error_s=sv.stderr[1].float(), single_n=single_n.float(),
                single_s=single_s.float(), cause_maps=a, sv=sv)


class _Progress:
    """Fraction of SUNY's work done, reported monotonically and ending at exactly 1.

    Image ``i`` of ``B`` owns the interval ``[i/B, (i+1)/B]``; inside it the fraction grows with
    the images forwarded, against a planned upper bound of the forwards (the cache makes the real
    count smaller, never larger — and a count beyond the plan just waits at the interval's end).
    Each image ends with its interval's end, the last one with 1.0.
    """

    def __init__(self, callback: Callable[[float], None] | None, images: int) -> None:
        self.callback, self.images = callback, images
        self.image, self.done, self.plan, self.last = 0, 0, 1, 0.0

    def _emit(self, value: float) -> None:
        if self.callback is not None:
            self.last = max(self.last, min(1.0, value))
            self.callback(self.last)

    def start_image(self, i: int) -> None:
        self.image, self.done, self.plan = i, 0, 1

    def tick(self, n: int) -> None:
        self.done += n
        self._emit((self.image + min(1.0, self.done / max(self.plan, 1))) / self.images)

    def finish_image(self) -> None:
        self._emit(1.0 if self.image == self.images - 1 else (self.image + 1) / self.images)


def suny(model: nn.Module, x: Tensor, target: int | Tensor | None = None, layer: str | None = None, *,
         causes: CauseKind = "features", pool: int | None = 8, samples: int | None = None,
         baseline: str | float | Tensor = "blur", seed: int = 0, grid: int = 4, antithetic: bool = False,
         batch_size: int = 64, combine: str = "mean",
         progress: Callable[[float], None] | None = None) -> SunyResult:
    """Explain ``model``'s decision on ``x`` by necessity and sufficiency (SUNY, Xuan et al., 2024).

    Parameters
    ----------
    model:
        A classifier returning logits (put in eval mode during the call, restored after).
    x:
        ``B×C×H×W`` images (validated with ``check_images``); images are explained one by one.
    target:
        Class index, one per image, or ``None`` for the predicted class.
    layer:
        Conv layer of feature / filter causes (default: ``model.last_conv_layer`` or the last conv layer).
    causes:
        ``"features"`` (soft regions), ``"filters"`` (channels inside the network) or ``"patches"``.
    pool:
        Size ``K`` of each candidate pool; ``None`` = every cause.
    samples:
        Monte-Carlo budget (permutations). ``None``: exact when ``K ≤ 10``, else 128 permutations.
    baseline:
        ``"blur"`` (default **[ours]**), ``"zeros"``, ``"mean"``, a number or a tensor.
    seed, antithetic:
        Permutation sampling seed; pair each permutation with its reverse.
    grid:
        Patches per side for ``causes="patches"``.
    batch_size:
        Images per forward pass.
    combine:
        ``"mean"`` or ``"product"`` of the max-normalized maps for ``.combined``.
    progress:
        Called with the fraction of work done (0..1) after every forward chunk; an exception raised
        by it aborts the computation (apps use this as their Stop button).

    Examples
    --------
    >>> res = suny(model, x[:1], causes="patches", grid=3, pool=None)
    >>> torch.allclose(res.r_n, res.r_s, atol=1e-5)  # self-duality of complementary interventions
    True
    """
    started = time.perf_counter()
    if causes not in CAUSE_KINDS:
        raise unknown_name("cause kind", str(causes), CAUSE_KINDS)
    if combine not in COMBINE:
        raise unknown_name("combine rule", str(combine), COMBINE)
    if pool is not None:
        check_int("pool", pool, 1)
    if samples is not None:
        check_int("samples (the number of permutations)", samples, 1)
    check_int("grid", grid, 1)
    check_int("batch_size", batch_size, 1)
    check_int("seed", seed, 0)
    check_baseline(baseline)  # a NaN/inf baseline is refused before any forward pass
    check_images(x, channels=in_channels(model))
    check_model_input(model, x)  # at least one image, large enough for the model
    x = model_input(model, x)  # the model's device and dtype; maps and values come back float32
    with eval_mode(model), sized_for(model, x[:1], rows=batch_size, backward=False):   # forwards of batch_size
        with torch.no_grad(), size_errors(model, x):
            probs = torch.softmax(check_logits(model(x), model, x.shape[0]).float(), 1).cpu()
        targets = resolve_target(target, probs).cpu()
        parts, forwards = [], 0
        report = _Progress(progress, x.shape[0])
        for i in range(x.shape[0]):
            base_i = baseline
            if isinstance(baseline, Tensor) and baseline.dim() == 4 and baseline.shape[0] == x.shape[0] > 1:
                base_i = baseline[i:i + 1]  # one baseline image per input image
            report.start_image(i)
            cs = make_causes(model, x[i:i + 1], int(targets[i]), causes, layer=layer, grid=grid,
                             baseline=base_i, batch_size=batch_size, progress=report.tick)
            k = cs.n_causes if pool is None else min(pool, cs.n_causes)
            exact = samples is None and k <= MAX_EXACT_POOL
            report.plan = 2 * cs.n_causes + (2 ** (k + 1) if exact else 2 * (samples or DEFAULT_SAMPLES) * (k + 1))
            parts.append(_explain_one(cs, pool, samples, seed, antithetic))
            forwards += cs.forwards
            report.finish_image()
    stack = {key: torch.stack([p[key] for p in parts]) for key in parts[0] if key != "sv"}
    sv0: ShapleyValues = parts[0]["sv"]
    coalition_values: dict[str, Tensor] | None = None
    if sv0.exact:
        assert sv0.coalitions is not None  # exact Shapley values keep every coalition
        coalition_values = {"coalitions": sv0.coalitions,
                            "necessity": torch.stack([p["sv"].coalition_values[:, 0] for p in parts]),
                            "sufficiency": torch.stack([p["sv"].coalition_values[:, 1] for p in parts])}
    return SunyResult(combined=combine_maps(stack["necessity"], stack["sufficiency"], combine),
                      coalition_values=coalition_values, p_full=probs[torch.arange(len(targets)), targets],
                      target=targets, causes=causes,
                      layer=None if causes == "patches" else (layer or default_layer(model)),
                      exact=sv0.exact, samples=sv0.permutations, seconds=time.perf_counter() - started,
                      forwards=forwards, options=dict(pool=pool, baseline=baseline, seed=seed, grid=grid,
                                                      antithetic=antithetic, combine=combine), **stack)
