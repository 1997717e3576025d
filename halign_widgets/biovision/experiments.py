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
The loop is deliberately a small function [ours] (the lab's shared experiment runner is being
generalized; this one will move onto it).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

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
           "compare_models", "summarize_comparison", "summarize_drops"]

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
    def table(self) -> "pd.DataFrame":
        """The rows as a DataFrame (world, model, seed, scores, params, seconds_per_epoch, drop_*)."""
        import pandas as pd

        return pd.DataFrame(self.rows)


def compare_models(worlds: Sequence[str] = ("context", "masses"), variants: Sequence[str] = VARIANTS,
                   seeds: Sequence[int] = (0, 1, 2), *, n: int = 600, size: int = 32, width: int = 16,
                   epochs: int = 6, lr: float = 5e-3, batch_size: int = 64,
                   lmb_weights: float | Mapping[str, float] = DEFAULT_LMB_WEIGHT,
                   world_knobs: Mapping[str, Mapping[str, Any]] | None = None, device: str = "auto",
                   keep_models: bool = True, progress: Callable[[str], Any] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> Comparison:
    """Train and score every variant on every world for every seed.

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
        Keep every trained model in :attr:`Comparison.models` (for the CAM figures and the app).
    progress:
        Called with one line of text after each run (``print`` works).
    should_stop:
        Polled before each run; True stops early with the rows so far.
    """
    from ..data import make_world

    for v in variants:
        if v not in VARIANTS:
            raise unknown_name("model variant", v, VARIANTS)
    if not seeds:
        raise ConfigError("give at least one seed (the acceptance asks for 3 to report a spread).")
    knobs = world_knobs or {}
    result = Comparison()
    total, done = len(worlds) * len(seeds) * len(variants), 0
    for world in worlds:
        for seed in seeds:
            data = make_world(world, n, size=size, seed=seed, **dict(knobs.get(world, {})))
            result.datasets[(world, seed)] = data
            test = data.test
            for variant in variants:
                if should_stop is not None and should_stop():
                    return result
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
                result.rows.append(row)
                if keep_models:
                    result.models[(world, variant, seed)] = model
                done += 1
                if progress is not None:
                    progress(f"[{done}/{total}] {world:8s} seed {seed} {VARIANT_LABELS[variant]:17s} "
                             f"acc {row['accuracy']:.3f}  F1 {row['macro_f1']:.3f}  AUROC {row['auroc']:.3f}  "
                             f"CAM energy {row['energy_pointing']:.2f}  ({seconds:.1f} s)")
    return result


def _mean_std(values: Any) -> tuple[float, float]:
    vals = [float(v) for v in values if v == v]
    if not vals:
        return float("nan"), float("nan")
    mean = sum(vals) / len(vals)
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return mean, std


def summarize_comparison(table: "pd.DataFrame") -> "pd.DataFrame":
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


def summarize_drops(table: "pd.DataFrame") -> "pd.DataFrame":
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
