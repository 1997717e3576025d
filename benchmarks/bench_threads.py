"""How many torch threads small work is worth: idle and under a competing load (issue 13).

Usage::

    python benchmarks/bench_threads.py            # both tables, idle and under load (~20 min on the 2-core VM)
    python benchmarks/bench_threads.py --quick    # fewer repeats
    python benchmarks/bench_threads.py --record   # also write benchmarks/results/threads.json

Two tables, each measured idle and with ``--load N`` busy processes (default 2: one per core of the
2-core course machine; ``benchmarks/_load.py``):

1. **small operations** — one fast-path causality map (k = 64 channels of 8×8, a batch of 64, the
   Max estimator), median milliseconds per call with 1 and with 2 intra-op threads;
2. **the size of the work** — one training step (forward, backward, SGD update) of a ``SmallCNN``
   at sizes from a few MFLOP to tens of GFLOP (``halign_widgets.training.threads.step_flops``),
   median milliseconds per step with 1 and 2 threads, and the count that
   ``threads_for_work`` picks for a process with 2 threads.

The two thread counts alternate in rounds, so a change in the machine's load hits both; ratios
(2 threads ÷ 1 thread) are what to read, not the absolute times. Never fails on time.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]  # run from a checkout

from _load import competing_load  # noqa: E402
from halign_widgets.causality import causality_map  # noqa: E402
from halign_widgets.models import SmallCNN  # noqa: E402
from halign_widgets.training.threads import STEP_FLOPS_PER_THREAD, step_flops, threads_for_work  # noqa: E402

#: (width, batch, image side) of the training steps; the chapters train near the second and third rows
STEP_SIZES = ((4, 16, 16), (8, 32, 28), (8, 64, 28), (16, 32, 28), (16, 64, 32), (32, 64, 32), (32, 128, 64))
THREADS = (1, 2)


def _timed(fn: Callable[[], Any], calls: int) -> float:
    """Median seconds of ``calls`` calls of ``fn`` (after one warm-up call)."""
    fn()
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def alternate(fn: Callable[[], Any], calls: int, rounds: int) -> dict[int, float]:
    """Median over ``rounds`` of each thread count's median call time; the counts take turns."""
    saved = torch.get_num_threads()
    per: dict[int, list[float]] = {n: [] for n in THREADS}
    try:
        for _ in range(rounds):
            for n in THREADS:
                torch.set_num_threads(n)
                per[n].append(_timed(fn, calls))
    finally:
        torch.set_num_threads(saved)
    return {n: statistics.median(v) for n, v in per.items()}


def small_operation(calls: int, rounds: int) -> dict[int, float]:
    x = torch.rand(64, 64, 8, 8)
    x[x < 0.3] = 0.0
    return alternate(lambda: causality_map(x, "max", 1.0, "fast"), calls, rounds)


def training_step(width: int, batch: int, side: int) -> tuple[Callable[[], None], float]:
    """A step function of a SmallCNN at this size, and its estimated FLOPs (``step_flops``)."""
    torch.manual_seed(0)
    model = SmallCNN(in_channels=1, width=width, depth=4)
    x, y = torch.rand(batch, 1, side, side), torch.randint(0, 2, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    loss = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss(model(x), y).backward()
        opt.step()

    flops = step_flops(model, x)
    assert flops is not None
    return step, flops


def _calls_for(flops: float, quick: bool) -> int:
    """Fewer calls for large steps: about the same time per cell."""
    budget = 3e10 if quick else 1e11          # FLOPs per thread count and round
    return max(3, min(60 if quick else 200, int(budget // flops)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds")
    parser.add_argument("--load", type=int, default=2, help="busy processes under load (default 2)")
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/threads.json")
    args = parser.parse_args(argv)
    rounds = 3 if args.quick else 5
    conditions = ("idle", "load")
    small: dict[str, dict[int, float]] = {}
    steps: dict[tuple[str, tuple[int, int, int]], dict[int, float]] = {}
    flops: dict[tuple[int, int, int], float] = {}
    for condition in conditions:
        with competing_load(args.load) if condition == "load" else contextlib.nullcontext():
            small[condition] = small_operation(100 if args.quick else 300, rounds)
            for size in STEP_SIZES:
                step, flops[size] = training_step(*size)
                steps[condition, size] = alternate(step, _calls_for(flops[size], args.quick), rounds)
            print(f"  measured: {condition}", flush=True)

    print(f"\nSmall operations: one fast-path causality map (k 64, 8×8, batch 64), median ms per call "
          f"('load' = {args.load} busy processes)")
    print(f"{'condition':>10} {'1 thread':>10} {'2 threads':>10} {'2 ÷ 1':>7}")
    for condition in conditions:
        t = small[condition]
        print(f"{condition:>10} {t[1] * 1e3:>10.3f} {t[2] * 1e3:>10.3f} {t[2] / t[1]:>7.2f}")

    print(f"\nThe size of the work: one SmallCNN training step, median ms ({STEP_FLOPS_PER_THREAD / 1e6:.0f} MFLOP "
          "per thread: the rule's pick for a 2-thread process)")
    print(f"{'width':>5} {'batch':>5} {'side':>4} {'MFLOP':>8} {'picks':>5} | {'idle 1':>8} {'idle 2':>8} "
          f"{'2 ÷ 1':>6} | {'load 1':>8} {'load 2':>8} {'2 ÷ 1':>6}")
    rows: list[dict[str, Any]] = []
    for size in STEP_SIZES:
        idle, load = steps["idle", size], steps["load", size]
        pick = threads_for_work(flops[size], 2)
        print(f"{size[0]:>5} {size[1]:>5} {size[2]:>4} {flops[size] / 1e6:>8.0f} {pick:>5} | "
              f"{idle[1] * 1e3:>8.2f} {idle[2] * 1e3:>8.2f} {idle[2] / idle[1]:>6.2f} | "
              f"{load[1] * 1e3:>8.2f} {load[2] * 1e3:>8.2f} {load[2] / load[1]:>6.2f}")
        rows.append({"table": "step", "width": size[0], "batch": size[1], "side": size[2],
                     "mflop": round(flops[size] / 1e6, 1), "picks": pick,
                     **{f"{c}_ms_{n}": round(steps[c, size][n] * 1e3, 3) for c in conditions for n in THREADS}})
    rows += [{"table": "small", "condition": c, **{f"ms_{n}": round(small[c][n] * 1e3, 4) for n in THREADS}}
             for c in conditions]
    if args.record:
        from _record import write_record

        write_record("threads", {"load_processes": args.load, "rounds": rounds, "quick": args.quick,
                                 "step_flops_per_thread": STEP_FLOPS_PER_THREAD, "threads": list(THREADS),
                                 "small_operation": "causality_map(torch.rand(64, 64, 8, 8) with values < 0.3 "
                                                    "set to 0, 'max', 1.0, 'fast')",
                                 "step": "SmallCNN(in_channels=1, depth=4) at each width; SGD; cross-entropy; "
                                         "torch.rand images, seed 0"},
                     rows, seeds=[0], note="ratios 2 threads ÷ 1 thread within one run; timings are noisy")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
