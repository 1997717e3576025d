"""The chapter's experiments: ScratchCNN vs CoCoReco without and with CAB, CAMs, pathway lesions.

After the evaluation of Carloni et al. (ECCV 2024 workshops), METHODS.md §3, at teaching scale on
the lab's ground-truth worlds: ``context`` (the object's class is the scene around it) and
``masses`` (a control where context should not matter). For every world × seed × variant a
model is trained from scratch with the lab's :class:`~halign_widgets.training.Trainer` (same data
for every variant of a seed) and scored on the test split:

- accuracy, macro-F1 and AUROC (scikit-learn's metrics);
- Grad-CAM at the decision layer (IT, or ScratchCNN's 7th stage) for the true class, scored
  against the world's masks with relevance mass and energy pointing
  (:mod:`halign_widgets.explain.metrics`);
- for CoCoReco, the accuracy lost when each pathway (and, with CAB, all CABs) is cut.

The paper reports, on Imagenette, CoCoReco with CAB ≥ without CAB ≥ the plain CNN and more
object-focused class activation maps; :func:`summarize_comparison` gives what this lab measures.
The grid runs on the lab's shared experiment runner (:func:`halign_widgets.training.run_grid`):
progress, resume from a results file, and parallel worker processes with the serial run's numbers.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from ..errors import ConfigError, unknown_name
from ..training import Trainer, derive_seed, seeded
from .model import CoCoReco
from .scores import cam_scores, classification_scores, pathway_drops
from .scratch import ScratchCNN
from .training import DEFAULT_LMB_WEIGHT, CoCoRecoStep

if TYPE_CHECKING:  # pandas is imported lazily
    import pandas as pd

__all__ = ["VARIANTS", "VARIANT_LABELS", "SCORE_COLUMNS", "Comparison", "build_model", "train_model",
           "compare_cell", "compare_models", "summarize_comparison", "summarize_drops"]

VARIANTS = ("scratch", "cocoreco", "cocoreco_cab")
VARIANT_LABELS = {"scratch": "ScratchCNN", "cocoreco": "CoCoReco, no CAB", "cocoreco_cab": "CoCoReco + CAB"}
SCORE_COLUMNS = ("accuracy", "macro_f1", "auroc", "relevance_mass", "energy_pointing")


def build_model(variant: str, in_channels: int = 1, num_classes: int = 2, width: int = 16, seed: int = 0,
                **options: Any) -> nn.Module:
    """A fresh model of ``variant`` (``"scratch"``, ``"cocoreco"`` = no CAB, ``"cocoreco_cab"``), seeded."""
    if variant not in VARIANTS:
        raise unknown_name("model variant", variant, VARIANTS)
    with seeded(derive_seed(seed, "init")):
        if variant == "scratch":
            return ScratchCNN(in_channels, num_classes, width, **options)
        cabs = () if variant == "cocoreco" else options.pop("cab_areas", ("v1", "pfc", "it"))
        return CoCoReco(in_channels, num_classes, width, cab_areas=cabs, **options)


def train_model(model: nn.Module, dataset: Any, *, epochs: int = 6, lr: float = 5e-3, batch_size: int = 64,
                seed: int = 0, lmb_weights: float | Mapping[str, float] = DEFAULT_LMB_WEIGHT, cab_warmup: int = 1,
                device: str = "auto", callbacks: Iterable[Any] = (), progress: bool = False) -> Trainer:
    """Train ``model`` on ``dataset.train`` (validating on ``dataset.val``) with :class:`CoCoRecoStep`."""
    step = CoCoRecoStep(lmb_weights, cab_warmup)
    trainer = Trainer(model, dataset.train, dataset.val, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                      step_fn=step, callbacks=[step, *callbacks], device=device, progress=progress)
    trainer.fit()
    model.eval()
    return trainer


@dataclass
class Comparison:
    """What :func:`compare_models` measured: one row per run, and the trained models."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    models: dict[tuple[str, str, int], nn.Module] = field(default_factory=dict)
    datasets: dict[tuple[str, int], Any] = field(default_factory=dict)

    @property
    def table(self) -> pd.DataFrame:
        """The rows as a DataFrame (world, model, seed, scores, params, seconds_per_epoch, drop_*)."""
        import pandas as pd

        return pd.DataFrame(self.rows)


def compare_cell(cell: Mapping[str, Any], *, n: int, size: int, width: int, epochs: int, lr: float, batch_size: int,
                 lmb_weights: float | Mapping[str, float], world_knobs: Mapping[str, Mapping[str, Any]],
                 device: str, models_dir: str | None) -> dict[str, Any]:
    """One cell of :func:`compare_models` (``cell``: world, model, seed) for the shared runner: train, score.

    The world is generated from the cell's seed (every variant of a seed sees the same data); with
    ``models_dir`` the trained weights are saved there as ``<world>-<model>-<seed>.pt``.
    """
    from ..data import make_world
    from ..training import save_checkpoint

    world, variant, seed = str(cell["world"]), str(cell["model"]), int(cell["seed"])
    data = make_world(world, n, size=size, seed=seed, **dict(world_knobs.get(world, {})))
    test = data.test
    model = build_model(variant, data.channels, data.num_classes, width, seed)
    start = time.perf_counter()
    trainer = train_model(model, data, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                          lmb_weights=lmb_weights, device=device)
    seconds = time.perf_counter() - start
    row: dict[str, Any] = dict(world=world, model=variant, seed=seed)
    row.update(classification_scores(model, test))
    row.update(cam_scores(model, test))
    row["params"] = sum(p.numel() for p in model.parameters())
    row["seconds_per_epoch"] = seconds / max(1, len(trainer.history))
    if isinstance(model, CoCoReco):
        row.update({f"drop_{k}": v for k, v in pathway_drops(model, test).items()})
        recal = pathway_drops(model, test, recalibrate=data.train.images[:256])
        row.update({f"recal_drop_{k}": v for k, v in recal.items()})
    if models_dir is not None:
        save_checkpoint(Path(models_dir) / f"{world}-{variant}-{seed}.pt", model)
    return row


def compare_models(worlds: Sequence[str] = ("context", "masses"), variants: Sequence[str] = VARIANTS,
                   seeds: Sequence[int] = (0, 1, 2), *, n: int = 600, size: int = 32, width: int = 16,
                   epochs: int = 6, lr: float = 5e-3, batch_size: int = 64,
                   lmb_weights: float | Mapping[str, float] = DEFAULT_LMB_WEIGHT,
                   world_knobs: Mapping[str, Mapping[str, Any]] | None = None, device: str = "auto",
                   keep_models: bool = True, progress: Callable[[str], Any] | None = None,
                   should_stop: Callable[[], bool] | None = None, n_jobs: int = 1,
                   results: str | os.PathLike[str] | None = None, models_dir: str | os.PathLike[str] | None = None,
                   threads: int | None = None) -> Comparison:
    """Train and score every variant on every world for every seed, on the lab's shared experiment runner.

    Parameters
    ----------
    worlds:
        World names for :func:`halign_widgets.data.make_world`.
    variants:
        Subset of :data:`VARIANTS`.
    seeds:
        Each seed draws its own data and initial weights (the variants of a seed share the data).
    n, size, width, epochs, lr, batch_size, lmb_weights:
        Scale of each run (``n`` images of ``size`` px; models with the ``width`` divisor).
    world_knobs:
        ``{world: {knob: value}}`` passed to ``make_world``.
    keep_models:
        Keep every trained model in :attr:`Comparison.models` (for the CAM figures and the app);
        they are saved to ``models_dir`` (a temporary folder by default) and loaded back.
    progress:
        Called with one line of text after each run (``print`` works).
    should_stop:
        Polled before each run; True stops early with the rows so far.
    n_jobs, results, threads:
        Of :func:`~halign_widgets.training.run_grid`: worker processes (the numbers equal the
        serial run's), a results file to resume from, torch threads per run (``None``: the lab's
        choice in this process; give an integer for identical serial and parallel numbers).
    """
    import tempfile

    from ..data import make_world
    from ..training import grid_cells, load_checkpoint, run_grid

    for v in variants:
        if v not in VARIANTS:
            raise unknown_name("model variant", v, VARIANTS)
    if not seeds:
        raise ConfigError("give at least one seed (the acceptance asks for 3 to report a spread).")
    knobs = {w: dict(k) for w, k in (world_knobs or {}).items()}
    cells = [{"world": w, **c} for w in worlds for c in grid_cells([{"model": v} for v in variants], seeds)]
    tmp = tempfile.TemporaryDirectory(prefix="halign-cocoreco-") if keep_models and models_dir is None else None
    folder = str(models_dir) if models_dir is not None else (tmp.name if tmp is not None else None)

    def report(done: int, total: int, row: dict[str, Any]) -> None:
        if progress is not None and "accuracy" in row:
            progress(f"[{done}/{total}] {row['world']:8s} seed {row['seed']} {VARIANT_LABELS[row['model']]:17s} "
                     f"acc {row['accuracy']:.3f}  F1 {row['macro_f1']:.3f}  AUROC {row['auroc']:.3f}  "
                     f"CAM energy {row['energy_pointing']:.2f}  ({row['seconds_per_epoch']:.1f} s/epoch)")

    try:
        table = run_grid(compare_cell, cells, name="cocoreco comparison", results=results, n_jobs=n_jobs,
                         threads=threads, progress=report, should_stop=should_stop,
                         fixed=dict(n=n, size=size, width=width, epochs=epochs, lr=lr, batch_size=batch_size,
                                    lmb_weights=lmb_weights, world_knobs=knobs, device=device, models_dir=folder))
        result = Comparison(rows=table.to_dict("records"))
        if keep_models:
            for row in result.rows:
                world, variant, seed = row["world"], row["model"], int(row["seed"])
                if (world, seed) not in result.datasets:
                    result.datasets[(world, seed)] = make_world(world, n, size=size, seed=seed, **knobs.get(world, {}))
                data = result.datasets[(world, seed)]
                model = build_model(variant, data.channels, data.num_classes, width, seed)
                assert folder is not None  # keep_models gives the grid a models folder (a temporary one by default)
                load_checkpoint(Path(folder) / f"{world}-{variant}-{seed}.pt", model)
                result.models[(world, variant, seed)] = model.eval()
    finally:
        if tmp is not None:
            tmp.cleanup()
    return result


def _mean_std(values: Any) -> tuple[float, float]:
    vals = [float(v) for v in values if v == v]
    if not vals:
        return float("nan"), float("nan")
    mean = sum(vals) / len(vals)
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return mean, std


def summarize_comparison(table: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std (sample std over seeds) of every score per world and model.

    Returns a frame indexed by ``(world, model)`` with ``<score>_mean`` and ``<score>_std`` for
    :data:`SCORE_COLUMNS`, a formatted ``<score>`` string (``"0.912 ± 0.013"``), ``seeds``,
    ``params`` and ``seconds_per_epoch``.
    """
    import pandas as pd

    missing = [c for c in ("world", "model", "seed", *SCORE_COLUMNS) if c not in table.columns]
    if missing:
        raise ConfigError(f"not a compare_models table: missing columns {missing}.")
    rows = []
    for (world, variant), group in table.groupby(["world", "model"], sort=False):
        row: dict[str, Any] = {"world": world, "model": variant}
        for col in SCORE_COLUMNS:
            mean, std = _mean_std(group[col])
            row[f"{col}_mean"], row[f"{col}_std"], row[col] = mean, std, f"{mean:.3f} ± {std:.3f}"
        row["seeds"] = int(group["seed"].nunique())
        row["params"] = int(group["params"].iloc[0])
        row["seconds_per_epoch"] = float(group["seconds_per_epoch"].mean())
        rows.append(row)
    return pd.DataFrame(rows).set_index(["world", "model"])


def summarize_drops(table: pd.DataFrame) -> pd.DataFrame:
    """Accuracy drop per cut pathway, mean ± std over seeds, per world and CoCoReco variant.

    Columns ``drop_mean``/``drop_std``/``drop`` for the plain lesion and ``recal_mean``/``recal_std``/
    ``recalibrated`` with the batch-norm statistics re-estimated (NaN when not measured).
    """
    import pandas as pd

    cols = [c[5:] for c in table.columns if c.startswith("drop_")]
    rows = []
    for (world, variant), group in table[table["model"] != "scratch"].groupby(["world", "model"], sort=False):
        for name in cols:
            mean, std = _mean_std(group[f"drop_{name}"])
            if mean != mean:
                continue
            rmean, rstd = (_mean_std(group[f"recal_drop_{name}"]) if f"recal_drop_{name}" in group
                           else (float("nan"), float("nan")))
            rows.append({"world": world, "model": variant, "pathway": name, "drop_mean": mean, "drop_std": std,
                         "drop": f"{mean:+.3f} ± {std:.3f}", "recal_mean": rmean, "recal_std": rstd,
                         "recalibrated": f"{rmean:+.3f} ± {rstd:.3f}"})
    return pd.DataFrame(rows, columns=["world", "model", "pathway", "drop_mean", "drop_std", "drop", "recal_mean",
                                       "recal_std", "recalibrated"])
