"""ProtoPNet beside the SmallCNN: ``train_pair`` gives both the same budget from one copied trunk; ``compare_with_cnn``
reuses trained seeds and tabulates what each model scored."""

from __future__ import annotations

import math

import pytest
import torch

from halign_widgets.data import ImageDataset, make_world
from halign_widgets.errors import ConfigError
from halign_widgets.prototypes import (
    ProtoPNet,
    Schedule,
    classification_scores,
    compare_with_cnn,
    summarize_scores,
    train_pair,
    train_protopnet,
)

SCHEDULE = Schedule(0, 1, 1)              # no warm-up, one joint epoch, push, one last-layer epoch
OPTIONS = dict(schedule=SCHEDULE, pretrain_epochs=1, width=4, prototypes_per_class=2, latent_depth=4, batch_size=16)


@pytest.fixture(scope="module")
def world() -> ImageDataset:
    return make_world("masses", 96, size=16, seed=0)     # 15 test images of both classes (AUROC is defined)


@pytest.fixture(scope="module")
def pair(world):
    return train_pair(world, 0, **OPTIONS)  # type: ignore[arg-type]


def test_train_pair_gives_both_models_the_same_budget_from_a_copied_trunk(pair, world) -> None:
    assert len(pair.cnn_trainer.history) == 1 + SCHEDULE.total_epochs     # pretraining, then as long as ProtoPNet
    assert len(pair.run.trainer.history) == SCHEDULE.total_epochs and pair.run.state == "finished"
    assert isinstance(pair.protopnet, ProtoPNet) and pair.protopnet is pair.run.model
    cnn, trunk = dict(pair.cnn.named_parameters()), dict(pair.trunk.named_parameters())
    assert set(cnn) == set(trunk) and all(cnn[k] is not trunk[k] for k in cnn)
    assert any(not torch.equal(cnn[k], trunk[k]) for k in cnn), "the SmallCNN trained on after its trunk was copied"
    assert set(pair.scores) == {"ProtoPNet", "SmallCNN"} and set(pair.seconds) == {"ProtoPNet", "SmallCNN"}
    for name, model in (("ProtoPNet", pair.protopnet), ("SmallCNN", pair.cnn)):
        assert pair.scores[name] == classification_scores(model, world.test)     # scored on the test split
        assert pair.scores[name]["n"] == len(world.test.labels) and not math.isnan(pair.scores[name]["auroc"])
        assert pair.seconds[name] > 0


def test_train_pair_is_reproducible_and_its_options_are_honoured(pair, world) -> None:
    calls = []

    def run_protopnet(model, schedule):  # noqa: ANN001, ANN202 - an app's own worker
        calls.append(schedule)
        return train_protopnet(model, world.train, world.val, schedule=schedule, batch_size=16, seed=0, progress=False)

    again = train_pair(world, 0, run_protopnet=run_protopnet, **OPTIONS)  # type: ignore[arg-type]
    assert calls == [SCHEDULE]
    assert again.scores == pair.scores, "the same seed trains the same two models"
    only = train_pair(world, 0, compare=False, **OPTIONS)  # type: ignore[arg-type]
    assert set(only.scores) == {"ProtoPNet"} and len(only.cnn_trainer.history) == 1
    assert only.scores["ProtoPNet"] == pair.scores["ProtoPNet"]
    with pytest.raises(ConfigError, match="pretrain_epochs"):
        train_pair(world, 0, pretrain_epochs=0)


def test_compare_with_cnn_reuses_given_seeds_and_tabulates_every_model_and_seed(pair, world) -> None:
    seen = []
    table, pairs = compare_with_cnn(world, (0, 1), pairs={0: pair}, on_seed=lambda p: seen.append(p.seed),
                                    **OPTIONS)  # type: ignore[arg-type]
    assert pairs[0] is pair and pairs[1].seed == 1 and seen == [0, 1]
    assert list(zip(table["model"], table["seed"], strict=True)) == [("ProtoPNet", 0), ("SmallCNN", 0),
                                                                      ("ProtoPNet", 1), ("SmallCNN", 1)]
    for row in table.itertuples():
        scores = pairs[row.seed].scores[row.model]
        assert (row.accuracy, row.auroc, row.recall) == (scores["accuracy"], scores["auroc"], scores["recall"])
        assert row.seconds == pairs[row.seed].seconds[row.model]
    assert pairs[1].scores != pair.scores or not torch.equal(pairs[1].protopnet.prototype_vectors,
                                                             pair.protopnet.prototype_vectors)
    summary = summarize_scores(table)
    proto = table[table["model"] == "ProtoPNet"]["accuracy"]
    assert summary.loc["ProtoPNet", "accuracy"] == pytest.approx(proto.mean())
    assert summary.loc["ProtoPNet", "accuracy_std"] == pytest.approx(proto.std(ddof=0))
    assert summary.loc["SmallCNN", "seeds"] == 2
