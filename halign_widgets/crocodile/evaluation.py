"""The evaluation protocol: mAP and mean AUROC, in and out of distribution, with a stated selection rule.

Following the practice of DomainBed (Gulrajani & Lopez-Paz, ICLR 2021) and WILDS (Koh et al.,
ICML 2021):

- **model selection on training-source validation** (``"train-val"``, the reported rule): after
  every epoch the model is scored on the training sources' ``val`` split and the epoch with the
  best mAP is kept;
- **oracle selection** (``"oracle"``, a labelled upper bound only): the epoch with the best mAP on
  ``ood_val``, a part of the held-out source the reported OOD test never uses;
- each selected model is tested on the training sources' ``test`` split (ID) and on ``ood_test``
  (OOD); the drop is ID − OOD.

mAP is the mean over findings of scikit-learn's average precision; mean AUROC likewise with
``roc_auc_score``. A finding with only one class present in a split is left out of the mean.

[ours] The selection is among the epochs of one run (DomainBed also selects hyper-parameters by
the same rule; here every configuration shares one budget and one set of hyper-parameters), and
the held-out source is cut in two so that the oracle never sees the images the OOD test reports.
Without a held-out source (:func:`~halign_widgets.crocodile.in_distribution_splits`) every OOD
score is NaN and the oracle rule keeps the same epoch as training-source validation.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import InputShapeError
from ..models import model_device
from ..training import Callback
from ..training.evaluation import predict_probabilities
from .data import DomainSplits

__all__ = ["SELECTIONS", "mean_average_precision", "mean_auroc", "finding_probabilities", "split_scores",
           "SelectionTracker"]

SELECTIONS = ("train-val", "oracle")


def _per_finding(scores: Tensor, labels: Tensor, metric: Any) -> float:
    """Mean of ``metric`` over the findings (columns) that have both classes; one scikit-learn call."""
    s, y = np.asarray(torch.as_tensor(scores, dtype=torch.float64)), np.asarray(torch.as_tensor(labels))
    if s.shape != y.shape or s.ndim != 2:
        raise InputShapeError(f"scores {s.shape} and labels {y.shape} must both be N×K.")
    positives = y.sum(0)
    keep = (positives > 0) & (positives < y.shape[0])
    if not keep.any():
        return float("nan")
    return float(np.mean(metric(y[:, keep], s[:, keep], average=None)))


def mean_average_precision(scores: Tensor, labels: Tensor) -> float:
    """Mean over findings of the average precision of ``scores`` (``N×K``) for 0/1 ``labels``.

    Examples
    --------
    >>> mean_average_precision(torch.tensor([[0.9], [0.1]]), torch.tensor([[1], [0]]))
    1.0
    """
    from sklearn.metrics import average_precision_score

    return _per_finding(scores, labels, average_precision_score)


def mean_auroc(scores: Tensor, labels: Tensor) -> float:
    """Mean over findings of the area under the ROC curve (0.5 = chance)."""
    from sklearn.metrics import roc_auc_score

    return _per_finding(scores, labels, roc_auc_score)


def finding_probabilities(model: nn.Module, images: Tensor, num_findings: int, batch_size: int = 256) -> Tensor:
    """Sigmoid of the first ``num_findings`` readout columns, ``N×K`` on the CPU (eval mode)."""
    device = model_device(model)
    return predict_probabilities(model, images.split(batch_size), True, device)[:, :num_findings]


def split_scores(model: nn.Module, splits: DomainSplits, part: str) -> dict[str, float]:
    """``{"map", "auroc"}`` of ``model`` on one part of the protocol (NaN for an empty part)."""
    if len(splits.parts[part]) == 0:
        return {"map": float("nan"), "auroc": float("nan")}
    probs = finding_probabilities(model, splits.images(part), splits.num_findings)
    labels = splits.labels(part)
    return {"map": mean_average_precision(probs, labels), "auroc": mean_auroc(probs, labels)}


class SelectionTracker(Callback):
    """Scores every epoch on ``val`` and ``ood_val``, keeps the selected weights, tests them at the end.

    After each epoch the history entry gets ``id_map``, ``id_auroc`` (training-source validation)
    and ``ood_map``, ``ood_auroc`` (the held-out source's ``ood_val``) — the per-epoch curves the
    app draws side by side.
    """

    def __init__(self, splits: DomainSplits) -> None:
        self.splits = splits
        self.best: dict[str, tuple[float, int, dict[str, Tensor]]] = {}

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        model = trainer.model
        scores = {"id": split_scores(model, self.splits, "val"), "ood": split_scores(model, self.splits, "ood_val")}
        for where, s in scores.items():
            logs[f"{where}_map"], logs[f"{where}_auroc"] = s["map"], s["auroc"]
        for rule, where in (("train-val", "id"), ("oracle", "ood" if self.splits.has_ood else "id")):
            value = scores[where]["map"]
            value = -1.0 if value != value else value
            if rule not in self.best or value > self.best[rule][0]:
                state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                self.best[rule] = (value, epoch, state)

    def results(self, model: nn.Module) -> dict[str, dict[str, float]]:
        """Per selection rule: the selected ``epoch`` and its ID / OOD mAP and AUROC and the drops.

        ``model`` gets each selected state in turn and ends with the ``"train-val"`` selection.
        """
        if not self.best:
            raise InputShapeError("no epoch was scored yet; train at least one epoch with this tracker attached.")
        out: dict[str, dict[str, float]] = {}
        device = model_device(model)
        for rule in ("oracle", "train-val"):
            _, epoch, state = self.best[rule]
            model.load_state_dict({k: v.to(device) for k, v in state.items()})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                ind, ood = split_scores(model, self.splits, "test"), split_scores(model, self.splits, "ood_test")
            out[rule] = {"epoch": epoch, "id_map": ind["map"], "ood_map": ood["map"],
                         "drop_map": ind["map"] - ood["map"],
                         "id_auroc": ind["auroc"], "ood_auroc": ood["auroc"],
                         "drop_auroc": ind["auroc"] - ood["auroc"]}
        return out

    def selected_state(self, rule: str = "train-val") -> dict[str, Tensor]:
        """A copy of the weights selected by ``rule``."""
        return copy.deepcopy(self.best[rule][2])
