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


def learnability(seconds: float, threads: int) -> list[tuple[int, float, float, float]]:
    """Train SmallCNN on masses (n=2000) for ≤ ``seconds``.

    Returns (epoch, elapsed s, test accuracy, test accuracy after BN recalibration) per epoch: early
    in training the BatchNorm running statistics lag behind the weights, which can make eval-mode
    accuracy collapse to one class although the batch-statistics model is already good.
    """
    from halign_widgets.models import SmallCNN
    from halign_widgets.training import recalibrate_batchnorm

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
        elapsed = time.perf_counter() - start
        model.eval()
        with torch.no_grad():
            acc = float((model(test.images).argmax(1) == test.labels).float().mean())
            state = {k: v.clone() for k, v in model.state_dict().items()}
            recalibrate_batchnorm(model, train.images[:1024], batch_size=128)
            model.eval()
            acc_bn = float((model(test.images).argmax(1) == test.labels).float().mean())
            model.load_state_dict(state)                                    # training goes on unchanged
        rows.append((epoch, elapsed, acc, acc_bn))
        print(f"  masses epoch {epoch}: {elapsed:5.1f} s, test accuracy {acc:.3f} "
              f"(BN recalibrated {acc_bn:.3f})", flush=True)
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
        first = next((r for r in rows if r[2] >= 0.95), None)
        first_bn = next((r for r in rows if r[3] >= 0.95), None)
        for label, row in (("eval-mode", first), ("BN-recalibrated", first_bn)):
            print(f"{label} test accuracy ≥ 0.95: " + (f"epoch {row[0]} ({row[1]:.1f} s)" if row else "not reached"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
