"""ProtoPNet costs: epoch time vs the SmallCNN, push over 2,000 images, one explanation, chapter 03.

Usage::

    python benchmarks/bench_prototypes.py                # everything (chapter 03 smoke + default runs too)
    python benchmarks/bench_prototypes.py --no-notebook  # the method timings only
    python benchmarks/bench_prototypes.py --record --keep build   # also write benchmarks/results/prototypes.json
                                                                  # and keep the executed chapter notebooks

Rows:

- time per epoch of a ProtoPNet joint epoch and of a SmallCNN epoch on the same 700 masses images
  (batch 32, the chapter's architecture), wall and CPU seconds, and their ratio;
- one push over 2,000 training images;
- one image's prototype explanation (``explain_prototypes``; budget 150 ms, DESIGN.md);
- chapter 03's wall time and peak kernel memory with smoke and default parameters
  (``bench_notebooks.measure``; budgets 30 s / 3 min and 1.5 GB).

``--record`` writes every row (with the configuration, the seeds and the machine's load average) to
``benchmarks/results/prototypes.json`` through ``benchmarks/_record.py``; ``--keep DIR`` keeps the executed
chapter notebooks (``DIR/03_explainability_prototypes-{smoke,default}.ipynb``) instead of a temporary folder.

Never fails on time (the exit code is 1 only when the chapter crashes): budgets are for an idle
2-core machine; a busy one inflates the wall times, the CPU seconds are the steadier figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from halign_widgets.data import make_world  # noqa: E402
from halign_widgets.models import SmallCNN  # noqa: E402
from halign_widgets.prototypes import (  # noqa: E402
    ProtoPNet,
    ProtoPNetLoss,
    Schedule,
    explain_prototypes,
    push_prototypes,
    stage_parameters,
)
from halign_widgets.training import Trainer  # noqa: E402

EXPLAIN_BUDGET_MS = 150.0


def timed(fn) -> tuple[float, float]:  # noqa: ANN001
    """(wall seconds, CPU seconds of this process) of ``fn()``."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def epoch_times(epochs: int) -> dict[str, tuple[float, float]]:
    """Median wall / CPU seconds per epoch of a SmallCNN and of a ProtoPNet in its joint stage."""
    world = make_world("masses", 1000, seed=0)
    torch.manual_seed(0)
    cnn = SmallCNN(1, 2, width=8)
    cnn_trainer = Trainer(cnn, world.train, epochs=1, batch_size=32, lr=3e-3, progress=False)
    cnn_trainer.fit()                                   # warm-up epoch (first-use costs), not timed
    cnn_runs = [timed(lambda: cnn_trainer.fit(epochs=1)) for _ in range(epochs)]
    model = ProtoPNet(1, 2, 5, 32, backbone=cnn, layer="features.conv3")
    proto_trainer = Trainer(model, world.train, epochs=1, batch_size=32, lr=3e-3, step_fn=ProtoPNetLoss(),
                            progress=False)
    proto_trainer.set_trainable(*stage_parameters(model, "joint"))
    proto_trainer.fit()
    proto_runs = [timed(lambda: proto_trainer.fit(epochs=1)) for _ in range(epochs)]
    med = lambda runs, i: statistics.median(r[i] for r in runs)  # noqa: E731
    return {"SmallCNN": (med(cnn_runs, 0), med(cnn_runs, 1)), "ProtoPNet": (med(proto_runs, 0), med(proto_runs, 1))}


def push_time() -> tuple[float, float]:
    """Wall / CPU seconds of one push over 2,000 images."""
    world = make_world("masses", 2000, seed=1)
    torch.manual_seed(0)
    model = ProtoPNet(1, 2, 5, 32, layer="features.conv3").eval()
    push_prototypes(model, world.subset(range(50)))          # first-use costs
    return timed(lambda: push_prototypes(model, world))


def explain_ms(repeats: int = 15) -> float:
    """Median milliseconds of one 64×64 image's prototype explanation."""
    world = make_world("masses", 20, seed=2)
    torch.manual_seed(0)
    model = ProtoPNet(1, 2, 5, 32, layer="features.conv3").eval()
    x = world.images[:1]
    explain_prototypes(model, x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        explain_prototypes(model, x)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-notebook", action="store_true", help="skip the chapter 03 runs")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per model (median)")
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/prototypes.json")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the executed chapter notebooks in DIR")
    args = parser.parse_args(argv)
    load_start = [round(v, 2) for v in os.getloadavg()]
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, load avg {os.getloadavg()[0]:.2f}, "
          f"default schedule {Schedule().stages()[0].label} → … ({Schedule().total_epochs} epochs)", flush=True)
    epochs = epoch_times(args.epochs)
    (pw, pc), (cw, cc) = epochs["ProtoPNet"], epochs["SmallCNN"]
    push_w, push_c = push_time()
    ms = explain_ms()
    print(f"\n{'measurement':52s} {'wall s':>8s} {'CPU s':>8s}  note")
    print(f"{'SmallCNN epoch (700 masses images, width 8)':52s} {cw:8.2f} {cc:8.2f}")
    print(f"{'ProtoPNet joint epoch (same data, conv3 trunk)':52s} {pw:8.2f} {pc:8.2f}  "
          f"ratio {pw / cw:.2f}× wall, {pc / cc:.2f}× CPU")
    print(f"{'push over 2,000 images':52s} {push_w:8.2f} {push_c:8.2f}")
    verdict = "pass" if ms <= EXPLAIN_BUDGET_MS else "OVER"
    print(f"{'one image prototype explanation (median)':52s} {ms / 1000:8.3f} {'':>8s}  {ms:.0f} ms, budget "
          f"{EXPLAIN_BUDGET_MS:.0f} ms: {verdict}")
    results: dict[str, object] = {
        "epoch_seconds": {"SmallCNN": {"wall": cw, "cpu": cc}, "ProtoPNet_joint": {"wall": pw, "cpu": pc}},
        "epoch_ratio": {"wall": pw / cw, "cpu": pc / cc},
        "push_2000_seconds": {"wall": push_w, "cpu": push_c},
        "explain_ms": {"median": ms, "budget": EXPLAIN_BUDGET_MS, "within_budget": ms <= EXPLAIN_BUDGET_MS},
        "chapter": {}}
    crashed = 0
    if not args.no_notebook:
        crashed = _chapter(args.keep, results["chapter"])  # type: ignore[arg-type]
    if args.record:
        from _record import write_record

        write_record("prototypes", {
            "epochs": {"world": "masses", "n": 1000, "train_images": 700, "batch_size": 32, "lr": 3e-3,
                       "cnn": "SmallCNN(1, 2, width=8)", "protopnet": "ProtoPNet(1, 2, 5, 32, layer='features.conv3')",
                       "stage": "joint", "timed_epochs": args.epochs, "statistic": "median", "warm_up_epochs": 1},
            "push": {"world": "masses", "n": 2000, "world_seed": 1},
            "explain": {"world": "masses", "image_px": 64, "repeats": 15, "statistic": "median"},
            "chapter": "skipped (--no-notebook)" if args.no_notebook else "smoke and default parameters, "
                       "bench_notebooks.measure (papermill, fresh kernel, kernel RSS polled every 50 ms)",
            "torch_threads": torch.get_num_threads()},
            results, seeds=[0], note="model seeds torch.manual_seed(0); world seeds 0 (epochs), 1 (push), 2 "
            "(explain); the chapter uses its own parameters' seeds; shared 2-core machine, timings are noisy",
            extra={"load_average_at_start": load_start})
    return 1 if crashed else 0


def _chapter(keep: Path | None, out: dict[str, dict[str, object]]) -> int:
    """Run chapter 03 with smoke and default parameters; fill ``out[mode]``; return how many crashed."""
    from bench_notebooks import BUDGET_MB, BUDGET_SECONDS, measure

    notebook = ROOT / "notebooks" / "03_explainability_prototypes.ipynb"
    crashed = 0
    with tempfile.TemporaryDirectory(prefix="halign-bench-03-") as tmp:
        folder = Path(tmp) if keep is None else keep
        folder.mkdir(parents=True, exist_ok=True)
        for mode in ("smoke", "default"):
            seconds, peak, code, tail = measure(notebook, mode == "smoke", folder / f"{notebook.stem}-{mode}.ipynb")
            over = seconds > BUDGET_SECONDS[mode] or peak > BUDGET_MB[mode]
            status = "CRASH" if code else ("OVER" if over else "ok")
            crashed += bool(code)
            out[mode] = {"seconds": seconds, "peak_mb": peak, "budget_seconds": BUDGET_SECONDS[mode],
                         "budget_mb": BUDGET_MB[mode], "status": status}
            print(f"{'chapter 03, ' + mode:52s} {seconds:8.1f} {'':>8s}  peak {peak:.0f} MB "
                  f"(budget {BUDGET_SECONDS[mode]:.0f} s, {BUDGET_MB[mode]:.0f} MB): {status}")
            if code:
                print(tail)
    return crashed


if __name__ == "__main__":
    sys.exit(main())
