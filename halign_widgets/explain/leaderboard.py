"""A leaderboard of attribution methods on images with ground truth: every metric of METHODS.md 1.3.

One call explains the same images with several methods and scores each map with the causal
metrics (deletion / insertion, Petsiuk et al. 2018), the localization metrics against the true
masks (pointing game, energy pointing, relevance mass), Grad-CAM++'s average drop / increase in
confidence and the sanity check at full randomization (Adebayo et al. 2018). The result is a tidy
pandas DataFrame (pandas is a declared dependency: a table the notebook can print, sort and plot).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn

from ..data.dataset import ImageDataset, check_images
from ..errors import ConfigError, InputShapeError
from .metrics._common import TargetLike, predict_probs, resolve_target
from .metrics.confidence import average_drop_increase
from .metrics.deletion_insertion import deletion_insertion
from .metrics.localization import energy_pointing, pointing_game, relevance_mass
from .metrics.sanity import MapFn, cascade_layers, compute_maps, randomize_layers
from .metrics.similarity import spearman, ssim

__all__ = ["HIGHER_IS_BETTER", "evaluate_methods", "leaderboard_plot_data", "MethodsLike", "method_options",
           "select_images"]

HIGHER_IS_BETTER: dict[str, bool] = {
    "deletion": False, "insertion": True, "overall": True, "pointing": True, "energy_pointing": True,
    "relevance_mass": True, "avg_drop": False, "increase_conf": True,
    # after full randomization a faithful method's map should NOT resemble the original one
    "sanity_spearman": False, "sanity_ssim": False, "seconds_per_image": False,
}


MethodsLike = str | MapFn | Sequence[str | MapFn] | Mapping[str, Mapping[str, Any] | MapFn | None]


def method_options(methods: MethodsLike) -> dict[str, tuple[str | MapFn, dict[str, Any]]]:
    """Normalize ``methods`` to ``{row name: (method, options)}``.

    Accepted: a method name, a list of names, ``{name: options}``, and custom explainers — a
    callable ``fn(model, x, target) -> B×H×W`` (named by its ``__name__``) or ``{name: fn}``.
    """
    if isinstance(methods, str) or callable(methods):
        methods = [methods]
    out: dict[str, tuple[str | MapFn, dict[str, Any]]] = {}
    if isinstance(methods, Mapping):
        for key, value in methods.items():
            out[str(key)] = (value, {}) if callable(value) else (str(key), dict(value or {}))
    else:
        for m in methods:
            out[str(m) if isinstance(m, str) else getattr(m, "__name__", repr(m))] = (m, {})
    if not out:
        raise ConfigError("give at least one method, e.g. methods=['gradcam', 'saliency'].")
    return out


def select_images(data: Any, masks: Tensor | None = None, n_images: int | None = 16, seed: int = 0,
                  split: str | None = "test") -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Images, labels (or ``None``) and masks (or ``None``) to evaluate on.

    ``data`` is an :class:`ImageDataset` (its ``split`` is used when it has one), a tensor of images,
    or a tuple ``(x,)``, ``(x, y)`` or ``(x, y, masks)``. ``n_images`` images are drawn at random
    with ``seed`` (kept in dataset order); ``None`` keeps all.
    """
    y = m = None
    if isinstance(data, ImageDataset):
        ds = data.split(split) if split is not None and split in data.splits else data
        x, y, m = ds.images, ds.labels, ds.masks
    elif isinstance(data, Tensor):
        x = data
    elif isinstance(data, (tuple, list)) and 1 <= len(data) <= 3:
        x = data[0]
        y = data[1] if len(data) > 1 else None
        m = data[2] if len(data) > 2 else None
    else:
        raise InputShapeError(f"data must be an ImageDataset, an image tensor or a tuple (x, y[, masks]), "
                              f"got {type(data).__name__}.")
    check_images(x)
    if masks is not None:
        m = masks
    if m is not None and torch.as_tensor(m).shape[0] != x.shape[0]:
        raise InputShapeError(f"{torch.as_tensor(m).shape[0]} masks for {x.shape[0]} images; give one mask per image.")
    if n_images is not None and n_images < x.shape[0]:
        if n_images < 1:
            raise ConfigError(f"n_images must be ≥ 1, got {n_images}.")
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(x.shape[0], generator=g)[:n_images].sort().values
        x = x[idx]
        y = None if y is None else y[idx]
        m = None if m is None else torch.as_tensor(m)[idx]
    return x, y, (None if m is None else torch.as_tensor(m))


def _stats(row: dict[str, Any], name: str, values: Tensor) -> None:
    v = values.double()
    v = v[~torch.isnan(v)]
    row[name] = float(v.mean()) if v.numel() else float("nan")
    row[f"{name}_std"] = float(v.std(unbiased=False)) if v.numel() else float("nan")


def evaluate_methods(model: nn.Module, dataset_or_xy: Any, methods: MethodsLike,
                     masks: Tensor | None = None, n_images: int | None = 16, baseline: str = "blur", steps: int = 16,
                     sanity: bool = True, seed: int = 0, target: TargetLike = None, layer: str | None = None,
                     split: str | None = "test", batch_size: int = 128,
                     confidence_background: str = "zero",
                     progress: Callable[[str, int, int], None] | None = None) -> pd.DataFrame:
    """Score several attribution methods on the same images with every metric; one row per method.

    Parameters
    ----------
    model:
        The classifier to explain.
    dataset_or_xy:
        An :class:`ImageDataset` (masks taken from it), images, or ``(x, y[, masks])``.
    methods:
        Method names of :func:`halign_widgets.explain.list_methods`, ``{name: options}``, or custom
        explainers ``fn(model, x, target) -> B×H×W`` (see :func:`method_options`).
    masks:
        Ground-truth masks (override the dataset's); without masks the localization columns are NaN.
    n_images:
        Images drawn at random with ``seed`` (``None`` = all).
    baseline, steps:
        Deletion / insertion baseline and number of steps.
    sanity:
        Also compute the similarity of each map to the map of the FULLY randomized model
        (all layers of :func:`cascade_layers` re-initialized with ``seed``).
    seed:
        Seed of the image draw and of the randomization.
    target:
        Class per image; ``None`` = the predicted class (the same for every method).
    layer:
        Layer for CAM-family methods (default: last conv layer).
    split:
        Split of an :class:`ImageDataset` to draw from (default ``"test"``).
    batch_size:
        Forward-pass batch size of the metrics.
    confidence_background:
        Background of the explanation image for average drop / increase (``"zero"`` as in
        Grad-CAM++, or ``"blur"``, ``"mean"`` **[ours]**).
    progress:
        Called as ``progress(method, done, total)`` after each method (for a progress bar in an
        app; raising from it aborts the evaluation).

    Returns
    -------
    pandas.DataFrame
        Columns ``method``, then for each metric of :data:`HIGHER_IS_BETTER` its mean over images and
        ``<metric>_std`` (NaN-scored images are skipped, see :mod:`.metrics.localization`), then
        ``n_images`` and ``n_undefined`` (localization scores that were NaN). ``increase_conf`` is a
        percentage of images; its std is that of the 0/100 indicator. ``seconds_per_image`` is the
        explainer's wall-clock time for the whole batch divided by the number of images (its std
        is NaN: one measurement).
    """
    options = method_options(methods)
    x, _, m = select_images(dataset_or_xy, masks, n_images, seed, split)
    x = x.detach().float().cpu()
    tgt = resolve_target(model, x, target, predict_probs(model, x, batch_size))
    randomized = randomize_layers(model, cascade_layers(model), seed) if sanity else None
    rows = []
    for name, (method, opts) in options.items():
        start = time.perf_counter()
        maps = compute_maps(model, x, method, tgt, layer, **opts)
        seconds = (time.perf_counter() - start) / x.shape[0]
        row: dict[str, Any] = {"method": name}
        di = deletion_insertion(model, x, maps, tgt, baseline=baseline, steps=steps, batch_size=batch_size)
        for key, val in (("deletion", di.deletion_auc), ("insertion", di.insertion_auc), ("overall", di.overall)):
            _stats(row, key, val)
        undefined = 0
        for key, fn in (("pointing", pointing_game), ("energy_pointing", energy_pointing),
                        ("relevance_mass", relevance_mass)):
            if m is None:
                row[key], row[f"{key}_std"] = float("nan"), float("nan")
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                scores = fn(maps, m)
            undefined += int(torch.isnan(scores).sum())
            _stats(row, key, scores)
        conf = average_drop_increase(model, x, maps, tgt, batch_size=batch_size, background=confidence_background)
        _stats(row, "avg_drop", conf.drop)
        _stats(row, "increase_conf", conf.increased.double() * 100.0)
        if randomized is not None:
            rmaps = compute_maps(randomized, x, method, tgt, layer, **opts)
            _stats(row, "sanity_spearman", spearman(maps, rmaps))
            _stats(row, "sanity_ssim", ssim(maps, rmaps))
        else:
            for key in ("sanity_spearman", "sanity_ssim"):
                row[key], row[f"{key}_std"] = float("nan"), float("nan")
        row["seconds_per_image"], row["seconds_per_image_std"] = seconds, float("nan")
        row["n_images"], row["n_undefined"] = int(x.shape[0]), undefined
        rows.append(row)
        if progress is not None:
            progress(name, len(rows), len(options))
    return pd.DataFrame(rows)


def leaderboard_plot_data(table: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Long ("tidy") form of an :func:`evaluate_methods` table, ready for a grouped bar plot.

    Returns one row per (method, metric) with ``mean``, ``std`` and ``higher_is_better``.
    """
    names = list(metrics) if metrics is not None else [k for k in HIGHER_IS_BETTER if k in table.columns]
    missing = [k for k in names if k not in table.columns]
    if missing:
        raise ConfigError(f"metrics {missing} are not columns of the table; choose from {list(HIGHER_IS_BETTER)}.")
    rows = [{"method": r["method"], "metric": k, "mean": r[k], "std": r.get(f"{k}_std", float("nan")),
             "higher_is_better": HIGHER_IS_BETTER.get(k, True)} for _, r in table.iterrows() for k in names]
    return pd.DataFrame(rows)
