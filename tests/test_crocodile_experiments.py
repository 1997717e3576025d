"""CROCODILE on the shared runner: the ladder grid, its summary, the paper's direction, serial = parallel."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from halign_widgets.crocodile import BASELINES, LADDER, ladder_cells, paper_direction, run_ladder, summarize_ladder
from halign_widgets.errors import CheckpointMismatchError, ConfigError, UnknownNameError

TINY = dict(n=160, size=32, epochs=1, batch_size=32, width=4, dim=16, device="cpu", progress=False)


def test_cells_vary_the_prior_only_for_the_prior_loss() -> None:
    cells = ladder_cells(("task_only", "full"), (0, 1), (3,), ("true", "reversed"))
    assert [(c["config"], c["seed"], c["prior"]) for c in cells] == [
        ("task_only", 0, "none"), ("full", 0, "true"), ("full", 0, "reversed"),
        ("task_only", 1, "none"), ("full", 1, "true"), ("full", 1, "reversed")]
    with pytest.raises(UnknownNameError):
        ladder_cells(("fulll",), (0,), (3,))
    with pytest.raises(UnknownNameError):
        ladder_cells(("full",), (0,), (3,), ("upside-down",))
    with pytest.raises(ConfigError, match="held-out"):
        run_ladder(("full",), (0,), ood_sources=(7,), **TINY)


def test_ladder_table_summary_and_direction(tmp_path: Path) -> None:
    df = run_ladder(("task_only", "full", "erm"), seeds=(0, 1), results=tmp_path / "ladder.jsonl", **TINY)
    assert len(df) == 3 * 2 * 2 and set(df["selection"]) == {"train-val", "oracle"}
    assert df[df.config == "erm"]["graph_error"].isna().all() and df[df.config == "full"]["graph_error"].notna().all()
    assert (df["drop_map"] - (df["id_map"] - df["ood_map"])).abs().max() < 1e-12
    assert (tmp_path / "ladder.csv").exists()
    table = summarize_ladder(df)
    assert list(table["config"]) == ["task_only", "full", "erm"] and (table["seeds"] == 2).all()
    full = df[(df.config == "full") & (df.selection == "train-val")]["ood_map"]
    row = table[table.config == "full"].iloc[0]
    assert row["ood_map"] == pytest.approx(full.mean())
    assert row["ood_map_se"] == pytest.approx(full.std(ddof=1) / 2 ** 0.5)
    assert row["ood_map_text"] == f"{full.mean():.3f} ± {full.std(ddof=1) / 2 ** 0.5:.3f}"
    oracle = summarize_ladder(df, "oracle")
    assert oracle["ood_map"].tolist() == table["ood_map"].tolist(), "with one epoch both rules pick the same model"
    verdict = paper_direction(table, ladder=("task_only",), baselines=("erm",))
    assert verdict["full_best_ood"] == (row["ood_map"] > table[table.config != "full"]["ood_map"].max())
    with pytest.raises(ConfigError):
        summarize_ladder(df.drop(columns=["ood_map"]))
    with pytest.raises(CheckpointMismatchError):
        run_ladder(("task_only", "full", "erm"), seeds=(0,), results=tmp_path / "ladder.jsonl", **TINY)


def test_paper_direction_on_a_hand_made_summary() -> None:
    rows = []
    for name, idm, ood in (("task_only", 0.90, 0.70), ("task_domain", 0.89, 0.72), ("full", 0.88, 0.80),
                           ("erm", 0.91, 0.65)):
        rows.append(dict(config=name, id_map=idm, ood_map=ood, drop_map=idm - ood, ood_map_se=0.01))
    verdict = paper_direction(pd.DataFrame(rows), ladder=LADDER[:-1], baselines=BASELINES)
    assert verdict["full_lower_id"] and verdict["full_best_ood"] and verdict["full_smallest_drop"]
    assert verdict["best_other_ood"] == ("task_domain", 0.72) and not verdict["within_se"]
    rows[2]["ood_map"] = 0.715
    assert paper_direction(pd.DataFrame(rows))["within_se"]


def test_parallel_ladder_equals_serial() -> None:
    kw = dict(TINY, epochs=2)
    serial = run_ladder(("full", "coral"), seeds=(0,), **kw)
    parallel = run_ladder(("full", "coral"), seeds=(0,), n_jobs=2, **kw)
    timing = [c for c in serial.columns if c.endswith("seconds")]
    assert timing == ["epoch_seconds"]
    assert parallel.drop(columns=timing).equals(serial.drop(columns=timing))


def test_leave_one_source_out_gives_each_held_out_source_its_own_rows() -> None:
    kw = dict(TINY, n_sources=2)
    loso = run_ladder(("task_only",), seeds=(0,), ood_sources=range(2), **kw)
    assert sorted(set(loso["ood_source"])) == [0, 1]
    assert loso.groupby("ood_source")["selection"].apply(sorted).tolist() == [["oracle", "train-val"]] * 2
    per_source = summarize_ladder(loso, by=("config", "ood_source"))
    assert list(per_source["ood_source"]) == [0, 1] and (per_source["seeds"] == 1).all()
    zero, one = (per_source[per_source.ood_source == s].iloc[0] for s in (0, 1))
    assert (zero["id_map"], zero["ood_map"]) != (one["id_map"], one["ood_map"]), "a different source was held out"
    alone = run_ladder(("task_only",), seeds=(0,), ood_sources=(1,), **kw)
    columns = [c for c in alone.columns if not c.endswith("seconds")]
    assert loso[loso.ood_source == 1][columns].reset_index(drop=True).equals(alone[columns].reset_index(drop=True))
