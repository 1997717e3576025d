"""Benchmark: SUNY time per 64×64 image for each cause kind and pool size, next to Score-CAM.

Run ``python benchmarks/bench_suny.py [--repeats 3] [--threads N]``. Prints a table and the
interactive budget of DESIGN.md (SUNY with an exact pool of 8 causes ≤ 1.5 s on CPU on the default
SmallCNN). Never fails on time: timings on a loaded machine are inflated.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from halign_widgets.explain.suny import suny  # noqa: E402
from halign_widgets.models import SmallCNN  # noqa: E402

BUDGET_S = 1.5
CASES = [  # (causes, pool, samples, grid)
    ("features", 4, None, 4), ("features", 8, None, 4), ("features", 10, None, 4), ("features", 16, 32, 4),
    ("filters", 4, None, 4), ("filters", 8, None, 4), ("filters", 10, None, 4), ("filters", 16, 32, 4),
    ("patches", 4, None, 4), ("patches", 8, None, 4), ("patches", 10, None, 4), ("patches", 16, 32, 4),
    ("patches", 9, None, 3),
]


def _image() -> torch.Tensor:
    try:
        from halign_widgets.data import make_world

        return make_world("masses", 8, seed=0).images[:1]
    except Exception:  # noqa: BLE001 - the world is optional for a timing
        return torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))


def _time(fn, repeats: int) -> tuple[float, float]:
    """Median wall time and median CPU time of this process (CPU time is less inflated by other load)."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = SmallCNN().eval()  # the default small model: width 16, depth 4, conv4 = 128×8×8
    x = _image()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"SUNY per 64×64 image · SmallCNN() · torch {torch.__version__} · {torch.get_num_threads()} thread(s) · "
          f"load average {load:.1f} · median of {args.repeats}")
    print(f"{'causes':<9} {'pool':>4} {'grid':>4} {'Shapley':<10} {'forwards':>8} {'wall s':>8} {'cpu s':>8}")
    budget_row = None
    for causes, pool, samples, grid in CASES:
        holder = {}

        def run(causes=causes, pool=pool, samples=samples, grid=grid, holder=holder) -> None:
            holder["r"] = suny(model, x, causes=causes, pool=pool, samples=samples, grid=grid)

        secs, cpu = _time(run, args.repeats)
        how = "exact" if holder["r"].exact else f"MC {samples}"
        print(f"{causes:<9} {pool:>4} {grid:>4} {how:<10} {holder['r'].forwards:>8} {secs:>8.3f} {cpu:>8.3f}")
        if causes == "features" and pool == 8:
            budget_row = secs
    try:
        from halign_widgets.explain import explain

        secs, cpu = _time(lambda: explain(model, x, "scorecam"), args.repeats)
        print(f"{'Score-CAM':<9} {'':>4} {'':>4} {'(128 ch)':<10} {128:>8} {secs:>8.3f} {cpu:>8.3f}")
    except Exception as exc:  # noqa: BLE001 - report, do not fail
        print(f"Score-CAM unavailable: {exc}")
    verdict = "within" if budget_row is not None and budget_row <= BUDGET_S else "OVER"
    print(f"budget: SUNY features, exact pool 8 ≤ {BUDGET_S} s (wall) → {budget_row:.3f} s ({verdict} budget"
          f"{'; machine is loaded, re-run on an idle one' if load > 1.5 else ''})")


if __name__ == "__main__":
    main()
