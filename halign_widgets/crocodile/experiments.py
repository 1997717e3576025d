"""The ladder, the baselines, the prior experiment and leave-one-source-out, on the shared runner.

Every cell (a configuration, a seed, a held-out source and a prior) trains through
:func:`~halign_widgets.crocodile.train_configuration` and returns one row per selection rule
(:data:`~halign_widgets.crocodile.SELECTIONS`); the lab's experiment runner
(:func:`halign_widgets.training.run_grid`) shows progress, resumes from a results file and runs
cells in parallel with the serial run's numbers. :func:`summarize_ladder` gives mean ± standard
error over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from ..data import make_world
from ..errors import ConfigError
from ..training.experiments import run_grid, standard_error
from .configs import BASELINES, CONFIGURATIONS, LADDER, configuration
from .data import domain_splits
from .prior import PRIOR_KINDS, learned_causality_map, prior_graph
from .run import train_configuration

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["METRICS", "crocodile_cell", "ladder_cells", "run_ladder", "summarize_ladder", "paper_direction"]

METRICS = ("id_map", "ood_map", "drop_map", "id_auroc", "ood_auroc", "drop_auroc")
_WORLDS: dict[tuple[Any, ...], Any] = {}


def _world(n: int, size: int, seed: int, ood_source: int, corr: float, n_sources: int) -> Any:
    key = (n, size, seed, ood_source, corr, n_sources)
    if key not in _WORLDS:           # one world per process: the cells of a seed share it
        _WORLDS.clear()
        _WORLDS[key] = make_world("domains", n, size=size, seed=seed, n_sources=n_sources, ood_source=ood_source,
                                  label_source_corr=corr)
    return _WORLDS[key]


def crocodile_cell(cell: dict[str, Any], n: int = 1200, size: int = 32, label_source_corr: float = 0.8,
                   n_sources: int = 4, epochs: int = 4, batch_size: int = 64, lr: float = 2e-3, width: int = 8,
                   depth: int = 3, dim: int = 32, device: str = "auto") -> list[dict[str, Any]]:
    """Train one configuration for one seed and held-out source; one row per selection rule.

    ``cell`` holds ``config``, ``seed``, ``ood_source`` and ``prior`` (a prior kind, or ``"none"``
    for configurations without the prior loss). Rows: ``selection``, ``epoch`` and :data:`METRICS`,
    plus ``graph_error`` (off-diagonal MSE between the learned causality map of the task queries
    on the ID test images and the world's true graph; NaN for the baselines), ``params`` and
    ``epoch_seconds``.
    """
    seed, ood = int(cell["seed"]), int(cell["ood_source"])
    ds = _world(n, size, seed, ood, label_source_corr, n_sources)
    splits = domain_splits(ds, seed=seed)
    config = configuration(cell["config"])
    prior = cell.get("prior", "none")
    run = train_configuration(config, splits, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, width=width,
                              depth=depth, dim=dim, prior="true" if prior == "none" else prior, device=device)
    graph_error = float("nan")
    if config.method == "crocodile":
        learned = learned_causality_map(run.model, splits.images("test"))
        truth = prior_graph("true", ds.info["graph"])
        off = ~torch.eye(truth.shape[0], dtype=torch.bool)
        graph_error = float((learned - truth).pow(2)[off].mean())
    return [{"selection": rule, **{k: (int(v) if k == "epoch" else float(v)) for k, v in scores.items()},
             "graph_error": graph_error,
             "params": run.params, "epoch_seconds": run.seconds_per_epoch}
            for rule, scores in run.results.items()]


def ladder_cells(configs: Sequence[str], seeds: Sequence[int], ood_sources: Sequence[int],
                 priors: Sequence[str] = ("true",)) -> list[dict[str, Any]]:
    """Cells in the order held-out source → seed → configuration (→ prior, for the prior-loss ones)."""
    for name in configs:
        configuration(name)
    for kind in priors:
        if kind not in PRIOR_KINDS:
            prior_graph(kind, torch.zeros(1, 1))            # raises the typed error listing the kinds
    cells = []
    for ood in ood_sources:
        for seed in seeds:
            for name in configs:
                kinds = priors if configuration(name).uses_prior else ("none",)
                cells += [dict(config=name, seed=int(seed), ood_source=int(ood), prior=k) for k in kinds]
    if not cells:
        raise ConfigError("the grid is empty: give at least one configuration, seed and held-out source.")
    return cells


def run_ladder(configs: Sequence[str] = LADDER + BASELINES, seeds: Sequence[int] = (0, 1, 2),
               ood_sources: Sequence[int] | None = None, priors: Sequence[str] = ("true",), *, n: int = 1200,
               size: int = 32, label_source_corr: float = 0.8, n_sources: int = 4, epochs: int = 4,
               batch_size: int = 64, lr: float = 2e-3, width: int = 8, depth: int = 3, dim: int = 32,
               device: str = "auto", results: str | None = None, n_jobs: int = 1, threads: int | None = 1,
               progress: bool | Callable[..., Any] = True,
               should_stop: Callable[[], bool] | None = None) -> pd.DataFrame:
    """Train configurations × seeds × held-out sources (× priors) at one budget; the tidy table.

    Parameters
    ----------
    configs:
        Names from :data:`~halign_widgets.crocodile.CONFIGURATIONS` (default: the ladder, then the
        baselines).
    seeds:
        At least 3 for a spread worth reading.
    ood_sources:
        Held-out sources; default the last one. ``range(n_sources)`` is leave-one-source-out.
    priors:
        Prior kinds for the configurations with the prior loss (the prior experiment).
    n, size, label_source_corr, n_sources:
        The *domains* world of every cell.
    epochs, batch_size, lr, width, depth, dim, device:
        The budget, the same for every configuration.
    results, n_jobs, threads, progress, should_stop:
        Of the runner (:func:`~halign_widgets.training.run_grid`).
    """
    ood_sources = [n_sources - 1] if ood_sources is None else list(ood_sources)
    if any(not 0 <= int(s) < n_sources for s in ood_sources):
        raise ConfigError(f"held-out sources must lie in 0..{n_sources - 1}, got {list(ood_sources)}.")
    cells = ladder_cells(configs, seeds, ood_sources, priors)
    fixed = dict(n=n, size=size, label_source_corr=label_source_corr, n_sources=n_sources, epochs=epochs,
                 batch_size=batch_size, lr=lr, width=width, depth=depth, dim=dim, device=device)
    return run_grid(crocodile_cell, cells, fixed=fixed, name="crocodile ladder", results=results, n_jobs=n_jobs,
                    threads=threads, progress=progress, should_stop=should_stop)


def summarize_ladder(df: pd.DataFrame, selection: str = "train-val",
                     by: Sequence[str] = ("config", "prior")) -> pd.DataFrame:
    """Mean ± standard error over seeds of every metric, per configuration (and prior, held-out source …).

    Returns one row per group with ``<metric>`` (mean), ``<metric>_se`` and ``<metric>_text``
    (``"0.812 ± 0.011"``) for :data:`METRICS` and ``graph_error``, and ``seeds``, ``params``,
    ``epoch_seconds``, ``label``. Rows follow the order of first appearance.
    """
    import pandas as pd

    missing = [c for c in ("selection", "seed", *METRICS, *by) if c not in df.columns]
    if missing:
        raise ConfigError(f"not a run_ladder table: missing columns {missing}.")
    sub = df[df["selection"] == selection]
    if sub.empty:
        raise ConfigError(f"no rows with selection {selection!r}; the table has {sorted(set(df['selection']))}.")
    rows = []
    for keys, group in sub.groupby(list(by), sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        row: dict[str, Any] = dict(zip(by, keys, strict=True))
        name = row.get("config")
        row["label"] = CONFIGURATIONS[name].label if name in CONFIGURATIONS else str(name)
        row["seeds"] = int(group["seed"].nunique())
        for metric in (*METRICS, "graph_error"):
            values = list(group[metric]) if metric in group else []
            mean = float(sum(values) / len(values)) if values and all(v == v for v in values) else float("nan")
            se = standard_error(values)
            row[metric], row[f"{metric}_se"] = mean, se
            row[f"{metric}_text"] = "—" if math.isnan(mean) else f"{mean:.3f} ± {se:.3f}"
        row["params"] = int(group["params"].iloc[0]) if "params" in group else 0
        row["epoch_seconds"] = float(group["epoch_seconds"].mean()) if "epoch_seconds" in group else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def paper_direction(summary: pd.DataFrame, full: str = "full", ladder: Sequence[str] = LADDER[:-1],
                    baselines: Sequence[str] = BASELINES) -> dict[str, Any]:
    """Does this run show the paper's direction? Compares ``full`` with the other rows of ``summary``.

    Returns ``full_lower_id`` (full's ID mAP below every ablation's), ``full_best_ood`` (highest
    OOD mAP of all rows), ``full_smallest_drop`` (smallest ID → OOD drop of all rows) and, for each,
    the best competitor's name and value; ``within_se`` says whether full and the best competitor
    in OOD mAP differ by less than the sum of their standard errors.
    """
    rows = {r["config"]: r for r in summary.to_dict("records")}
    if full not in rows:
        raise ConfigError(f"the summary has no {full!r} row; it has {sorted(rows)}.")
    f = rows[full]
    others = {k: v for k, v in rows.items() if k != full and (k in ladder or k in baselines)}
    if not others:
        raise ConfigError("the summary needs other configurations than the full model to compare with.")
    best_ood = max(others, key=lambda k: others[k]["ood_map"])
    least_drop = min(others, key=lambda k: others[k]["drop_map"])
    abl = [k for k in others if k in ladder]
    return {
        "full_lower_id": bool(abl) and all(f["id_map"] < others[k]["id_map"] for k in abl),
        "full_best_ood": f["ood_map"] > others[best_ood]["ood_map"],
        "full_smallest_drop": f["drop_map"] < others[least_drop]["drop_map"],
        "best_other_ood": (best_ood, others[best_ood]["ood_map"]),
        "least_other_drop": (least_drop, others[least_drop]["drop_map"]),
        "within_se": abs(f["ood_map"] - others[best_ood]["ood_map"])
        < f["ood_map_se"] + others[best_ood]["ood_map_se"],
    }
