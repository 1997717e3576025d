"""Pruning, explanations, the truth checks, the patch-visualisation sanity check and the comparison scores."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from halign_widgets.data import ImageDataset, make_world
from halign_widgets.errors import ConfigError, TargetOutOfRangeError
from halign_widgets.prototypes import (
    NearestPatches,
    ProtoPNet,
    PushRecord,
    PushResult,
    box_share,
    classification_scores,
    consistency_stability,
    duplicate_prototypes,
    explain_prototypes,
    explanation_truth,
    marker_sensitivity,
    nearest_patches,
    patch_visualization_check,
    prototype_truth,
    prune_prototypes,
    prune_rule,
    push_prototypes,
    summarize_scores,
)


@pytest.fixture(scope="module")
def world() -> ImageDataset:
    return make_world("masses", 48, size=16, seed=0, shortcut=0.9)


def tiny(seed: int = 0) -> ProtoPNet:
    torch.manual_seed(seed)
    return ProtoPNet(1, 2, 2, 4, width=4, depth=2).eval()


def test_the_pruning_rule_on_a_constructed_case() -> None:
    labels = torch.tensor([[0, 0, 0, 1, 1, 1],    # p0 (class 0): 3 of 6 own → kept at threshold 3
                           [0, 0, 1, 1, 1, 1],    # p1 (class 0): 2 of 6 → pruned
                           [1, 1, 1, 1, 1, 1],    # p2 (class 1): 6 → kept
                           [0, 0, 0, 0, 0, 1]])   # p3 (class 1): 1 → pruned
    cls = torch.tensor([0, 0, 1, 1])
    assert prune_rule(labels, cls, 3).tolist() == [False, True, False, True]
    assert prune_rule(labels, cls, 0).tolist() == [False] * 4
    with pytest.raises(ConfigError, match="threshold"):
        prune_rule(labels, cls, 7)


def test_prune_prototypes_switches_off_what_the_rule_rejects_and_reports_accuracy(world) -> None:
    model = tiny()
    labels = torch.tensor([[0, 1, 1], [0, 0, 1], [1, 1, 0], [0, 0, 0]])
    near = NearestPatches(indices=torch.zeros(4, 3, dtype=torch.long), distances=torch.zeros(4, 3),
                          rows=torch.zeros(4, 3, dtype=torch.long), cols=torch.zeros(4, 3, dtype=torch.long),
                          labels=labels)
    before = model(world.test.images).detach()
    result = prune_prototypes(model, world.train, k=3, threshold=2, test=world.test, nearest=near)
    assert result.pruned == [0, 3] and result.kept == [1, 2] and result.own_counts == [1, 2, 2, 0]
    assert model.prototype_active.tolist() == [0.0, 1.0, 1.0, 0.0]
    assert "pruned 2 of 4 prototypes (p0, p3)" in result.summary() and "test accuracy" in result.summary()
    assert result.accuracy_before == pytest.approx(float((before.argmax(1) == world.test.labels).float().mean()))
    report = prune_prototypes(tiny(), world.train, k=3, threshold=2, nearest=near, apply=False)
    assert report.pruned == [0, 3] and report.accuracy_before is None


def test_nearest_patches_are_one_per_image_and_sorted(world) -> None:
    model = tiny()
    near = nearest_patches(model, world.train, k=4)
    assert near.indices.shape == (4, 4) and near.k == 4 and len(near.boxes) == 4 and len(near.boxes[0]) == 4
    assert bool((near.distances[:, 1:] >= near.distances[:, :-1]).all())
    for j in range(4):
        assert len(set(near.indices[j].tolist())) == 4
        i, r, c = near.patches(j)[0]
        d = model.distances(world.train.images[i:i + 1])[0, j].detach()
        assert float(d[r, c]) == pytest.approx(float(near.distances[j, 0]), abs=1e-5)
        assert float(d.min()) == pytest.approx(float(d[r, c]), abs=1e-6)
    with pytest.raises(ConfigError, match="k must be"):
        nearest_patches(model, world.train, k=0)


def test_explanation_contributions_sum_to_the_logit_and_are_sorted(world) -> None:
    model = tiny()
    x = world.test.images[:3]
    explained = explain_prototypes(model, x)
    logits = model(x).detach()
    for b, e in enumerate(explained):
        assert e.predicted == int(logits[b].argmax()) and e.target == e.predicted
        assert float(e.contributions.sum()) == pytest.approx(float(logits[b, e.target]), abs=1e-4)
        assert e.contributions[e.order].tolist() == sorted(e.contributions.tolist(), reverse=True)
        assert e.raw_maps.shape == (4, 8, 8) and e.maps.shape == (4, 16, 16) and len(e.boxes) == 4
        assert e.top(2) == e.order[:2].tolist()
    assert explain_prototypes(model, x[:1], target=0)[0].target == 0
    with pytest.raises(TargetOutOfRangeError, match="0..1"):
        explain_prototypes(model, x[:1], target=2)


def test_box_share_and_duplicates_on_constructed_cases() -> None:
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[2:6, 2:6] = True
    assert box_share((2, 6, 2, 6), mask) == 1.0 and box_share((0, 4, 0, 4), mask) == 0.25
    model = tiny()
    with torch.no_grad():
        model.prototype_vectors[3] = model.prototype_vectors[1]
    assert duplicate_prototypes(model) == [[1, 3]]
    records = [PushRecord(j, j // 2, i, 0, 0, (0, 4, 0, 4), (0, 4, 0, 4), 0.0, 0.0) for j, i in enumerate([5, 5, 7, 8])]
    assert duplicate_prototypes(model, PushResult(records)) == [[0, 1, 3]]


def test_prototype_truth_scores_patches_and_boxes_against_the_mask(world) -> None:
    model = tiny()
    train = world.train
    i = int((train.labels == 0).nonzero()[0])
    ys, xs = train.masks[i, 0].nonzero(as_tuple=True)
    lesion = (int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1)
    far = (0, 2, 14, 16)
    records = [PushRecord(0, 0, i, 0, 0, lesion, far, 0.0, 0.0), PushRecord(1, 0, i, 0, 1, far, lesion, 0.0, 0.0),
               PushRecord(2, 1, i, 1, 0, far, far, 0.0, 0.0), PushRecord(3, 1, i, 1, 1, far, far, 0.0, 0.0)]
    table = prototype_truth(model, PushResult(records), train)
    chance = float(train.masks[i, 0].float().mean())
    assert table.loc[0, "patch_on_mask"] == pytest.approx(box_share(lesion, train.masks[i, 0]))
    assert table.loc[0, "on_mask"] and not table.loc[1, "on_mask"] and table.loc[1, "box_on_mask"] > 0.5
    assert table.loc[0, "chance"] == pytest.approx(chance) and table.loc[2, "lift"] == 0.0
    assert table.loc[3, "duplicate_of"] is None or math.isnan(table.loc[3, "duplicate_of"])
    effect = marker_sensitivity(model, train)
    assert effect.shape == (4,) and bool(torch.isfinite(effect).all())
    assert table["marker_effect"].tolist() == pytest.approx(effect.tolist())
    clean = make_world("masses", 20, size=16, seed=1)
    with pytest.raises(ConfigError, match="no marked image"):
        marker_sensitivity(model, clean)
    with pytest.raises(ConfigError, match="masks"):
        prototype_truth(model, PushResult(records), ImageDataset(train.images, train.labels, train.classes))


def test_explanation_truth_consistency_and_the_sanity_check_have_sound_values(world) -> None:
    model = tiny()
    push_prototypes(model, world.train)
    table = explanation_truth(model, world.test, top=2)
    assert len(table) == len(world.test) and table["share"].between(0, 1).all() and table["on_mask"].between(0, 1).all()
    result = consistency_stability(model, world.test, noise=0.0)
    assert result.stability == 1.0                     # no noise: nothing can change
    assert set(result.table.columns) >= {"covers_lesion", "covers_marker", "consistent", "stability"}
    assert result.table["covers_lesion"].between(0, 1).all()
    check = patch_visualization_check(model, world.test.images[:3], samples=2)
    assert len(check) == 3 and (check["pixels"] == check["pixels"].iloc[0]).all()
    assert {"drop_upsampled", "drop_gradient", "drop_random", "gradient_wins"} <= set(check.columns)
    with pytest.raises(ConfigError, match="unknown prototype index 9"):
        patch_visualization_check(model, world.test.images[:1], prototypes=[9])


class Fixed(nn.Module):
    """Returns given logits whatever the input."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits[: x.shape[0]] + 0 * self.w


def test_auroc_equals_scikit_learn_with_ties() -> None:
    from sklearn.metrics import roc_auc_score

    from halign_widgets.prototypes import auroc

    g = torch.Generator().manual_seed(0)
    scores = torch.rand(60, generator=g).round(decimals=1)          # many ties
    labels = torch.rand(60, generator=g) > 0.4
    assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels.numpy(), scores.numpy()), abs=1e-12)
    assert math.isnan(auroc(scores, torch.zeros(60, dtype=torch.bool)))


def test_classification_scores_by_hand_and_their_summary() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0], [1.0, 0.0]])   # p(1) rising: 0.12, 0.73, 0.95, 0.27
    labels = torch.tensor([0, 1, 1, 1])
    scores = classification_scores(Fixed(logits), (torch.zeros(4, 1, 2, 2), labels))
    assert scores["accuracy"] == 0.75 and scores["recall"] == pytest.approx(2 / 3)
    assert scores["auroc"] == 1.0 and scores["n"] == 4
    import pandas as pd

    table = pd.DataFrame([{"model": "A", "seed": 0, "accuracy": 0.8, "auroc": 0.9, "recall": 0.7},
                          {"model": "A", "seed": 1, "accuracy": 0.6, "auroc": 0.7, "recall": 0.5}])
    summary = summarize_scores(table)
    assert summary.loc["A", "accuracy"] == pytest.approx(0.7) and summary.loc["A", "accuracy_std"] == pytest.approx(0.1)
    assert summary.loc["A", "seeds"] == 2
