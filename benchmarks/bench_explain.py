"""Latency of every attribution method for one 64×64 image on the default SmallCNN.

Run ``python benchmarks/bench_explain.py`` (from the repository root). Prints, per method, the
median of ``--repeats`` timed runs after one warm-up, the DESIGN.md budget and pass / over; then
batched vs one-forward-per-channel Score-CAM; then the lab's Integrated Gradients on a batch of 32
images (pass size adapted to the free memory), the same with the former fixed cap of 64 images per
pass, and captum called directly on the same batch, timed interleaved (``--ig-repeats`` rounds; the
ratio lab/captum should be close to 1: the lab adds validation, seeding and the channel reduction).
``--ig-only`` runs only that comparison; ``--record`` writes it to ``benchmarks/results/explain_ig.json``
(see ``benchmarks/_record.py``). Chapter 01's wall time and peak memory are in
``bench_notebooks.py 01``. Never fails on time: budgets are for an idle 2-core machine, a busy one
inflates the numbers.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from halign_widgets.explain import explain, list_methods  # noqa: E402
from halign_widgets.explain._registry import METHODS  # noqa: E402
from halign_widgets.explain.cam import ScoreCAM  # noqa: E402
from halign_widgets.models import SmallCNN  # noqa: E402

BUDGET_MS = {"gradient": 150.0, "cam": 150.0, "scorecam": 300.0}


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def budget_for(name: str) -> float | None:
    if name in BUDGET_MS:
        return BUDGET_MS[name]
    return BUDGET_MS.get(METHODS[name].family)


def bench_methods(model: SmallCNN, x: torch.Tensor, repeats: int) -> list[tuple[str, float, float | None]]:
    rows = []
    for name in list_methods():
        if name == "suny":
            continue  # benchmarked by benchmarks/bench_suny.py
        ms = median_ms(partial(explain, model, x, name, target=1), repeats)
        rows.append((name, ms, budget_for(name)))
    return rows


def bench_scorecam(model: SmallCNN, x: torch.Tensor, repeats: int) -> tuple[float, float]:
    layer = model.features.conv4
    target = torch.tensor([1])
    with torch.no_grad():
        batched = median_ms(lambda: ScoreCAM(model, layer, batch_size=128)(x, target), repeats)
        looped = median_ms(lambda: ScoreCAM(model, layer, batch_size=1)(x, target), max(3, repeats // 2))
    return batched, looped


def bench_ig_batch(model: SmallCNN, repeats: int, batch: int = 32, n_steps: int = 20) -> dict[str, Any]:
    """Integrated Gradients on ``batch`` images: the lab (adaptive pass), the lab with the old fixed cap of 64
    images per pass, the lab in one pass (``max_pass = batch × n_steps``, captum's own chunking) and
    captum's IntegratedGradients called directly on the same batch.

    The three are timed **interleaved** (lab, old cap, captum, lab, …; one warm-up round first) so that
    a load change on a shared machine hits all of them alike. Returns the medians in ms, every single
    time, the pass size the lab chose and the largest difference between the lab's and captum's maps.
    """
    import warnings

    from captum.attr import IntegratedGradients

    from halign_widgets.explain._memory import auto_max_pass

    x = torch.rand(batch, 1, 64, 64, generator=torch.Generator().manual_seed(1))
    target = torch.ones(batch, dtype=torch.long)

    def lab(max_pass: int | None = None) -> torch.Tensor:
        return explain(model, x, "integrated_gradients", target=target, n_steps=n_steps, max_pass=max_pass).maps

    def direct() -> torch.Tensor:
        xx = x.clone().requires_grad_(True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return IntegratedGradients(model).attribute(xx, baselines=torch.zeros_like(x), target=target,
                                                        n_steps=n_steps).sum(1).detach()

    arms: dict[str, Callable[[], torch.Tensor]] = {"lab": lab, "lab_old_cap_64": partial(lab, 64),
                                                   "lab_one_pass": partial(lab, batch * n_steps), "captum": direct}
    outputs = {name: fn() for name, fn in arms.items()}                 # warm-up round, kept for the check
    times: dict[str, list[float]] = {name: [] for name in arms}
    cpu: dict[str, list[float]] = {name: [] for name in arms}        # process CPU time: less hit by other load
    for _ in range(repeats):
        for name, fn in arms.items():
            t, c = time.perf_counter(), time.process_time()
            fn()
            times[name].append((time.perf_counter() - t) * 1000)
            cpu[name].append((time.process_time() - c) * 1000)
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    per_round = {arm: [a / c for a, c in zip(times[arm], times["captum"], strict=True)]
                 for arm in ("lab", "lab_old_cap_64", "lab_one_pass")}
    return {"batch": batch, "n_steps": n_steps, "max_pass": auto_max_pass(model, x), "median_ms": medians,
            "times_ms": times, "ratio_lab_captum": medians["lab"] / medians["captum"],
            "ratio_old_cap_captum": medians["lab_old_cap_64"] / medians["captum"],
            "ratio_per_round": per_round,
            "median_ratio_per_round": {arm: statistics.median(r) for arm, r in per_round.items()},
            "median_cpu_ms": {name: statistics.median(cs) for name, cs in cpu.items()},
            "max_abs_diff_lab_captum": float((outputs["lab"] - outputs["captum"]).abs().max())}


def print_ig(ig: dict[str, Any]) -> None:
    ms, runs = ig["median_ms"], len(ig["times_ms"]["lab"])
    print(f"Integrated Gradients, {ig['batch']} images × {ig['n_steps']} steps (medians of {runs} "
          f"interleaved runs): lab {ms['lab']:.0f} ms (max_pass={ig['max_pass']}), lab with the old fixed cap of 64 "
          f"{ms['lab_old_cap_64']:.0f} ms, in one pass {ms['lab_one_pass']:.0f} ms, captum directly "
          f"{ms['captum']:.0f} ms; ratio lab/captum "
          f"{ig['ratio_lab_captum']:.2f} (old cap {ig['ratio_old_cap_captum']:.2f}); largest map difference "
          f"{ig['max_abs_diff_lab_captum']:.2e}")
    for arm, ratios in ig["ratio_per_round"].items():
        print(f"  {arm}/captum per round: {' '.join(f'{r:.2f}' for r in ratios)} (median "
              f"{ig['median_ratio_per_round'][arm]:.2f})")
    print("  median process CPU ms: " + ", ".join(f"{k} {v:.0f}" for k, v in ig["median_cpu_ms"].items()))


def record_ig(ig: dict[str, Any], load_before: tuple[float, float, float]) -> None:
    from _record import write_record

    rounded = {**ig, "median_ms": {k: round(v, 1) for k, v in ig["median_ms"].items()},
               "times_ms": {k: [round(t, 1) for t in v] for k, v in ig["times_ms"].items()},
               "ratio_per_round": {k: [round(r, 3) for r in v] for k, v in ig["ratio_per_round"].items()},
               "median_ratio_per_round": {k: round(v, 3) for k, v in ig["median_ratio_per_round"].items()},
               "median_cpu_ms": {k: round(v, 1) for k, v in ig["median_cpu_ms"].items()},
               "ratio_lab_captum": round(ig["ratio_lab_captum"], 3),
               "ratio_old_cap_captum": round(ig["ratio_old_cap_captum"], 3)}
    write_record("explain_ig", {"model": "SmallCNN() (defaults), eval mode, torch.manual_seed(0)",
                                "input": "torch.rand(batch, 1, 64, 64), generator seed 1; target 1 for every image",
                                "baseline": "zeros", "batch": ig["batch"], "n_steps": ig["n_steps"],
                                "repeats": len(ig["times_ms"]["lab"]), "statistic": "median ms, interleaved arms "
                                "after one warm-up round", "torch_threads": torch.get_num_threads()},
                 rounded, seeds=[0, 1],
                 note="lab = explain(..., 'integrated_gradients') with the adaptive pass size; lab_old_cap_64 = "
                      "the same with max_pass=64 (the former fixed cap); lab_one_pass = max_pass=batch*n_steps "
                      "(no chunking, what captum does); captum = IntegratedGradients.attribute on the whole "
                      "batch, summed over channels. Timings on a shared machine are noisy.",
                 extra={"load_average_before": [round(v, 2) for v in load_before]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--ig-only", action="store_true",
                        help="run only the Integrated Gradients comparison (lab vs captum directly)")
    parser.add_argument("--ig-repeats", type=int, default=5, help="interleaved timed runs of each IG arm")
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/explain_ig.json")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = SmallCNN().eval()
    x = torch.rand(1, 1, 64, 64)
    load_before = os.getloadavg()
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', '-')}, load avg {load_before[0]:.2f}")
    if not args.ig_only:
        print(f"{'method':<22}{'median ms':>10}{'budget ms':>11}  verdict")
        for name, ms, budget in bench_methods(model, x, args.repeats):
            verdict = "-" if budget is None else ("pass" if ms <= budget else "OVER")
            print(f"{name:<22}{ms:>10.1f}{'' if budget is None else f'{budget:.0f}':>11}  {verdict}")
        batched, looped = bench_scorecam(model, x, args.repeats)
        print(f"\nScore-CAM on features.conv4 (128 channels): batched {batched:.1f} ms, "
              f"one forward per channel {looped:.1f} ms ({looped / batched:.1f}× slower)")
    ig = bench_ig_batch(model, args.ig_repeats)
    print_ig(ig)
    print(f"load avg after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.record:
        record_ig(ig, load_before)


if __name__ == "__main__":
    main()
