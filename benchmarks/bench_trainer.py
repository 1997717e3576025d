"""Benchmark: Trainer overhead vs a bare PyTorch loop, and time to 95 % validation accuracy on masses.

The same training (same model, data, seed, number of optimiser steps, and the same per-epoch
work: train loss/accuracy bookkeeping and one validation pass; the Trainer's precise-BN
re-estimation is switched off here and timed separately in the last row), run as:

1. a bare PyTorch loop in the main thread (tensor slicing with a seeded permutation, forward,
   loss, backward, step) — the baseline;
2. the same bare loop in a plain ``threading.Thread`` — what a background thread costs as such;
3. that thread after releasing the main thread's idle OpenMP pool, as
   :meth:`Trainer.start_background` does (see ``halign_widgets/training/_openmp.py``: with two
   OpenMP pools libgomp manages more threads than CPUs and throttles spinning, so every parallel
   region waits for a futex wake-up);
4. :class:`~halign_widgets.training.Trainer` without UI (``progress=False``, main thread);
5. the Trainer driven by a :class:`~halign_widgets.widgets.TrainingDashboard` (background thread,
   headless: no browser, widgets still update traits and the figure is still rendered to PNG) —
   the row the budget is about;
6. the Trainer with its default precise-BN statistics.

Each variant runs ``--repeats`` times (interleaved, in an order rotated every repeat, to spread
machine noise and position effects evenly); the table reports the wall-clock median and spread
(min–max), the median process CPU time (less sensitive to other processes on a shared machine),
the overheads of the medians against the bare loop, the "paired" overheads (median over repeats
of each run's ratio to the bare loop of the same repeat: less sensitive to slow drifts in machine
load), and the final validation accuracy (identical for the first five rows: same computation).
The budget (DESIGN.md) is ≤ 5 % overhead with the dashboard attached.  Timings never fail.

A second, shorter table repeats the budget's comparison inside a real IPython kernel, where the
dashboard's widget messages really go out over IOPub (``--kernel-repeats``, 0 skips it).

Run: ``python benchmarks/bench_trainer.py [--repeats 3] [--n 600] [--epochs 2] [--kernel-repeats 3]
[--skip-masses]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from halign_widgets.data import make_world  # noqa: E402
from halign_widgets.models import SmallCNN  # noqa: E402
from halign_widgets.training import Callback, Trainer, derive_seed, seeded  # noqa: E402
from halign_widgets.training._openmp import release_idle_openmp_pool  # noqa: E402

RELEASED = "  + main OpenMP pool released"


def _model(width: int, seed: int) -> SmallCNN:
    with seeded(derive_seed(seed, "init")):
        return SmallCNN(in_channels=1, num_classes=2, width=width)


def bare_loop(world: tuple[Any, Any], width: int, epochs: int, batch_size: int, lr: float,
              seed: int) -> tuple[float, float, float]:
    """A plain PyTorch loop doing the same work as the Trainer; returns (wall s, CPU s, final val accuracy)."""
    model = _model(width, seed)
    train, val = world
    start, cpu = time.perf_counter(), time.process_time()
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
    return time.perf_counter() - start, time.process_time() - cpu, val_correct / len(val)


def bare_loop_thread(world: tuple[Any, Any], width: int, epochs: int, batch_size: int, lr: float,
                     seed: int) -> tuple[float, float, float]:
    """The same bare loop run in a background thread, where every app trains (DESIGN.md).

    Separates what the thread itself costs on this machine from what the dashboard adds.
    """
    out: list[tuple[float, float, float]] = []
    thread = threading.Thread(target=lambda: out.append(bare_loop(world, width, epochs, batch_size, lr, seed)))
    thread.start()
    thread.join()
    return out[0]


def bare_loop_thread_released(world: tuple[Any, Any], width: int, epochs: int, batch_size: int, lr: float,
                              seed: int) -> tuple[float, float, float]:
    """The bare loop in a thread after releasing the main thread's idle OpenMP pool.

    This is what :meth:`Trainer.start_background` does before it starts its thread (see
    ``halign_widgets.training._openmp``): it isolates the fix from everything else the Trainer does.
    """
    release_idle_openmp_pool()
    return bare_loop_thread(world, width, epochs, batch_size, lr, seed)


def trainer_run(world: tuple[Any, Any], width: int, epochs: int, batch_size: int, lr: float, seed: int,
                precise_bn: int = 0) -> tuple[float, float, float]:
    """Trainer without UI (construction + fit); returns (wall s, CPU s, final val accuracy)."""
    model = _model(width, seed)
    start, cpu = time.perf_counter(), time.process_time()
    trainer = Trainer(model, world[0], world[1], epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                      progress=False, precise_bn=precise_bn)
    trainer.fit()
    return time.perf_counter() - start, time.process_time() - cpu, trainer.history[-1]["val_acc"]


def trainer_precise_bn(world: tuple[Any, Any], width: int, epochs: int, batch_size: int, lr: float,
                       seed: int) -> tuple[float, float, float]:
    """Trainer with its default precise batch-norm statistics (128 images per epoch)."""
    return trainer_run(world, width, epochs, batch_size, lr, seed, precise_bn=128)


def dashboard_run(world: tuple[Any, Any], width: int, epochs: int, batch_size: int, lr: float,
                  seed: int) -> tuple[float, float, float]:
    """Trainer driven by a headless TrainingDashboard (Start → wait); returns (wall s, CPU s, final val accuracy)."""
    from halign_widgets.widgets.training_dashboard import TrainingDashboard

    dash = TrainingDashboard(lambda: SmallCNN(in_channels=1, num_classes=2, width=width), world, epochs=epochs,
                             lr=lr, batch_size=batch_size, seed=seed, key="bench-trainer", precise_bn=0)
    try:
        start, cpu = time.perf_counter(), time.process_time()
        dash.start()
        dash.wait()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        if dash.last_error is not None:
            raise dash.last_error
        renders = dash.view.renders
        val_acc = dash.history[-1]["val_acc"]
    finally:
        dash.close()
    dashboard_run.renders = renders  # type: ignore[attr-defined]
    return elapsed, cpu, val_acc


def overhead_table(args: argparse.Namespace,
                   only: tuple[str, ...] | None = None) -> list[tuple[str, list[float], list[float], float]]:
    """Per variant (all, or those named in ``only``): wall and CPU seconds of every repeat, final val accuracy."""
    full = make_world("masses", args.n, size=64, seed=args.seed)
    world = (full.train, full.val)  # split once, outside every timing
    variants: list[tuple[str, Callable[..., tuple[float, float, float]]]] = [
        ("bare PyTorch loop", bare_loop),
        ("bare loop in a thread", bare_loop_thread),
        (RELEASED, bare_loop_thread_released),
        ("Trainer (no UI)", trainer_run),
        ("Trainer + TrainingDashboard", dashboard_run),
        ("Trainer, precise BN (default)", trainer_precise_bn),
    ]
    variants = [(name, fn) for name, fn in variants if only is None or name in only]
    wall: dict[str, list[float]] = {name: [] for name, _ in variants}
    cpu: dict[str, list[float]] = {name: [] for name, _ in variants}
    accs: dict[str, float] = {}
    for fn in (bare_loop, trainer_run):  # warm-up (allocator, first-call costs), not timed
        fn(world, args.width, 1, args.batch_size, args.lr, args.seed)
    for r in range(args.repeats):  # rotate the order each repeat: no variant always runs first or last
        for name, fn in variants[r % len(variants):] + variants[:r % len(variants)]:
            w, c, accs[name] = fn(world, args.width, args.epochs, args.batch_size, args.lr, args.seed)
            wall[name].append(w)
            cpu[name].append(c)
    return [(name, wall[name], cpu[name], accs[name]) for name, _ in variants]


def _paired(values: list[float], base: list[float]) -> str:
    """Median over repeats of the per-repeat ratio to the baseline (both ran in the same repeat)."""
    return f"{100 * (statistics.median(v / b for v, b in zip(values, base, strict=False)) - 1):+.1f} %"


def _print_overhead(rows: list[tuple[str, list[float], list[float], float]]) -> None:
    base_wall, base_cpu = rows[0][1], rows[0][2]
    print(f"{'variant':<31} {'wall med':>9} {'min':>7} {'max':>7} {'overhead':>9} {'paired':>9} {'CPU med':>8} "
          f"{'overhead':>9} {'paired':>9} {'val acc':>8}")
    for i, (name, ws, cs, acc) in enumerate(rows):
        wm, cm = statistics.median(ws), statistics.median(cs)
        ow = "" if i == 0 else f"{100 * (wm / statistics.median(base_wall) - 1):+.1f} %"
        oc = "" if i == 0 else f"{100 * (cm / statistics.median(base_cpu) - 1):+.1f} %"
        pw = "" if i == 0 else _paired(ws, base_wall)
        pc = "" if i == 0 else _paired(cs, base_cpu)
        print(f"{name:<31} {wm:>9.2f} {min(ws):>7.2f} {max(ws):>7.2f} {ow:>9} {pw:>9} {cm:>8.2f} {oc:>9} {pc:>9} "
              f"{acc:>8.3f}")
    by_name = {name: (ws, cs) for name, ws, cs, _ in rows}
    if RELEASED in by_name and "Trainer + TrainingDashboard" in by_name:
        (tw, tc), (dw, dc) = by_name[RELEASED], by_name["Trainer + TrainingDashboard"]
        print(f"dashboard vs the bare loop in a thread with the pool released (what the dashboard adds): wall "
              f"{100 * (statistics.median(dw) / statistics.median(tw) - 1):+.1f} %, CPU "
              f"{100 * (statistics.median(dc) / statistics.median(tc) - 1):+.1f} %")


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


KERNEL_VARIANTS = ("bare PyTorch loop", RELEASED, "Trainer + TrainingDashboard")


def kernel_table(args: argparse.Namespace) -> None:
    """The budget's comparison again, inside a real IPython kernel (as in JupyterLab).

    There the dashboard's widget updates are serialised and sent over the kernel's IOPub channel
    by its own threads, and the kernel's main thread owns the OpenMP pool a notebook user builds
    with their first tensor operation — the in-process table above has neither.
    """
    from jupyter_client.manager import start_new_kernel

    here = Path(__file__).resolve()
    path = os.pathsep.join(filter(None, [str(here.parents[1]), str(here.parent), os.environ.get("PYTHONPATH")]))
    argv = ["--repeats", str(args.kernel_repeats), "--n", str(args.n), "--epochs", str(args.epochs),
            "--width", str(args.width), "--batch-size", str(args.batch_size), "--lr", str(args.lr),
            "--seed", str(args.seed)]
    code = ("import bench_trainer as b\n"
            f"b._print_overhead(b.overhead_table(b.parse_args({argv!r}), only=b.KERNEL_VARIANTS))")
    km, kc = start_new_kernel(kernel_name="python3", env={**os.environ, "PYTHONPATH": path, "MPLBACKEND": "Agg"})
    failed: list[str] = []

    def show(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            print(msg["content"]["text"], end="")
        elif msg["msg_type"] == "error":
            failed.append("\n".join(msg["content"]["traceback"]))

    try:
        print(f"In a real IPython kernel ({args.kernel_repeats} repeats; widget messages go out over IOPub):")
        kc.execute_interactive(code, timeout=3600, output_hook=show)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    if failed:
        raise RuntimeError("the in-kernel benchmark failed:\n" + failed[0])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
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
    parser.add_argument("--kernel-repeats", type=int, default=3,
                        help="repeats of the in-kernel comparison (0 skips it)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, masses n={args.n}, "
          f"{args.epochs} epoch(s), batch {args.batch_size}, width {args.width}, repeats {args.repeats}")
    _print_overhead(overhead_table(args))
    print(f"seconds: wall clock (median, min, max over repeats) and process CPU time (all threads). Budget: "
          f"Trainer + TrainingDashboard ≤ 5 % over the bare loop (same work: precise BN off); dashboard renders "
          f"in the last run: {getattr(dashboard_run, 'renders', '?')}.\nThe precise-BN row shows the cost of the "
          "Trainer's default BN re-estimation (not part of the budget; it is what makes eval-mode accuracy right).")
    if args.kernel_repeats > 0:
        kernel_table(args)
    if not args.skip_masses:
        print(time_to_target(args))


if __name__ == "__main__":
    main()
