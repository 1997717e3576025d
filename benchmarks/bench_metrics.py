"""Benchmark of the explanation metrics, the leaderboard and the shortcut detective.

Run ``python benchmarks/bench_metrics.py [--small]``. Prints (never fails on time):

1. deletion / insertion time for 16 images × 32 steps on the default SmallCNN, per batch size;
2. a leaderboard of attribution methods on the masses world (model trained here, seed 0);
3. the shortcut-detective table for a shortcut / clean pair (seed 0).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from halign_widgets.data import make_world  # noqa: E402
from halign_widgets.explain.leaderboard import evaluate_methods  # noqa: E402
from halign_widgets.explain.metrics import deletion_insertion  # noqa: E402
from halign_widgets.explain.shortcut import shortcut_detective, train_shortcut_pair  # noqa: E402
from halign_widgets.models import SmallCNN  # noqa: E402
from halign_widgets.training import (
    fit_classifier,  # noqa: E402
    recalibrate_batchnorm,  # noqa: E402
)

METHODS = ["saliency", "input_x_gradient", "integrated_gradients", "smoothgrad", "occlusion", "gradcam",
           "gradcam++", "scorecam", "layercam"]


def bench_deletion(repeats: int = 3) -> pd.DataFrame:
    torch.manual_seed(0)
    model = SmallCNN().eval()
    x = torch.rand(16, 1, 64, 64)
    maps = torch.rand(16, 64, 64)
    rows = []
    for bs in (33, 66, 132, 264):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            deletion_insertion(model, x, maps, steps=32, batch_size=bs)
            times.append(time.perf_counter() - start)
        rows.append({"batch_size": bs, "forward_passes": -(-16 * 66 // bs), "seconds_16_images": min(times),
                     "ms_per_image": 1000 * min(times) / 16})
    return pd.DataFrame(rows)


def main(small: bool = False) -> None:
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    print("== deletion / insertion, 16 images × 32 steps, SmallCNN(width=16), 64×64 ==")
    print(bench_deletion().round(3).to_string(index=False))

    n, epochs = (600, 3) if small else (1200, 5)
    world = make_world("masses", n, seed=0)
    start = time.perf_counter()
    model, trainer = fit_classifier(world, epochs=epochs, width=16, seed=0, batch_size=32, progress=False)
    recalibrate_batchnorm(model, world.train.images)
    acc = trainer.evaluate(world.test)["accuracy"]
    print(f"\n== leaderboard: masses n={n} seed=0, SmallCNN width 16 trained {epochs} epochs "
          f"({time.perf_counter() - start:.1f} s), test accuracy {acc:.3f} ==")
    start = time.perf_counter()
    table = evaluate_methods(model, world, METHODS, n_images=16 if small else 24, steps=16, seed=0)
    cols = ["method", "deletion", "insertion", "overall", "pointing", "energy_pointing", "relevance_mass",
            "avg_drop", "increase_conf", "sanity_spearman", "sanity_ssim", "seconds_per_image"]
    print(table[cols].round(3).to_string(index=False))
    print(f"(evaluate_methods: {time.perf_counter() - start:.1f} s; average drop / increase with a black "
          "surround as in Grad-CAM++)")

    start = time.perf_counter()
    pair = train_shortcut_pair(n=n, shortcut=0.9, epochs=max(3, epochs // 2), seed=0)
    print(f"\n== shortcut detective: masses n={n} shortcut=0.9 seed=0 "
          f"(pair trained in {time.perf_counter() - start:.1f} s), marked test images ==")
    start = time.perf_counter()
    det = shortcut_detective(pair.models, pair.datasets["shortcut"], ["gradcam", "saliency", "integrated_gradients"],
                             n_images=32, seed=0)
    cols = ["model", "method", "lesion_share", "marker_share", "lesion_area", "marker_area", "accuracy",
            "accuracy_marked", "accuracy_unmarked"]
    print(det[cols].round(3).to_string(index=False))
    print(f"(shortcut_detective: {time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="smaller world and shorter training")
    main(parser.parse_args().small)
