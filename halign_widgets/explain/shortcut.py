"""The shortcut detective: does a model look at the lesion or at a spurious corner marker?

A "Clever Hans" set-up (S. Lapuschkin et al., "Unmasking Clever Hans predictors and assessing what
machines really learn", Nature Communications 2019): in the *masses* world with knob ``shortcut``
a bright marker (``info["marker_box"]``) appears only on malignant training images, so a model can
reach high training accuracy by reading the marker instead of the mass margin. The ground truth
tells us where each explanation's mass should be; this module measures, per model and per method,
the share of positive map mass on the lesion vs on the marker, next to each model's accuracy on a
test split where the marker is independent of the label.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn

from ..data.dataset import ImageDataset
from ..errors import ConfigError, unknown_name
from ..training.precise_bn import recalibrate_batchnorm
from ..validation import check_real
from .leaderboard import MethodsLike, method_options
from .metrics._common import predict_probs
from .metrics.localization import mask_share
from .metrics.sanity import compute_maps

__all__ = ["ShortcutPair", "marker_mask", "shortcut_detective", "train_shortcut_pair"]

_WHICH = ("marked", "all", "unmarked")


def marker_mask(dataset: ImageDataset, marker_box: tuple[int, int, int, int] | None = None) -> Tensor:
    """``H×W`` bool mask of the marker region ``(y0, y1, x0, x1)`` (default ``dataset.info["marker_box"]``)."""
    box = marker_box if marker_box is not None else dataset.info.get("marker_box")
    if box is None:
        raise ConfigError("the dataset has no info['marker_box']; build it with "
                          "make_world('masses', n, shortcut=0.9) or pass marker_box=(y0, y1, x0, x1).")
    y0, y1, x0, x1 = (int(v) for v in box)
    h, w = dataset.image_size
    if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
        raise ConfigError(f"marker_box {tuple(box)} does not fit in {h}×{w} images; "
                          "give 0 ≤ y0 < y1 ≤ H, 0 ≤ x0 < x1 ≤ W.")
    mask = torch.zeros(h, w, dtype=torch.bool)
    mask[y0:y1, x0:x1] = True
    return mask


def _accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    if x.shape[0] == 0:
        return float("nan")
    return float((predict_probs(model, x).argmax(1) == y.cpu()).float().mean())


def shortcut_detective(models: Mapping[str, nn.Module], dataset: ImageDataset,
                       methods: MethodsLike, n_images: int | None = 32,
                       split: str | None = "test", which: str = "marked", layer: str | None = None, seed: int = 0,
                       marker_box: tuple[int, int, int, int] | None = None) -> pd.DataFrame:
    """Share of positive map mass on the lesion vs on the marker, per model and method, with accuracy.

    Parameters
    ----------
    models:
        ``{name: model}``, e.g. ``{"shortcut": m1, "clean": m2}`` from :func:`train_shortcut_pair`.
    dataset:
        A dataset with lesion masks and ``info["marker_box"]`` (the masses world with ``shortcut > 0``);
        its ``split`` should have the marker independent of the label (true for masses' val / test).
    methods:
        Names of :func:`halign_widgets.explain.list_methods`, ``{name: options}`` or custom
        explainers (see :func:`halign_widgets.explain.leaderboard.method_options`).
    n_images:
        Images explained (drawn at random with ``seed``; ``None`` = all of the selection).
    split:
        Split used for explanations and accuracy (``None`` = the whole dataset).
    which:
        ``"marked"`` (default) explains images that carry the marker (falls back to all images when
        the metadata has no ``"marker"`` entry), ``"unmarked"`` those without, ``"all"`` both.
        Each image is explained for the class the model predicts.
    layer:
        Layer for CAM methods (default: last conv layer).
    seed:
        Seed of the image draw.
    marker_box:
        Override of ``dataset.info["marker_box"]``.

    Returns
    -------
    pandas.DataFrame
        One row per (model, method): ``lesion_share`` and ``marker_share`` (mean relevance mass
        inside the lesion mask / the marker box, with ``_std``), ``lesion_area`` and ``marker_area``
        (mean area fractions: the share a uniform map would get), ``accuracy`` on the whole split,
        ``accuracy_marked`` / ``accuracy_unmarked`` on its images with / without the marker, and
        ``n_images``.
    """
    if which not in _WHICH:
        raise unknown_name("image selection", which, _WHICH)
    if dataset.masks is None:
        raise ConfigError("the dataset has no lesion masks; "
                          "use a ground-truth world such as make_world('masses', ...).")
    box = marker_mask(dataset, marker_box)
    ds = dataset.split(split) if split is not None and split in dataset.splits else dataset
    marked = ds.meta.get("marker")
    marked = torch.as_tensor(marked, dtype=torch.bool) if marked is not None else None
    pool = torch.arange(len(ds))
    if marked is not None and which != "all":
        pool = pool[marked] if which == "marked" else pool[~marked]
    if pool.numel() == 0:
        raise ConfigError(f"no {which} images in the split {split!r}; use which='all' or a larger shortcut knob.")
    if n_images is not None and n_images < pool.numel():
        g = torch.Generator().manual_seed(seed)
        pool = pool[torch.randperm(pool.numel(), generator=g)[:n_images]].sort().values
    assert ds.masks is not None  # checked on the dataset above; a split keeps its masks
    x, lesion = ds.images[pool].float(), ds.masks[pool][:, 0]
    markers = box.expand_as(lesion)
    options = method_options(methods)
    rows = []
    for model_name, model in models.items():
        acc = _accuracy(model, ds.images, ds.labels)
        acc_m = _accuracy(model, ds.images[marked], ds.labels[marked]) if marked is not None else float("nan")
        acc_u = _accuracy(model, ds.images[~marked], ds.labels[~marked]) if marked is not None else float("nan")
        target = predict_probs(model, x).argmax(1)
        for method, (fn, opts) in options.items():
            maps = compute_maps(model, x, fn, target, layer, **opts)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                on_lesion, on_marker = mask_share(maps, lesion), mask_share(maps, markers)
            rows.append({
                "model": model_name, "method": method,
                "lesion_share": float(on_lesion.nanmean()), "lesion_share_std": float(_nanstd(on_lesion)),
                "marker_share": float(on_marker.nanmean()), "marker_share_std": float(_nanstd(on_marker)),
                "lesion_area": float(lesion.float().mean()), "marker_area": float(markers.float().mean()),
                "accuracy": acc, "accuracy_marked": acc_m, "accuracy_unmarked": acc_u, "n_images": int(x.shape[0]),
            })
    return pd.DataFrame(rows)


def _nanstd(v: Tensor) -> Tensor:
    v = v[~torch.isnan(v)]
    return v.std(unbiased=False) if v.numel() else torch.tensor(float("nan"))


@dataclass
class ShortcutPair:
    """Two models trained on the same masses images, with and without the shortcut marker.

    Attributes
    ----------
    models:
        ``{"shortcut": model, "clean": model}`` (eval mode).
    datasets:
        ``{"shortcut": world, "clean": world}``; the shortcut world's val / test splits have the
        marker independent of the label — pass it to :func:`shortcut_detective`.
    histories:
        Per-epoch training records of each model.
    """

    models: dict[str, nn.Module]
    datasets: dict[str, ImageDataset]
    histories: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


_CONTROLS = ("independent", "absent")


def _independent_marker_world(n: int, size: int, seed: int, shortcut: float) -> ImageDataset:
    """``n`` masses images whose marker is independent of the label, split 85 % train / 15 % val.

    They are the val / test images (where the world draws the marker independently of the label,
    at rate ``shortcut / 2``) of a larger masses world, so every pixel is drawn by the world itself.
    """
    from ..data import make_world

    big = make_world("masses", int(n / 0.3) + 8, size=size, seed=seed + 1, shortcut=shortcut)
    pool = torch.cat([big.splits["val"], big.splits["test"]]).sort().values[:n]
    world = big.subset(pool)
    perm = torch.randperm(len(world), generator=torch.Generator().manual_seed(seed))
    n_train = int(round(0.85 * len(world)))
    world.splits = {"train": perm[:n_train].sort().values, "val": perm[n_train:].sort().values}
    world.info = {**big.info, "marker_regime": "independent of the label in every image"}
    return world


def train_shortcut_pair(n: int = 800, shortcut: float = 0.9, epochs: int = 4, seed: int = 0, size: int = 64,
                        width: int = 8, control: str = "independent", **fit_kwargs: Any) -> ShortcutPair:
    """Build the masses world with and without the marker shortcut and train one SmallCNN on each.

    The "shortcut" model is trained on ``make_world("masses", n, shortcut=shortcut)``: the marker
    sits on a ``shortcut`` share of the malignant training images only. The "clean" control
    (``control``):

    - ``"independent"`` (default) **[ours]** — ``n`` images of the same world whose marker appears
      at the test rate independently of the label, so the model learns that the marker means
      nothing. A model that never saw the marker is not a fair control: on our masses it reads the
      unknown bright corner patch as a bright irregular structure and calls ~97 % of marked test
      images malignant (measured, seed 0);
    - ``"absent"`` — the same masses as the shortcut world (same ``seed``) with no marker at all.

    Both models start from the same initialization (``seed``), are trained with
    :func:`halign_widgets.training.fit_classifier` for ``epochs`` epochs (batch size 32 and
    learning rate 3e-3 unless given), then their batch-norm statistics are recomputed on the
    training images (:func:`recalibrate_batchnorm`).

    Parameters
    ----------
    n:
        Images per world (split train / val / test by the world).
    shortcut:
        Share of malignant training images carrying the marker (0 < shortcut ≤ 1).
    epochs, seed, width:
        Training length, seed of data + initialization + batches, channels of the first block.
    size:
        Image side in pixels.
    control:
        ``"independent"`` or ``"absent"`` (see above).
    **fit_kwargs:
        Other :class:`~halign_widgets.training.Trainer` options (``lr``, ``batch_size`` …).

    Returns
    -------
    ShortcutPair
        Evaluate both models on ``pair.datasets["shortcut"]`` (its val / test splits have the
        marker independent of the label) with :func:`shortcut_detective`.

    Examples
    --------
    >>> pair = train_shortcut_pair(n=400, epochs=2)                                   # doctest: +SKIP
    >>> shortcut_detective(pair.models, pair.datasets["shortcut"], ["gradcam"])       # doctest: +SKIP
    """
    from ..data import make_world
    from ..training import fit_classifier

    check_real("shortcut", shortcut, 0.0, 1.0, strict=True, hint="share of malignant training images with the marker")
    if control not in _CONTROLS:
        raise unknown_name("control", control, _CONTROLS)
    fit_kwargs.setdefault("progress", False)
    fit_kwargs.setdefault("batch_size", 32)
    fit_kwargs.setdefault("lr", 3e-3)
    shortcut_world = make_world("masses", n, size=size, seed=seed, shortcut=float(shortcut))
    clean_world = (_independent_marker_world(n, size, seed, float(shortcut)) if control == "independent"
                   else make_world("masses", n, size=size, seed=seed, shortcut=0.0))
    worlds = {"shortcut": shortcut_world, "clean": clean_world}
    models: dict[str, nn.Module] = {}
    histories: dict[str, list[dict[str, Any]]] = {}
    for name, world in worlds.items():
        model, trainer = fit_classifier(world, epochs=epochs, seed=seed, width=width, **fit_kwargs)
        models[name] = recalibrate_batchnorm(model, world.train.images).eval()
        histories[name] = [dict(h) for h in trainer.history]
    return ShortcutPair(models=models, datasets=worlds, histories=histories)
