"""The README's measured numbers come from one place: the committed benchmark records.

Every ``<!-- numbers:NAME -->`` block of the README must equal what ``tools/readme_numbers.py`` renders
from ``benchmarks/results/NAME.json``; each record carries its configuration, seeds, machine and date.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import readme_numbers as rn

ROOT = Path(__file__).resolve().parents[1]


def test_every_readme_block_equals_the_rendering_of_its_record() -> None:
    found: set[str] = set()
    for doc in rn.DOCUMENTS:
        text = doc.read_text(encoding="utf-8")
        found |= set(rn.block_names(text))
        assert rn.render_readme(text) == text, f"run python tools/readme_numbers.py --write (and commit {doc.name})"
    assert found == set(rn.RENDERERS), "a renderer without a block, or the reverse"
    assert rn.main(["--check"]) == 0


@pytest.mark.parametrize("name", sorted(rn.RENDERERS))
def test_each_record_says_how_it_was_measured(name: str) -> None:
    source = rn.RENDERERS[name][2]
    record = rn.load_record(source)
    assert record is not None, f"benchmarks/results/{source}.json is missing: {rn.RENDERERS[name][1]}"
    assert record["name"] == source and record["config"] and record["results"]
    assert {"cpu_count", "torch", "platform", "load_average_1_5_15"} <= set(record["machine"])
    assert record["date"] and record["command"] and isinstance(record["seeds"], list)
    assert not record["config"].get("smoke"), "the README shows default-parameter runs, not smoke runs"


def test_the_readme_no_longer_states_numbers_the_chapters_contradict() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for stale in ("571×", "1,512×", "5.9 % / 4.4 %", "0.0 % / 18.3 %"):
        assert stale not in text


def test_a_block_renders_from_a_hand_built_record(tmp_path: Path) -> None:
    record = {"name": "causality_maps", "date": "2026-01-01 00:00 UTC", "command": "bench", "seeds": [],
              "machine": {"cpu_count": 2, "platform": "Linux", "torch": "2.x", "load_average_1_5_15": [1.5, 1, 1]},
              "config": {"threads": 1, "fast_repeats": 20, "faithful_repeats": 2, "input": "rand"},
              "results": [{"estimator": "max", "p": 1.0, "k": 64, "n": 8, "fast_ms": 0.25, "faithful_ms": 250.0,
                           "speedup": 1000.0, "max_abs_diff": 1e-7},
                          {"estimator": "max", "p": 1.0, "k": 16, "n": 4, "fast_ms": 0.1, "faithful_ms": 1.0,
                           "speedup": 10.0, "max_abs_diff": 0.0}]}
    (tmp_path / "causality_maps.json").write_text(json.dumps(record), encoding="utf-8")
    body = rn.render_block("causality_maps", tmp_path)
    assert "| Max (p = 1) | 0.250 ms | 250.0 ms | 1,000× | 1.0e-07 |" in body
    assert "10×" not in body                                 # only the k = 64, n = 8 row the budget names
    assert "load average 1.5" in body and "2026-01-01" in body
    text = "a\n<!-- numbers:causality_maps -->\nold\n<!-- /numbers:causality_maps -->\nb\n"
    rendered = rn.render_readme(text, tmp_path)
    assert rendered == f"a\n<!-- numbers:causality_maps -->\n{body}<!-- /numbers:causality_maps -->\nb\n"
    assert "No record yet" in rn.render_block("findings", tmp_path)
    with pytest.raises(KeyError, match="no renderer"):
        rn.render_block("nonexistent", tmp_path)


def _machine() -> dict:
    return {"cpu_count": 2, "platform": "Linux", "torch": "2.x", "load_average_1_5_15": [0.2, 0.1, 0.1]}


def test_chapter_timings_render_every_condition_and_the_course_plan(tmp_path: Path) -> None:
    rows = [{"notebook": nb, "mode": mode, "condition": cond, "seconds": sec, "budget_seconds": 180.0,
             "peak_mb": 700.0, "budget_mb": 1536.0, "status": "OVER" if sec > 180 else "ok", "slowest_cell": ""}
            for nb in ("00_start_here", "03_explainability_prototypes")
            for mode, cond, sec in (("default", "idle", 40.0), ("default", "load", 190.0),
                                    ("default", "onecore", 70.0), ("smoke", "idle", 12.0))]
    notebooks = {"name": "notebooks", "date": "2026-01-01 00:00 UTC", "command": "bench", "seeds": [],
                 "machine": _machine(), "results": rows,
                 "config": {"conditions": ["idle", "load", "onecore"], "load_processes": 2,
                            "modes": ["smoke", "default"],
                            "notebooks": ["00_start_here", "03_explainability_prototypes"]}}
    binder = {"name": "binder", "date": "2026-01-01 00:00 UTC", "command": "binder", "seeds": [],
              "machine": _machine(), "config": {"cpu": "0", "memory_mb": 2000.0, "smoke": False, "build_seconds": 99.0,
                                                "environment": "torch 2.13.0", "load_average_before": 0.1},
              "results": [{"chapter": "00_start_here", "mode": "default", "seconds": 61.0, "cpu_seconds": 58.0,
                           "peak_mb": 812.0, "status": "ok", "message": ""}]}
    for record in (notebooks, binder):
        (tmp_path / f"{record['name']}.json").write_text(json.dumps(record), encoding="utf-8")
    table = rn.render_block("notebooks", tmp_path)
    assert "| `00_start_here` | 40 s | 190 s **OVER** | 70 s | 12 s | 700 MB |" in table
    assert "under load (2 busy processes)" in table and "load average 0.2" in table
    assert "| `00_start_here` | 61 s | 58 s | 812 MB | ok |" in rn.render_block("binder", tmp_path)
    plan = rn.render_block("sessions", tmp_path)
    # the plan's times come from the one record that measured all three conditions, not from binder.json
    assert "run time (2 cores idle / 2 busy processes / 1 core)" in plan and "binder.json" not in plan
    first = "| 1 | `00_start_here`, `01_explainability_visualization` | 40 s / 190 s **OVER** / 70 s; — / — / — |"
    assert first in plan
    assert "| 3 | `03_explainability_prototypes` | 40 s / 190 s **OVER** / 70 s |" in plan


def test_the_exercise_checks_of_the_reference_run_are_quoted(tmp_path: Path) -> None:
    record = {"name": "notebooks", "date": "2026-01-01 00:00 UTC", "command": "bench", "seeds": [],
              "machine": _machine(), "results": [],
              "config": {"conditions": ["idle"], "load_processes": 2, "modes": ["default"],
                         "notebooks": ["00_start_here", "01_explainability_visualization"]},
              "exercise_checks": {"00_start_here": ["✅ pass: train_accuracy — 0.988"]}}
    (tmp_path / "notebooks.json").write_text(json.dumps(record), encoding="utf-8")
    body = rn.render_block("exercises", tmp_path)
    assert "- `00_start_here`: \n  - ✅ pass: train_accuracy — 0.988" in body
    assert "- `01_explainability_visualization`: no check printed a line" in body


def test_without_a_one_core_run_the_binder_rehearsal_fills_the_column(tmp_path: Path) -> None:
    rows = [{"notebook": "00_start_here", "mode": "default", "condition": "idle", "seconds": 40.0,
             "budget_seconds": 180.0, "peak_mb": 700.0, "budget_mb": 1536.0, "status": "ok", "slowest_cell": ""}]
    notebooks = {"name": "notebooks", "date": "d", "command": "bench", "seeds": [], "machine": _machine(),
                 "results": rows, "config": {"conditions": ["idle"], "load_processes": 2, "modes": ["default"],
                                             "notebooks": ["00_start_here"]}}
    binder = {"name": "binder", "date": "d", "command": "b", "seeds": [], "machine": _machine(),
              "config": {"cpu": "0", "memory_mb": 2000.0, "smoke": False, "build_seconds": None,
                         "environment": "e", "load_average_before": 0.1},
              "results": [{"chapter": "00_start_here", "mode": "default", "seconds": 201.0, "cpu_seconds": 190.0,
                           "peak_mb": 812.0, "status": "ok", "message": ""}]}
    for record in (notebooks, binder):
        (tmp_path / f"{record['name']}.json").write_text(json.dumps(record), encoding="utf-8")
    table = rn.render_block("notebooks", tmp_path)
    assert "default, one core (the Binder rehearsal below)" in table
    assert "| `00_start_here` | 40 s | 201 s | — | 700 MB |" in table
    plan = rn.render_block("sessions", tmp_path)
    assert "run time (2 cores idle / Binder, 1 core)" in plan and "and `binder.json`" in plan
    assert "| 1 | `00_start_here`, `01_explainability_visualization` | 40 s / 201 s; — / — |" in plan


def test_the_scale_numbers_render_from_their_records_with_the_setup_they_ran(tmp_path: Path) -> None:
    assert ROOT / "docs" / "scale.md" in rn.DOCUMENTS
    distributed = {"name": "distributed", "date": "2026-01-01 00:00 UTC", "command": "bench_distributed.py",
                   "seeds": [0], "machine": _machine(), "note": "",
                   "config": {"world": "masses", "images": 1200, "train_images": 840, "size": 32, "model": "SmallCNN",
                              "width": 16, "epochs": 2, "global_batch": 64, "repeats": 1, "usable_cpus": 2,
                              "optimizer": "Adam"},
                   "results": [{"variant": "1 process, the Trainer's default threads", "processes": 1, "threads": 2,
                                "sync_bn": True, "fit_seconds": 8.0, "images_per_second": 210.0, "speedup": 1.0,
                                "wall_seconds": 12.5, "final_loss": 0.61234},
                               {"variant": "2 processes (torchrun, gloo), 1 thread each", "processes": 2,
                                "threads": 1, "sync_bn": True, "fit_seconds": 10.0, "images_per_second": 168.0,
                                "speedup": 0.8, "wall_seconds": 16.0, "final_loss": 0.61234}]}
    grid = {"name": "grid", "date": "2026-01-01 00:00 UTC", "command": "bench_crocodile.py", "seeds": [0, 1],
            "machine": _machine(), "note": "",
            "config": {"configs": ["full", "erm"], "seeds": [0, 1], "ood_sources": [3], "cells": 4, "images": 600,
                       "size": 32, "epochs": 1, "threads_per_cell": 1, "device": "cpu", "world": "domains"},
            "results": [{"n_jobs": 1, "wall_seconds": 40.0, "speedup": 1.0, "cpu_seconds_all_processes": 39.0,
                         "identical_to_serial": None},
                        {"n_jobs": 2, "wall_seconds": 25.0, "speedup": 1.6, "cpu_seconds_all_processes": 44.0,
                         "identical_to_serial": True}]}
    for record in (distributed, grid):
        (tmp_path / f"{record['name']}.json").write_text(json.dumps(record), encoding="utf-8")
    body = rn.render_block("distributed", tmp_path)
    assert "| 2 processes (torchrun, gloo), 1 thread each | 2 × 1 | 10.0 s | 168 | 0.80× | 16.0 s | 0.6123 |" in body
    assert "1,200 images (840 for training) at 32 px, SmallCNN width 16, 2 epochs, global batch 64" in body
    assert "median of 1 run(s)" in body and "--record" in body
    table = rn.render_block("grid", tmp_path)
    assert "| 2 | 25.0 s | 1.60× | 44.0 s | yes |" in table and "| 1 | 40.0 s | 1.00× | 39.0 s | — |" in table
    assert "a 4-cell grid" in table and "2 configurations (full, erm) × 2 seeds × held-out source(s) 3" in table
    assert "1 epoch(s) per cell" in table and "600 images at 32 px" in table


def test_the_thread_table_shows_each_ratio_and_the_labs_pick(tmp_path: Path) -> None:
    record = {"name": "threads", "date": "2026-01-01 00:00 UTC", "command": "bench_threads.py", "seeds": [0],
              "machine": _machine(), "note": "",
              "config": {"load_processes": 2, "rounds": 3, "quick": True, "step_flops_per_thread": 125e6,
                         "threads": [1, 2], "small_operation": "causality_map(x)", "step": "SmallCNN"},
              "results": [{"table": "step", "width": 8, "batch": 32, "side": 28, "mflop": 129.0, "picks": 1,
                           "idle_ms_1": 6.0, "idle_ms_2": 4.5, "load_ms_1": 6.0, "load_ms_2": 9.0},
                          {"table": "small", "condition": "idle", "ms_1": 1.0, "ms_2": 2.0},
                          {"table": "small", "condition": "load", "ms_1": 1.0, "ms_2": 0.5}]}
    (tmp_path / "threads.json").write_text(json.dumps(record), encoding="utf-8")
    body = rn.render_block("threads", tmp_path)
    step = "| training step, width 8, batch 32, 28 px | 129 | 1 | 6.00 / 4.50 ms | 0.75 | 6.00 / 9.00 ms | 1.50 |"
    assert step in body
    assert "| one causality map (fast path) | — | — | 1.000 / 2.000 ms | 2.00 | 1.000 / 0.500 ms | 0.50 |" in body
    assert "125 MFLOP per thread" in body and "3 rounds (--quick)" in body and "2 busy processes" in body
