"""Measure what the README reports of chapter 01: the classifier's accuracy, the explanation leaderboard and
the shortcut detective — with chapter 01's default parameters and the same library calls as the chapter.

Run ``python benchmarks/bench_findings.py`` (prints three tables; never fails) or add ``--record`` to write
``benchmarks/results/findings.json``, which ``tools/readme_numbers.py --write`` renders into the README.
These are measurements of one seed on a shared CPU: the chapter's own closing cells print the numbers of the
run on screen; this record is the README's copy, with its configuration beside it. ``--quick`` runs chapter
01's smoke sizes (meaningless numbers; for checking the script).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from _record import write_record  # noqa: E402
from halign_widgets.data import make_world  # noqa: E402
from halign_widgets.explain import evaluate_methods, shortcut_detective  # noqa: E402
from halign_widgets.explain.shortcut import train_shortcut_pair  # noqa: E402
from halign_widgets.training import fit_classifier  # noqa: E402

#: chapter 01's defaults (its parameter cells); ``--quick`` uses its smoke sizes
DEFAULTS = {"n_images": 800, "epochs": 5, "n_pair": 600, "n_detect": 16, "n_eval": 8, "steps": 16, "rise_masks": 100}
SMOKE = {"n_images": 300, "epochs": 2, "n_pair": 300, "n_detect": 8, "n_eval": 4, "steps": 8, "rise_masks": 50}
BOARD = ("saliency", "integrated_gradients", "smoothgrad", "guided_backprop", "gradcam", "gradcam++", "scorecam",
         "layercam", "rise")
DETECT = ("gradcam", "integrated_gradients", "saliency")
SEED = 0


def classifier(cfg: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    world = make_world("masses", cfg["n_images"], seed=SEED)
    start = time.perf_counter()
    model, trainer = fit_classifier(world, epochs=cfg["epochs"], width=8, batch_size=32, lr=3e-3, seed=SEED)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        test = float((model(world.test.images).argmax(1) == world.test.labels).float().mean())
    last = trainer.history.last or {}
    out = {"test_accuracy": round(test, 4), "val_accuracy": round(float(last.get("val_acc") or 0.0), 4),
           "test_images": len(world.test), "train_seconds": round(seconds, 1)}
    print(f"\nSmallCNN(width=8) on masses ({cfg['n_images']} images, {cfg['epochs']} epochs, seed {SEED}): "
          f"test accuracy {test:.3f}, last validation accuracy {out['val_accuracy']:.3f}, {seconds:.1f} s")
    return world, model, out


def leaderboard(model: Any, world: Any, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    methods = {name: ({"n_masks": cfg["rise_masks"]} if name == "rise" else {}) for name in BOARD}
    board = evaluate_methods(model, world, methods, n_images=cfg["n_eval"], steps=cfg["steps"])
    board = board.sort_values("overall", ascending=False)
    print(f"\nLeaderboard on {cfg['n_eval']} test images (Overall = insertion − deletion, higher is better)")
    rows = []
    for r in board.itertuples():
        rows.append({"method": r.method, "overall": round(float(r.overall), 4), "deletion": round(float(r.deletion), 4),
                     "insertion": round(float(r.insertion), 4)})
        print(f"{r.method:>22} {r.overall:>8.3f}")
    return rows


def shortcut(cfg: dict[str, Any]) -> dict[str, Any]:
    pair = train_shortcut_pair(n=cfg["n_pair"], epochs=cfg["epochs"], seed=SEED)
    table = shortcut_detective(pair.models, pair.datasets["shortcut"], list(DETECT), n_images=cfg["n_detect"])
    rows = [{"model": r.model, "method": r.method, "lesion_share": round(float(r.lesion_share), 4),
             "marker_share": round(float(r.marker_share), 4), "accuracy_marked": round(float(r.accuracy_marked), 4),
             "accuracy_unmarked": round(float(r.accuracy_unmarked), 4)} for r in table.itertuples()]
    out = {"lesion_area": round(float(table.lesion_area.iloc[0]), 4),
           "marker_area": round(float(table.marker_area.iloc[0]), 4), "rows": rows}
    print(f"\nShortcut detective ({cfg['n_pair']} images per world, {cfg['n_detect']} marked test images explained; "
          f"a uniform map: lesion {out['lesion_area']:.1%}, marker box {out['marker_area']:.1%})")
    for r in rows:
        print(f"{r['model']:>9} {r['method']:>22}  lesion {r['lesion_share']:>6.1%}  marker {r['marker_share']:>6.1%}  "
              f"accuracy marked {r['accuracy_marked']:.2f} / unmarked {r['accuracy_unmarked']:.2f}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="chapter 01's smoke sizes (numbers not meaningful)")
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/findings.json")
    args = parser.parse_args(argv)
    cfg = dict(SMOKE if args.quick else DEFAULTS)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); chapter 01's "
          f"{'smoke' if args.quick else 'default'} parameters: {cfg}")
    world, model, cnn = classifier(cfg)
    board = leaderboard(model, world, cfg)
    detective = shortcut(cfg)
    if args.record:
        write_record("findings", {"chapter": "01_explainability_visualization", "world": "masses", **cfg,
                                  "board_methods": list(BOARD), "detective_methods": list(DETECT),
                                  "smoke": bool(args.quick)},
                     {"classifier": cnn, "leaderboard": board, "shortcut": detective}, seeds=[SEED],
                     note="chapter 01's calls with its default parameters; one seed on a shared CPU")


if __name__ == "__main__":
    main()
