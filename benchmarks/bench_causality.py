"""Benchmark the causality maps (fast vs faithful) and the training cost of each module setting.

Run ``python benchmarks/bench_causality.py`` (add ``--quick`` for a shorter run). Prints two tables;
never fails on time. ``--record`` writes the maps table to ``benchmarks/results/causality_maps.json``
(rendered into the README by ``tools/readme_numbers.py``); ``--maps-only`` skips the training table.
Budget (DESIGN.md): the fast path at k = 64, n = 8 is ≥ 100× faster than the faithful one and equal to it
within 1e-5. Peak memory is the resident-set growth during the call,
sampled every millisecond from ``/proc/self/statm`` (Linux; 0 when the call is shorter than a sample).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]  # run from a checkout

from _memory import sampled  # noqa: E402
from halign_widgets.causality import SETTINGS, CausalCNN, causality_map  # noqa: E402
from halign_widgets.errors import ConfigError  # noqa: E402


def measure(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, float, Any]:
    """Median seconds over ``repeat`` calls, peak RSS growth in MB of one more call, and the result.

    Timing runs without the memory sampler (its thread would hold the GIL for up to the 5 ms switch
    interval and inflate sub-millisecond timings).
    """
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    del out
    _, mb, out = sampled(fn, 0.001)
    return statistics.median(times), mb, out


def _timed_with_memory(fn: Callable[[], Any]) -> tuple[float, float]:
    """Seconds and peak RSS growth (MB) of a single call, sampled while it runs."""
    secs, mb, _ = sampled(fn, 0.002)
    return secs, mb


def bench_maps(ks: tuple[int, ...], ns: tuple[int, ...], batch: int = 1, threads: int = 1) -> list[dict[str, Any]]:
    """Time both modes with ``threads`` intra-op threads (default 1: the fast path is far below the size
    where threads help, and on a shared machine OpenMP regions stall waiting for a busy core)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _bench_maps(ks, ns, batch)
    finally:
        torch.set_num_threads(saved)


def _bench_maps(ks: tuple[int, ...], ns: tuple[int, ...], batch: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    print(f"\nCausality maps, batch {batch}, {torch.get_num_threads()} thread(s): fast (closed form) vs "
          "faithful (all n⁴ pairwise products)")
    print(f"{'estimator':>10} {'k':>4} {'n':>3} {'fast ms':>9} {'faithful ms':>12} {'speed-up':>9} "
          f"{'fast MB':>8} {'faithful MB':>12} {'max |diff|':>11}")
    for estimator, p in (("max", 1.0), ("lehmer", 2.0)):
        for k in ks:
            for n in ns:
                x = torch.rand(batch, k, n, n)
                x[x < 0.3] = 0.0
                causality_map(x, estimator, p, "fast")          # warm-up (first-call overheads)
                fast_s, fast_mb, fast = measure(partial(causality_map, x, estimator, p, "fast"), repeat=20)
                try:
                    slow_s, slow_mb, slow = measure(partial(causality_map, x, estimator, p, "faithful"), repeat=2)
                except ConfigError:
                    print(f"{estimator:>10} {k:>4} {n:>3} {fast_s * 1e3:>9.3f} {'skipped':>12}   (faithful would "
                          f"materialize {batch * k * k * n ** 4:,} products — over the memory guard)")
                    continue
                diff = float((fast - slow).abs().max())
                rows.append({"estimator": estimator, "p": p, "k": k, "n": n, "fast_ms": round(fast_s * 1e3, 4),
                             "faithful_ms": round(slow_s * 1e3, 2), "speedup": round(slow_s / fast_s, 1),
                             "max_abs_diff": float(f"{diff:.2e}")})
                print(f"{estimator:>10} {k:>4} {n:>3} {fast_s * 1e3:>9.3f} {slow_s * 1e3:>12.1f} "
                      f"{slow_s / fast_s:>8.0f}× {fast_mb:>8.1f} {slow_mb:>12.1f} {diff:>11.1e}"
                      + ("   ← budget ≥100× and ≤1e-5: " + ("met" if slow_s / fast_s >= 100 and diff <= 1e-5
                                                          else "NOT met") if (k, n) == (64, 8) else ""))
    return rows


def _train_one(setting: str, estimator: str, epochs: int, n_images: int, batch_size: int,
               size: int) -> dict[str, float]:
    """Train one setting in this (fresh) process; return seconds/epoch, params and peak RSS growth."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(n_images, 1, size, size, generator=g), torch.randint(0, 2, (n_images,), generator=g)
    torch.manual_seed(0)
    model = CausalCNN(setting=setting, estimator=estimator, p=2.0, image_size=size)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(idx: torch.Tensor) -> None:
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()

    def train() -> None:
        for _ in range(epochs):
            for idx in torch.randperm(n_images, generator=g).split(batch_size):
                step(idx)

    cpu = time.process_time()
    secs, mb = _timed_with_memory(train)
    cpu = time.process_time() - cpu
    return {"seconds": secs / epochs, "cpu": cpu / epochs, "params": sum(q.numel() for q in model.parameters()),
            "mb": mb}


def bench_training(epochs: int, n_images: int, batch_size: int = 64, size: int = 64) -> None:
    import json
    import subprocess

    print(f"\nTraining cost per setting: CausalCNN(width=16, depth=4) on {n_images} random {size}×{size} "
          f"images, batch {batch_size}, {epochs} epoch(s); each row in a fresh process (peak = RSS growth; "
          "CPU time is less sensitive to contention than wall time)")
    print(f"{'setting':>11} {'estimator':>9} {'s/epoch':>8} {'CPU s/ep':>9} {'CPU vs base':>12} {'params':>8} "
          f"{'peak MB':>8}")
    base = None
    for setting in SETTINGS:
        for estimator in (("max", "lehmer") if setting != "baseline" else ("max",)):
            out = subprocess.run([sys.executable, __file__, "--train-one", setting, estimator, str(epochs),
                                  str(n_images), str(batch_size), str(size)], capture_output=True, text=True,
                                 check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            base = r["cpu"] if base is None else base
            print(f"{setting:>11} {estimator if setting != 'baseline' else '-':>9} {r['seconds']:>8.2f} "
                  f"{r['cpu']:>9.2f} {r['cpu'] / base:>11.2f}× {r['params']:>8} {r['mb']:>8.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and a shorter training run")
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/causality_maps.json")
    parser.add_argument("--maps-only", action="store_true", help="skip the training-cost table")
    parser.add_argument("--train-one", nargs=6, metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train_one:
        import json

        setting, estimator, *nums = args.train_one
        print(json.dumps(_train_one(setting, estimator, *map(int, nums))))
        return
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); timings on a shared machine are "
          "inflated by contention")
    ks, ns, batch = ((16, 64) if args.quick else (16, 64, 512)), (4, 8), 1
    rows = bench_maps(ks, ns, batch)
    if args.record:
        from _record import write_record

        write_record("causality_maps", {"ks": list(ks), "ns": list(ns), "batch": batch, "threads": 1,
                                        "input": "torch.rand(batch, k, n, n) with values < 0.3 set to 0",
                                        "fast_repeats": 20, "faithful_repeats": 2, "statistic": "median seconds"},
                     rows, seeds=[], note="unseeded random features; timings on a shared machine are noisy")
    if not args.maps_only:
        bench_training(epochs=1 if args.quick else 2, n_images=128 if args.quick else 512)


if __name__ == "__main__":
    main()
