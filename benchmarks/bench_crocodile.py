"""Benchmark CROCODILE: cost per epoch of full vs task-only vs ERM, the runner's speed-up, chapter 05.

Run ``python benchmarks/bench_crocodile.py`` (``--quick``: fewer epochs, the chapter in smoke mode
only; ``--runner-only``: the runner table alone; ``--no-runner`` / ``--no-chapter`` skip table 2 /
table 3; ``--record`` writes table 1 and the chapter rows, with the configuration, seeds and the
machine's load average, to ``benchmarks/results/crocodile.json``, and the runner table to
``benchmarks/results/grid.json`` (from which docs/scale.md's numbers are rendered), through
``benchmarks/_record.py``). Prints three tables; never fails on time.

1. **Models** — the full model, the task branch only and ERM (the lab's SmallCNN) trained through
   the Trainer on the chapter's data (the *domains* world, 1000 images of 32×32 px, batch 64,
   one thread), each in a fresh process: wall and CPU seconds per epoch (the Trainer's epoch,
   with its precise-BN pass, validation terms and the per-epoch ID/OOD scoring), parameters and
   peak resident-memory growth, as ratios to ERM.
2. **Runner** — one grid (4 configurations × 2 seeds) with ``n_jobs=1`` and ``n_jobs=2``: wall
   time, speed-up and whether the two tables are identical (timing columns aside).
3. **Chapter 05** — wall time and peak kernel memory with smoke and default parameters, measured
   by :func:`bench_notebooks.measure` against the budgets (≤ 30 s; ≤ 3 min and ≤ 1.5 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]   # run from a checkout without installing

import torch  # noqa: E402

from _memory import sampled  # noqa: E402

MODELS = ("full", "task_only", "erm")


def _train_one(name: str, epochs: int) -> dict[str, float]:
    """Train ``name`` in this (fresh) process; seconds and CPU per epoch, params, peak RSS growth."""
    from halign_widgets.crocodile import domain_splits, make_trainer
    from halign_widgets.data import make_world

    torch.set_num_threads(1)
    splits = domain_splits(make_world("domains", 1000, size=32, seed=0, label_source_corr=0.8))
    make_trainer("erm", splits, epochs=1, device="cpu")[0].fit()          # warm-up: imports, first calls
    trainer, _ = make_trainer(name, splits, epochs=epochs, device="cpu")
    cpu = time.process_time()
    wall, mb, _ = sampled(trainer.fit, 0.002)
    cpu = time.process_time() - cpu
    return {"seconds": wall / epochs, "cpu": cpu / epochs, "params": sum(p.numel() for p in trainer.model.parameters()),
            "mb": mb}


def bench_models(epochs: int) -> dict[str, dict[str, float]]:
    print(f"\nCost per epoch on the chapter's data (domains, 1000 images, 32×32 px, batch 64, 1 thread, {epochs} "
          "epochs; each row a fresh process; wall time on a shared machine is inflated, CPU time less so)")
    print(f"{'model':>10} {'s/epoch':>8} {'CPU s/ep':>9} {'CPU vs ERM':>11} {'params':>8} {'peak MB':>8} "
          f"{'MB vs ERM':>10}")
    rows = {}
    for name in MODELS:
        out = subprocess.run([sys.executable, __file__, "--train-one", name, str(epochs)], capture_output=True,
                             text=True, check=True, cwd=ROOT)
        rows[name] = json.loads(out.stdout.strip().splitlines()[-1])
    erm = rows["erm"]
    for name, r in rows.items():
        print(f"{name:>10} {r['seconds']:>8.2f} {r['cpu']:>9.2f} {r['cpu'] / erm['cpu']:>10.2f}× {r['params']:>8} "
              f"{r['mb']:>8.1f} {r['mb'] / max(erm['mb'], 1e-9):>9.2f}×", flush=True)
    return {name: {**r, "wall_ratio_to_erm": r["seconds"] / erm["seconds"], "cpu_ratio_to_erm": r["cpu"] / erm["cpu"],
                   "mb_ratio_to_erm": r["mb"] / max(erm["mb"], 1e-9)} for name, r in rows.items()}


def _cpu_all() -> float:
    """CPU seconds used so far by this process and every live child (the runner's worker processes)."""
    import psutil

    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


def bench_runner(epochs: int, record: bool = False) -> None:
    from halign_widgets.crocodile import run_ladder

    grid = dict(configs=("full", "task_only", "erm", "coral"), seeds=(0, 1), n=600, epochs=epochs, device="cpu",
                progress=False)
    print(f"\nExperiment runner: {len(grid['configs'])} configurations × {len(grid['seeds'])} seeds, 600 images, "
          f"{epochs} epoch(s) per cell, 1 thread per cell (worker start-up included)")
    print(f"{'n_jobs':>6} {'wall s':>8} {'speed-up':>9} {'CPU s, all processes':>21}  identical to serial")
    tables, times, cpus = {}, {}, {}
    for jobs in (1, 2):
        t, c = time.perf_counter(), _cpu_all()
        tables[jobs] = run_ladder(n_jobs=jobs, **grid)
        times[jobs], cpus[jobs] = time.perf_counter() - t, _cpu_all() - c
    timing = [c for c in tables[1].columns if c.endswith("seconds")]
    same = tables[2].drop(columns=timing).equals(tables[1].drop(columns=timing))
    for jobs in (1, 2):
        print(f"{jobs:>6} {times[jobs]:>8.1f} {times[1] / times[jobs]:>8.2f}× {cpus[jobs]:>21.1f}  "
              f"{'-' if jobs == 1 else same}", flush=True)
    print("(on an idle 2-core machine the parallel wall time approaches half its CPU time; on a loaded one the "
          "workers only add start-up cost)")
    if record:
        from _record import write_record

        table = tables[1]
        keys = [c for c in ("config", "seed", "ood_source", "prior") if c in table.columns]
        config = {"configs": list(grid["configs"]), "seeds": list(grid["seeds"]),
                  "ood_sources": sorted(int(v) for v in table["ood_source"].unique()) if "ood_source" in keys else [],
                  "cells": len(table.drop_duplicates(subset=keys)), "images": grid["n"], "size": 32,
                  "epochs": epochs, "threads_per_cell": 1, "device": "cpu", "world": "domains"}
        rows = [{"n_jobs": jobs, "wall_seconds": times[jobs], "speedup": times[1] / times[jobs],
                 "cpu_seconds_all_processes": cpus[jobs], "identical_to_serial": bool(same) if jobs > 1 else None}
                for jobs in (1, 2)]
        write_record("grid", config, rows, seeds=list(grid["seeds"]),
                     note="wall time of run_ladder(n_jobs=...) including worker start-up")


def bench_chapter(smoke_only: bool) -> dict[str, dict[str, object]]:
    from bench_notebooks import BUDGET_MB, BUDGET_SECONDS, measure

    notebook = ROOT / "notebooks" / "05_causality_crocodile.ipynb"
    print("\nChapter 05 (papermill in a fresh kernel; peak = kernel RSS; budgets: smoke ≤ 30 s, default ≤ 180 s, "
          "≤ 1536 MB)")
    print(f"{'mode':>8} {'seconds':>8} {'budget':>7} {'peak MB':>8} {'status':>7}")
    rows: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="halign-bench-05-") as tmp:
        for mode in ("smoke",) if smoke_only else ("smoke", "default"):
            seconds, mb, code, tail = measure(notebook, mode == "smoke", Path(tmp) / f"{notebook.stem}-{mode}.ipynb")
            over = seconds > BUDGET_SECONDS[mode] or mb > BUDGET_MB[mode]
            status = "CRASH" if code else ("OVER" if over else "ok")
            print(f"{mode:>8} {seconds:>8.1f} {BUDGET_SECONDS[mode]:>7.0f} {mb:>8.0f} {status:>7}", flush=True)
            rows[mode] = {"seconds": seconds, "peak_mb": mb, "status": status, "budget_seconds": BUDGET_SECONDS[mode],
                          "budget_mb": BUDGET_MB[mode]}
            if code:
                print(tail)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs, chapter in smoke mode only")
    parser.add_argument("--no-runner", action="store_true", help="skip the runner table (n_jobs 1 vs 2)")
    parser.add_argument("--runner-only", action="store_true", help="only the runner table (n_jobs 1 vs 2)")
    parser.add_argument("--no-chapter", action="store_true", help="skip the chapter 05 runs")
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/crocodile.json "
                        "(the model table and the chapter rows) and the runner table to benchmarks/results/grid.json")
    parser.add_argument("--train-one", nargs=2, metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train_one:
        print(json.dumps(_train_one(args.train_one[0], int(args.train_one[1]))))
        return
    if args.runner_only:
        bench_runner(1 if args.quick else 2, args.record)
        return
    print(f"torch {torch.__version__}, {os.cpu_count()} CPU core(s); timings on a shared machine are inflated by "
          "contention")
    load_start = [round(v, 2) for v in os.getloadavg()]
    epochs = 2 if args.quick else 4
    models = bench_models(epochs)
    if not args.no_runner:
        bench_runner(1 if args.quick else 2, args.record)
    chapter = {} if args.no_chapter else bench_chapter(args.quick)
    if args.record:
        from _record import write_record

        write_record("crocodile", {
            "models": {"world": "domains", "n": 1000, "size": 32, "label_source_corr": 0.8, "batch_size": 64,
                       "threads": 1, "epochs": epochs, "trainer": "halign_widgets.crocodile.make_trainer (the "
                       "chapter's Trainer arguments), one warm-up ERM epoch not timed, each model a fresh process"},
            "chapter": "skipped (--no-chapter)" if args.no_chapter else
                       ("smoke only (--quick)" if args.quick else "smoke and default parameters")},
            {"models": models, "chapter": chapter}, seeds=[0],
            note="world seed 0, make_trainer's default seed; peak MB is sampled RSS growth; the runner table "
                 "is recorded in grid.json; shared machine, timings are noisy",
            extra={"load_average_at_start": load_start})


if __name__ == "__main__":
    main()
