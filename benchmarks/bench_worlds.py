"""Generation speed of every ground-truth world (and, optionally, how learnable *masses* is).

Run ``python benchmarks/bench_worlds.py`` from the repository root. For each world it generates
``--n`` images of ``--size``×``--size`` pixels on one torch thread (one warm-up, then the median of
``--repeats`` runs) and prints seconds, images per second and the DESIGN.md budget (2,000 64×64
images in ≤ 2 s on one core). With ``--learn`` it also trains the default SmallCNN on *masses*
(plain torch loop, Adam lr 2e-3, batch 64, for at most ``--seconds``) and prints the test accuracy
after every epoch. Never fails on time: a busy machine inflates the numbers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from halign_widgets.data import list_worlds, make_world  # noqa: E402

BUDGET_S = 2.0  # for 2,000 images of 64×64 on one core


def time_world(name: str, n: int, size: int, repeats: int) -> float:
    """Median seconds to generate world ``name``."""
    make_world(name, min(n, 64), size=size)
    runs = []
    for r in range(repeats):
        start = time.perf_counter()
        make_world(name, n, size=size, seed=r)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def learnability(seconds: float, threads: int) -> list[tuple[int, float, float]]:
    """Train SmallCNN on masses (n=2000) for ≤ ``seconds``; returns (epoch, elapsed s, test accuracy)."""
    from halign_widgets.models import SmallCNN

    torch.set_num_threads(threads)
    ds = make_world("masses", 2000, seed=0)
    train, test = ds.train, ds.test
    torch.manual_seed(0)
    model = SmallCNN(1, 2)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    rows, start, epoch = [], time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        epoch += 1
        model.train()
        for idx in torch.randperm(len(train)).split(64):
            loss = torch.nn.functional.cross_entropy(model(train.images[idx]), train.labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            acc = float((model(test.images).argmax(1) == test.labels).float().mean())
        rows.append((epoch, time.perf_counter() - start, acc))
        print(f"  masses epoch {epoch}: {rows[-1][1]:5.1f} s, test accuracy {acc:.3f}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--learn", action="store_true", help="also train SmallCNN on masses")
    parser.add_argument("--seconds", type=float, default=60.0, help="training budget for --learn")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for --learn")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"World generation: n={args.n}, {args.size}×{args.size}, 1 torch thread, median of {args.repeats}")
    print(f"{'world':<14}{'seconds':>9}{'images/s':>11}{'budget':>9}  verdict")
    for name in list_worlds():
        sec = time_world(name, args.n, args.size, args.repeats)
        budget = BUDGET_S * args.n / 2000 * (args.size / 64) ** 2
        verdict = "ok" if sec <= budget else "over"
        print(f"{name:<14}{sec:>9.3f}{args.n / sec:>11.0f}{budget:>8.1f}s  {verdict}")
    if args.learn:
        print(f"\nLearnability of masses: SmallCNN, {args.threads} threads, ≤ {args.seconds:.0f} s")
        rows = learnability(args.seconds, args.threads)
        best = max(rows, key=lambda r: r[2])
        print(f"best test accuracy {best[2]:.3f} at epoch {best[0]} ({best[1]:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
