"""The evaluation protocol: splits, targets, masks, metrics, selection rules, configurations and bad input."""

from __future__ import annotations

import warnings

import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from halign_widgets.crocodile import (
    CONFIGURATIONS,
    LADDER,
    Configuration,
    CrocodileNet,
    LossConfig,
    attention_maps,
    check_prior,
    configuration,
    domain_splits,
    domain_targets,
    finding_masks,
    in_distribution_splits,
    marker_masks,
    mean_auroc,
    mean_average_precision,
    prior_graph,
    score_attention,
    train_configuration,
)
from halign_widgets.data import ImageDataset, make_world
from halign_widgets.errors import ConfigError, InputShapeError, UnknownNameError


@pytest.fixture(scope="module")
def world() -> ImageDataset:
    return make_world("domains", 240, size=32, seed=3, ood_source=1, label_source_corr=0.8)


def test_training_sources_never_include_the_ood_source(world: ImageDataset) -> None:
    splits = domain_splits(world, seed=0)
    source = world.meta["source"]
    assert splits.ood_source == 1 and splits.sources == [0, 2, 3]
    for part in ("train", "val", "test"):
        assert 1 not in set(source[splits.parts[part]].tolist())
    for part in ("ood_val", "ood_test"):
        assert set(source[splits.parts[part]].tolist()) == {1}
    ood = torch.cat([splits.parts["ood_val"], splits.parts["ood_test"]]).sort().values
    assert torch.equal(ood, world.splits["ood"].sort().values)
    assert not set(splits.parts["ood_val"].tolist()) & set(splits.parts["ood_test"].tolist())
    x, t = splits.tensors("train")
    assert t.shape == (len(x), 4 + 3) and torch.equal(t[:, :4], world.labels[splits.parts["train"]])
    assert torch.equal(t[:, 4:].sum(1), torch.ones(len(x)))      # every training image has one training source
    targets = domain_targets(world, splits.sources)
    assert torch.equal(targets[world.splits["ood"], 4:], torch.zeros(len(world.splits["ood"]), 3))


def test_a_dataset_without_sources_or_ood_split_is_refused(world: ImageDataset) -> None:
    no_source = ImageDataset(world.images, world.labels, world.classes, world.masks, {}, dict(world.info),
                             dict(world.splits))
    with pytest.raises(ConfigError, match="meta\\['source'\\]"):
        domain_splits(no_source)
    no_ood = ImageDataset(world.images, world.labels, world.classes, world.masks, dict(world.meta), dict(world.info),
                          {k: v for k, v in world.splits.items() if k != "ood"})
    with pytest.raises(ConfigError, match="'ood' split"):
        domain_splits(no_ood)
    leaked = dict(world.splits)
    leaked["ood"] = torch.cat([world.splits["ood"], world.splits["train"][:3]])
    with pytest.raises(ConfigError, match="must not be seen"):
        domain_splits(ImageDataset(world.images, world.labels, world.classes, world.masks, dict(world.meta),
                                   dict(world.info), leaked))
    single = make_world("masses", 20, size=16)
    with pytest.raises(ConfigError, match="multi-label"):
        domain_splits(single)


def test_finding_and_marker_masks_partition_the_ground_truth(world: ImageDataset) -> None:
    fm = finding_masks(world)
    assert fm.shape == (240, 4, 32, 32)
    assert torch.equal(fm.any(1), world.masks[:, 0].bool())           # the union is the world's mask
    assert int(fm.sum(1).max()) <= 1                                   # findings never overlap
    assert torch.equal(fm.flatten(2).any(2), world.labels.bool())      # a region exactly when present
    mm = marker_masks(world)
    assert bool((world.images[:, 0][mm] > 0.6).float().mean() > 0.9)   # the marker is bright (0.9 + noise)
    corner = mm[world.meta["source"] == 0][:, :4, :4]
    assert bool(corner.any(2).any(1).all())                            # source 0: the top-left corner


def test_metrics_match_scikit_learn_and_skip_single_class_findings() -> None:
    g = torch.Generator().manual_seed(0)
    scores, labels = torch.rand(50, 3, generator=g), (torch.rand(50, 3, generator=g) > 0.5).long()
    ap = sum(average_precision_score(labels[:, k], scores[:, k]) for k in range(3)) / 3
    auc = sum(roc_auc_score(labels[:, k], scores[:, k]) for k in range(3)) / 3
    assert mean_average_precision(scores, labels) == pytest.approx(ap)
    assert mean_auroc(scores, labels) == pytest.approx(auc)
    labels[:, 2] = 1                                                   # finding 2: one class only
    ap2 = sum(average_precision_score(labels[:, k], scores[:, k]) for k in range(2)) / 2
    assert mean_average_precision(scores, labels) == pytest.approx(ap2)
    perfect = torch.tensor([[0.9, 0.2], [0.1, 0.8]])
    assert mean_auroc(perfect, torch.tensor([[1, 0], [0, 1]])) == 1.0
    with pytest.raises(InputShapeError):
        mean_auroc(torch.rand(4, 2), torch.ones(4, 3))


def test_training_records_every_term_and_both_selection_rules(world: ImageDataset) -> None:
    splits = domain_splits(world, seed=0)
    run = train_configuration("full", splits, epochs=2, batch_size=32, width=4, dim=16, device="cpu", seed=0)
    entry = run.history[-1]
    for term in CONFIGURATIONS["full"].losses.on:
        assert f"train_{term}" in entry and f"val_{term}" in entry
    for key in ("id_map", "id_auroc", "ood_map", "ood_auroc"):
        assert 0.0 <= entry[key] <= 1.0
    val_best = max(range(2), key=lambda i: run.history[i]["id_map"])
    ood_best = max(range(2), key=lambda i: run.history[i]["ood_map"])
    assert run.results["train-val"]["epoch"] == val_best + 1
    assert run.results["oracle"]["epoch"] == ood_best + 1
    for scores in run.results.values():
        assert scores["drop_map"] == pytest.approx(scores["id_map"] - scores["ood_map"])
    again = train_configuration("full", splits, epochs=2, batch_size=32, width=4, dim=16, device="cpu", seed=0)
    assert again.results == run.results, "the same seed must give the same numbers"


def test_configurations_the_ladder_and_impossible_ones() -> None:
    assert LADDER == ("task_only", "task_domain", "task_domain_contrastive", "full")
    rungs = [CONFIGURATIONS[n].losses.on for n in LADDER]
    assert all(a < b for a, b in zip(rungs, rungs[1:], strict=False)), "each rung adds terms to the previous one"
    assert rungs[2] - rungs[1] == {"contrastive"} and rungs[3] - rungs[2] == {"prior"}
    assert not CONFIGURATIONS["task_only"].domain_branch and CONFIGURATIONS["full"].uses_prior
    with pytest.raises(ConfigError, match="domain branch"):
        Configuration("bad", "contrastive without domain", "crocodile", False,
                      LossConfig(frozenset(["task", "contrastive"])))
    with pytest.raises(ConfigError, match="domain branch"):
        CONFIGURATIONS["task_only"].with_losses(on=["contrastive"])
    with pytest.raises(UnknownNameError, match="did you mean 'full'"):
        configuration("ful")


def test_priors_and_bad_priors(world: ImageDataset) -> None:
    g = world.info["graph"]
    assert torch.equal(prior_graph("reversed", g), g.t()) and float(prior_graph("empty", g).sum()) == 0.0
    with pytest.raises(InputShapeError, match="4×4"):
        check_prior(torch.zeros(3, 4), 4)
    with pytest.raises(ConfigError, match="NaN"):
        check_prior(torch.tensor([[0.0, float("nan")], [0.0, 0.0]]), 2)
    with pytest.raises(UnknownNameError):
        prior_graph("backwards", g)
    splits = domain_splits(world)
    with pytest.raises(InputShapeError):
        train_configuration("full", splits, epochs=1, prior=torch.zeros(3, 3), device="cpu")


def test_attention_maps_are_scored_against_the_finding_and_the_marker(world: ImageDataset) -> None:
    torch.manual_seed(0)

    net = CrocodileNet(1, 4, 3).eval()
    causal, spurious = attention_maps(net, world.images[:3], 1)
    assert causal.shape == spurious.shape == (3, 32, 32)
    assert torch.all(causal > 0) and torch.all(spurious < 1)
    present = int(torch.nonzero(world.labels[:, 0])[0, 0])
    absent = int(torch.nonzero(world.labels[:, 0] == 0)[0, 0])
    s = score_attention(net, world, present, 0)
    assert s["present"] and 0.0 <= s["causal_on_finding"] <= 1.0 and 0.0 <= s["spurious_on_marker"] <= 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                # no warning leaks to the user
        s_absent = score_attention(net, world, absent, 0)
    assert not s_absent["present"] and s_absent["causal_on_finding"] != s_absent["causal_on_finding"]
    with pytest.raises(ConfigError, match="out of range"):
        attention_maps(net, world.images[:1], 4)


def test_data_without_sources_trains_the_task_branch_in_distribution_only() -> None:
    """Your own data (class indices, no sources, no 'ood' split): one finding per class, NaN out of distribution."""
    own = make_world("masses", 60, size=32, seed=0)
    own.info = {"name": "mine"}                                    # a loader's info: no world metadata
    with pytest.raises(ConfigError, match="multi-label"):
        domain_splits(own)
    splits = in_distribution_splits(own)
    assert not splits.has_ood and domain_splits(make_world("domains", 64, size=32, seed=0)).has_ood
    assert splits.num_findings == own.num_classes and splits.sources == [0]
    assert torch.equal(splits.labels("test").argmax(1), own.labels[own.splits["test"]])
    assert torch.equal(splits.labels("test").sum(1), torch.ones(len(own.splits["test"])))
    fm = finding_masks(splits.dataset)                              # the image's mask, for its own class only
    assert torch.equal(fm.any(1), own.masks[:, 0]) and not bool(fm[own.labels == 0, 1].any())
    assert not bool(marker_masks(splits.dataset).any())
    with pytest.raises(ConfigError, match=r"info\['graph'\]"):          # the prior needs a world's graph
        train_configuration("full", splits, epochs=1, device="cpu")
    run = train_configuration("task_only", splits, epochs=2, seed=0, device="cpu")
    for rule in ("train-val", "oracle"):
        r = run.results[rule]
        assert r["id_map"] == r["id_map"] and r["ood_map"] != r["ood_map"] and r["drop_map"] != r["drop_map"]
    assert run.results["oracle"]["epoch"] == run.results["train-val"]["epoch"]
    assert all(e["ood_map"] != e["ood_map"] for e in run.history)
    test = splits.dataset.subset(splits.parts["test"])
    s = score_attention(run.model, test, 0, int(test.labels[0].argmax()))
    assert s["present"] and 0.0 <= s["causal_on_finding"] <= 1.0 and s["causal_on_marker"] != s["causal_on_marker"]
    with pytest.raises(ConfigError, match="masks"):
        finding_masks(ImageDataset(own.images, own.labels, own.classes))
