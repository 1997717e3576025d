"""ProtoPNet beside a plain SmallCNN at the same training budget, over seeds: accuracy, AUROC, recall.

Chen et al. report ProtoPNet on par with its plain backbone; on CBIS-DDSM breast masses the thesis
behind this lab reports recall 0.769 and AUROC 0.719 (METHODS.md §1.5) — a direction on real
mammograms, not a target for the synthetic masses world. Protocol **[ours]**: per seed, a SmallCNN
trains ``pretrain_epochs`` epochs; a ProtoPNet is built on a copy of that trunk (as Chen et al. start
from a pretrained trunk) and trained with the schedule; the SmallCNN then continues to the same total
number of epochs as the ProtoPNet saw (pretraining + every stage), so both models see every training
image equally often.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from ..errors import ConfigError
from ..models import SmallCNN, model_device
from ..training import Trainer, derive_seed, seeded
from ..training.evaluation import predict_probabilities
from ..validation import check_int
from .model import ProtoPNet
from .push import dataset_tensors
from .schedule import ProtoPNetRun, Schedule, train_protopnet

__all__ = ["PAPER_CBIS_DDSM", "SeedPair", "auroc", "classification_scores", "compare_with_cnn", "summarize_scores",
           "train_pair"]

#: The direction on real data: ProtoPNet on CBIS-DDSM breast masses (METHODS.md §1.5).
PAPER_CBIS_DDSM = {"recall": 0.769, "auroc": 0.719}


def auroc(scores: Tensor, positive: Tensor) -> float:
    """Area under the ROC curve: the probability that a random positive scores above a random negative
    (ties count one half) — the Mann–Whitney form, exact. NaN when one of the two groups is empty.

    Written out (rather than ``sklearn.metrics.roc_auc_score``) because it is three lines and importing
    scikit-learn's metrics costs about two seconds, a tenth of a smoke run's budget.

    Examples
    --------
    >>> auroc(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([False, False, True, True]))
    0.75
    """
    pos, neg = scores[positive].double(), scores[~positive].double()
    if pos.numel() == 0 or neg.numel() == 0:
        return math.nan
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).double() + 0.5 * (diff == 0).double()).mean())


def classification_scores(model: nn.Module, dataset: Any, positive: int = 1, batch_size: int = 256) -> dict[str, float]:
    """Accuracy, AUROC and recall (sensitivity of class ``positive``) of ``model`` on ``dataset``.

    AUROC (:func:`auroc`) ranks the images by the softmax probability of ``positive``
    (one-vs-rest); it is NaN when the data hold one class only.
    """
    images, labels = dataset_tensors(dataset, "evaluation data")
    chunks = [images[i:i + batch_size] for i in range(0, images.shape[0], batch_size)]
    probs = predict_probabilities(model, chunks, False, model_device(model))
    if not 0 <= positive < probs.shape[1]:
        raise ConfigError(f"positive class {positive} is out of range for {probs.shape[1]} classes.")
    pred = probs.argmax(1)
    truth = labels == positive
    return {"accuracy": float((pred == labels).float().mean()), "auroc": auroc(probs[:, positive], truth),
            "recall": float((pred[truth] == positive).float().mean()) if bool(truth.any()) else math.nan,
            "n": int(labels.shape[0])}


@dataclass
class SeedPair:
    """One seed of the comparison: the SmallCNN, the ProtoPNet run and both models' test scores."""

    seed: int
    cnn: nn.Module
    cnn_trainer: Trainer
    run: ProtoPNetRun
    trunk: nn.Module
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def protopnet(self) -> ProtoPNet:
        """The trained ProtoPNet."""
        return self.run.model


def train_pair(world: Any, seed: int = 0, *, schedule: Schedule | None = None, pretrain_epochs: int = 3,
               width: int = 8, prototypes_per_class: int = 5, latent_depth: int = 32,
               layer: str | None = "features.conv3", batch_size: int = 32, lr: float = 3e-3,
               proto_callbacks: tuple[Any, ...] = (), run_protopnet: Callable[..., ProtoPNetRun] | None = None,
               compare: bool = True, device: str = "auto") -> SeedPair:
    """Train one seed of the comparison (see the module docstring).

    Parameters
    ----------
    world:
        An :class:`~halign_widgets.data.ImageDataset` with ``train``, ``val`` and ``test`` splits.
    seed:
        Seed of both models' initialisation and batches.
    schedule:
        The ProtoPNet schedule (default :class:`Schedule`).
    pretrain_epochs:
        SmallCNN epochs before its trunk is copied into the ProtoPNet (≥ 1).
    width, prototypes_per_class, latent_depth, layer:
        Architecture (SmallCNN width; ProtoPNet ``m``, ``D`` and trunk layer).
    batch_size, lr:
        Training options (``lr`` is the SmallCNN's; the ProtoPNet's rates are the schedule's).
    proto_callbacks:
        Trainer callbacks for the ProtoPNet run (a live view …).
    run_protopnet:
        Replaces :func:`train_protopnet` as ``run_protopnet(model, schedule)`` (an app that trains the
        ProtoPNet in its own worker returns its run).
    compare:
        Also train the SmallCNN to the full budget and score it (``False``: only the ProtoPNet, on
        the trunk of the ``pretrain_epochs`` SmallCNN).
    """
    schedule = schedule if schedule is not None else Schedule()
    pretrain_epochs = check_int("pretrain_epochs", pretrain_epochs, 1, hint="ProtoPNet starts from a trained trunk")
    train, val, test = world.split("train"), world.split("val"), world.split("test")
    t0 = time.perf_counter()
    with seeded(derive_seed(seed, "init")):
        cnn = SmallCNN(world.channels, world.num_classes, width=width)
    cnn_trainer = Trainer(cnn, train, val, epochs=pretrain_epochs, batch_size=batch_size, lr=lr, seed=seed,
                          progress=False, device=device)
    cnn_trainer.fit()
    trunk = copy.deepcopy(cnn).eval()
    t_pre = time.perf_counter() - t0
    with seeded(derive_seed(seed, "protopnet")):
        model = ProtoPNet(world.channels, world.num_classes, prototypes_per_class, latent_depth, backbone=trunk,
                          layer=layer)
    t1 = time.perf_counter()
    if run_protopnet is not None:
        run = run_protopnet(model, schedule)
    else:
        run = train_protopnet(model, train, val, schedule=schedule, batch_size=batch_size, seed=seed,
                              progress=False, callbacks=list(proto_callbacks), device=device)
    t_proto = time.perf_counter() - t1
    pair = SeedPair(seed, cnn.eval(), cnn_trainer, run, trunk, seconds={"ProtoPNet": t_proto + t_pre})
    pair.scores = {"ProtoPNet": classification_scores(run.model, test)}
    if compare:
        t2 = time.perf_counter()
        cnn_trainer.fit(epochs=schedule.total_epochs)
        pair.seconds["SmallCNN"] = time.perf_counter() - t2 + t_pre
        pair.scores["SmallCNN"] = classification_scores(cnn.eval(), test)
    return pair


def compare_with_cnn(world: Any, seeds: tuple[int, ...] = (0, 1, 2), *, pairs: dict[int, SeedPair] | None = None,
                     on_seed: Callable[[SeedPair], None] | None = None,
                     **options: Any) -> tuple[Any, dict[int, SeedPair]]:
    """Train :func:`train_pair` for every seed not in ``pairs``; return the per-seed table and all pairs.

    Returns
    -------
    (pandas.DataFrame, dict)
        One row per (model, seed) with ``accuracy``, ``auroc``, ``recall``, ``seconds``; and
        ``{seed: SeedPair}`` (the given pairs included, so trained models are shared, not retrained).
    """
    import pandas as pd

    done = dict(pairs or {})
    for seed in seeds:
        if seed not in done:
            done[seed] = train_pair(world, seed, **options)
        if on_seed is not None:
            on_seed(done[seed])
    rows = [{"model": name, "seed": seed, **{k: v for k, v in done[seed].scores[name].items() if k != "n"},
             "seconds": done[seed].seconds.get(name, math.nan)}
            for seed in seeds for name in ("ProtoPNet", "SmallCNN")]
    return pd.DataFrame(rows), done


def summarize_scores(table: Any, metrics: tuple[str, ...] = ("accuracy", "auroc", "recall")) -> Any:
    """Mean and standard deviation over seeds per model (population std, ``ddof=0``), one row per model."""
    grouped = table.groupby("model")[list(metrics)]
    mean, std = grouped.mean(), grouped.std(ddof=0)
    out = mean.copy()
    for m in metrics:
        out[f"{m}_std"] = std[m]
    out["seeds"] = table.groupby("model")["seed"].count()
    return out
