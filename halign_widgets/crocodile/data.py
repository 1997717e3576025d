"""The data of a domain-generalization run: splits, targets, and the masks attention is scored against.

From an :class:`~halign_widgets.data.ImageDataset` with acquisition sources (``meta["source"]``)
and an ``"ood"`` split of one held-out source — the *domains* world
(``make_world("domains", …)``) — :func:`domain_splits` builds the evaluation protocol's five
parts: training-source ``train`` / ``val`` / ``test`` (the world's 70 / 15 / 15 split) and the
held-out source cut in two [ours], ``ood_val`` (used only by the *oracle* selection, the
labelled upper bound) and ``ood_test`` (the reported out-of-distribution test).

Data without acquisition sources (a folder of images, an ``.npz``: your own data) has no held-out
source, so no out-of-distribution test: :func:`in_distribution_splits` gives the in-distribution
parts only (``ood_val`` and ``ood_test`` empty, :attr:`DomainSplits.has_ood` false), with one
finding per class, so that the task branch alone can still be trained and inspected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..data import ImageDataset
from ..errors import ConfigError
from ..validation import check_real

__all__ = ["DomainSplits", "check_domain_dataset", "domain_targets", "domain_splits", "in_distribution_splits",
           "finding_masks", "marker_masks"]


def check_domain_dataset(ds: Any) -> None:
    """Raise :class:`~halign_widgets.errors.ConfigError` unless ``ds`` has multi-label findings, sources, OOD split."""
    if not isinstance(ds, ImageDataset):
        raise ConfigError(f"need an ImageDataset (e.g. make_world('domains', 1200)), got {type(ds).__name__}.")
    if not ds.multilabel:
        raise ConfigError("CROCODILE needs multi-label findings (an N×K 0/1 label matrix); this dataset has class "
                          "indices. Use make_world('domains', …) or give one 0/1 column per finding.")
    if "source" not in ds.meta:
        raise ConfigError("the dataset has no acquisition sources: set ds.meta['source'] to one source index per "
                          "image (the domains world does), so the domain branch and the baselines know the groups.")
    if "ood" not in ds.splits or len(ds.splits["ood"]) == 0:
        raise ConfigError("the dataset has no (or an empty) 'ood' split: hold one source out, e.g. "
                          "make_world('domains', n, ood_source=3), or add ds.splits['ood'] = indices of the "
                          "held-out source's images.")
    for name in ("train", "val", "test"):
        if name not in ds.splits or len(ds.splits[name]) == 0:
            raise ConfigError(f"the dataset has no (or an empty) {name!r} split of the training sources; add one "
                              "(the domains world has train / val / test / ood).")
    source = torch.as_tensor(ds.meta["source"])
    train_src = set(source[ds.splits["train"]].tolist())
    ood_src = set(source[ds.splits["ood"]].tolist())
    if train_src & ood_src:
        raise ConfigError(f"the 'ood' split shares source(s) {sorted(train_src & ood_src)} with the training "
                          "split; the held-out source must not be seen in training.")


def domain_targets(ds: ImageDataset, sources: list[int]) -> Tensor:
    """``N×(K+D)`` float targets: the findings, then the one-hot index of the image's source in ``sources``.

    An image whose source is not in ``sources`` (the held-out one) gets an all-zero source part.
    """
    source = torch.as_tensor(ds.meta["source"]).long()
    onehot = torch.zeros(len(ds), len(sources))
    for j, s in enumerate(sources):
        onehot[source == s, j] = 1.0
    return torch.cat([ds.labels.float(), onehot], 1)


@dataclass
class DomainSplits:
    """The five parts of the protocol and what the model needs to know about them.

    Attributes
    ----------
    dataset:
        The whole dataset.
    sources:
        The training sources, in the order of the domain branch's queries.
    ood_source:
        The held-out source.
    parts:
        ``"train"``, ``"val"``, ``"test"``, ``"ood_val"``, ``"ood_test"`` → index tensors.
    """

    dataset: ImageDataset
    sources: list[int]
    ood_source: int
    parts: dict[str, Tensor]

    @property
    def num_findings(self) -> int:
        return self.dataset.num_classes

    @property
    def num_sources(self) -> int:
        return len(self.sources)

    @property
    def findings(self) -> list[str]:
        return list(self.dataset.classes)

    @property
    def has_ood(self) -> bool:
        """Whether there is a held-out source to test on (False for :func:`in_distribution_splits`)."""
        return all(len(self.parts.get(p, ())) > 0 for p in ("ood_val", "ood_test"))

    def images(self, part: str) -> Tensor:
        """Images of ``part``."""
        return self.dataset.images[self.parts[part]]

    def labels(self, part: str) -> Tensor:
        """``N×K`` findings of ``part``."""
        return self.dataset.labels[self.parts[part]].float()

    def tensors(self, part: str) -> tuple[Tensor, Tensor]:
        """``(images, [findings | one-hot source])`` of ``part`` — what the Trainer takes."""
        idx = self.parts[part]
        return self.dataset.images[idx], domain_targets(self.dataset, self.sources)[idx]


def domain_splits(ds: ImageDataset, oracle_fraction: float = 0.5, seed: int = 0) -> DomainSplits:
    """Check ``ds`` and cut it into train / val / test (training sources) and ood_val / ood_test.

    Parameters
    ----------
    ds:
        A dataset with ``meta["source"]`` and an ``"ood"`` split (the *domains* world).
    oracle_fraction:
        Share of the held-out source's images used for the oracle selection (``ood_val``).
    seed:
        Seed of the random cut of the held-out source.
    """
    check_domain_dataset(ds)
    check_real("oracle_fraction", oracle_fraction, 0.0, 1.0, strict=True, strict_high=True,
               hint="share of the held-out source's images for oracle selection")
    source = torch.as_tensor(ds.meta["source"]).long()
    sources = sorted(set(source[torch.cat([ds.splits[s] for s in ("train", "val", "test")])].tolist()))
    ood = ds.splits["ood"]
    ood_sources = sorted(set(source[ood].tolist()))
    if len(ood) < 2:
        raise ConfigError("the 'ood' split needs at least 2 images (one for the oracle's selection, one to test).")
    perm = ood[torch.randperm(len(ood), generator=torch.Generator().manual_seed(seed))]
    cut = min(max(1, int(round(oracle_fraction * len(ood)))), len(ood) - 1)
    parts = {name: ds.splits[name] for name in ("train", "val", "test")}
    parts.update(ood_val=perm[:cut].sort().values, ood_test=perm[cut:].sort().values)
    return DomainSplits(ds, sources, int(ood_sources[0]), parts)


def in_distribution_splits(ds: ImageDataset) -> DomainSplits:
    """The in-distribution parts of a dataset without acquisition sources (``ood_*`` parts empty) [ours].

    Class-index labels become one finding per class (an ``N×K`` one-hot matrix), every image gets
    the one pseudo-source 0, and ``train`` / ``val`` / ``test`` are the dataset's own splits. The
    task branch (configuration ``"task_only"``) trains on it; the domain branch, the contrastive term
    and every out-of-distribution number need real sources and a held-out one
    (:func:`domain_splits`).
    """
    if not isinstance(ds, ImageDataset):
        raise ConfigError(f"need an ImageDataset (e.g. load_data(path)), got {type(ds).__name__}.")
    for name in ("train", "val", "test"):
        if name not in ds.splits or len(ds.splits[name]) == 0:
            raise ConfigError(f"the dataset has no (or an empty) {name!r} split; the loaders make train / val / "
                              "test splits (load_data(path)), or set ds.splits yourself.")
    labels = ds.labels.float() if ds.multilabel else \
        torch.nn.functional.one_hot(ds.labels.long(), ds.num_classes).float()
    meta = {**ds.meta, "source": torch.zeros(len(ds), dtype=torch.long)}
    data = ImageDataset(ds.images, labels, list(ds.classes), ds.masks, meta, dict(ds.info), dict(ds.splits))
    empty = torch.zeros(0, dtype=torch.long)
    parts = {name: ds.splits[name] for name in ("train", "val", "test")}
    parts.update(ood_val=empty, ood_test=empty.clone())
    return DomainSplits(data, [0], -1, parts)


def finding_masks(ds: ImageDataset) -> Tensor:
    """``N×K×H×W`` bool: the region of each present finding (empty where the finding is absent).

    In the *domains* world every finding sits in its own quadrant, so finding ``k``'s region is the
    ground-truth mask (the union of the present findings) inside the quadrant of its position
    ``meta["positions"][:, k]``. Data with masks but without positions (your own data: one mask
    per image) gives every present finding the whole mask [ours].
    """
    if ds.masks is None:
        raise ConfigError("finding masks need ground-truth masks (the domains world has them; for your own data "
                          "give DATA_OPTIONS['masks'] or <split>_masks in the .npz).")
    if "positions" not in ds.meta:
        labels = ds.labels.bool() if ds.multilabel else \
            torch.nn.functional.one_hot(ds.labels.long(), ds.num_classes).bool()
        return ds.masks.bool() & labels[..., None, None]
    n, _, h, w = ds.masks.shape
    half_h, half_w = (h + 1) // 2, (w + 1) // 2
    pos = torch.as_tensor(ds.meta["positions"]).float()                   # N×K×2 (row, column)
    qr, qc = (pos[..., 0] // half_h).long(), (pos[..., 1] // half_w).long()
    rows = (torch.arange(h) // half_h).view(1, 1, h, 1)
    cols = (torch.arange(w) // half_w).view(1, 1, 1, w)
    quadrant = (rows == qr[..., None, None]) & (cols == qc[..., None, None])
    return quadrant & ds.masks.bool() & ds.labels.bool()[..., None, None]


def marker_masks(ds: ImageDataset) -> Tensor:
    """``N×H×W`` bool: the corner marker of each image's source (placed as the domains world places it).

    All ``False`` for data without the domains world's sources (no marker to score against).
    """
    sources = ds.info.get("sources")
    n, _, h, w = ds.images.shape
    out = torch.zeros(n, h, w, dtype=torch.bool)
    if not sources or "source" not in ds.meta:
        return out
    source = torch.as_tensor(ds.meta["source"]).long()
    for s, p in enumerate(sources):       # same placement as halign_widgets.data.worlds.domains
        m = max(2, int(round(p["marker_size"] * h / 64.0)))
        y0 = 1 if p["corner"] in (0, 1) else h - 1 - m
        x0 = 1 if p["corner"] in (0, 2) else w - 1 - m
        out[source == s, y0:y0 + m, x0:x0 + m] = True
    return out
