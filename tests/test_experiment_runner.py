"""The shared experiment runner (training/experiments.py): order, progress, resume, refusal, parallel = serial."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from halign_widgets.errors import CheckpointMismatchError, ConfigError, CorruptFileError
from halign_widgets.training import grid_cells, read_results, run_grid, standard_error

CALLS: list[dict] = []


def toy_cell(cell: dict, steps: int = 5, scale: float = 1.0) -> dict:
    """A tiny seeded training run: its numbers depend on torch's global generator and on float sums."""
    CALLS.append(dict(cell))
    w = torch.randn(8, 1) * scale                      # drawn from the generator the runner seeded
    x = torch.randn(64, 8)
    y = x @ torch.arange(8.0)[:, None] * (1 + cell["lr"])
    for _ in range(steps):
        grad = 2 * x.t() @ (x @ w - y) / len(x)
        w = w - cell["lr"] * grad
    return {"loss": float(((x @ w - y) ** 2).mean()), "w0": float(w[0, 0]), "fit_seconds": 0.001}


def two_rows(cell: dict) -> list:
    return [{"part": "a", "v": cell["seed"]}, {"part": "b", "v": -cell["seed"]}]


CONFIGS = [{"lr": 0.01}, {"lr": 0.05}, {"lr": 0.1}]


def test_grid_cells_are_seed_major_and_validated() -> None:
    cells = grid_cells(CONFIGS, (0, 1))
    assert cells == [{"lr": 0.01, "seed": 0}, {"lr": 0.05, "seed": 0}, {"lr": 0.1, "seed": 0},
                     {"lr": 0.01, "seed": 1}, {"lr": 0.05, "seed": 1}, {"lr": 0.1, "seed": 1}]
    with pytest.raises(ConfigError):
        grid_cells([], (0,))


def test_table_is_tidy_in_cell_order_with_progress(capsys: pytest.CaptureFixture[str]) -> None:
    seen = []
    table = run_grid(two_rows, grid_cells([{"k": 1}], (3, 4)), progress=lambda d, t, row: seen.append((d, t)))
    assert list(table.columns) == ["k", "seed", "part", "v"]
    assert table.to_dict("records") == [{"k": 1, "seed": 3, "part": "a", "v": 3},
                                        {"k": 1, "seed": 3, "part": "b", "v": -3},
                                        {"k": 1, "seed": 4, "part": "a", "v": 4},
                                        {"k": 1, "seed": 4, "part": "b", "v": -4}]
    assert seen == [(1, 2), (2, 2)]
    run_grid(two_rows, grid_cells([{"k": 1}], (3,)), progress=True)
    assert "[1/1] k=1 seed=3" in capsys.readouterr().out


def test_each_cell_gets_its_own_seed_whatever_ran_before() -> None:
    cells = grid_cells(CONFIGS, (0, 1))
    full = run_grid(toy_cell, cells, progress=False)
    alone = run_grid(toy_cell, cells[4:5], progress=False)       # cell 4 without the cells before it
    assert alone["loss"].iloc[0] == full["loss"].iloc[4]
    torch.manual_seed(123)
    state = torch.get_rng_state()
    run_grid(toy_cell, cells[:1], progress=False)
    assert torch.equal(torch.get_rng_state(), state), "the caller's random stream was consumed"


def test_a_stopped_grid_resumes_without_redoing_finished_cells(tmp_path: Path) -> None:
    cells = grid_cells(CONFIGS, (0, 1))
    path = tmp_path / "grid.jsonl"
    CALLS.clear()
    polls = iter([False, False, True])
    first = run_grid(toy_cell, cells, results=path, progress=False, should_stop=lambda: next(polls, True))
    assert len(first) == 2 and len(CALLS) == 2
    assert not path.with_suffix(".csv").exists(), "an unfinished grid writes no final table"
    assert sorted(read_results(path)) == [0, 1]
    CALLS.clear()
    resumed = run_grid(toy_cell, cells, results=path, progress=False)
    assert [c for c in CALLS] == cells[2:], "finished cells ran again"
    uninterrupted = run_grid(toy_cell, cells, progress=False)
    assert resumed.drop(columns="fit_seconds").equals(uninterrupted.drop(columns="fit_seconds"))
    csv = path.with_suffix(".csv")
    assert csv.exists() and csv.read_text().splitlines()[0] == "lr,seed,loss,w0,fit_seconds"
    CALLS.clear()
    again = run_grid(toy_cell, cells, results=path, progress=False)
    assert CALLS == [] and again.equals(resumed)


def test_a_cut_last_line_is_redone_and_a_foreign_file_is_refused(tmp_path: Path) -> None:
    cells = grid_cells(CONFIGS, (0,))
    path = tmp_path / "grid.jsonl"
    run_grid(toy_cell, cells, results=path, progress=False)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:15])        # killed while writing
    CALLS.clear()
    run_grid(toy_cell, cells, results=path, progress=False)
    assert CALLS == [cells[2]]
    with pytest.raises(CheckpointMismatchError, match="another grid"):
        run_grid(toy_cell, grid_cells(CONFIGS, (0, 1)), results=path, progress=False)   # other seeds
    with pytest.raises(CheckpointMismatchError):
        run_grid(toy_cell, cells, fixed={"steps": 6}, results=path, progress=False)       # other fixed knobs
    with pytest.raises(CheckpointMismatchError):
        run_grid(two_rows, cells, results=path, progress=False)                            # other function
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    with pytest.raises(CorruptFileError):
        run_grid(toy_cell, cells, results=bad, progress=False)
    header = json.loads(path.read_text().splitlines()[0])
    bad.write_text(json.dumps(header) + "\n{broken\n" + path.read_text().splitlines()[1] + "\n")
    with pytest.raises(CorruptFileError, match="line 2"):
        read_results(bad)


def test_parallel_gives_exactly_the_serial_numbers(tmp_path: Path) -> None:
    cells = grid_cells(CONFIGS, (0, 1))
    serial = run_grid(toy_cell, cells, fixed={"steps": 20}, progress=False)
    parallel = run_grid(toy_cell, cells, fixed={"steps": 20}, n_jobs=2, progress=False, results=tmp_path / "p.jsonl")
    assert list(parallel.columns) == list(serial.columns)
    assert parallel.drop(columns="fit_seconds").equals(serial.drop(columns="fit_seconds"))
    assert len(read_results(tmp_path / "p.jsonl")) == len(cells)


def test_bad_arguments_are_typed_errors() -> None:
    with pytest.raises(ConfigError, match="n_jobs"):
        run_grid(toy_cell, grid_cells(CONFIGS, (0,)), n_jobs=0)
    with pytest.raises(ConfigError, match="threads"):
        run_grid(toy_cell, grid_cells(CONFIGS, (0,)), threads=0)
    with pytest.raises(ConfigError, match="must return a dict"):
        run_grid(lambda cell: 3, grid_cells(CONFIGS, (0,)), progress=False)


def test_standard_error() -> None:
    assert standard_error([1.0, 2.0, 3.0]) == pytest.approx(1.0 / math.sqrt(3))
    assert standard_error([0.5]) == 0.0 and math.isnan(standard_error([]))


def test_chapter_04_experiments_run_on_the_shared_runner(tmp_path: Path) -> None:
    from halign_widgets.causality import run_experiments
    from halign_widgets.causality.experiments import COLUMNS

    tiny = dict(worlds=("digits",), settings=("baseline", "mulcat"), estimators=(("max", None),),
                directions=("causes",), random_ablation=False, seeds=(0,), n=60, size=16, width=2, depth=2,
                epochs=1, batch_size=32)
    first = run_experiments(results=tmp_path / "ch04.jsonl", **tiny)
    seen = []
    again = run_experiments(results=tmp_path / "ch04.jsonl", progress=lambda d, t, r: seen.append(d), **tiny)
    assert seen == [] and list(again.columns) == COLUMNS, "a finished grid trained again"
    assert again.equals(first)
    parallel = run_experiments(n_jobs=2, threads=1, **tiny)
    serial = run_experiments(threads=1, **tiny)
    assert parallel.drop(columns="train_seconds").equals(serial.drop(columns="train_seconds"))
