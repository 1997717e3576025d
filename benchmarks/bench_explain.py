"""Latency of every attribution method for one 64×64 image on the default SmallCNN.

Run ``python benchmarks/bench_explain.py`` (from the repository root). Prints, per method, the
median of ``--repeats`` timed runs after one warm-up, the DESIGN.md budget and pass / over; then
batched vs one-forward-per-channel Score-CAM; then the lab's Integrated Gradients on a batch of 32
images (pass size adapted to the free memory) against captum called directly on the same batch
(the ratio should be close to 1: the lab adds validation, seeding and the channel reduction). Chapter 01's wall time and
peak memory are in
``bench_notebooks.py 01``. Never fails on time: budgets are for an idle 2-core machine, a busy one
inflates the numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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


def bench_ig_batch(model: SmallCNN, repeats: int, batch: int = 32, n_steps: int = 20) -> tuple[float, float, int]:
    """Median ms of explain(..., "integrated_gradients") vs captum's IntegratedGradients, and the pass size."""
    import warnings

    from captum.attr import IntegratedGradients

    from halign_widgets.explain._memory import auto_max_pass

    x = torch.rand(batch, 1, 64, 64, generator=torch.Generator().manual_seed(1))
    target = torch.ones(batch, dtype=torch.long)

    def lab() -> None:
        explain(model, x, "integrated_gradients", target=target, n_steps=n_steps)

    def direct() -> None:
        xx = x.clone().requires_grad_(True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            IntegratedGradients(model).attribute(xx, baselines=torch.zeros_like(x), target=target,
                                                 n_steps=n_steps).sum(1)

    reps = max(3, repeats // 2)
    return median_ms(lab, reps), median_ms(direct, reps), auto_max_pass(model, x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = SmallCNN().eval()
    x = torch.rand(1, 1, 64, 64)
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', '-')}, load avg {os.getloadavg()[0]:.2f}")
    print(f"{'method':<22}{'median ms':>10}{'budget ms':>11}  verdict")
    for name, ms, budget in bench_methods(model, x, args.repeats):
        verdict = "-" if budget is None else ("pass" if ms <= budget else "OVER")
        print(f"{name:<22}{ms:>10.1f}{'' if budget is None else f'{budget:.0f}':>11}  {verdict}")
    batched, looped = bench_scorecam(model, x, args.repeats)
    ig_lab, ig_captum, max_pass = bench_ig_batch(model, args.repeats)
    print(f"\nScore-CAM on features.conv4 (128 channels): batched {batched:.1f} ms, "
          f"one forward per channel {looped:.1f} ms ({looped / batched:.1f}× slower)")
    print(f"Integrated Gradients, 32 images × 20 steps: lab {ig_lab:.0f} ms (max_pass={max_pass}), captum "
          f"directly {ig_captum:.0f} ms, ratio lab/captum {ig_lab / ig_captum:.2f}")


if __name__ == "__main__":
    main()
