"""Benchmark: Trainer overhead vs a bare PyTorch loop, and time to 95 % validation accuracy on masses.

Three ways to run the same training (same model, data, seed, number of optimiser steps, and the
same per-epoch work: train loss/accuracy bookkeeping and one validation pass; the Trainer's
precise-BN re-estimation is switched off here and timed separately in a fourth row):

1. a bare PyTorch loop (tensor slicing with a seeded permutation, forward, loss, backward, step);
2. :class:`~halign_widgets.training.Trainer` without UI (``progress=False``);
3. the Trainer driven by a :class:`~halign_widgets.widgets.TrainingDashboard` (headless: no browser,
   widgets still update traits and the figure is still rendered to PNG).

Each variant runs ``--repeats`` times (interleaved, to spread machine noise evenly); the table
reports the median and the spread (min–max) and the overhead of the medians against the bare loop.
The budget (DESIGN.md) is ≤ 5 % overhead with the dashboard attached.  Timings never fail.

Run: ``python benchmarks/bench_trainer.py [--repeats 3] [--n 600] [--epochs 2] [--skip-masses]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from halign_widgets.data import make_world  # noqa: E402
from halign_widgets.models import SmallCNN  # noqa: E402
from halign_widgets.training import Callback, Trainer, derive_seed, seeded  # noqa: E402


def _model(width: int, seed: int) -> SmallCNN:
    with seeded(derive_seed(seed, "init")):
        return SmallCNN(in_channels=1, num_classes=2, width=width)


def bare_loop(world: Any, width: int, epochs: int, batch_size: int, lr: float, seed: int) -> tuple[float, float]:
    """A plain PyTorch loop doing the same work as the Trainer; returns (seconds, final val accuracy)."""
    model = _model(width, seed)
    train, val = world.train, world.val
    start = time.perf_counter()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    n = len(train)
    for epoch in range(1, epochs + 1):
        model.train()
        gen = torch.Generator().manual_seed(derive_seed(seed, epoch, "shuffle"))
        order = torch.randperm(n, generator=gen)
        total_loss, correct = 0.0, 0.0
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            x, y = train.images[idx], train.labels[idx]
            logits = model(x)
            loss = loss_fn(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total_loss += float(loss.detach()) * len(y)
            correct += float((logits.argmax(1) == y).sum())
        model.eval()
        val_correct = 0.0
        with torch.no_grad():
            for i in range(0, len(val), batch_size):
                logits, y = model(val.images[i:i + batch_size]), val.labels[i:i + batch_size]
                _ = float(loss_fn(logits, y))
                val_correct += float((logits.argmax(1) == y).sum())
    return time.perf_counter() - start, val_correct / len(val)


def trainer_run(world: Any, width: int, epochs: int, batch_size: int, lr: float, seed: int,
                precise_bn: int = 0) -> tuple[float, float]:
    """Trainer without UI (construction + fit); returns (seconds, final val accuracy)."""
    model = _model(width, seed)
    start = time.perf_counter()
    trainer = Trainer(model, world.train, world.val, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                      progress=False, precise_bn=precise_bn)
    trainer.fit()
    return time.perf_counter() - start, trainer.history[-1]["val_acc"]


def trainer_precise_bn(world: Any, width: int, epochs: int, batch_size: int, lr: float,
                       seed: int) -> tuple[float, float]:
    """Trainer with its default precise batch-norm statistics (128 images per epoch)."""
    return trainer_run(world, width, epochs, batch_size, lr, seed, precise_bn=128)


def dashboard_run(world: Any, width: int, epochs: int, batch_size: int, lr: float, seed: int) -> tuple[float, float]:
    """Trainer driven by a headless TrainingDashboard (Start → wait); returns (seconds, final val accuracy)."""
    from halign_widgets.widgets.training_dashboard import TrainingDashboard

    dash = TrainingDashboard(lambda: SmallCNN(in_channels=1, num_classes=2, width=width), world, epochs=epochs,
                             lr=lr, batch_size=batch_size, seed=seed, key="bench-trainer", precise_bn=0)
    try:
        start = time.perf_counter()
        dash.start()
        dash.wait()
        elapsed = time.perf_counter() - start
        if dash.last_error is not None:
            raise dash.last_error
        renders = dash.view.renders
        val_acc = dash.history[-1]["val_acc"]
    finally:
        dash.close()
    dashboard_run.renders = renders  # type: ignore[attr-defined]
    return elapsed, val_acc


def overhead_table(args: argparse.Namespace) -> list[tuple[str, float, float, float, str, float]]:
    """Rows (variant, median s, min s, max s, overhead vs bare, final val acc)."""
    world = make_world("masses", args.n, size=64, seed=args.seed)
    variants: list[tuple[str, Callable[..., tuple[float, float]]]] = [
        ("bare PyTorch loop", bare_loop),
        ("Trainer (no UI)", trainer_run),
        ("Trainer + TrainingDashboard", dashboard_run),
        ("Trainer, precise BN (default)", trainer_precise_bn),
    ]
    times: dict[str, list[float]] = {name: [] for name, _ in variants}
    accs: dict[str, float] = {}
    for fn in (bare_loop, trainer_run):  # warm-up (allocator, first-call costs), not timed
        fn(world, args.width, 1, args.batch_size, args.lr, args.seed)
    for _ in range(args.repeats):
        for name, fn in variants:
            seconds, accs[name] = fn(world, args.width, args.epochs, args.batch_size, args.lr, args.seed)
            times[name].append(seconds)
    base = statistics.median(times["bare PyTorch loop"])
    rows = []
    for name, _ in variants:
        ts = times[name]
        med = statistics.median(ts)
        over = "" if name.startswith("bare") else f"{100 * (med - base) / base:+.1f} %"
        rows.append((name, med, min(ts), max(ts), over, accs[name]))
    return rows


class _ReachTarget(Callback):
    def __init__(self, target: float) -> None:
        self.target, self.t0, self.reached = target, 0.0, None

    def on_fit_start(self, trainer: Trainer) -> None:
        self.t0 = time.perf_counter()

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        if self.reached is None and logs["val_acc"] >= self.target:
            self.reached = (epoch, time.perf_counter() - self.t0, logs["val_acc"])
            trainer.request_stop()


def time_to_target(args: argparse.Namespace) -> str:
    world = make_world("masses", args.masses_n, size=64, seed=args.seed)
    model = _model(16, args.seed)
    probe = _ReachTarget(0.95)
    trainer = Trainer(model, world.train, world.val, epochs=args.max_epochs, batch_size=64, lr=1e-3,
                      seed=args.seed, callbacks=[probe], progress=False)
    start = time.perf_counter()
    trainer.fit()
    total = time.perf_counter() - start
    if probe.reached is None:
        best = max(trainer.history.column("val_acc"))
        return (f"masses n={args.masses_n} (train {len(world.train)}), SmallCNN width 16: 95 % NOT reached in "
                f"{args.max_epochs} epochs ({total:.1f} s); best val acc {best:.3f}")
    epoch, seconds, acc = probe.reached
    test_acc = trainer.evaluate(world.test)["accuracy"]
    return (f"masses n={args.masses_n} (train {len(world.train)}), SmallCNN width 16, batch 64, lr 1e-3: "
            f"val acc {acc:.3f} ≥ 0.95 after epoch {epoch} in {seconds:.1f} s (test acc {test_acc:.3f})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n", type=int, default=1200, help="images in the masses world for the overhead runs")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--masses-n", type=int, default=2000)
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--skip-masses", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, masses n={args.n}, "
          f"{args.epochs} epoch(s), batch {args.batch_size}, width {args.width}, repeats {args.repeats}")
    rows = overhead_table(args)
    print(f"{'variant':<31} {'median s':>9} {'min s':>8} {'max s':>8} {'overhead':>10} {'val acc':>8}")
    for name, med, lo, hi, over, acc in rows:
        print(f"{name:<31} {med:>9.3f} {lo:>8.3f} {hi:>8.3f} {over:>10} {acc:>8.3f}")
    print(f"budget: Trainer + TrainingDashboard ≤ 5 % over the bare loop (same work: precise BN off); "
          f"dashboard renders in the last run: {getattr(dashboard_run, 'renders', '?')}.\n"
          "The precise-BN row shows the cost of the Trainer's default BN re-estimation (not part of the budget).")
    if not args.skip_masses:
        print(time_to_target(args))


if __name__ == "__main__":
    main()
