"""Ground-truth worlds: determinism, shapes, masks, the stated causes and the knobs."""

from __future__ import annotations

import numpy as np
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
    m = ds.masks[:, 0]
    edge = m[:, 0].any() or m[:, -1].any() or m[:, :, 0].any() or m[:, :, -1].any()
    assert not bool(edge)                                             # causes lie inside the image


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
        make_world("masses", 2.5)
    with pytest.raises(ConfigError):
        make_world("logic", 10, n_distractors=-1)
    assert len(make_world("logic", np.int64(6), n_distractors=np.int64(1))) == 6   # NumPy integers are fine
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


# -- domains -----------------------------------------------------------------------------------------
def is_dag(graph: torch.Tensor) -> bool:
    """Kahn's algorithm: a graph is acyclic iff every node can be removed in topological order."""
    g = graph.clone().bool()
    alive = torch.ones(len(g), dtype=torch.bool)
    while bool(alive.any()):
        roots = alive & ~(g & alive[:, None]).any(0)
        if not bool(roots.any()):
            return False
        alive &= ~roots
    return True


def test_domains_graph_labels_and_ood() -> None:
    ds = make_world("domains", 1000, seed=2, label_source_corr=0.0)
    graph, y = ds.info["graph"], ds.labels
    k = len(ds.info["findings"])
    assert ds.multilabel and y.shape == (1000, k) and set(y.unique().tolist()) <= {0.0, 1.0}
    assert ds.classes == ds.info["findings"] and graph.shape == (k, k) and is_dag(graph)
    assert bool(graph.any()) and not is_dag(graph + graph.T)
    for cause, effect in graph.nonzero().tolist():                  # effects follow their causes
        on, off = y[:, cause] == 1, y[:, cause] == 0
        assert y[on, effect].mean() > y[off, effect].mean() + 0.2
    present = y.sum(1) > 0
    assert bool(ds.masks.flatten(1).any(1)[present].all()) and not bool(ds.masks[~present].any())
    src = ds.meta["source"]
    ood = ds.info["ood_source"]
    assert ood == ds.info["n_sources"] - 1 == 3
    assert bool((src[ds.splits["ood"]] == ood).all()) and len(ds.splits["ood"]) == 250
    for name in ("train", "val", "test"):
        assert not bool((src[ds.splits[name]] == ood).any())


def test_domains_knobs_source_correlation() -> None:
    ds = make_world("domains", 800, seed=4, n_sources=3, ood_source=0, label_source_corr=1.0)
    src, mass = ds.meta["source"], ds.labels[:, 0]
    assert ds.info["label_source_corr"] == 1.0 and set(src.tolist()) == {0, 1, 2}
    assert bool((src[ds.splits["ood"]] == 0).all())
    rates = [float(mass[src == s].mean()) for s in range(3)]
    assert abs(rates[0] - 0.5) < 0.1 and rates[1] > 0.8 and rates[2] < 0.2   # training sources skewed
    flat = make_world("domains", 800, seed=4, n_sources=3, ood_source=0, label_source_corr=0.0)
    fr = [float(flat.labels[flat.meta["source"] == s, 0].mean()) for s in range(3)]
    assert max(fr) - min(fr) < 0.12
    with pytest.raises(ConfigError):
        make_world("domains", 50, ood_source=7)


def test_domains_sources_differ_in_appearance() -> None:
    ds = make_world("domains", 800, seed=0)
    src = ds.meta["source"]
    # a blurred, noisy source differs in high-frequency energy from the sharp clean source 0
    hf = (ds.images[:, 0, 1:, :] - ds.images[:, 0, :-1, :]).abs().flatten(1).mean(1)
    assert abs(float(hf[src == 0].mean()) - float(hf[src == 1].mean())) > 0.003


# -- cooccurrence ------------------------------------------------------------------------------------------
def test_cooccurrence_b_only_with_a_and_near_it() -> None:
    ds = make_world("cooccurrence", 600, seed=3, p_b=0.7)
    a, b = ds.meta["a_present"], ds.meta["b_present"]
    assert torch.equal(a, ds.labels == 1) and int(a.sum()) == 300
    assert not bool(b[~a].any())                                      # never B without A
    assert 0.6 < float(b[a].float().mean()) < 0.8
    d = (ds.meta["a_pos"][b] - ds.meta["b_pos"][b]).norm(dim=1)
    assert float(d.max()) < 24.0                                      # B next to A (one cell away)
    area = ds.masks.flatten(1).sum(1)
    assert bool((area[a] > 0).all()) and not bool((area[~a] > 0).any())
    c = ds.meta["a_pos"][a].round().long()
    assert bool(ds.masks[a, 0, c[:, 0], c[:, 1]].all())              # the mask covers A
    none = make_world("cooccurrence", 100, seed=3, p_b=0.0)
    assert not bool(none.meta["b_present"].any())


# -- logic ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["and", "or"])
def test_logic_labels_follow_cues(variant: str) -> None:
    ds = make_world("logic", 400, seed=8, variant=variant)
    a, b = ds.meta["cue_a"], ds.meta["cue_b"]
    expected = (a & b) if variant == "and" else (a | b)
    assert torch.equal(ds.labels, expected.long()) and ds.info["variant"] == variant
    assert 0.4 < float(a.float().mean()) < 0.6 and 0.4 < float(b.float().mean()) < 0.6
    area = ds.masks.flatten(1).sum(1)
    assert torch.equal(area > 0, a | b)                               # mask = present cues
    for flag, key in ((a, "box_a"), (b, "box_b")):
        box = ds.meta[key]
        assert bool((box[~flag] == -1).all()) and bool((box[flag] >= -1).all())
        assert bool((box[flag][:, 1] <= 65).all())
    with pytest.raises(ConfigError):
        make_world("logic", 10, variant="xor")


# -- context -----------------------------------------------------------------------------------------
def test_context_label_is_scene_at_object() -> None:
    ds = make_world("context", 400, seed=6)
    y, c = ds.labels, ds.meta["center"]
    assert int(y.sum()) == 200 and torch.equal(ds.meta["scene"], y)
    assert bool(ds.masks.flatten(1).any(1).all())
    ci = c.round().long()
    assert bool(ds.masks[torch.arange(400), 0, ci[:, 0], ci[:, 1]].all())
    # the object itself looks the same in both classes: brightness at its centre
    centre = ds.images[torch.arange(400), 0, ci[:, 0], ci[:, 1]]
    assert abs(float(centre[y == 0].mean()) - float(centre[y == 1].mean())) < 0.03
    # global image statistics do not give the class away
    assert best_threshold_accuracy(ds.images.flatten(1).mean(1), y) <= 0.65
