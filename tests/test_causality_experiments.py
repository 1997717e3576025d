"""Experiments runner: grid, tidy table, summary, stop."""

from __future__ import annotations

import pytest
import torch

from halign_widgets.causality import run_experiments, summarize
from halign_widgets.causality.experiments import COLUMNS, experiment_grid
from halign_widgets.errors import ConfigError, UnknownNameError
from halign_widgets.training import recalibrate_batchnorm

TINY = dict(n=60, size=16, width=2, depth=2, epochs=1, batch_size=32)


def test_grid_varies_only_relevant_knobs() -> None:
    grid = experiment_grid(("baseline", "cat", "mulcat"), (("max", None), ("lehmer", 2.0)),
                           ("causes", "effects"), random_ablation=True)
    settings = [g["setting"] for g in grid]
    assert settings.count("baseline") == 1 and settings.count("cat") == 2
    assert settings.count("mulcat") == 2 * 2 + 1 and sum(g["random"] for g in grid) == 1
    with pytest.raises(UnknownNameError):
        experiment_grid(("mulcats",), (("max", None),), ("causes",), False)


def test_runner_returns_tidy_table_and_summary() -> None:
    seen = []
    df = run_experiments(worlds=("cooccurrence", "digits"), settings=("baseline", "mulcatbool"),
                         estimators=(("lehmer", 2.0),), directions=("causes",), random_ablation=True,
                         seeds=(0, 1), progress=lambda done, total, row: seen.append((done, total)), **TINY)
    assert list(df.columns) == COLUMNS
    assert len(df) == 2 * 2 * 3 and seen[-1] == (12, 12)
    assert df["test_acc"].between(0, 1).all() and (df["params"] > 0).all() and (df["train_seconds"] > 0).all()
    assert set(df["world"]) == {"cooccurrence", "digits"}
    assert df.loc[df["random"], "estimator"].eq("random").all()
    table = summarize(df)
    assert len(table) == 2 * 3 and (table["seeds"] == 2).all()
    assert all("±" in s for s in table["test_acc"])
    row = df[(df.world == "digits") & (df.setting == "baseline")]["test_acc"]
    assert table.loc[("digits", "baseline", "none", "", "none"), "mean"] == pytest.approx(row.mean())


def test_runner_stops_early_and_validates() -> None:
    df = run_experiments(worlds=("digits",), settings=("baseline",), seeds=(0, 1, 2), should_stop=lambda: True,
                         **TINY)
    assert len(df) == 0 and list(df.columns) == COLUMNS
    with pytest.raises(ConfigError):
        run_experiments(worlds=("digits",), epochs=0)
    with pytest.raises(UnknownNameError):
        run_experiments(worlds=("nowhere",), settings=("baseline",), seeds=(0,), **TINY)
    with pytest.raises(ConfigError):
        summarize(df.drop(columns=["test_acc"]))


def test_recalibrate_batchnorm_matches_batch_statistics() -> None:
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm2d(3)
    x = torch.randn(40, 3, 4, 4) * 2 + 5
    recalibrate_batchnorm(torch.nn.Sequential(bn), x, batch_size=8)
    assert torch.allclose(bn.running_mean, x.mean((0, 2, 3)), atol=1e-4)
    assert bn.momentum == 0.1
