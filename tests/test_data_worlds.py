"""Ground-truth worlds: determinism, shapes, masks, the stated causes and the knobs."""

from __future__ import annotations

import pytest
import torch

from halign_widgets.data import ImageDataset, list_worlds, make_world, world_knobs
from halign_widgets.errors import ConfigError, UnknownKnobError, UnknownNameError

N = 240


@pytest.fixture(scope="module")
def worlds() -> dict[str, ImageDataset]:
    return {name: make_world(name, N, seed=5) for name in list_worlds()}


def best_threshold_accuracy(score: torch.Tensor, labels: torch.Tensor) -> float:
    """Best accuracy any threshold on ``score`` reaches (either direction) on these very images."""
    order = score.argsort()
    y = labels[order].float()
    n = len(y)
    ones_below = torch.cat([torch.zeros(1), y.cumsum(0)])           # positives at or below the cut
    k = torch.arange(n + 1, dtype=torch.float32)
    acc = ((k - ones_below) + (y.sum() - ones_below)) / n             # below → 0, above → 1
    return float(torch.maximum(acc, 1 - acc).max())


# -- common contract -------------------------------------------------------------------------------
def test_list_worlds_and_knobs() -> None:
    names = list_worlds()
    assert names[0] == "masses" and len(names) == len(set(names))
    for name in names:
        knobs = world_knobs(name)
        assert isinstance(knobs, dict)
        knobs["__scratch__"] = 1                                      # a copy: registry is unaffected
        assert "__scratch__" not in world_knobs(name)


@pytest.mark.parametrize("name", ["masses", "domains", "cooccurrence", "logic", "context"])
def test_contract(worlds: dict[str, ImageDataset], name: str) -> None:
    if name not in worlds:
        pytest.fail(f"world {name} missing")
    ds = worlds[name]
    assert ds.images.shape == (N, 1, 64, 64) and ds.images.dtype == torch.float32
    assert float(ds.images.min()) >= 0.0 and float(ds.images.max()) <= 1.0
    assert ds.masks is not None and ds.masks.dtype == torch.bool and ds.masks.shape == (N, 1, 64, 64)
    assert ds.info["name"] == name and ds.info["seed"] == 5 and ds.info["description"]
    assert ds.info["knobs"] == world_knobs(name)
    idx = torch.cat([ds.splits[k] for k in ds.splits])
    assert sorted(idx.tolist()) == list(range(N))                     # splits partition the images
    if "ood" not in ds.splits:
        sizes = [len(ds.splits[k]) for k in ("train", "val", "test")]
        assert sizes == [168, 36, 36]
    for value in ds.meta.values():
        assert len(value) == N


@pytest.mark.parametrize("name", ["masses", "domains", "cooccurrence", "logic", "context"])
def test_determinism(name: str) -> None:
    a, b = make_world(name, 40, seed=3), make_world(name, 40, seed=3)
    c = make_world(name, 40, seed=4)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert torch.equal(a.masks, b.masks)
    assert all(torch.equal(a.splits[k], b.splits[k]) for k in a.splits)
    assert not torch.equal(a.images, c.images)


def test_other_size_scales_geometry() -> None:
    ds = make_world("masses", 20, size=32, seed=0)
    assert ds.images.shape == (20, 1, 32, 32) and bool(ds.masks.flatten(1).any(1).all())


def test_errors() -> None:
    with pytest.raises(UnknownNameError, match="masses"):
        make_world("mases", 10)
    with pytest.raises(UnknownKnobError, match="shortcut"):
        make_world("masses", 10, shortcat=0.5)
    with pytest.raises(ConfigError):
        make_world("masses", 0)
    with pytest.raises(ConfigError):
        make_world("masses", 10, size=8)
    with pytest.raises(ConfigError):
        make_world("masses", 10, shortcut=1.5)
    with pytest.raises(UnknownNameError):
        world_knobs("nope")


# -- masses ------------------------------------------------------------------------------------------
def test_masses_balanced_masks_and_only_margin_differs(worlds: dict[str, ImageDataset]) -> None:
    ds = worlds["masses"]
    assert ds.classes == ["benign", "malignant"]
    assert int(ds.labels.sum()) == N // 2
    area = ds.masks.flatten(1).sum(1).float()
    assert bool((area > 20).all())
    ben, mal = ds.labels == 0, ds.labels == 1
    # mass area, contrast, position and intensity inside the mass: same distributions
    assert abs(area[ben].mean() - area[mal].mean()) < 0.1 * area.mean()
    inside = (ds.images * ds.masks).flatten(1).sum(1) / area
    assert abs(inside[ben].mean() - inside[mal].mean()) < 0.02
    c = ds.meta["center"]
    assert (c[ben].mean(0) - c[mal].mean(0)).abs().max() < 2.0
    assert abs(ds.meta["contrast"][ben].mean() - ds.meta["contrast"][mal].mean()) < 0.02
    assert bool((ds.meta["n_spicules"][ben] == 0).all()) and bool((ds.meta["n_spicules"][mal] > 0).all())


def test_masses_not_solvable_by_mean_intensity_or_area() -> None:
    ds = make_world("masses", 600, seed=11)
    mean = ds.images.flatten(1).mean(1)
    assert best_threshold_accuracy(mean, ds.labels) <= 0.65
    assert best_threshold_accuracy(ds.masks.flatten(1).sum(1).float(), ds.labels) <= 0.65


def test_masses_margin_differs() -> None:
    """Malignant masks are less compact (perimeter² / area) — the margin is the signal."""
    ds = make_world("masses", 200, seed=2)
    m = ds.masks[:, 0].float()
    edges = (m[:, 1:, :] != m[:, :-1, :]).flatten(1).sum(1) + (m[:, :, 1:] != m[:, :, :-1]).flatten(1).sum(1)
    compact = edges.float() ** 2 / m.flatten(1).sum(1)
    assert compact[ds.labels == 1].mean() > 1.3 * compact[ds.labels == 0].mean()


def test_masses_shortcut_only_in_train() -> None:
    ds = make_world("masses", 1000, seed=1, shortcut=0.8)
    marker, y = ds.meta["marker"], ds.labels
    y0, y1, x0, x1 = ds.info["marker_box"]
    assert ds.info["shortcut"] == 0.8
    box_mean = ds.images[:, 0, y0:y1, x0:x1].flatten(1).mean(1)
    assert bool((box_mean[marker] > 0.85).all())                      # the marker is drawn where flagged
    tr = ds.splits["train"]
    assert not bool(marker[tr][y[tr] == 0].any())                     # never on benign train images
    rate = marker[tr][y[tr] == 1].float().mean()
    assert 0.7 < rate < 0.9
    rest = torch.cat([ds.splits["val"], ds.splits["test"]])
    r1, r0 = marker[rest][y[rest] == 1].float().mean(), marker[rest][y[rest] == 0].float().mean()
    assert abs(r1 - r0) < 0.15 and 0.25 < marker[rest].float().mean() < 0.55
    assert not bool(ds.masks[:, 0, y0:y1, x0:x1].any())               # the marker is not the cause
    clean = make_world("masses", 100, seed=1)
    assert not bool(clean.meta["marker"].any())
