"""Experiments: baseline vs causality settings over worlds, estimators, directions and seeds.

Reproduces the design of Carloni & Colantonio (2024) at teaching scale (METHODS.md §2.2): each
configuration is trained from scratch for every seed (same data and initial conv weights for every
setting of one seed, so comparisons are paired) and evaluated on the test split. The papers report
mulcat / mulcatbool ≥ baseline and causality factors ≥ random ones; :func:`summarize` gives the
mean ± std this project measures.

The training loop is a plain, minimal one on purpose [ours]: hundreds of tiny runs must take
seconds, without callbacks, validation or checkpoints.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F_
from torch import Tensor

from ..errors import ConfigError, unknown_name
from ..training.precise_bn import recalibrate_batchnorm
from ._experiment_data import load_experiment_world
from .module import SETTINGS
from .network import CausalCNN

if TYPE_CHECKING:  # pandas is imported lazily: importing the method layer stays cheap
    import pandas as pd

__all__ = ["WORLDS", "COLUMNS", "load_experiment_world", "experiment_grid", "experiment_cell", "run_experiments",
           "summarize"]

WORLDS = ("cooccurrence", "masses", "digits")
COLUMNS = ["world", "setting", "estimator", "p", "direction", "random", "seed", "test_acc",
           "train_seconds", "params"]


def experiment_grid(settings: Sequence[str], estimators: Sequence[tuple[str, float | None]],
                    directions: Sequence[str], random_ablation: bool) -> list[dict[str, Any]]:
    """The distinct configurations: a knob that a setting ignores is not varied for it.

    ``baseline`` runs once; ``cat`` once per estimator; ``mul*`` once per estimator × direction, plus
    one random-factor ablation each when ``random_ablation``.
    """
    grid: list[dict[str, Any]] = []
    for setting in settings:
        if setting not in SETTINGS:
            raise unknown_name("causality setting", setting, SETTINGS)
        if setting == "baseline":
            grid.append(dict(setting=setting, estimator="none", p=None, direction="none", random=False))
            continue
        dirs = directions if setting.startswith("mul") else ("none",)
        for (est, p), direction in itertools.product(estimators, dirs):
            grid.append(dict(setting=setting, estimator=est, p=p, direction=direction, random=False))
        if random_ablation and setting.startswith("mul"):
            grid.append(dict(setting=setting, estimator="random", p=None, direction="none", random=True))
    return grid


def _accuracy(logits: Tensor, y: Tensor) -> float:
    if y.dim() == 2:
        return float(((logits > 0).float() == y).float().mean())
    return float((logits.argmax(1) == y).float().mean())


def _fit_and_test(model: CausalCNN, train: Any, test: Any, epochs: int, lr: float, batch_size: int,
                  seed: int) -> tuple[float, float]:
    g = torch.Generator().manual_seed(seed)
    model.causality.generator = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = train.images, train.labels
    multilabel = y.dim() == 2
    start = time.perf_counter()
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(batch_size):
            logits = model(x[idx])
            loss = (F_.binary_cross_entropy_with_logits(logits, y[idx].float()) if multilabel
                    else F_.cross_entropy(logits, y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - start
    recalibrate_batchnorm(model, x, batch_size)
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(b) for b in test.images.split(256)])
    return _accuracy(logits, test.labels), seconds


def _load_cached(world: str, n: int, size: int, seed: int) -> Any:
    """The world of one (world, seed), kept while the grid runs through its settings (per process)."""
    key = (world, n, size, seed)
    if key not in _WORLD_CACHE:
        _WORLD_CACHE.clear()
        _WORLD_CACHE[key] = load_experiment_world(world, n, size, seed)
    return _WORLD_CACHE[key]


_WORLD_CACHE: dict[tuple[Any, ...], Any] = {}


def experiment_cell(cell: dict[str, Any], epochs: int, n: int, size: int, width: int, depth: int, lr: float,
                    batch_size: int, pooled: bool) -> dict[str, Any]:
    """Train and test one configuration of one world and seed (the cell function of :func:`run_experiments`)."""
    world, seed = cell["world"], int(cell["seed"])
    ds = _load_cached(world, n, size, seed)
    train, test = ds.split("train"), ds.split("test")
    torch.manual_seed(seed)
    model = CausalCNN(ds.channels, ds.num_classes, width, depth, setting=cell["setting"],
                      estimator="max" if cell["estimator"] in ("none", "random") else cell["estimator"],
                      p=cell["p"] if cell["p"] is not None else 1.0,
                      direction="causes" if cell["direction"] == "none" else cell["direction"],
                      pooled=pooled, random=cell["random"], image_size=size)
    acc, secs = _fit_and_test(model, train, test, epochs, lr, batch_size, seed)
    return dict(test_acc=acc, train_seconds=secs, params=sum(q.numel() for q in model.parameters()))


def run_experiments(worlds: Iterable[str] = WORLDS,
                    settings: Sequence[str] = ("baseline", "cat", "mulcat", "mulcatbool"),
                    estimators: Sequence[tuple[str, float | None]] = (("max", None), ("lehmer", 1.0),
                                                                       ("lehmer", 2.0)),
                    directions: Sequence[str] = ("causes", "effects"), random_ablation: bool = True,
                    seeds: Sequence[int] = (0, 1, 2), epochs: int = 3, n: int = 600, size: int = 32,
                    width: int = 8, depth: int = 3, lr: float = 2e-3, batch_size: int = 64,
                    pooled: bool = False, progress: Callable[[int, int, dict[str, Any]], Any] | None = None,
                    should_stop: Callable[[], bool] | None = None, results: str | None = None,
                    n_jobs: int = 1, threads: int | None = None) -> pd.DataFrame:
    """Train every configuration on every world for every seed; one row per run.

    Runs on the lab's shared experiment runner (:func:`halign_widgets.training.run_grid`): cells
    in the order world → seed → configuration, resumable from ``results``, parallel with ``n_jobs``.

    Parameters
    ----------
    worlds:
        World names for :func:`halign_widgets.data.make_world`, or ``"digits"`` (scikit-learn's).
    settings:
        Module settings (see :data:`~halign_widgets.causality.SETTINGS`).
    estimators:
        ``(estimator, p)`` pairs; ``p`` is ignored (``None``) for Max.
    directions:
        Factor directions for the ``mul*`` settings.
    random_ablation:
        Add the random-factor control of each ``mul*`` setting.
    seeds:
        Seeds: each draws its own data, split and initial weights.
    epochs, n, size, width, depth, lr, batch_size, pooled:
        Scale of each run (images of ``size`` px, a :class:`CausalCNN` of ``width``/``depth``).
    progress:
        Called as ``progress(done, total, row)`` after each run.
    should_stop:
        Polled before each run; returning True stops early (the rows so far are returned).
    results, n_jobs, threads:
        Results file to resume from, worker processes and torch threads per run (``None``: as
        set); see :func:`~halign_widgets.training.run_grid`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`: world, setting, estimator, p, direction, random, seed, test_acc,
        train_seconds, params.
    """
    from ..training.experiments import run_grid

    if epochs < 1 or n < 20:
        raise ConfigError(f"need epochs ≥ 1 and n ≥ 20, got epochs={epochs}, n={n}.")
    worlds, seeds = list(worlds), list(seeds)
    grid = experiment_grid(settings, estimators, directions, random_ablation)
    for world in worlds:            # unknown names fail before anything trains
        if world != "digits":
            _check_world(world)
    cells = [dict(world=world, **cfg, seed=int(seed)) for world in worlds for seed in seeds for cfg in grid]
    fixed = dict(epochs=epochs, n=n, size=size, width=width, depth=depth, lr=lr, batch_size=batch_size,
                 pooled=pooled)
    return run_grid(experiment_cell, cells, fixed=fixed, name="causality experiments", results=results,
                    n_jobs=n_jobs, threads=threads, progress=progress or False, should_stop=should_stop,
                    columns=COLUMNS)


def _check_world(name: str) -> None:
    from .. import data

    if name not in data.list_worlds():
        raise unknown_name("experiment world", name, (*data.list_worlds(), "digits"))


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std of test accuracy (and mean seconds, params) per configuration, over seeds.

    Returns a frame indexed by world, setting, estimator, p, direction with columns ``mean``,
    ``std``, ``seeds``, ``seconds``, ``params`` and ``test_acc`` (``"0.912 ± 0.013"``). With one
    seed there is no spread: ``std`` is NaN and ``test_acc`` reads ``"0.912 ± n/a (1 seed)"``.
    """
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ConfigError(f"not a run_experiments table: missing columns {missing}.")
    keys = ["world", "setting", "estimator", "p", "direction"]
    table = df.assign(p=df["p"].astype(object).where(df["p"].notna(), "")) \
        .groupby(keys, sort=False, dropna=False) \
        .agg(mean=("test_acc", "mean"), std=("test_acc", "std"), seeds=("seed", "nunique"),
             seconds=("train_seconds", "mean"), params=("params", "first"))
    table["test_acc"] = [f"{m:.3f} ± {s:.3f}" if k > 1 else f"{m:.3f} ± n/a (1 seed)"
                         for m, s, k in zip(table["mean"], table["std"], table["seeds"], strict=True)]
    return table
