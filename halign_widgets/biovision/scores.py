"""Scoring a trained model: classification metrics, CAM localization, pathway lesions.

After the evaluation of Carloni et al. (ECCV 2024 workshops), METHODS.md §3: accuracy, macro-F1 and
AUROC (scikit-learn's metrics); Grad-CAM at the decision layer scored against the ground-truth
masks with :mod:`halign_widgets.explain.metrics`; the accuracy lost when a pathway is cut
(:func:`.ablation.ablate`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..models import eval_mode, model_device
from ..training import recalibrate_batchnorm
from .ablation import ablate
from .connectome import PATHWAYS
from .model import CoCoReco

__all__ = ["classification_scores", "cam_scores", "pathway_drops"]


@torch.no_grad()
def _probabilities(model: nn.Module, images: Tensor, batch_size: int = 256) -> Tensor:
    device = model_device(model)
    with eval_mode(model):
        out = [torch.softmax(model(images[i:i + batch_size].to(device)).float(), 1).cpu()
               for i in range(0, len(images), batch_size)]
    return torch.cat(out)


def classification_scores(model: nn.Module, dataset: Any, batch_size: int = 256) -> dict[str, float]:
    """Accuracy, macro-F1 and AUROC (one-vs-rest for more than two classes) of ``model`` on ``dataset``.

    AUROC is NaN when the data hold a single class.
    """
    from sklearn.metrics import f1_score, roc_auc_score

    probs = _probabilities(model, dataset.images, batch_size)
    y = dataset.labels.cpu().numpy()
    pred = probs.argmax(1).numpy()
    try:
        auroc = float(roc_auc_score(y, probs[:, 1].numpy()) if probs.shape[1] == 2
                      else roc_auc_score(y, probs.numpy(), multi_class="ovr"))
    except ValueError:
        auroc = float("nan")
    return {"accuracy": float((pred == y).mean()), "macro_f1": float(f1_score(y, pred, average="macro")),
            "auroc": auroc}


def cam_scores(model: nn.Module, dataset: Any, layer: str | None = None, batch_size: int = 64) -> dict[str, float]:
    """Grad-CAM at ``layer`` (default the model's decision layer) for the true class, against the masks.

    Returns the mean ``relevance_mass`` and ``energy_pointing`` over the images where they are
    defined, ``cam_undefined``, the number of images where they are not (a constant CAM), and
    ``mask_area``, the mean share of the image inside the mask — what both scores give for a map
    that looks everywhere alike (the chance level to compare them with).
    """
    from ..explain import explain
    from ..explain.metrics import energy_pointing, relevance_mass

    if dataset.masks is None:
        raise ConfigError("cam_scores needs a dataset with ground-truth masks (a world from make_world).")
    rm, ep = [], []
    for i in range(0, len(dataset), batch_size):
        x, y, m = dataset.images[i:i + batch_size], dataset.labels[i:i + batch_size], dataset.masks[i:i + batch_size]
        maps = explain(model, x, "gradcam", target=y, layer=layer).maps.cpu()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # undefined images are counted below
            rm.append(relevance_mass(maps, m[:, 0]))
            ep.append(energy_pointing(maps, m[:, 0]))
    rm_all, ep_all = torch.cat(rm), torch.cat(ep)
    return {"relevance_mass": float(rm_all.nanmean()), "energy_pointing": float(ep_all.nanmean()),
            "cam_undefined": int(torch.isnan(ep_all).sum()), "mask_area": float(dataset.masks.float().mean())}


def pathway_drops(model: CoCoReco, dataset: Any, pathways: Sequence[str] = tuple(PATHWAYS),
                  include_cabs: bool = True, recalibrate: Tensor | None = None) -> dict[str, float]:
    """Accuracy lost on ``dataset`` when each pathway is cut (intact − ablated; positive = it helped).

    Parameters
    ----------
    model, dataset:
        A trained CoCoReco and the data to score it on.
    pathways:
        Names from :data:`~.connectome.PATHWAYS`.
    include_cabs:
        With a model that has CABs, add ``"cab"``: the drop with every CAB switched off.
    recalibrate:
        Optional training images [ours]: with batch norm, a cut also shifts the statistics the
        downstream areas were normalised with. Given images, the lesioned network's batch-norm
        statistics are re-estimated on them before scoring (and put back afterwards), which
        separates "the pathway carried information" from "the cut moved the statistics".
    """
    intact = classification_scores(model, dataset)["accuracy"]
    cases: list[tuple[str, dict[str, Any]]] = [(p, {"pathways": [p]}) for p in pathways]
    if include_cabs and model.cab_areas:
        cases.append(("cab", {"cabs": "all"}))
    drops: dict[str, float] = {}
    for name, cut in cases:
        saved = {k: v.clone() for k, v in model.state_dict().items() if "running_" in k or "num_batches" in k}
        try:
            with ablate(model, **cut):
                if recalibrate is not None:
                    recalibrate_batchnorm(model, recalibrate)
                drops[name] = intact - classification_scores(model, dataset)["accuracy"]
        finally:
            if recalibrate is not None:
                model.load_state_dict(saved, strict=False)
    return drops
